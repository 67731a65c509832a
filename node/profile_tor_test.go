package node

import (
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
)

// TestTorNamesAndOffline runs two nodes on the private Tor network, Dave's
// through a testnet.Switch: display names travel with the request, the
// acceptance and later changes; then Dave's network goes away and comes
// back, and his node says so (offline, reconnecting, ready) and delivers
// again.
func TestTorNamesAndOffline(t *testing.T) {
	n := testnet.Shared(t)
	checkLeaks(t)
	sw, err := testnet.NewSwitch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	daveDir, erinDir := newProfile(t, "Dave"), newProfile(t, "Erin")
	o := torOptions(t, daveDir)
	o.ExtraTorrc = append(n.ClientTorrc(), sw.Torrc()...)
	dn, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	dave := wrap(t, dn, o)
	if err := dave.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	erin := startTorOwned(t, t, erinDir)
	isReachable := func(want bool) func(Event) bool {
		return func(e Event) bool { r, ok := e.(ReachableEvent); return ok && r.Reachable == want }
	}
	dave.waitFor(t, torWait, "reachable", isReachable(true))
	ctx := t.Context()

	ok := t.Run("Names", func(t *testing.T) {
		if _, err := dave.AddContact(ctx, erin.Address(), "", "hi erin, dave here"); err != nil {
			t.Fatal(err)
		}
		req := erin.waitFor(t, torWait, "request", isState(dave.Address(), StatePendingIncoming)).(ContactRequestEvent)
		if req.Contact.PeerName != "Dave" || req.Contact.Name != "Dave" {
			t.Errorf("dave's request at erin: peer name %q, name %q", req.Contact.PeerName, req.Contact.Name)
		}
		if _, err := erin.AcceptContact(ctx, dave.Address()); err != nil {
			t.Fatal(err)
		}
		acc := dave.waitFor(t, torWait, "acceptance", isState(erin.Address(), StateAccepted)).(ContactEvent)
		if acc.Contact.PeerName != "Erin" || acc.Contact.Name != "Erin" {
			t.Errorf("erin's acceptance at dave: peer name %q, name %q", acc.Contact.PeerName, acc.Contact.Name)
		}
		// Erin's own nickname for dave wins over his later name.
		if err := erin.RenameContact(ctx, dave.Address(), "D"); err != nil {
			t.Fatal(err)
		}
		if err := dave.SetName(ctx, "Dave Bowman"); err != nil {
			t.Fatal(err)
		}
		ev := erin.waitFor(t, torWait, "dave's new name", func(e Event) bool {
			c, ok := e.(ContactEvent)
			return ok && c.Contact.PeerName == "Dave Bowman"
		}).(ContactEvent)
		if ev.Contact.Name != "D" {
			t.Errorf("erin's nickname for dave = %q, want D", ev.Contact.Name)
		}
		if err := erin.SetName(ctx, "Erin E."); err != nil {
			t.Fatal(err)
		}
		dave.waitFor(t, torWait, "erin's new name, as dave's nickname too", func(e Event) bool {
			c, ok := e.(ContactEvent)
			return ok && c.Contact.PeerName == "Erin E." && c.Contact.Name == "Erin E."
		})
	})
	if !ok {
		t.FailNow()
	}

	t.Run("Offline", func(t *testing.T) {
		isTor := func(st TorState) func(Event) bool {
			return func(e Event) bool { p, ok := e.(TorProgressEvent); return ok && p.Tor.State == st }
		}
		mark := dave.mark()
		start := time.Now()
		sw.Off()
		off := dave.waitAfter(t, mark, 90*time.Second, "tor offline", isTor(TorOffline)).(TorProgressEvent)
		t.Logf("offline after %v: %q", time.Since(start).Round(time.Millisecond), off.Tor.Error)
		if off.Tor.Error == "" {
			t.Error("offline without a reason")
		}
		dave.waitAfter(t, mark, 10*time.Second, "unreachable", isReachable(false))
		if st, _ := dave.Status(ctx); st.Tor.State != TorOffline || st.Reachable {
			t.Errorf("status while offline: %+v", st)
		}
		mustSend(t, dave, "Erin E.", "written while offline")

		mark = dave.mark()
		start = time.Now()
		sw.On()
		dave.waitAfter(t, mark, 90*time.Second, "reconnecting", isTor(TorReconnecting))
		dave.waitAfter(t, mark, 90*time.Second, "ready", isTor(TorReady))
		dave.waitAfter(t, mark, 10*time.Second, "reachable", isReachable(true))
		t.Logf("ready again after %v", time.Since(start).Round(time.Millisecond))
		checkInOrder(t, erin.waitReceived(t, torWait, dave.Address(), 1), []string{"written while offline"})
	})
}

// mark is the number of events recorded so far, for waitAfter.
func (n *tnode) mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.events)
}

// waitAfter is waitFor for the events recorded after mark.
func (n *tnode) waitAfter(t testing.TB, mark int, timeout time.Duration, what string, f func(Event) bool) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		for _, e := range n.events[mark:] {
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
