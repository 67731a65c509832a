package node

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
)

func isContactEvent(e Event) bool { _, ok := e.(ContactEvent); return ok }

// TestDrafts: one draft per conversation, kept across a restart, never
// sent, no event.
func TestDrafts(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	dir := newProfile(t, "alice")
	alice := startMem(t, mem, dir)
	bob := startMem(t, mem, newProfile(t, "bob"))
	erin := startMem(t, mem, newProfile(t, "erin"))
	befriend(t, alice, bob, memWait) // alice calls bob "b"
	ctx := t.Context()
	if _, err := alice.AddContact(ctx, erin.Address(), "erin", "hi"); err != nil {
		t.Fatal(err)
	}
	erin.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))
	if _, err := erin.AcceptContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "accepted", isState(erin.Address(), StateAccepted))

	before := alice.count(isContactEvent)
	if err := alice.SetDraft(ctx, "b", "for bob only ☕\nsecond line"); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetDraft(ctx, "erin", "for erin"); err != nil {
		t.Fatal(err)
	}
	if c, err := alice.Contact(ctx, "b"); err != nil || c.Draft != "for bob only ☕\nsecond line" {
		t.Fatalf("bob's draft = %q, %v", c.Draft, err)
	}
	cs, err := alice.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		want := map[string]string{bob.Address(): "for bob only ☕\nsecond line", erin.Address(): "for erin"}[c.Address]
		if c.Draft != want {
			t.Errorf("Contacts: %s's draft = %q, want %q", c.Name, c.Draft, want)
		}
	}
	if n := alice.count(isContactEvent); n != before {
		t.Errorf("SetDraft published %d contact events, want none", n-before)
	}
	if err := alice.SetDraft(ctx, "nobody", "x"); !errors.Is(err, ErrUnknownContact) {
		t.Errorf("draft for an unknown contact: %v", err)
	}
	if err := alice.SetDraft(ctx, "b", strings.Repeat("x", MaxText+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("long draft: %v", err)
	}
	// The draft is ours: a message sent to bob does not take it along.
	mustSend(t, alice, "b", "a message")
	if got := bob.waitReceived(t, memWait, alice.Address(), 1); len(got) != 1 || got[0] != "a message" {
		t.Fatalf("bob got %q", got)
	}
	if got := erin.received(alice.Address()); len(got) != 0 {
		t.Errorf("erin got %q", got)
	}

	// Kept across a restart.
	alice.Close()
	again := openNode(t, Options{Dir: dir, Passphrase: testPass})
	if c, err := again.Contact(ctx, "b"); err != nil || c.Draft != "for bob only ☕\nsecond line" {
		t.Fatalf("bob's draft after restart = %q, %v", c.Draft, err)
	}
	if err := again.SetDraft(ctx, "b", ""); err != nil {
		t.Fatal(err)
	}
	if c, _ := again.Contact(ctx, "b"); c.Draft != "" {
		t.Errorf("cleared draft = %q", c.Draft)
	}
	if c, _ := again.Contact(ctx, "erin"); c.Draft != "for erin" {
		t.Errorf("erin's draft = %q", c.Draft)
	}
}

