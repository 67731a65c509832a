package node

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/mailbox"
	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// mailboxTuned shortens the mailbox timers too.
func mailboxTuned() *tuning {
	t := fastTuning()
	t.mbox = mailboxTuning{
		grace:    200 * time.Millisecond,
		poll:     2 * time.Second,
		linger:   time.Second,
		window:   8,
		retryMin: 50 * time.Millisecond,
		retryMax: time.Second,
		flush:    2 * time.Second,
	}
	return t
}

func startMbox(t *testing.T, mem *memnet.Network, dir string) *tnode {
	t.Helper()
	return startMemTuned(t, mem, dir, mailboxTuned())
}

// testMailbox is a mailbox role on the memory network.
type testMailbox struct {
	store *mailbox.Store
	link  string
	stop  func()
}

func startTestMailbox(t *testing.T, mem *memnet.Network, lim mailbox.Limits) *testMailbox {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := mailbox.Create(ctx, filepath.Join(t.TempDir(), "mbox"), []byte("mailbox pass"), storage.CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	link, err := store.PairingLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := mem.NewTransport()
	ln, err := tr.Listen(ctx, store.Key())
	if err != nil {
		t.Fatal(err)
	}
	srv := mailbox.NewServer(store, mailbox.ServerOptions{Limits: lim, Link: &fastTuning().link})
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, ln)
	}()
	m := &testMailbox{store: store, link: link}
	var once bool
	m.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		tr.Close()
		<-done
		store.Close()
	}
	t.Cleanup(m.stop)
	return m
}

const mboxWait = 30 * time.Second

// waitTold waits until n's contact at addr knows of a mailbox (their own
// told us, hasMailbox) or we told them about ours (told).
func waitMailboxContact(t *testing.T, n *tnode, addr string, what string, ok func(MailboxContact) bool) {
	t.Helper()
	waitUntil(t, mboxWait, what, func() bool {
		st, err := n.MailboxStatus(t.Context())
		if err != nil {
			return false
		}
		for _, c := range st.Contacts {
			if c.Address == addr {
				return ok(c)
			}
		}
		return false
	})
}

