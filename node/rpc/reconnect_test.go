package rpc

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
)

// restartable is a server on a fixed socket path that can be stopped and
// started again, as a daemon restarting.
type restartable struct {
	t    *testing.T
	path string
	srv  *Server
	done chan error
}

func newRestartable(t *testing.T) *restartable {
	dir, err := os.MkdirTemp("", "rpc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &restartable{t: t, path: SocketPath(dir)}
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) start(api node.API) {
	r.t.Helper()
	ln, err := Listen(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv, r.done = NewServer(api, nil), make(chan error, 1)
	go func() { r.done <- r.srv.Serve(ln) }()
}

func (r *restartable) stop() {
	if r.srv == nil {
		return
	}
	r.srv.Close()
	<-r.done
	r.srv = nil
}

func next(t *testing.T, ch <-chan node.Event) node.Event {
	t.Helper()
	select {
	case ev, open := <-ch:
		if !open {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return nil
}

// TestReconnect: a client with Reconnect outlives a daemon restart. Its
// subscription says the connection dropped and came back (then the UI
// reloads), and calls work again without a new Dial.
func TestReconnect(t *testing.T) {
	ctx := context.Background()
	r := newRestartable(t)
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	r.start(f)
	c, err := DialWith(ctx, r.path, Options{Reconnect: true, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.SimReceive("bob", "before")
	if ev, ok := next(t, events).(node.MessageEvent); !ok || ev.Message.Text != "before" {
		t.Fatalf("first event: %#v", ev)
	}

	r.stop() // the daemon stops
	ev := next(t, events)
	if ce, ok := ev.(node.ConnectionEvent); !ok || ce.Connected || ce.Error == "" {
		t.Fatalf("after the daemon stopped: %#v, want ConnectionEvent{Connected: false, Error: why}", ev)
	}
	if _, err := c.Status(ctx); !errors.Is(err, ErrDisconnected) || !errors.Is(err, node.ErrClosed) {
		t.Errorf("call while the daemon is down: %v, want ErrDisconnected", err)
	}
	select {
	case <-c.Done():
		t.Error("Done closed by a lost connection of a reconnecting client")
	default:
	}

	// The daemon comes back (with what happened meanwhile in its store).
	f2 := newFake()
	f2.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	f2.SimMessage("bob", node.Message{Direction: node.Incoming, Text: "while you were away", Time: t0})
	r.start(f2)
	if ev, ok := next(t, events).(node.ConnectionEvent); !ok || !ev.Connected {
		t.Fatalf("after the daemon came back: %#v, want ConnectionEvent{Connected: true}", ev)
	}
	// Resync: what was missed is in the daemon's store.
	h, err := c.History(ctx, "bob", "", 10)
	if err != nil || len(h) != 1 || h[0].Text != "while you were away" {
		t.Fatalf("History after reconnecting = %+v, %v", h, err)
	}
	f2.SimReceive("bob", "after")
	if ev, ok := next(t, events).(node.MessageEvent); !ok || ev.Message.Text != "after" {
		t.Fatalf("event after reconnecting: %#v", ev)
	}

	// Twice, while the socket is gone for longer than the backoff.
	r.stop()
	next(t, events)
	time.Sleep(100 * time.Millisecond) // several failed redials
	r.start(f2)
	if ev, ok := next(t, events).(node.ConnectionEvent); !ok || !ev.Connected {
		t.Fatalf("second reconnect: %#v", ev)
	}

	// Close ends the subscription and Done.
	c.Close()
	for range events {
	}
	<-c.Done()
	if _, err := c.Status(ctx); !errors.Is(err, ErrDisconnected) {
		t.Errorf("call after Close: %v", err)
	}
}

// TestNoReconnect: without Reconnect, as before: the subscription ends
// and calls fail once the daemon is gone, even when it is back.
func TestNoReconnect(t *testing.T) {
	ctx := context.Background()
	r := newRestartable(t)
	f := newFake()
	r.start(f)
	c, err := Dial(ctx, r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.stop()
	for ev := range events {
		t.Errorf("event %#v after the daemon stopped", ev)
	}
	<-c.Done()
	r.start(f)
	if _, err := c.Status(ctx); !errors.Is(err, ErrDisconnected) {
		t.Errorf("call after the daemon restarted: %v, want ErrDisconnected", err)
	}
}