// TestNames: a display name goes with the request and the acceptance, fills
// a nickname never chosen, and later changes reach accepted contacts inside
// the session; a nickname the user chose always wins.
func TestNames(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "Alice"))
	bob := startMem(t, mem, newProfile(t, "Bob"))
	ctx := t.Context()

	if _, err := alice.AddContact(ctx, bob.Address(), "", "hi"); err != nil { // no nickname for bob
		t.Fatal(err)
	}
	req := bob.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming)).(ContactRequestEvent)
	if req.Contact.PeerName != "Alice" || req.Contact.Name != "Alice" {
		t.Errorf("request: peer name %q, name %q; want Alice for both", req.Contact.PeerName, req.Contact.Name)
	}
	if _, err := bob.AcceptContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	acc := alice.waitFor(t, memWait, "acceptance", isState(bob.Address(), StateAccepted)).(ContactEvent)
	if acc.Contact.PeerName != "Bob" || acc.Contact.Name != "Bob" {
		t.Errorf("acceptance: peer name %q, name %q; want Bob for both", acc.Contact.PeerName, acc.Contact.Name)
	}

	// Bob names alice himself: his name for her stays.
	if err := bob.RenameContact(ctx, alice.Address(), "Ally"); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetName(ctx, "  Alice   Liddell "); err != nil {
		t.Fatal(err)
	}
	if st, _ := alice.Status(ctx); st.Name != "Alice Liddell" {
		t.Errorf("Status.Name = %q", st.Name)
	}
	ev := bob.waitFor(t, memWait, "alice's new name", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.PeerName == "Alice Liddell"
	}).(ContactEvent)
	if ev.Contact.Name != "Ally" {
		t.Errorf("bob's nickname for alice = %q, want Ally (his own)", ev.Contact.Name)
	}
	// Alice never named bob: her nickname follows his name.
	if err := bob.SetName(ctx, "Robert"); err != nil {
		t.Fatal(err)
	}
	ev = alice.waitFor(t, memWait, "bob's new name", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.PeerName == "Robert"
	}).(ContactEvent)
	if ev.Contact.Name != "Robert" {
		t.Errorf("alice's nickname for bob = %q, want Robert (filled in, never chosen)", ev.Contact.Name)
	}
	// A name is no message: nothing shows in the conversation.
	mustSend(t, alice, "Robert", "after the names")
	if got := bob.waitReceived(t, memWait, alice.Address(), 1); len(got) != 1 || got[0] != "after the names" {
		t.Errorf("bob's conversation: %q", got)
	}
	if h, _ := bob.History(ctx, "Ally", "", 10); len(h) != 1 {
		t.Errorf("bob's history has %d messages, want 1", len(h))
	}

	// A name changed while our request waits goes with the acceptance's answer.
	carol := startMem(t, mem, newProfile(t, "Carol"))
	if _, err := alice.AddContact(ctx, carol.Address(), "carol", "hi carol"); err != nil {
		t.Fatal(err)
	}
	carol.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))
	if err := alice.SetName(ctx, "Alice L."); err != nil {
		t.Fatal(err)
	}
	if c, _ := carol.Contact(ctx, alice.Address()); c.PeerName != "Alice Liddell" {
		t.Errorf("carol has %q before accepting", c.PeerName)
	}
	if _, err := carol.AcceptContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	carol.waitFor(t, memWait, "alice's name after accepting", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.Address == alice.Address() && c.Contact.PeerName == "Alice L." && c.Contact.Name == "Alice L."
	})
	bob.waitFor(t, memWait, "alice's second name", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.PeerName == "Alice L." && c.Contact.Name == "Ally"
	})

	for _, bad := range []string{"", "   ", "two\nlines", strings.Repeat("n", MaxName+1)} {
		if err := alice.SetName(ctx, bad); err == nil {
			t.Errorf("SetName(%q) accepted", bad)
		}
	}
	if st, _ := alice.Status(ctx); st.Name != "Alice L." {
		t.Errorf("Status.Name = %q after refused names", st.Name)
	}
}

// TestNameSurvivesRestart: a name set, then the node closed before it could
// tell its contact, reaches the contact after the restart.
func TestNameSurvivesRestart(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	dir := newProfile(t, "Alice")
	alice := startMem(t, mem, dir)
	bob := startMem(t, mem, newProfile(t, "Bob"))
	befriend(t, alice, bob, memWait)
	alice.Close()
	offline := openNode(t, Options{Dir: dir, Passphrase: testPass}) // not started: no network
	if err := offline.SetName(t.Context(), "Alice Offline"); err != nil {
		t.Fatal(err)
	}
	offline.Close()
	startMem(t, mem, dir)
	bob.waitFor(t, memWait, "the name set while offline", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.PeerName == "Alice Offline"
	})
}

