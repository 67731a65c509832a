package node

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Delivery semantics for scripts (issue 12), on the in-memory network.

func msgState(t testing.TB, n *tnode, ref, id string) Message {
	t.Helper()
	h, err := n.History(t.Context(), ref, "", MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("no message %s in the history of %s", id, ref)
	return Message{}
}

func isEnded(id string, st MessageState) func(Event) bool {
	return func(e Event) bool {
		m, ok := e.(MessageStateEvent)
		return ok && m.ID == id && m.State == st && m.Error != ""
	}
}

// TestSendWhileAccepting: a message to a contact we asked is queued, not
// refused, and arrives once they accept, in order with the messages sent
// while the acceptance arrives. (Before, a send in the moment between
// their accept and its arrival failed with "contact has not accepted
// yet".)
func TestSendWhileAccepting(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	ctx := t.Context()
	if _, err := alice.AddContact(ctx, bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))
	var (
		wg   sync.WaitGroup
		sent []string
		errs []error
	)
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // a script sending in a loop while bob accepts
		defer wg.Done()
		for i := 0; ; i++ {
			text := fmt.Sprintf("m-%04d", i)
			if _, err := alice.Send(ctx, "bob", text); err != nil {
				errs = append(errs, err)
				return
			}
			sent = append(sent, text)
			select {
			case <-stop:
				if i >= 20 {
					return
				}
			default:
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := bob.AcceptContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("send while the acceptance arrived: %v", errs[0])
	}
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), len(sent)), sent)
	waitOutbox(t, alice, 0)

	// Pending-incoming and blocked contacts are still refused.
	carol := startMem(t, mem, newProfile(t, "carol"))
	if _, err := carol.AddContact(ctx, alice.Address(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "carol's request", isState(carol.Address(), StatePendingIncoming))
	if _, err := alice.Send(ctx, carol.Address(), "hi"); !errors.Is(err, ErrNotAccepted) {
		t.Errorf("send to a pending-incoming contact: %v", err)
	}
}

