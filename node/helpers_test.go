package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

var (
	cheapKDF = &storage.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	testPass = []byte("test passphrase")
)

// fastTuning makes links, backoff and idle timers short for in-memory tests.
func fastTuning() *tuning {
	t := defaultTuning()
	// Generous timeouts: the test machine is heavily loaded and -race slows SQLite a lot.
	t.link = wire.Config{KeepaliveInterval: time.Second, Timeout: 10 * time.Second, HandshakeTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	t.dialTimeout = 10 * time.Second
	t.backoffMin = 20 * time.Millisecond
	t.backoffMax = 200 * time.Millisecond
	t.torRetryMin = 20 * time.Millisecond
	t.torRetryMax = 200 * time.Millisecond
	t.listenTry = 5 * time.Second
	t.strangerIdle = 2 * time.Second
	t.typingEvery = 100 * time.Millisecond
	t.workBits = 8 // a request's proof of work in microseconds
	return t
}

// testLogger logs to stderr with CHIVE_TEST_LOG=1, else nowhere.
func testLogger(name string) *slog.Logger {
	if os.Getenv("CHIVE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

// newProfile creates a profile with cheap key stretching and returns its dir.
func newProfile(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if _, err := CreateProfileWith(t.Context(), dir, ProfileOptions{Name: name, Passphrase: testPass, KDF: cheapKDF}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tnode is a node under test with a recording subscriber.
type tnode struct {
	*Node
	o      Options
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

func openNode(t testing.TB, o Options) *tnode {
	t.Helper()
	n, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return wrap(t, n, o)
}

// wrap records n's events and closes it when the test ends.
func wrap(t testing.TB, n *Node, o Options) *tnode {
	tn := &tnode{Node: n, o: o, notify: make(chan struct{}, 1)}
	ch, err := n.Subscribe(context.Background())
	if err != nil {
		panic(err) // a fresh node always subscribes
	}
	go func() {
		for e := range ch {
			tn.mu.Lock()
			tn.events = append(tn.events, e)
			tn.mu.Unlock()
			select {
			case tn.notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { n.Close() })
	return tn
}

var _ Transport = (*memnet.Transport)(nil)

// memTransport starts the node's transports on an in-memory network.
func memTransport(mem *memnet.Network) StartTransport {
	return func(ctx context.Context, progress func(TorStatus)) (Transport, error) {
		progress(TorStatus{State: TorReady, Percent: 100, Summary: "Done"})
		return mem.NewTransport(), nil
	}
}

// startMem opens and starts the node of dir on a memory network.
func startMem(t testing.TB, mem *memnet.Network, dir string) *tnode {
	t.Helper()
	return startMemTuned(t, mem, dir, fastTuning())
}

func startMemTuned(t testing.TB, mem *memnet.Network, dir string, tune *tuning) *tnode {
	t.Helper()
	n := openNode(t, Options{Dir: dir, Passphrase: testPass, Transport: memTransport(mem), tune: tune, Logger: testLogger(filepath.Base(dir))})
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n.waitFor(t, 10*time.Second, "reachable", func(e Event) bool {
		r, ok := e.(ReachableEvent)
		return ok && r.Reachable
	})
	return n
}

// waitFor waits until an event matching f has been recorded (at any time
// since the node opened) and returns it.
func (n *tnode) waitFor(t testing.TB, timeout time.Duration, what string, f func(Event) bool) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		for _, e := range n.events {
			if f(e) {
				n.mu.Unlock()
				return e
			}
		}
		n.mu.Unlock()
		select {
		case <-n.notify:
		case <-deadline:
			t.Fatalf("%s: timed out after %v waiting for %s", n.addr.Short(), timeout, what)
		}
	}
}

// count returns how many recorded events match f.
func (n *tnode) count(f func(Event) bool) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, e := range n.events {
		if f(e) {
			c++
		}
	}
	return c
}

// received returns the texts of MessageEvents for incoming messages from addr, in order.
func (n *tnode) received(addr string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, e := range n.events {
		if m, ok := e.(MessageEvent); ok && m.Message.Direction == Incoming && m.Message.Address == addr {
			out = append(out, m.Message.Text)
		}
	}
	return out
}

func (n *tnode) waitReceived(t testing.TB, timeout time.Duration, addr string, count int) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := n.received(addr)
		if len(got) >= count {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %d of %d messages from %s", n.addr.Short(), len(got), count, addr[:8])
		}
		select {
		case <-n.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isState(addr string, st ContactState) func(Event) bool {
	return func(e Event) bool {
		switch e := e.(type) {
		case ContactEvent:
			return e.Contact.Address == addr && e.Contact.State == st && !e.Removed
		case ContactRequestEvent:
			return e.Contact.Address == addr && e.Contact.State == st
		}
		return false
	}
}

func isMsgState(id string, st MessageState) func(Event) bool {
	return func(e Event) bool {
		m, ok := e.(MessageStateEvent)
		return ok && m.ID == id && m.State == st
	}
}

// befriend runs the request/accept flow between two started nodes.
func befriend(t testing.TB, a, b *tnode, timeout time.Duration) {
	t.Helper()
	if _, err := a.AddContact(t.Context(), b.Address(), "b", "hello from a"); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, timeout, "contact request", isState(a.Address(), StatePendingIncoming))
	if _, err := b.AcceptContact(t.Context(), a.Address()); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, timeout, "acceptance", isState(b.Address(), StateAccepted))
}

func texts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

func checkInOrder(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d = %q, want %q (order or duplicate problem)\ngot: %s", i, got[i], want[i], strings.Join(got, " "))
		}
	}
}

// waitUntil polls cond until it holds, failing tb after timeout.
func waitUntil(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