// TestUnblock: an unblocked contact is back in the state it had; an
// accepted one in the same session, with what was sent meanwhile.
func TestUnblock(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait) // alice calls bob "b"; bob calls alice by her name
	ctx := t.Context()

	if err := bob.BlockContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	if c, _ := bob.Contact(ctx, alice.Address()); c.State != StateBlocked {
		t.Fatalf("blocked: %s", c.State)
	}
	if _, err := bob.Send(ctx, alice.Address(), "to a blocked contact"); !errors.Is(err, ErrBlocked) {
		t.Errorf("send to blocked: %v", err)
	}
	mustSend(t, alice, "b", "while blocked")
	if err := bob.UnblockContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "unblocked", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.Address == alice.Address() && c.Contact.State == StateAccepted
	})
	// What alice sent meanwhile arrives, and the session still works both ways.
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"while blocked"})
	mustSend(t, bob, alice.Address(), "welcome back")
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 1), []string{"welcome back"})
	if err := bob.UnblockContact(ctx, alice.Address()); err != nil {
		t.Errorf("unblocking an unblocked contact: %v", err)
	}

	// A request blocked while pending is pending again: accept it then.
	eve := startMem(t, mem, newProfile(t, "eve"))
	if _, err := eve.AddContact(ctx, bob.Address(), "bob", "it's eve"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "eve's request", isState(eve.Address(), StatePendingIncoming))
	if err := bob.BlockContact(ctx, eve.Address()); err != nil {
		t.Fatal(err)
	}
	if err := bob.UnblockContact(ctx, eve.Address()); err != nil {
		t.Fatal(err)
	}
	if c, _ := bob.Contact(ctx, eve.Address()); c.State != StatePendingIncoming || c.Greeting != "it's eve" {
		t.Fatalf("eve after unblock: %+v", c)
	}
	if _, err := bob.AcceptContact(ctx, eve.Address()); err != nil {
		t.Fatal(err)
	}
	eve.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))

	// Our own request, blocked before it went out (frank is not running):
	// requested again, and sent.
	frankDir := newProfile(t, "frank")
	frankAddr := profileAddress(t, frankDir)
	if _, err := bob.AddContact(ctx, frankAddr, "frank", "hi frank"); err != nil {
		t.Fatal(err)
	}
	if err := bob.BlockContact(ctx, frankAddr); err != nil {
		t.Fatal(err)
	}
	if err := bob.UnblockContact(ctx, frankAddr); err != nil {
		t.Fatal(err)
	}
	if c, _ := bob.Contact(ctx, frankAddr); c.State != StateRequested {
		t.Fatalf("frank after unblock: %s", c.State)
	}
	frank := startMem(t, mem, frankDir)
	req := frank.waitFor(t, memWait, "bob's request", isState(bob.Address(), StatePendingIncoming)).(ContactRequestEvent)
	if req.Contact.Greeting != "hi frank" || req.Contact.PeerName != "bob" {
		t.Errorf("request after unblock: %+v", req.Contact)
	}

	// An accepted contact who started over while blocked (removed us, asked
	// again): unblocking shows the new request, and accepting it makes a
	// new session.
	hal := startMem(t, mem, newProfile(t, "hal"))
	befriend(t, hal, bob, memWait) // hal calls bob "b"
	if err := bob.BlockContact(ctx, hal.Address()); err != nil {
		t.Fatal(err)
	}
	if err := hal.RemoveContact(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	requests := func() int { return bob.count(isState(hal.Address(), StatePendingIncoming)) }
	before := requests()
	if _, err := hal.AddContact(ctx, bob.Address(), "bob", "it's hal again"); err != nil {
		t.Fatal(err)
	}
	waitOutbox(t, hal, 0) // acknowledged: hal cannot tell a block
	if n := requests(); n != before {
		t.Errorf("bob saw hal's request while blocking him")
	}
	if err := bob.UnblockContact(ctx, hal.Address()); err != nil {
		t.Fatal(err)
	}
	if c, _ := bob.Contact(ctx, hal.Address()); c.State != StatePendingIncoming || c.Greeting != "it's hal again" {
		t.Fatalf("hal after unblock: %+v", c)
	}
	mark := hal.mark()
	if _, err := bob.AcceptContact(ctx, hal.Address()); err != nil {
		t.Fatal(err)
	}
	hal.waitAfter(t, mark, memWait, "accepted again", isState(bob.Address(), StateAccepted))
	mustSend(t, hal, "bob", "new session")
	checkInOrder(t, bob.waitReceived(t, memWait, hal.Address(), 1), []string{"new session"})

	// An address blocked before it was a contact: a stranger again, whose
	// requests are welcome.
	ginaDir := newProfile(t, "gina")
	ginaAddr := profileAddress(t, ginaDir)
	if err := bob.BlockContact(ctx, ginaAddr); err != nil {
		t.Fatal(err)
	}
	if err := bob.UnblockContact(ctx, ginaAddr); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "gina removed", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.Address == ginaAddr && c.Removed
	})
	if _, err := bob.Contact(ctx, ginaAddr); !errors.Is(err, ErrUnknownContact) {
		t.Errorf("gina after unblock: %v, want unknown", err)
	}
	gina := startMem(t, mem, ginaDir)
	if _, err := gina.AddContact(ctx, bob.Address(), "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "gina's request", isState(ginaAddr, StatePendingIncoming))

	// Adding a blocked contact unblocks it: back to accepted, no error.
	if err := bob.BlockContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	if c, err := bob.AddContact(ctx, alice.Address(), "alice", ""); err != nil || c.State != StateAccepted {
		t.Errorf("re-adding a blocked accepted contact = %+v, %v", c, err)
	}
}

