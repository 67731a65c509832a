package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
)

// TestDialerOrder: with every slot taken, waiters get slots by priority
// (active before idle, then the most recently seen, then work), FIFO among
// equals; a waiter that gives up leaves the queue, or passes on a slot it
// was given meanwhile.
func TestDialerOrder(t *testing.T) {
	d := newDialer(2, 0)
	ctx := t.Context()
	r1, _ := d.acquire(ctx, dialPrio{})
	r2, _ := d.acquire(ctx, dialPrio{})

	now := time.Now()
	prios := map[string]dialPrio{
		"idle":        {},
		"work-never":  {active: true, work: true},
		"seen-old":    {active: true, seen: now.Add(-time.Hour)},
		"seen-new":    {active: true, seen: now},
		"seen-new+wk": {active: true, seen: now, work: true},
		"idle-2":      {},
	}
	order := []string{"idle", "work-never", "seen-old", "seen-new", "seen-new+wk", "idle-2"}
	got := make(chan string, len(order))
	for i, name := range order {
		go func() {
			release, err := d.acquire(ctx, prios[name])
			if err != nil {
				t.Error(err)
				return
			}
			got <- name
			release()
		}()
		// One at a time, so arrival order is known.
		waitUntil(t, time.Second, name+" queued", func() bool { return d.waiting() == i+1 })
	}
	// A waiter that gives up leaves the queue.
	gone, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := d.acquire(gone, dialPrio{active: true, seen: now.Add(time.Hour)}); errc <- err }()
	waitUntil(t, time.Second, "queued", func() bool { return d.waiting() == len(order)+1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled acquire succeeded")
	}
	// One slot goes round: each waiter releases it to the next.
	r1()
	want := []string{"seen-new+wk", "seen-new", "seen-old", "work-never", "idle", "idle-2"}
	for i, w := range want {
		if g := <-got; g != w {
			t.Fatalf("slot %d went to %s, want %s", i, g, w)
		}
	}
	r2()
	if d.free != 2 || d.waiting() != 0 {
		t.Errorf("free %d, waiting %d", d.free, d.waiting())
	}
}

// TestManyOfflineContacts: a profile with 200 contacts whose addresses are
// offline (each with a queued request) and two online contacts starts up
// dialing at most maxDials at once, and links the online ones first.
// Before the cap it dialed all 202 at once.
func TestManyOfflineContacts(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	aDir := newProfile(t, "a")
	a := startMem(t, mem, aDir)
	b := startMem(t, mem, newProfile(t, "b"))
	c := startMem(t, mem, newProfile(t, "c"))
	befriend(t, a, b, 10*time.Second)
	if _, err := a.AddContact(t.Context(), c.Address(), "c", "hi"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, 10*time.Second, "request", isState(a.Address(), StatePendingIncoming))
	if _, err := c.AcceptContact(t.Context(), a.Address()); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, 10*time.Second, "acceptance", isState(c.Address(), StateAccepted))
	a.Close()

	// Reopen a, not started yet, and ask 200 addresses nobody serves.
	tune := fastTuning()
	tune.backoffMin, tune.backoffMax = time.Second, 5*time.Second
	an, err := Open(t.Context(), Options{Dir: aDir, Passphrase: testPass, Transport: memTransport(mem), tune: tune, Logger: testLogger("a")})
	if err != nil {
		t.Fatal(err)
	}
	a = wrap(t, an, Options{})
	var offline []onion.Address
	for i := range 200 {
		pub, _, _ := ed25519.GenerateKey(nil)
		addr := onion.AddressFromPublicKey(pub)
		offline = append(offline, addr)
		if _, err := a.AddContact(t.Context(), string(addr), fmt.Sprintf("off%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	offlineDials := func() int {
		n := 0
		for _, addr := range offline {
			n += mem.Dials(addr)
		}
		return n
	}
	mem.SetDialDelay(50 * time.Millisecond) // tor takes a while to find out
	// a's dials to its contacts: b's and c's own dials, and a's self-dial
	// (health.go), are not a's to cap.
	mem.WatchDials(append([]onion.Address{onion.Address(b.Address()), onion.Address(c.Address())}, offline...))
	start := time.Now()
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, peer := range []*tnode{b, c} {
		a.waitFor(t, 20*time.Second, "link to "+peer.Address()[:8], func(e Event) bool {
			p, ok := e.(PresenceEvent)
			return ok && p.Address == peer.Address() && p.Presence == Online
		})
	}
	took, before := time.Since(start), offlineDials()
	busy := mem.MaxConcurrentDials()
	t.Logf("online contacts linked after %v and %d dials to offline addresses; at most %d dials at once", took.Round(time.Millisecond), before, busy)
	if busy > tune.maxDials {
		t.Errorf("%d dials at once, cap %d", busy, tune.maxDials)
	}
	// Linked ahead of the 200 others, not after them.
	if before > 100 {
		t.Errorf("online contacts linked only after %d dials to offline addresses", before)
	}
}

// TestDialPace: after a burst of slots, dials start at the rate.
func TestDialPace(t *testing.T) {
	d := newDialer(4, 20)
	start := time.Now()
	for range 14 {
		release, err := d.acquire(t.Context(), dialPrio{paced: true})
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	// Contacts seen lately are not paced.
	for range 20 {
		release, _ := d.acquire(t.Context(), dialPrio{active: true, seen: time.Now()})
		release()
	}
	// 4 at once, 10 more at 20/s: about half a second.
	if took := time.Since(start); took < 400*time.Millisecond || took > 2*time.Second {
		t.Errorf("14 dials with a burst of 4 at 20/s took %v", took)
	}
}
