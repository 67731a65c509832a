package node

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
)

// healthTuning checks reachability every few tens of milliseconds.
func healthTuning() *tuning {
	t := fastTuning()
	t.healthEvery = 200 * time.Millisecond
	t.healthRetry = 50 * time.Millisecond
	t.healthTimeout = time.Second
	t.republishTry = time.Second
	t.kickEvery = 50 * time.Millisecond
	return t
}

// TestReachabilityRechecked: the network stops reaching Alice's onion
// service while her transport looks fine. She notices (Status says so,
// Reachable goes false), republishes, then restarts the transport; when
// the network is back she says so and redials at once the contact she has
// a message for, instead of after its backoff.
func TestReachabilityRechecked(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	var starts atomic.Int32
	counting := func(ctx context.Context, progress func(TorStatus)) (Transport, error) {
		starts.Add(1)
		return memTransport(mem)(ctx, progress)
	}
	aTune := healthTuning()
	aTune.backoffMin, aTune.backoffMax = 20*time.Second, time.Minute // a backoff the recovery must cut short
	aDir, bDir := newProfile(t, "a"), newProfile(t, "b")
	a := openNode(t, Options{Dir: aDir, Passphrase: testPass, Transport: counting, tune: aTune, Logger: testLogger("a")})
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	bTune := fastTuning()
	bTune.backoffMin, bTune.backoffMax = time.Minute, time.Minute // b will not be the one to redial
	b := startMemTuned(t, mem, bDir, bTune)
	a.waitFor(t, 10*time.Second, "reachable", func(e Event) bool { r, ok := e.(ReachableEvent); return ok && r.Reachable })
	befriend(t, a, b, 10*time.Second)
	ctx := t.Context()
	if st, _ := a.Status(ctx); !st.Reachable || st.ReachableChecked.IsZero() {
		waitUntil(t, 5*time.Second, "a first check", func() bool { st, _ := a.Status(ctx); return !st.ReachableChecked.IsZero() })
	}

	// Bob goes away; the network stops reaching either of them.
	b.Close()
	mem.SetOffline(onion.Address(a.Address()), true)
	mem.SetOffline(onion.Address(b.Address()), true)
	if _, err := a.Send(ctx, "b", "sent while the network was down"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "a to restart her transport", func() bool { return starts.Load() >= 2 })
	waitUntil(t, 10*time.Second, "a to say she is unreachable", func() bool {
		st, _ := a.Status(ctx)
		return !st.Reachable && strings.Contains(st.NetworkProblem, "be reached through Tor")
	})
	if a.count(func(e Event) bool { r, ok := e.(ReachableEvent); return ok && !r.Reachable }) == 0 {
		t.Error("no ReachableEvent{false}")
	}

	// Bob is back and the network works again.
	b = startMemTuned(t, mem, bDir, bTune)
	mem.SetOffline(onion.Address(a.Address()), false)
	mem.SetOffline(onion.Address(b.Address()), false)
	back := time.Now()
	b.waitReceived(t, 10*time.Second, a.Address(), 1)
	took := time.Since(back)
	t.Logf("delivered %v after the network came back (a's backoff was 20 s or more)", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("delivered only after %v", took)
	}
	waitUntil(t, 5*time.Second, "a reachable again", func() bool {
		st, _ := a.Status(ctx)
		return st.Reachable && st.NetworkProblem == ""
	})
}