func TestAddContactErrors(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	ctx := t.Context()
	if _, err := alice.AddContact(ctx, "chive:"+alice.Address(), "me", ""); !errors.Is(err, ErrSelf) {
		t.Errorf("adding our own address: %v, want ErrSelf", err)
	}
	if _, err := alice.AddContact(ctx, bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	c, err := alice.AddContact(ctx, bob.Address(), "bob", "hi again")
	if !errors.Is(err, ErrAlreadyContact) || c.State != StateRequested || !strings.Contains(err.Error(), "you asked bob already") {
		t.Errorf("adding a requested contact again = %+v, %v", c, err)
	}
	_, err = alice.AddContact(ctx, bob.Address()[:55], "bob", "")
	if err == nil || !strings.Contains(err.Error(), "not a chive address") {
		t.Errorf("a mistyped address: %v", err)
	}
}

func TestPassphrasePolicy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	for _, pass := range []string{"abc", "seven77", "ääääääää"[:10]} {
		_, err := CreateProfileWith(t.Context(), dir, ProfileOptions{Name: "x", Passphrase: []byte(pass), KDF: cheapKDF})
		if !errors.Is(err, ErrShortPassphrase) {
			t.Errorf("passphrase %q: %v, want ErrShortPassphrase", pass, err)
		}
		if ProfileExists(dir) {
			t.Fatalf("a profile was created with passphrase %q", pass)
		}
	}
	if err := CheckPassphrase([]byte("äöüäöüäö"), false); err != nil {
		t.Errorf("8 characters (16 bytes): %v", err)
	}
	if _, err := CreateProfileWith(t.Context(), dir, ProfileOptions{Name: "x", NoPassphrase: true, KDF: cheapKDF}); err != nil {
		t.Errorf("no passphrase, explicitly: %v", err)
	}
	if _, err := CreateProfileWith(t.Context(), filepath.Join(t.TempDir(), "q"), ProfileOptions{Name: "bad\x1bname", Passphrase: testPass, KDF: cheapKDF}); err == nil {
		t.Error("a name with an escape character was accepted")
	}
}

func TestTorStatusFromProgress(t *testing.T) {
	for _, tt := range []struct {
		p    onion.Progress
		want TorStatus
	}{
		{onion.Progress{Percent: 45, Summary: "Loading"}, TorStatus{State: TorBootstrapping, Percent: 45, Summary: "Loading"}},
		{onion.Progress{Percent: 100, Summary: "Done"}, TorStatus{State: TorReady, Percent: 100, Summary: "Done"}},
		{onion.Progress{Percent: 100, Summary: "Done", Liveness: onion.LivenessDown, Warning: "circuits fail"},
			TorStatus{State: TorOffline, Percent: 100, Error: "circuits fail"}},
		{onion.Progress{Percent: 100, Summary: "Done", Liveness: onion.LivenessRecovering},
			TorStatus{State: TorReconnecting, Percent: 100, Summary: "the network is back; building circuits"}},
	} {
		if got := torStatus(tt.p); got != tt.want {
			t.Errorf("torStatus(%+v) = %+v, want %+v", tt.p, got, tt.want)
		}
	}
}
