package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// TestFlashFades: a flash holds, fades in steps, then goes; every step
// arms the next timer and the last arms none, so an idle screen does not
// tick. A newer flash makes the older one's timer a no-op.
func TestFlashFades(t *testing.T) {
	m := testModel(t, world(t), 80, 24)
	b := &m.chat.bar
	b.noTimers = false // the commands are looked at, not run
	defer func() { b.noTimers = true }()
	if cmd := b.setFlash("hello", false); cmd == nil {
		t.Fatal("no timer for the flash")
	}
	id := b.flashID
	steps := 0
	for cmd := b.flashTick(id); cmd != nil; cmd = b.flashTick(id) {
		steps++
		if !strings.Contains(plain(m), "hello") {
			t.Fatalf("step %d: flash gone while fading", steps)
		}
		if steps > fadeSteps {
			t.Fatal("the fade never ends")
		}
	}
	if steps != fadeSteps-1 || b.flash != "" || strings.Contains(plain(m), "hello") {
		t.Errorf("after %d steps: flash %q", steps, b.flash)
	}
	if cmd := b.flashTick(id); cmd != nil {
		t.Error("a timer after the flash is gone")
	}
	// A newer flash: the old timer does nothing.
	b.setFlash("one", false)
	old := b.flashID
	b.setFlash("two", false)
	if cmd := b.flashTick(old); cmd != nil || b.flash != "two" || b.fade != 0 {
		t.Errorf("stale timer: cmd %v flash %q fade %d", cmd != nil, b.flash, b.fade)
	}
	// Without colour there is nothing to fade: it goes at once.
	m.e.colour = false
	b.setFlash("plain", false)
	if cmd := b.flashTick(b.flashID); cmd != nil || b.flash != "" {
		t.Errorf("no colour: cmd %v flash %q", cmd != nil, b.flash)
	}
}

// TestTorOfflineShown: when tor says the network is gone the bar says so,
// not "Tor ready"; reconnecting, then ready again.
func TestTorOfflineShown(t *testing.T) {
	m := testModel(t, world(t), 80, 24)
	for _, tc := range []struct {
		st         node.TorStatus
		want, lost string
	}{
		{node.TorStatus{State: node.TorOffline, Percent: 100, Error: "no route to any relay"}, "offline: no route to any relay", "Tor ready"},
		{node.TorStatus{State: node.TorReconnecting, Percent: 100}, "reconnecting", "Tor ready"},
		{node.TorStatus{State: node.TorReady, Percent: 100}, "Tor ready", "offline"},
	} {
		ev(t, m, node.TorProgressEvent{Tor: tc.st})
		v := plain(m)
		if !strings.Contains(v, tc.want) || strings.Contains(v, tc.lost) {
			t.Errorf("%s: status bar:\n%s", tc.st.State, v)
		}
	}
}

// TestReconnectReloads: the daemon connection drops (presence unknown,
// the bar says it reconnects), then comes back: status, contacts and the
// open conversation are loaded again, and the draft stays.
func TestReconnectReloads(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down")) // Bob, online
	typeText(t, m, "still here")
	f.SimConnection(false, "EOF")
	drain(t, m, nil)
	v := plain(m)
	if !strings.Contains(v, "reconnecting") || !strings.Contains(v, "0/3 online") {
		t.Fatalf("while disconnected:\n%s", v)
	}
	// Meanwhile the daemon got a message and Bob renamed himself.
	f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: "sent while you were away", Time: testNow, State: node.Received})
	f.SimPresence("Bob", node.Online)
	drain(t, m, nil)
	f.Calls = nil
	f.SimConnection(true, "")
	drain(t, m, nil)
	v = plain(m)
	for _, c := range []string{"Status", "Contacts", "History"} {
		if calls(f, c) == 0 {
			t.Errorf("no %s call after reconnecting: %v", c, f.Calls)
		}
	}
	if !strings.Contains(v, "sent while you were away") || strings.Contains(v, "reconnecting…") || !strings.Contains(v, "online") {
		t.Errorf("after reconnecting:\n%s", v)
	}
	if m.chat.composer.Value() != "still here" {
		t.Errorf("draft = %q", m.chat.composer.Value())
	}
}

