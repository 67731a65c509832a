package node

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// tamperSession writes, with the profile closed, the session alice holds
// with from into the contact row of to: what someone who can write the
// database while chive is closed could do.
func tamperSession(t *testing.T, dir string, from, to *tnode) {
	t.Helper()
	ctx := t.Context()
	db, err := storage.Open(ctx, dir, testPass, storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err := db.ContactByAddress(ctx, from.Address())
	if err != nil {
		t.Fatal(err)
	}
	dst, err := db.ContactByAddress(ctx, to.Address())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := db.Session(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutSession(ctx, dst.ID, sess, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestTamperedSessionRefused: a stranger's session (here carol's) attached
// to bob's contact row while alice's chive was closed. Before, the safety
// number was computed from bob's address and did not show it, and alice's
// node decrypted bob's messages with carol's session (failing, then
// acknowledging them: lost) and encrypted to carol under bob's name. Now the
// safety number is the session's, and the session is refused.
func TestTamperedSessionRefused(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	aliceDir := newProfile(t, "alice")
	alice := startMem(t, mem, aliceDir)
	bob := startMem(t, mem, newProfile(t, "bob"))
	carol := startMem(t, mem, newProfile(t, "carol"))
	befriend(t, alice, bob, memWait)
	if _, err := carol.AddContact(t.Context(), alice.Address(), "alice", "carol here"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "carol's request", isState(carol.Address(), StatePendingIncoming))
	if _, err := alice.AcceptContact(t.Context(), carol.Address()); err != nil {
		t.Fatal(err)
	}
	carol.waitFor(t, memWait, "accepted", isState(alice.Address(), StateAccepted))
	genuine := mustSafety(t, alice, bob.Address())
	carolNumber := mustSafety(t, alice, carol.Address())
	if genuine != mustSafety(t, bob, alice.Address()) {
		t.Fatal("alice and bob see different safety numbers")
	}

	alice.Close()
	tamperSession(t, aliceDir, carol, bob)
	alice = startMem(t, mem, aliceDir)

	got := mustSafety(t, alice, bob.Address())
	if got == genuine {
		t.Fatal("the safety number of bob does not show that his session is carol's")
	}
	if got != carolNumber {
		t.Errorf("bob's safety number = %s, want the one of the session (alice↔carol) %s", got, carolNumber)
	}
	if _, err := alice.Send(t.Context(), bob.Address(), "to bob?"); !errors.Is(err, ErrSessionMismatch) {
		t.Fatalf("Send with a stranger's session: %v, want ErrSessionMismatch", err)
	}
	// Bob writes: alice refuses to use the session, tells the user, and does
	// not acknowledge: the message waits in bob's outbox.
	waiting := mustSend(t, bob, alice.Address(), "are you there?")
	alice.waitFor(t, memWait, "a warning", func(e Event) bool {
		ee, ok := e.(ErrorEvent)
		return ok && strings.Contains(ee.Message, "belongs to another key")
	})
	if n := alice.decrypts.Load(); n != 0 {
		t.Fatalf("alice decrypted %d messages with a stranger's session", n)
	}
	if bob.count(isMsgState(waiting.ID, Delivered)) != 0 {
		t.Fatal("bob's message was acknowledged though alice could not read it")
	}

	// Alice starts a new session; bob's waiting message then arrives,
	// re-encrypted, and the safety number is the genuine one again.
	if _, err := alice.ResetSession(t.Context(), bob.Address()); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "session notice", isSession(alice.Address(), true))
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 1), []string{"are you there?"})
	bob.waitFor(t, memWait, "delivered", isMsgState(waiting.ID, Delivered))
	if got := mustSafety(t, alice, bob.Address()); got != genuine {
		t.Errorf("after the reset: %s, want %s", got, genuine)
	}
	mustSend(t, alice, bob.Address(), "yes")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"yes"})
}

func isSession(addr string, byPeer bool) func(Event) bool {
	return func(e Event) bool {
		s, ok := e.(SessionEvent)
		return ok && s.Contact.Address == addr && s.ByPeer == byPeer
	}
}

