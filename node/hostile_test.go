package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/wire"
)

// TestHostilePeers runs the floods of issue 13 on the private Tor network
// while Alice and Bob keep chatting:
//
//   - the slot flood: Mallory holds 40 connections to Bob that never
//     authenticate, each over its own circuit (distinct SOCKS credentials,
//     so tor's per-circuit stream limit does not stop them first), and opens
//     a new one whenever Bob closes one;
//   - the request flood: a request from a fresh identity every 3 s (Bob's
//     shared bucket refills one per 3 s here, instead of one per 30 s), with
//     valid proof of work, keeping the bucket empty and the pending list
//     full.
//
// Alice's messages to Bob must still arrive, also over links redialed in
// the middle of the flood, and Dave, with an invite link from Bob, must get
// his request through. The latency of Alice → Bob (send until Alice has
// Bob's ack) is measured without and during the attack in the same run.
func TestHostilePeers(t *testing.T) {
	testnet.Shared(t)
	checkLeaks(t)
	dirs := []string{newProfile(t, "alice"), newProfile(t, "bob"), newProfile(t, "dave"), newProfile(t, "mallory")}
	bt := torTuning()
	bt.totalRequests = contacts.Rate{Burst: 3, Every: 3 * time.Second}
	bt.maxPending = 5
	tunes := []*tuning{torTuning(), bt, torTuning(), torTuning()}
	start := time.Now()
	nodes := startTorTuned(t, dirs, tunes)
	alice, bob, dave, mallory := nodes[0], nodes[1], nodes[2], nodes[3]
	t.Logf("4 nodes reachable in %v", time.Since(start).Round(time.Millisecond))
	ctx := t.Context()
	befriend(t, alice, bob, torWait)
	warm := mustSend(t, alice, "b", "warm up")
	alice.waitFor(t, torWait, "delivered", isMsgState(warm.ID, Delivered))

	measure := func(phase string) (steady, redial []time.Duration) {
		for i := range 5 {
			start := time.Now()
			m := mustSend(t, alice, "b", fmt.Sprintf("%s %d", phase, i))
			alice.waitFor(t, torWait, phase+" delivered", isMsgState(m.ID, Delivered))
			steady = append(steady, time.Since(start))
		}
		for i := range 2 {
			// The link goes down; the message waits for a new one.
			alice.dropLink(onionAddr(bob))
			start := time.Now()
			m := mustSend(t, alice, "b", fmt.Sprintf("%s redial %d", phase, i))
			alice.waitFor(t, torWait, phase+" delivered after a redial", isMsgState(m.ID, Delivered))
			redial = append(redial, time.Since(start))
		}
		return steady, redial
	}
	baseSteady, baseRedial := measure("quiet")

	// The attack.
	tr, err := mallory.waitTransport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	socks := tr.(torTransport).t.SOCKSAddr()
	attack, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var opened, refused, accepted, failed atomic.Int64
	const slots = 40
	for i := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; attack.Err() == nil; n++ {
				dctx, cancel := context.WithTimeout(attack, time.Minute)
				c, err := isolatedDial(dctx, socks, onionAddr(bob), fmt.Sprintf("slot%d-%d", i, n))
				cancel()
				if err != nil {
					select {
					case <-time.After(500 * time.Millisecond):
					case <-attack.Done():
					}
					continue
				}
				opened.Add(1)
				// Never authenticate; hold it until Bob closes it.
				stop := context.AfterFunc(attack, func() { c.Close() })
				io.Copy(io.Discard, c)
				stop()
				c.Close()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A little faster than Bob's bucket refills, as the review's flood
		// (one per 30 s against a refill of one per 30 s, after the burst).
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for attack.Err() == nil {
			r, err := makeRawPeer()
			if err != nil {
				failed.Add(1)
				continue
			}
			w, err := wire.SolveWork(attack, r.pub, bob.pub, time.Now(), bt.workBits)
			if err != nil {
				return
			}
			if ok, err := torRequest(attack, tr, bob, r, &wire.Request{ID: wire.NewID(), Bundle: r.bundle, Greeting: "spam", Work: &w}); err != nil {
				failed.Add(1)
			} else if ok {
				accepted.Add(1)
			} else {
				refused.Add(1)
			}
			select {
			case <-tick.C:
			case <-attack.Done():
			}
		}
	}()
	defer func() {
		stop()
		wg.Wait()
	}()
	stats := func() string {
		return fmt.Sprintf("%d half-open connections, %d evicted, %d in progress; flood requests: %d stored, %d refused, %d failed to connect",
			opened.Load(), bob.stats.handshakesEvicted.Load(), bob.hs.inProgress(), accepted.Load(), refused.Load(), failed.Load())
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-time.After(20 * time.Second):
				t.Log("attack so far: " + stats())
			case <-attack.Done():
				return
			}
		}
	}()
	waitUntil(t, torWait, "the slot flood to fill Bob's handshake slots", func() bool { return bob.stats.handshakesEvicted.Load() > 0 })
	waitUntil(t, torWait, "the request flood to fill Bob's pending list", func() bool {
		st, err := bob.Status(ctx)
		return err == nil && st.PendingRequests >= bt.maxPending && refused.Load() > 0
	})
	t.Log("under attack: " + stats())

	attSteady, attRedial := measure("attack")

	// Dave, with an invite link, gets through the flood.
	iv, err := bob.CreateInvite(ctx, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := dave.AddContact(ctx, iv.Link, "bob", "hi bob, dave here"); err != nil {
		t.Fatal(err)
	}
	req := bob.waitFor(t, torWait, "dave's request", isState(dave.Address(), StatePendingIncoming)).(ContactRequestEvent)
	if !req.Contact.Invited {
		t.Errorf("dave's request is not marked invited")
	}
	t.Logf("dave's invited request arrived in %v during the attack", time.Since(start).Round(time.Millisecond))
	// The flood goes on filling the full pending list: the oldest uninvited
	// requests go, dave's stays.
	evictions := func() int {
		return bob.count(func(e Event) bool { ce, ok := e.(ContactEvent); return ok && ce.Removed })
	}
	waitUntil(t, torWait, "the request flood to evict a pending request", func() bool { return evictions() > 0 })
	if c, err := bob.Contact(ctx, dave.Address()); err != nil || c.State != StatePendingIncoming || !c.Invited {
		t.Errorf("dave's request after evictions: %+v, %v", c, err)
	}
	if _, err := bob.AcceptContact(ctx, dave.Address()); err != nil {
		t.Fatal(err)
	}
	dave.waitFor(t, torWait, "accepted", isState(bob.Address(), StateAccepted))
	evicted := bob.stats.handshakesEvicted.Load()
	stop()
	wg.Wait()

	// Every message arrived, once, in order.
	var want []string
	for _, phase := range []string{"quiet", "attack"} {
		for i := range 5 {
			want = append(want, fmt.Sprintf("%s %d", phase, i))
		}
		for i := range 2 {
			want = append(want, fmt.Sprintf("%s redial %d", phase, i))
		}
	}
	checkInOrder(t, bob.received(alice.Address())[1:], want)
	if evicted == 0 {
		t.Error("the slot flood never filled the handshake slots: it tested nothing")
	}
	t.Logf("attack totals: %s; %d pending requests evicted", stats(), evictions())
	t.Logf("Alice → Bob latency, send to ack (median, max of 5):  quiet %v, %v;  attack %v, %v",
		median(baseSteady), slices.Max(baseSteady), median(attSteady), slices.Max(attSteady))
	t.Logf("Alice → Bob after dropping the link (2 each):  quiet %v;  attack %v", round(baseRedial), round(attRedial))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// startTorTuned starts nodes on the shared network, each with its tuning.
func startTorTuned(tb testing.TB, dirs []string, tunes []*tuning) []*tnode {
	tb.Helper()
	nodes := make([]*tnode, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := torOptions(tb, d)
			o.tune = tunes[i]
			n, err := Open(tb.Context(), o)
			if err != nil {
				errs[i] = err
				return
			}
			nodes[i] = wrap(tb, n, o)
			errs[i] = n.Start(tb.Context())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.waitFor(tb, 4*time.Minute, "reachable", isReachable)
	}
	return nodes
}

// torRequest sends one contact request from r to n over tr and reports
// whether n acknowledged it.
func torRequest(ctx context.Context, tr Transport, n *tnode, r rawPeer, m *wire.Request) (bool, error) {
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := tr.Dial(dctx, onionAddr(n))
	if err != nil {
		return false, err
	}
	l, err := wire.Client(dctx, c, r.key, n.pub, nil)
	if err != nil {
		return false, err
	}
	defer l.Close()
	if err := l.Send(m); err != nil {
		return false, err
	}
	reply, err := l.Recv(dctx)
	if err != nil {
		return false, nil // closed: refused
	}
	ack, ok := reply.(*wire.Ack)
	return ok && ack.ID == m.ID, nil
}

// isolatedDial connects to addr through tor's SOCKS port with its own
// credentials: tor isolates streams by SOCKS credentials (IsolateSOCKSAuth),
// so every distinct user gets its own circuit, as an attacker wanting to
// stay under MaxStreams would do.
func isolatedDial(ctx context.Context, socks string, addr onion.Address, user string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", socks)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	// Greeting: username/password authentication only.
	if _, err := c.Write([]byte{5, 1, 2}); err != nil {
		return fail(err)
	}
	var buf [262]byte
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[1] != 2 {
		return fail(fmt.Errorf("socks greeting %x: %v", buf[:2], err))
	}
	auth := append([]byte{1, byte(len(user))}, user...)
	auth = append(auth, 1, 'x')
	if _, err := c.Write(auth); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[1] != 0 {
		return fail(fmt.Errorf("socks auth %x: %v", buf[:2], err))
	}
	host := addr.Hostname()
	req := append([]byte{5, 1, 0, 3, byte(len(host))}, host...)
	req = binary.BigEndian.AppendUint16(req, onion.VirtualPort)
	if _, err := c.Write(req); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 0 {
		return fail(fmt.Errorf("socks connect %x: %v", buf[:4], err))
	}
	n := 0
	switch buf[3] {
	case 1:
		n = 6
	case 4:
		n = 18
	case 3:
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return fail(err)
		}
		n = int(buf[0]) + 2
	}
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		return fail(err)
	}
	return c, nil
}
