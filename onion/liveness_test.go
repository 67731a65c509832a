package onion_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
)

// TestOffline: a bootstrapped tor whose network goes away says so (offline)
// within a bounded time, from its own events, and says so again when the
// network is back (recovering, then up).
func TestOffline(t *testing.T) {
	n := testnet.Shared(t)
	noLeaks(t)
	sw, err := testnet.NewSwitch()
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	var mu sync.Mutex
	var steps []onion.Progress
	changed := make(chan struct{}, 1)
	start := time.Now()
	tor, err := onion.Start(context.Background(), onion.Config{
		DataDir:    t.TempDir(),
		ExtraTorrc: append(n.ClientTorrc(), sw.Torrc()...),
		OnProgress: func(p onion.Progress) {
			mu.Lock()
			steps = append(steps, p)
			mu.Unlock()
			t.Logf("%6.1fs %+v", time.Since(start).Seconds(), p)
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAndCheck(t, tor)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(tor.Lines(), "\n"))
	}
	waitLiveness := func(want onion.Liveness, within time.Duration) time.Duration {
		t.Helper()
		from := time.Now()
		deadline := time.After(within)
		for {
			if p := tor.Progress(); p.Liveness == want {
				return time.Since(from)
			}
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("liveness %q not reached within %v; now %+v\ntor log:\n%s", want, within, tor.Progress(), strings.Join(tor.Lines(), "\n"))
			}
		}
	}
	t.Logf("ready in %v", time.Since(start).Round(time.Millisecond))
	if p := tor.Progress(); p.Liveness != onion.LivenessUp {
		t.Fatalf("bootstrapped tor not up: %+v", p)
	}
	sw.Off()
	took := waitLiveness(onion.LivenessDown, 90*time.Second)
	t.Logf("offline noticed in %v: %q", took.Round(time.Millisecond), tor.Progress().Warning)
	if tor.Progress().Warning == "" {
		t.Error("offline without a reason")
	}
	mu.Lock()
	mark := len(steps)
	mu.Unlock()
	sw.On()
	took = waitLiveness(onion.LivenessUp, 90*time.Second)
	t.Logf("back up in %v", took.Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	var seen []onion.Liveness
	for _, p := range steps[mark:] {
		if len(seen) == 0 || seen[len(seen)-1] != p.Liveness {
			seen = append(seen, p.Liveness)
		}
	}
	if len(seen) < 2 || seen[0] != onion.LivenessRecovering || seen[len(seen)-1] != onion.LivenessUp {
		t.Errorf("on the way back: %q, want recovering, then up", seen)
	}
}
