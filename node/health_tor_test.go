package node

import (
	"testing"
	"time"
)

// TestTorSelfDial: the reachability check works through real tor: a node
// reaches its own onion service on the private network.
func TestTorSelfDial(t *testing.T) {
	o := torOptions(t, newProfile(t, "self"))
	checkLeaks(t) // after the shared network started (torOptions)
	o.tune.healthEvery = time.Second
	nn, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	n := wrap(t, nn, o)
	start := time.Now()
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 4*time.Minute, "a successful self-dial", func() bool {
		st, err := n.Status(t.Context())
		return err == nil && !st.ReachableChecked.IsZero()
	})
	st, _ := n.Status(t.Context())
	t.Logf("self-dial worked %v after start; reachable %v, problem %q", time.Since(start).Round(time.Millisecond), st.Reachable, st.NetworkProblem)
	if !st.Reachable || st.NetworkProblem != "" {
		t.Errorf("status %+v", st)
	}
}
