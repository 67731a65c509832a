package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/wire"
)

const torWait = 3 * time.Minute

// TestTor runs the engine over real tor processes on the private network:
// three users, Alice, Bob and Carol, with profiles on disk. The subtests
// share them (tor startup dominates) and run in order.
func TestTor(t *testing.T) {
	testnet.Shared(t)
	checkLeaks(t) // after Shared: the network's goroutines outlive the test
	t.Logf("test network up in %v", testnet.SharedStartup().Round(time.Millisecond))
	dirs := []string{newProfile(t, "alice"), newProfile(t, "bob"), newProfile(t, "carol")}
	start := time.Now()
	nodes := startTorAll(t, dirs...)
	t.Logf("3 nodes reachable in %v", time.Since(start).Round(time.Millisecond))
	alice, bob, carol := nodes[0], nodes[1], nodes[2]
	ctx := t.Context()
	outer := t

	ok := t.Run("RequestAcceptChat", func(t *testing.T) {
		start := time.Now()
		if _, err := alice.AddContact(ctx, bob.Address(), "bob", "hi bob, alice here"); err != nil {
			t.Fatal(err)
		}
		req := bob.waitFor(t, torWait, "request", isState(alice.Address(), StatePendingIncoming)).(ContactRequestEvent)
		if req.Contact.Greeting != "hi bob, alice here" {
			t.Errorf("greeting %q", req.Contact.Greeting)
		}
		if _, err := bob.AcceptContact(ctx, alice.Address()); err != nil {
			t.Fatal(err)
		}
		if err := bob.RenameContact(ctx, alice.Address(), "alice"); err != nil {
			t.Fatal(err)
		}
		alice.waitFor(t, torWait, "accepted", isState(bob.Address(), StateAccepted))
		t.Logf("request → accepted in %v", time.Since(start).Round(time.Millisecond))
		for i, s := range texts("ab", 3) {
			mustSend(t, alice, "bob", s)
			mustSend(t, bob, "alice", texts("ba", 3)[i])
		}
		checkInOrder(t, bob.waitReceived(t, torWait, alice.Address(), 3), texts("ab", 3))
		checkInOrder(t, alice.waitReceived(t, torWait, bob.Address(), 3), texts("ba", 3))
		if err := bob.MarkRead(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		h, _ := alice.History(ctx, "bob", "", 10)
		for _, m := range h {
			if m.Direction == Outgoing {
				alice.waitFor(t, torWait, "read receipt", isMsgState(m.ID, Read))
			}
		}
	})
	if !ok {
		t.FailNow()
	}

	t.Run("HostileStrangers", func(t *testing.T) {
		// Carol's tor plays a stranger speaking the wire protocol by hand.
		bp := bob.peer(onionAddr(alice))
		before := bob.currentLink(bp)
		if before == nil {
			t.Fatal("no alice↔bob link")
		}
		tr, err := carol.waitTransport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dial := func(t *testing.T) (net.Conn, *bufio.Reader, *wire.Hello) {
			t.Helper()
			dctx, cancel := context.WithTimeout(ctx, torWait)
			defer cancel()
			c, err := tr.Dial(dctx, onionAddr(bob))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(torWait))
			br := bufio.NewReader(c)
			typ, body, err := wire.ReadFrame(br)
			if err != nil {
				t.Fatal(err)
			}
			m, err := wire.Unmarshal(typ, body)
			if err != nil {
				t.Fatal(err)
			}
			return c, br, m.(*wire.Hello)
		}
		// expectDropped: bob closes the connection without proving his key.
		expectDropped := func(t *testing.T, c net.Conn, br *bufio.Reader) {
			t.Helper()
			defer c.Close()
			typ, _, err := wire.ReadFrame(br)
			if err == nil {
				t.Fatalf("bob answered with a %v frame", typ)
			}
		}
		carolKey := carol.key

		t.Run("WrongTranscript", func(t *testing.T) {
			// Carol's handshake names another onion than bob's: her keys
			// and signature are for that transcript, so bob drops her.
			dctx, cancel := context.WithTimeout(ctx, torWait)
			defer cancel()
			c, err := tr.Dial(dctx, onionAddr(bob))
			if err != nil {
				t.Fatal(err)
			}
			if l, err := wire.Client(dctx, c, carolKey, alice.pub, nil); err == nil {
				l.Close()
				t.Fatal("bob completed a handshake made for alice's onion")
			}
		})
		t.Run("Garbage", func(t *testing.T) {
			c, br, _ := dial(t)
			c.Write(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 100))
			expectDropped(t, c, br)
		})
		t.Run("OversizedFrame", func(t *testing.T) {
			c, br, _ := dial(t)
			hdr := binary.BigEndian.AppendUint32(nil, 1<<30)
			c.Write(append(hdr, wire.Version, byte(wire.TypeKeyShare)))
			c.Write(make([]byte, 64<<10))
			expectDropped(t, c, br)
		})
		t.Run("ReplayedHandshake", func(t *testing.T) {
			// A genuine handshake, recorded...
			dctx, cancel := context.WithTimeout(ctx, torWait)
			defer cancel()
			raw, err := tr.Dial(dctx, onionAddr(bob))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{Conn: raw}
			l, err := wire.Client(dctx, rec, carolKey, bob.pub, nil)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			typ, _, err := wire.ReadFrame(bytes.NewReader(rec.bytes()))
			if err != nil || typ != wire.TypeKeyShare {
				t.Fatalf("recorded %v, %v", typ, err)
			}
			// ...and carol's side replayed on a new connection: bob's
			// ephemeral keys are fresh, so her sealed Auth does not open.
			c, br, _ := dial(t)
			c.Write(rec.bytes())
			expectDropped(t, c, br)
		})
		t.Run("StrangerSendsMessage", func(t *testing.T) {
			// Authenticated, but not a contact: only requests are allowed.
			dctx, cancel := context.WithTimeout(ctx, torWait)
			defer cancel()
			raw, err := tr.Dial(dctx, onionAddr(bob))
			if err != nil {
				t.Fatal(err)
			}
			l, err := wire.Client(dctx, raw, carolKey, bob.pub, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.Send(&wire.Message{ID: wire.NewID(), Ciphertext: []byte("hello?")})
			select {
			case <-l.Done():
			case <-time.After(torWait):
				t.Fatal("bob kept a stranger's link that sent a message")
			}
		})
		// The existing link is untouched and still carries messages.
		if after := bob.currentLink(bp); after != before {
			t.Errorf("alice↔bob link replaced during the attacks")
		}
		mustSend(t, alice, "bob", "still fine")
		got := bob.waitReceived(t, torWait, alice.Address(), 4)
		if got[3] != "still fine" {
			t.Errorf("got %q", got[3])
		}
		if n := bob.count(func(e Event) bool { _, ok := e.(ContactRequestEvent); return ok }); n != 1 {
			t.Errorf("bob saw %d contact requests, want 1", n)
		}
	})

	t.Run("AcceptWhileRequesterOffline", func(t *testing.T) {
		if _, err := carol.AddContact(ctx, bob.Address(), "bob", "hi bob, carol here"); err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, torWait, "request", isState(carol.Address(), StatePendingIncoming))
		carol.Close()
		if _, err := bob.AcceptContact(ctx, carol.Address()); err != nil {
			t.Fatal(err)
		}
		mustSend(t, bob, carol.Address(), "welcome, carol")
		carol = startTorOwned(t, outer, dirs[2])
		carol.waitFor(t, torWait, "accepted", isState(bob.Address(), StateAccepted))
		checkInOrder(t, carol.waitReceived(t, torWait, bob.Address(), 1), []string{"welcome, carol"})
		mustSend(t, carol, "bob", "thanks")
		checkInOrder(t, bob.waitReceived(t, torWait, carol.Address(), 1), []string{"thanks"})
	})

	t.Run("BlockedCannotRequest", func(t *testing.T) {
		requests := func() int {
			return bob.count(func(e Event) bool { _, ok := e.(ContactRequestEvent); return ok })
		}
		before := requests()
		if err := bob.BlockContact(ctx, carol.Address()); err != nil {
			t.Fatal(err)
		}
		if err := carol.RemoveContact(ctx, "bob", false); err != nil {
			t.Fatal(err)
		}
		if _, err := carol.AddContact(ctx, bob.Address(), "bob", "let me back in"); err != nil {
			t.Fatal(err)
		}
		// The request is swallowed: acknowledged (carol cannot tell) and dropped.
		waitOutbox(t, carol, 0)
		if n := requests(); n != before {
			t.Errorf("bob saw %d new requests from a blocked address", n-before)
		}
		if c, err := bob.Contact(ctx, carol.Address()); err != nil || c.State != StateBlocked {
			t.Errorf("carol at bob: %+v, %v", c, err)
		}
	})

	t.Run("BobOfflineHundred", func(t *testing.T) {
		bob.Close()
		const count = 100
		want := texts("offline", count)
		for _, s := range want {
			mustSend(t, alice, "bob", s)
		}
		bob = startTorOwned(t, outer, dirs[1])
		from := len(bob.received(alice.Address()))
		got := bob.waitReceived(t, torWait, alice.Address(), from+count)
		checkInOrder(t, got[from:], want)
		waitOutbox(t, alice, 0)
		// A marker sent now arrives after any wrong resend of the hundred.
		mustSend(t, alice, "bob", "marker")
		got = bob.waitReceived(t, torWait, alice.Address(), from+count+1)
		checkInOrder(t, got[from:], append(want, "marker"))
	})

	t.Run("TorDiesUnderNode", func(t *testing.T) {
		// kill -9 Bob's tor: the node notices, starts a new one, republishes
		// its onion service and delivery resumes. Last: a peer that reached
		// Bob's old service without being his contact (Carol, the stranger
		// above) keeps a stale descriptor and may fail to reach him for
		// minutes; Bob can only announce himself to his contacts.
		tr, err := bob.waitTransport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tt, ok := tr.(torTransport)
		if !ok || tt.t.PID() <= 0 {
			t.Fatalf("bob's transport is %T", tr)
		}
		reachable := func() int {
			return bob.count(func(e Event) bool { r, ok := e.(ReachableEvent); return ok && r.Reachable })
		}
		before := reachable()
		if err := syscall.Kill(tt.t.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		bob.waitFor(t, torWait, "unreachable", func(e Event) bool { r, ok := e.(ReachableEvent); return ok && !r.Reachable })
		waitUntil(t, torWait, "bob to be reachable again", func() bool { return reachable() > before })
		t.Logf("tor restarted and onion republished in %v", time.Since(start).Round(time.Millisecond))
		from := len(bob.received(alice.Address()))
		mustSend(t, alice, "bob", "after the restart")
		got := bob.waitReceived(t, torWait, alice.Address(), from+1)
		if got[from] != "after the restart" {
			t.Errorf("got %q", got[from])
		}
	})
}

// waitOutbox waits until n's outbox holds want items.
func waitOutbox(t testing.TB, n *tnode, want int) {
	t.Helper()
	deadline := time.Now().Add(torWait)
	for {
		st, err := n.Status(t.Context())
		if err == nil && st.Outbox == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox has %d items, want %d", st.Outbox, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recorder records what is written through a connection.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}