// TestExpiry: a message not delivered within its TTL expires, with a
// reason, and is never delivered; the receiver refuses a message whose
// declared expiry passed before it arrived.
func TestExpiry(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	waitOutbox(t, bob, 0)
	ctx := t.Context()

	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	ms, err := alice.SendMany(ctx, SendRequest{To: []string{"b"}, Text: "code 493817", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	if m.ExpiresAt.IsZero() || m.ExpiresAt.Sub(m.Time) != 300*time.Millisecond {
		t.Fatalf("expires_at %v for a message at %v", m.ExpiresAt, m.Time)
	}
	alice.waitFor(t, memWait, "expired", isEnded(m.ID, Expired))
	if got := msgState(t, alice, "b", m.ID); got.State != Expired || !strings.Contains(got.Error, "deadline") {
		t.Fatalf("after its TTL: %+v", got)
	}
	if err := alice.Retry(ctx, m.ID); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("retry of an expired message: %v", err)
	}
	mem.SetOffline(onionAddr(bob), false)
	marker := mustSend(t, alice, "b", "after the expired one")
	alice.redialNow(alice.peer(onionAddr(bob)))
	alice.waitFor(t, memWait, "marker delivered", isMsgState(marker.ID, Delivered))
	bob.waitReceived(t, memWait, alice.Address(), 1) // its event may trail alice's ack
	if got := bob.received(alice.Address()); len(got) != 1 || got[0] != "after the expired one" {
		t.Fatalf("bob received %q: the expired message was delivered", got)
	}

	// A frame declaring an expiry already past, as if it took too long on
	// the way (or the sender's clock is ahead): bob refuses it.
	c, _ := alice.book.Lookup(ctx, onionAddr(bob))
	p := alice.peer(onionAddr(bob))
	id := wire.NewID()
	p.mu.Lock()
	var it storage.OutboxItem
	err = alice.db.Update(ctx, func(tx *storage.Tx) error {
		ch, err := loadChain(tx, c.ID)
		if err != nil {
			return err
		}
		now := time.Now()
		frame, err := alice.encrypt(ch, id, wire.Content{Text: "too late", Time: now.UnixMilli(), Expires: now.Add(-time.Second).UnixMilli()}, now)
		if err != nil {
			return err
		}
		m, err := tx.QueueMessageFrame(storage.OutgoingMessage{ContactID: c.ID, ID: storage.MessageID(id), Body: "too late", Frame: frame})
		if err != nil {
			return err
		}
		it = storage.OutboxItem{ID: m.ID, ContactID: c.ID, Kind: storage.KindMessage, Message: &m.ID, Frame: frame}
		return ch.save(tx, c.ID, now)
	})
	if err == nil {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	alice.startDelivery(p, c.ID)
	alice.waitFor(t, memWait, "refused as expired", isEnded(id.String(), Expired))
	if got := msgState(t, alice, "b", id.String()); !strings.Contains(got.Error, "after its deadline") {
		t.Errorf("refused message: %+v", got)
	}
	// The session survived the refusal: the next message is fine.
	after := mustSend(t, alice, "b", "still in step")
	alice.waitFor(t, memWait, "delivered", isMsgState(after.ID, Delivered))
	if got := bob.received(alice.Address()); len(got) != 2 || got[1] != "still in step" {
		t.Fatalf("bob received %q", got)
	}
}

// TestRetryAfterBlock: a message that failed (its contact was blocked)
// is sent again by Retry after the unblock: encrypted afresh, same id, and
// delivered once. Retry refuses what it cannot redo.
func TestRetryAfterBlock(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	ctx := t.Context()
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	m := mustSend(t, alice, "b", "sent before the block")
	if err := alice.BlockContact(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "failed", isEnded(m.ID, Failed))
	if got := msgState(t, alice, "b", m.ID); got.Error != contacts.ReasonBlocked {
		t.Errorf("failed with %q", got.Error)
	}
	if err := alice.Retry(ctx, m.ID); !errors.Is(err, ErrBlocked) {
		t.Errorf("retry while blocked: %v", err)
	}
	if err := alice.UnblockContact(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	mem.SetOffline(onionAddr(bob), false)
	if err := alice.Retry(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "requeued", isMsgState(m.ID, Queued))
	alice.waitFor(t, memWait, "delivered after retry", isMsgState(m.ID, Delivered))
	if got := bob.waitReceived(t, memWait, alice.Address(), 1); len(got) != 1 || got[0] != "sent before the block" {
		t.Fatalf("bob received %q", got)
	}
	if err := alice.Retry(ctx, m.ID); err == nil || !strings.Contains(err.Error(), "delivered") {
		t.Errorf("retry of a delivered message: %v", err)
	}
	if err := alice.Retry(ctx, strings.Repeat("ab", 16)); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("retry of no message: %v", err)
	}
}

// TestRemoveFailsWaiting: removing or blocking a contact fails what still
// waits for them, with the reason, instead of leaving it queued forever.
func TestRemoveFailsWaiting(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	carol := startMem(t, mem, newProfile(t, "carol"))
	befriend(t, alice, bob, memWait)
	ctx := t.Context()
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	m := mustSend(t, alice, "b", "never arrives")
	if err := alice.RemoveContact(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "failed", isEnded(m.ID, Failed))
	h, err := alice.db.OutgoingByID(ctx, storage.MessageID(mustParseID(t, m.ID)))
	if err != nil || h.Status != storage.StatusFailed || h.Error != contacts.ReasonRemoved {
		t.Fatalf("after remove: %+v %v", h, err)
	}
	if err := alice.Retry(ctx, m.ID); !errors.Is(err, ErrUnknownContact) {
		t.Errorf("retry to a removed contact: %v", err)
	}
	// Blocking a contact we asked fails the message waiting for their acceptance.
	if _, err := alice.AddContact(ctx, carol.Address(), "carol", ""); err != nil {
		t.Fatal(err)
	}
	w := mustSend(t, alice, "carol", "waiting for acceptance")
	if err := alice.BlockContact(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "failed", isEnded(w.ID, Failed))
	if st, _ := alice.Status(ctx); st.Outbox != 0 {
		t.Errorf("outbox %d after remove and block", st.Outbox)
	}
}

func mustParseID(t testing.TB, s string) wire.ID {
	id, err := wire.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestIdempotentSendMany: one transaction for several recipients; a key
// makes a repeated send return the first messages; a bad recipient
// queues nothing.
func TestIdempotentSendMany(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	carol := startMem(t, mem, newProfile(t, "carol"))
	befriend(t, alice, bob, memWait)
	if _, err := alice.AddContact(t.Context(), carol.Address(), "c", ""); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	req := SendRequest{To: []string{"b", carol.Address(), "B"}, Text: "to both", IdempotencyKey: "order-17"}
	first, err := alice.SendMany(ctx, req)
	if err != nil || len(first) != 2 || first[0].Address != bob.Address() || first[1].Address != carol.Address() {
		t.Fatalf("SendMany = %+v, %v", first, err)
	}
	again, err := alice.SendMany(ctx, req)
	if err != nil || len(again) != 2 || again[0].ID != first[0].ID || again[1].ID != first[1].ID {
		t.Fatalf("repeated SendMany = %+v, %v; want the first messages", again, err)
	}
	one, err := alice.SendMany(ctx, SendRequest{To: []string{"b"}, Text: "something else", IdempotencyKey: "order-17"})
	if err != nil || one[0].ID != first[0].ID || one[0].Text != "to both" {
		t.Fatalf("same key, other text: %+v %v", one, err)
	}
	alice.waitFor(t, memWait, "delivered to bob", isMsgState(first[0].ID, Delivered))
	if _, err := alice.SendMany(ctx, SendRequest{To: []string{"b", "nobody"}, Text: "x"}); !errors.Is(err, ErrUnknownContact) {
		t.Errorf("unknown recipient: %v", err)
	}
	if _, err := alice.SendMany(ctx, SendRequest{To: []string{"b", "bo"}, Text: "x"}); !errors.Is(err, ErrUnknownContact) || !strings.Contains(err.Error(), "did you mean b") {
		t.Errorf("prefix of a name: %v", err)
	}
	h, _ := alice.History(ctx, "b", "", 10)
	if len(h) != 1 {
		t.Errorf("bob's conversation has %d messages, want 1: a failed SendMany queued something", len(h))
	}
	// Scheduled for a time after carol accepts: the scheduler learns that
	// her session exists when she does.
	later, err := alice.SendMany(ctx, SendRequest{To: []string{"c"}, Text: "after she accepts", At: time.Now().Add(1500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	// Carol accepts: the copy that waited is delivered, once.
	carol.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))
	if _, err := carol.AcceptContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	if got := carol.waitReceived(t, memWait, alice.Address(), 1); got[0] != "to both" {
		t.Fatalf("carol got %q", got)
	}
	if got := carol.waitReceived(t, memWait, alice.Address(), 2); got[1] != "after she accepts" || time.Now().Before(later[0].SendAt) {
		t.Fatalf("carol got %q at %v, scheduled for %v", got, time.Now(), later[0].SendAt)
	}
	if got := bob.waitReceived(t, memWait, alice.Address(), 1); len(got) != 1 {
		t.Fatalf("bob got %q", got)
	}
}

// TestScheduled: a scheduled message is listed, sent at its time (not
// before), also after a restart; a cancelled one never is.
func TestScheduled(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	aliceDir := newProfile(t, "alice")
	alice := startMem(t, mem, aliceDir)
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	ctx := t.Context()
	at := time.Now().Add(700 * time.Millisecond)
	soon, err := alice.SendMany(ctx, SendRequest{To: []string{"b"}, Text: "reminder", At: at, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !soon[0].SendAt.Equal(at) || !soon[0].ExpiresAt.Equal(at.Add(time.Minute)) || soon[0].State != Queued {
		t.Fatalf("scheduled message %+v", soon[0])
	}
	gone, _ := alice.SendMany(ctx, SendRequest{To: []string{"b"}, Text: "cancelled", At: at})
	later, _ := alice.SendMany(ctx, SendRequest{To: []string{"b"}, Text: "after a restart", At: time.Now().Add(2 * time.Second)})
	s, err := alice.Scheduled(ctx)
	if err != nil || len(s) != 3 || s[2].ID != later[0].ID {
		t.Fatalf("Scheduled = %+v, %v", s, err)
	}
	if st, _ := alice.Status(ctx); st.Scheduled != 3 {
		t.Errorf("status.scheduled = %d", st.Scheduled)
	}
	if err := alice.CancelScheduled(ctx, gone[0].ID); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "cancelled", isMsgState(gone[0].ID, Cancelled))
	if err := alice.CancelScheduled(ctx, gone[0].ID); err == nil {
		t.Error("cancelled twice")
	}
	got := bob.waitReceived(t, memWait, alice.Address(), 1)
	if time.Now().Before(at) || got[0] != "reminder" {
		t.Fatalf("got %q at %v, scheduled for %v", got, time.Now(), at)
	}
	if err := alice.CancelScheduled(ctx, soon[0].ID); err == nil || !strings.Contains(err.Error(), "sent already") {
		t.Errorf("cancel after sending: %v", err)
	}
	// Down at the scheduled time: sent when the node is back.
	alice.Close()
	time.Sleep(time.Until(later[0].SendAt) + 100*time.Millisecond)
	alice = startMem(t, mem, aliceDir)
	got = bob.waitReceived(t, memWait, alice.Address(), 2)
	if got[1] != "after a restart" {
		t.Fatalf("got %q", got)
	}
	if s, _ := alice.Scheduled(ctx); len(s) != 0 {
		t.Errorf("still scheduled: %+v", s)
	}
	if got := bob.received(alice.Address()); len(got) != 2 {
		t.Errorf("bob got %q: the cancelled message arrived", got)
	}
}

// TestPageCap: History and Inbox return at most MaxPage messages.
func TestPageCap(t *testing.T) {
	dir := newProfile(t, "alice")
	n := openNode(t, Options{Dir: dir, Passphrase: testPass, tune: fastTuning()})
	ctx := t.Context()
	peer := startMem(t, memnet.New(), newProfile(t, "bob"))
	c, err := n.AddContact(ctx, peer.Address(), "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := n.book.Lookup(ctx, onionAddr(peer))
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		for range MaxPage + 5 {
			if _, err := tx.StoreIncoming(storage.IncomingMessage{ContactID: sc.ID, ID: storage.NewMessageID(), Body: "x"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := n.History(ctx, c.Name, "", 5000); err != nil || len(h) != MaxPage {
		t.Errorf("History(limit 5000) = %d messages, %v; want %d", len(h), err, MaxPage)
	}
	if ms, err := n.Inbox(ctx, InboxQuery{Limit: 5000}); err != nil || len(ms) != MaxPage {
		t.Errorf("Inbox(limit 5000) = %d messages, %v; want %d", len(ms), err, MaxPage)
	}
}