// TestCopyLinkSaysWhatHappened: "copied" is not claimed; inside tmux the
// note says tmux is in between. The address is on one line, and the mouse
// is left to the terminal while it shows, so a drag selects it.
func TestCopyLinkSaysWhatHappened(t *testing.T) {
	for _, tmux := range []bool{false, true} {
		m := testModel(t, world(t), 80, 24)
		m.e.term.tmux = tmux
		drive(t, m, press("ctrl+o"))
		if m.View().MouseMode != tea.MouseModeNone {
			t.Error("mouse captured while the address shows")
		}
		if !strings.Contains(plain(m), aliceAddr) {
			t.Errorf("address not on one line:\n%s", plain(m))
		}
		drive(t, m, press("c"))
		v := strings.Join(strings.Fields(plain(m)), " ")
		if strings.Contains(v, "copied to the clipboard") || !strings.Contains(v, "OSC 52") {
			t.Errorf("tmux %v: note:\n%s", tmux, plain(m))
		}
		if tmux != strings.Contains(v, "tmux") {
			t.Errorf("tmux %v: note:\n%s", tmux, plain(m))
		}
		drive(t, m, press("esc"))
		if m.View().MouseMode == tea.MouseModeNone {
			t.Error("mouse not taken back")
		}
	}
}

// TestBlockedContact: a blocked contact's composer says so, and the details
// dialog unblocks.
func TestBlockedContact(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down")) // Bob
	drive(t, m, press("ctrl+d"))
	drive(t, m, press("b"))
	drive(t, m, press("b"))
	v := plain(m)
	if !strings.Contains(v, "you blocked Bob") || strings.Contains(v, "once they accept") {
		t.Fatalf("blocked Bob:\n%s", v)
	}
	typeText(t, m, "x")
	drive(t, m, press("enter"))
	if calls(f, "Send") != 0 {
		t.Fatal("sent to a blocked contact")
	}
	drive(t, m, press("ctrl+d"))
	if !strings.Contains(plain(m), "u unblock") {
		t.Fatalf("details of a blocked contact:\n%s", plain(m))
	}
	drive(t, m, press("u"))
	if v := plain(m); !strings.Contains(v, "unblocked Bob") || strings.Contains(v, "accepted") {
		t.Errorf("after u:\n%s", v)
	}
	if ct := m.chat.list.current(); ct == nil || ct.State != node.StateAccepted || calls(f, "UnblockContact") != 1 {
		t.Fatalf("after unblocking: %+v calls %v", ct, f.Calls)
	}
	drive(t, m, press("esc"))
	if v := plain(m); strings.Contains(v, "you blocked") || strings.Contains(v, "⊘") || strings.Contains(v, "blocked:") {
		t.Errorf("still says blocked:\n%s", v)
	}
}

// TestPeerNames: a contact who named itself is shown by that name until we
// choose one; accepting such a request asks for no name.
func TestPeerNames(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	erin := strings.Repeat("e", 52) + "eeed"
	f.SimContact(node.Contact{Address: erin, State: node.StatePendingIncoming, Greeting: "hi", Created: testNow})
	f.SimPeerName(erin, "Erin 🌷")
	drain(t, m, nil)
	if !strings.Contains(plain(m), "Erin 🌷") {
		t.Fatalf("no peer name:\n%s", plain(m))
	}
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "erin")
	drive(t, m, press("enter")) // the request dialog
	drive(t, m, press("a"))
	if strings.Contains(plain(m), "Give them a name") {
		t.Fatalf("asked for a name although they gave one:\n%s", plain(m))
	}
	// We name her; her own name shows in the details.
	drive(t, m, press("ctrl+d"))
	drive(t, m, press("r"))
	for range 10 {
		drive(t, m, press("backspace"))
	}
	typeText(t, m, "Cousin E")
	drive(t, m, press("enter"))
	v := plain(m)
	if !strings.Contains(v, "Cousin E") || !strings.Contains(v, "Their name  Erin 🌷") {
		t.Errorf("details:\n%s", v)
	}
}