func sendAll(t *testing.T, n *tnode, to string, texts []string) []string {
	t.Helper()
	var ids []string
	for _, s := range texts {
		m, err := n.Send(t.Context(), to, s)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func waitStates(t *testing.T, n *tnode, ids []string, st MessageState) {
	t.Helper()
	for _, id := range ids {
		n.waitFor(t, mboxWait, string(st)+" "+id, isMsgState(id, st))
	}
}

// TestMailboxIncoming: Bob has a mailbox. Alice sends 100 messages while he
// is offline, then goes offline herself; Bob comes online and gets all
// 100, once, in order; Alice comes back and learns all were delivered.
func TestMailboxIncoming(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	mb := startTestMailbox(t, mem, mailbox.Limits{})
	aliceDir, bobDir := newProfile(t, "alice"), newProfile(t, "bob")
	alice, bob := startMbox(t, mem, aliceDir), startMbox(t, mem, bobDir)
	befriend(t, alice, bob, memWait)

	if _, err := bob.MailboxLink(t.Context(), mb.link); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.MailboxLink(t.Context(), mb.link); !errors.Is(err, ErrMailboxLinked) {
		t.Fatalf("second link: %v", err)
	}
	waitMailboxContact(t, alice, bob.Address(), "alice knows bob's mailbox", func(c MailboxContact) bool { return c.HasMailbox })
	bob.Close()

	const count = 100
	want := texts("via-bob's-mailbox", count)
	ids := sendAll(t, alice, bob.Address(), want)
	waitStates(t, alice, ids, Stored)
	alice.Close()

	bob = startMbox(t, mem, bobDir)
	checkInOrder(t, bob.waitReceived(t, mboxWait, alice.Address(), count), want)
	// Bob goes at once: what he took reaches the mailbox before he is gone,
	// so it deleted them all. (It may hold something of Bob's for Alice: an
	// ack of his mailbox info lost when he closed before.)
	bob.Close()
	waitUntil(t, 5*time.Second, "the mailbox to delete what bob took", func() bool {
		st, err := mb.store.Stats(t.Context())
		return err == nil && len(st.Slots) == 1 && st.Slots[0].ToOwner == 0
	})
	// Exactly once: nothing more arrived, the history has each once.
	checkInOrder(t, bob.received(alice.Address()), want)

	alice = startMbox(t, mem, aliceDir)
	waitStates(t, alice, ids, Delivered)
	waitOutbox(t, alice, 0)
}

// TestMailboxOutgoing: Alice's own mailbox carries her messages while she
// is offline; Bob, who has no mailbox, collects them when he comes online.
func TestMailboxOutgoing(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	mb := startTestMailbox(t, mem, mailbox.Limits{})
	aliceDir, bobDir := newProfile(t, "alice"), newProfile(t, "bob")
	alice, bob := startMbox(t, mem, aliceDir), startMbox(t, mem, bobDir)
	befriend(t, alice, bob, memWait)
	if _, err := alice.MailboxLink(t.Context(), mb.link); err != nil {
		t.Fatal(err)
	}
	waitMailboxContact(t, bob, alice.Address(), "bob knows alice's mailbox", func(c MailboxContact) bool { return c.HasMailbox })
	bob.Close()

	const count = 100
	want := texts("via-alice's-mailbox", count)
	ids := sendAll(t, alice, bob.Address(), want)
	waitStates(t, alice, ids, Stored)
	alice.Close()

	bob = startMbox(t, mem, bobDir)
	checkInOrder(t, bob.waitReceived(t, mboxWait, alice.Address(), count), want)
	// Bob reads them: the read receipt goes back through Alice's mailbox.
	if err := bob.MarkRead(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, mboxWait, "bob's receipt in alice's mailbox", func() bool {
		st, err := mb.store.Stats(t.Context())
		return err == nil && len(st.Slots) == 1 && st.Slots[0].ToOwner > 0 && st.Slots[0].ToContact == 0
	})
	bob.Close()

	alice = startMbox(t, mem, aliceDir)
	waitStates(t, alice, ids, Read)
	waitOutbox(t, alice, 0)
	st, err := alice.MailboxStatus(t.Context())
	if err != nil || !st.Linked || len(st.Contacts) != 1 || !st.Contacts[0].Told {
		t.Fatalf("mailbox status %+v %v", st, err)
	}
	waitUntil(t, mboxWait, "connected", func() bool {
		st, err := alice.MailboxStatus(t.Context())
		return err == nil && st.Connected
	})

	// Unlinking empties the mailbox and tells Bob, who forgets it.
	bob = startMbox(t, mem, bobDir)
	if err := alice.MailboxUnlink(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if err := alice.MailboxUnlink(t.Context(), false); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("second unlink: %v", err)
	}
	waitMailboxContact(t, bob, alice.Address(), "bob forgot alice's mailbox", func(c MailboxContact) bool { return !c.HasMailbox })
	if st, err := mb.store.Stats(t.Context()); err != nil || st.Paired || st.Items != 0 {
		t.Fatalf("mailbox after unlink: %+v %v", st, err)
	}
}

// TestMailboxBothWaysAtOnce: messages between two offline-prone users
// whose mailboxes both carry them, and a direct link at the same time:
// each is shown once, in order, on every path.
func TestMailboxBothWaysAtOnce(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	ma, mbb := startTestMailbox(t, mem, mailbox.Limits{}), startTestMailbox(t, mem, mailbox.Limits{})
	aliceDir, bobDir := newProfile(t, "alice"), newProfile(t, "bob")
	alice, bob := startMbox(t, mem, aliceDir), startMbox(t, mem, bobDir)
	befriend(t, alice, bob, memWait)
	if _, err := alice.MailboxLink(t.Context(), ma.link); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.MailboxLink(t.Context(), mbb.link); err != nil {
		t.Fatal(err)
	}
	waitMailboxContact(t, bob, alice.Address(), "bob knows alice's mailbox", func(c MailboxContact) bool { return c.HasMailbox })
	waitMailboxContact(t, alice, bob.Address(), "alice knows bob's mailbox", func(c MailboxContact) bool { return c.HasMailbox })
	bob.Close()
	first := texts("first", 30)
	sendAll(t, alice, bob.Address(), first)
	// While some are being stored, Bob comes back: direct and mailbox
	// paths race.
	bob = startMbox(t, mem, bobDir)
	second := texts("second", 30)
	sendAll(t, alice, bob.Address(), second)
	checkInOrder(t, bob.waitReceived(t, mboxWait, alice.Address(), 60), append(first, second...))
	waitOutbox(t, alice, 0)
	time.Sleep(time.Second)
	checkInOrder(t, bob.received(alice.Address()), append(first, second...))
}

// TestMailboxExpired: an item the mailbox deletes unread makes the message
// failed, with a reason; it stays queued for a direct delivery.
func TestMailboxExpired(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	mb := startTestMailbox(t, mem, mailbox.Limits{Retention: 500 * time.Millisecond, SweepEvery: 200 * time.Millisecond})
	aliceDir, bobDir := newProfile(t, "alice"), newProfile(t, "bob")
	alice, bob := startMbox(t, mem, aliceDir), startMbox(t, mem, bobDir)
	befriend(t, alice, bob, memWait)
	if _, err := bob.MailboxLink(t.Context(), mb.link); err != nil {
		t.Fatal(err)
	}
	waitMailboxContact(t, alice, bob.Address(), "alice knows bob's mailbox", func(c MailboxContact) bool { return c.HasMailbox })
	bob.Close()
	ids := sendAll(t, alice, bob.Address(), []string{"too late"})
	e := alice.waitFor(t, mboxWait, "failed", isMsgState(ids[0], Failed))
	if e.(MessageStateEvent).Error == "" {
		t.Error("failed without a reason")
	}
	bob = startMbox(t, mem, bobDir)
	checkInOrder(t, bob.waitReceived(t, mboxWait, alice.Address(), 1), []string{"too late"})
	alice.waitFor(t, mboxWait, "delivered after all", isMsgState(ids[0], Delivered))
}

// TestPairingLinkIsNotAContact: a pairing link pasted as a contact, or an
// invite as a pairing link, is refused with a pointer to the right command.
func TestPairingLinkIsNotAContact(t *testing.T) {
	addr := onion.AddressFromPublicKey(newRawPeer(t).pub)
	pair := mailbox.PairingLink(addr, mailbox.NewSecret())
	if _, _, err := ParseLink(pair); !errors.Is(err, ErrBadLink) || !strings.Contains(err.Error(), "chive mailbox link") {
		t.Errorf("ParseLink(pairing link): %v", err)
	}
	invite := addr.URI() + "?invite=" + strings.ToLower(tokenEncoding.EncodeToString(bytes.Repeat([]byte{1}, wire.InviteSize)))
	if _, _, err := mailbox.ParsePairingLink(invite); !errors.Is(err, mailbox.ErrNotPairingLink) || !strings.Contains(err.Error(), "contacts add") {
		t.Errorf("ParsePairingLink(invite): %v", err)
	}
}