// copyDir copies a closed profile: a backup, or its restore.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.RemoveAll(to); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestResetSessionAfterRestore: bob restores a backup older than his
// session with alice and starts a new session. Alice's chive accepts it by
// itself and says so; nothing is deleted, the conversation goes on, and
// what each side had queued arrives under the new session.
func TestResetSessionAfterRestore(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bobDir := newProfile(t, "bob")
	bob := startMem(t, mem, bobDir)
	befriend(t, alice, bob, memWait)
	mustSend(t, alice, bob.Address(), "before the backup")
	bob.waitReceived(t, memWait, alice.Address(), 1)
	waitOutbox(t, alice, 0)
	number := mustSafety(t, alice, bob.Address())
	if err := alice.SetVerified(t.Context(), bob.Address(), true); err != nil {
		t.Fatal(err)
	}

	bob.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, bobDir, backup)
	bob = startMem(t, mem, bobDir)
	// The ratchets move on after the backup, both ways.
	for i := range 3 {
		mustSend(t, bob, alice.Address(), texts("after", 3)[i])
		mustSend(t, alice, bob.Address(), texts("reply", 3)[i])
	}
	alice.waitReceived(t, memWait, bob.Address(), 3)
	bob.waitReceived(t, memWait, alice.Address(), 3) // events since this start
	waitOutbox(t, alice, 0)
	waitOutbox(t, bob, 0)
	bob.Close()
	copyDir(t, backup, bobDir)

	// Alice writes while bob is away; bob comes back with the old state and
	// asks for a new session, with a message of his queued behind it.
	mustSend(t, alice, bob.Address(), "queued for the restored bob")
	bob = startMem(t, mem, bobDir)
	if _, err := bob.ResetSession(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(t.Context(), alice.Address(), "too early"); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("Send while waiting for the new session: %v, want ErrNotAccepted", err)
	}
	e := alice.waitFor(t, memWait, "session notice", isSession(bob.Address(), true)).(SessionEvent)
	if e.SafetyNumberChanged || e.Notice != "b started a new session: the safety number is unchanged" {
		t.Errorf("notice = %+v", e)
	}
	if e.Contact.State != StateAccepted || !e.Contact.Verified {
		t.Errorf("contact after the reset = %+v (must stay accepted, and verified: same safety number)", e.Contact)
	}
	bob.waitFor(t, memWait, "session notice", isSession(alice.Address(), false))
	if got := mustSafety(t, alice, bob.Address()); got != number {
		t.Errorf("safety number %s, want %s", got, number)
	}
	// Alice's queued message did not decrypt with bob's old state; it
	// waited, and was re-encrypted for the new session.
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"queued for the restored bob"})
	mustSend(t, bob, alice.Address(), "new session works")
	mustSend(t, alice, bob.Address(), "both ways")
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 4)[3:], []string{"new session works"})
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 2), []string{"queued for the restored bob", "both ways"})
	h, err := alice.History(t.Context(), bob.Address(), "", 100)
	if err != nil || len(h) < 8 {
		t.Errorf("alice's history has %d messages, %v: nothing may be deleted", len(h), err)
	}
}

// TestReAddedContactGetsNewSession: bob lost alice (removed her, or a fresh
// profile with the same key) and asks again. Before, alice acknowledged the
// request and ignored it ("a re-request never resets a session"): bob
// stayed "requested" forever. Now alice's chive answers with a new session.
func TestReAddedContactGetsNewSession(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	if err := alice.RemoveContact(t.Context(), bob.Address(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.AddContact(t.Context(), bob.Address(), "bob again", "it's me, again"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, memWait, "accepted again", func() bool { return alice.count(isState(bob.Address(), StateAccepted)) >= 2 })
	mustSend(t, alice, bob.Address(), "hello again")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"hello again"})
	mustSend(t, bob, alice.Address(), "welcome back")
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 1), []string{"welcome back"})
	bob.waitFor(t, memWait, "session notice", isSession(alice.Address(), true))
}

// TestResendOfFirstRequestKeepsSession: the first request sent again (the
// same id: its ack was lost) is acknowledged and changes nothing.
func TestResendOfFirstRequestKeepsSession(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	mem.SetOffline(onionAddr(bob), true)
	if _, err := alice.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	items, err := alice.db.Outbox(t.Context(), mustContactID(t, alice, bob))
	if err != nil || len(items) != 1 || items[0].Kind != storage.KindRequest {
		t.Fatalf("outbox = %+v, %v", items, err)
	}
	first := wire.ID(items[0].ID)
	mem.SetOffline(onionAddr(bob), false)
	alice.redialNow(alice.peer(onionAddr(bob)))
	bob.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))
	if _, err := bob.AcceptContact(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))
	// Adding an accepted contact again changes nothing, and says so.
	c, err := alice.AddContact(t.Context(), bob.Address(), "bob", "again?")
	if !errors.Is(err, ErrAlreadyContact) || c.State != StateAccepted {
		t.Fatalf("re-add = %+v, %v; want the contact and ErrAlreadyContact", c, err)
	}
	l := alice.currentLink(alice.peer(onionAddr(bob)))
	if l == nil {
		t.Fatal("no link")
	}
	if err := l.Send(&wire.Request{ID: first, Bundle: alice.identity().bundle, Greeting: "hi"}); err != nil {
		t.Fatal(err)
	}
	// Bob handles a link's frames in order: once this message (under the
	// first session) is in, the resent request was handled.
	mustSend(t, alice, bob.Address(), "still here")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"still here"})
	if n := bob.count(isSession(alice.Address(), true)); n != 0 {
		t.Fatalf("a resent request reset the session (%d notices)", n)
	}
}

// TestMutualReset: both sides ask for a new session at once; one session
// results and both directions work.
func TestMutualReset(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	mem.SetOffline(onionAddr(alice), true)
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	bob.dropLink(onionAddr(alice))
	if _, err := alice.ResetSession(t.Context(), bob.Address()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ResetSession(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	mem.SetOffline(onionAddr(alice), false)
	mem.SetOffline(onionAddr(bob), false)
	alice.redialNow(alice.peer(onionAddr(bob)))
	bob.redialNow(bob.peer(onionAddr(alice)))
	waitUntil(t, memWait, "both sessions", func() bool {
		_, e1 := alice.db.Session(t.Context(), mustContactID(t, alice, bob))
		_, e2 := bob.db.Session(t.Context(), mustContactID(t, bob, alice))
		return e1 == nil && e2 == nil
	})
	mustSend(t, alice, bob.Address(), "one")
	mustSend(t, bob, alice.Address(), "two")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"one"})
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 1), []string{"two"})
}

func mustContactID(t *testing.T, n, peer *tnode) int64 {
	c, err := n.book.Lookup(t.Context(), peer.addr)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestRotationKeepsPendingRequests: alice's keys rotate between sending a
// request and its acceptance; the acceptance still completes, the rotated
// identity is what is stored, and new requests carry the new bundle.
func TestRotationKeepsPendingRequests(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	aliceDir := newProfile(t, "alice")
	alice := startMem(t, mem, aliceDir)
	bob := startMem(t, mem, newProfile(t, "bob"))
	old := alice.identity().bundle
	if _, err := alice.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))

	if rotated, err := alice.rotateIfDue(time.Now()); err != nil || rotated {
		t.Fatalf("rotated a fresh identity: %v, %v", rotated, err)
	}
	if rotated, err := alice.rotateIfDue(time.Now().Add(8 * 24 * time.Hour)); err != nil || !rotated {
		t.Fatalf("no rotation after 8 days: %v, %v", rotated, err)
	}
	if string(alice.identity().bundle) == string(old) {
		t.Fatal("the bundle did not change")
	}
	ident, err := alice.db.Identity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := ratchet.UnmarshalIdentity(ident.Ratchet)
	if err != nil || stored.Retired() != 1 {
		t.Fatalf("stored identity: %v retired, %v", stored.Retired(), err)
	}

	// Bob accepts the request made with the old bundle.
	if _, err := bob.AcceptContact(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))
	mustSend(t, alice, bob.Address(), "after the rotation")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"after the rotation"})

	// A restart keeps the rotated keys.
	alice.Close()
	alice = startMem(t, mem, aliceDir)
	b, _ := stored.Bundle().MarshalBinary()
	if string(alice.identity().bundle) != string(b) {
		t.Fatal("the reopened node does not use the rotated bundle")
	}
}

// TestOlderPeerNotice: a contact whose chive speaks link protocol 1 cannot
// be reached; the user is told why, once, instead of a silent backoff.
func TestOlderPeerNotice(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	_, oldKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := mem.NewTransport()
	defer tr.Close()
	ln, err := tr.Listen(t.Context(), oldKey)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Link protocol 1's first frame: Hello{1: nonce (32 bytes)}.
			body := append([]byte{0xa1, 0x01, 0x58, 0x20}, make([]byte, 32)...)
			c.Write(append(append(binary.BigEndian.AppendUint32(nil, uint32(2+len(body))), 1, 0x01), body...))
			c.Close()
		}
	}()
	addr := onion.AddressFromPublicKey(oldKey.Public().(ed25519.PublicKey))
	if _, err := alice.AddContact(t.Context(), string(addr), "old", "hi"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "a notice", func(e Event) bool {
		ee, ok := e.(ErrorEvent)
		return ok && strings.Contains(ee.Message, "cannot reach old: they run an older chive and must upgrade")
	})
	waitUntil(t, memWait, "a few redials", func() bool { return mem.Dials(addr) >= 3 })
	n := alice.count(func(e Event) bool { ee, ok := e.(ErrorEvent); return ok && strings.Contains(ee.Message, "older chive") })
	if n != 1 {
		t.Errorf("%d notices, want 1", n)
	}
}

// TestPeerResetRateLimited: a contact that keeps asking for new sessions
// gets one a minute; the rest wait unacknowledged.
func TestPeerResetRateLimited(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	l := alice.currentLink(alice.peer(onionAddr(bob)))
	if l == nil {
		t.Fatal("no link")
	}
	for range 5 {
		if err := l.Send(&wire.Request{ID: wire.NewID(), Bundle: alice.identity().bundle}); err != nil {
			t.Fatal(err)
		}
	}
	bob.waitFor(t, memWait, "a session notice", isSession(alice.Address(), true))
	// Bob's reader handles frames in order: once a frame after the five is
	// handled, all five were.
	if err := l.Send(&wire.Typing{}); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "typing", func(e Event) bool { _, ok := e.(TypingEvent); return ok })
	if n := bob.count(isSession(alice.Address(), true)); n != 1 {
		t.Fatalf("%d new sessions in a burst of 5 requests, want 1", n)
	}
}
