package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestUnsent: messages stored before they can be encrypted (scheduled, or
// to a contact without a session) wait in unsent, are due in order, and
// move to the outbox in one transaction.
func TestUnsent(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bob", "Bob", StateRequested)
	t0 := time.Unix(1800000000, 0)
	queue := func(body string, at, sendAt time.Time) Message {
		t.Helper()
		var m Message
		err := db.Update(ctx, func(tx *Tx) (err error) {
			m, err = tx.QueueUnsent(OutgoingMessage{ContactID: bob.ID, Body: body, Created: at, SendAt: sendAt, Expires: at.Add(time.Hour)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	later := queue("in an hour", t0, t0.Add(time.Hour))
	now := queue("now", t0.Add(time.Second), time.Time{})
	soon := queue("in a minute", t0.Add(2*time.Second), t0.Add(time.Minute))
	if m, _ := db.OutgoingByID(ctx, now.ID); m.Status != StatusQueued || !m.SendAt.IsZero() || !m.Expires.Equal(t0.Add(time.Hour+time.Second)) {
		t.Fatalf("stored %+v", m)
	}
	// No session yet: nothing is due, but the deadlines are.
	if at, ok, err := db.NextDue(ctx); err != nil || !ok || !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("NextDue without a session = %v %v %v, want the first deadline", at, ok, err)
	}
	if out, sched, _ := db.PendingCounts(ctx, t0.Add(2*time.Second)); out != 1 || sched != 2 {
		t.Fatalf("pending counts %d/%d, want 1 due, 2 scheduled", out, sched)
	}
	if err := db.PutSession(ctx, bob.ID, []byte("s"), t0); err != nil {
		t.Fatal(err)
	}
	if at, ok, _ := db.NextDue(ctx); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("NextDue = %v, want the unscheduled message's creation", at)
	}
	if ids, _ := db.DueContacts(ctx, t0.Add(time.Minute)); len(ids) != 1 || ids[0] != bob.ID {
		t.Fatalf("due contacts %v", ids)
	}
	sched, err := db.Scheduled(ctx)
	if err != nil || len(sched) != 2 || sched[0].ID != soon.ID || sched[1].ID != later.ID {
		t.Fatalf("scheduled = %+v %v", sched, err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		due, err := tx.Unsent(bob.ID, t0.Add(time.Minute))
		if err != nil {
			return err
		}
		if len(due) != 2 || due[0].ID != now.ID || due[1].ID != soon.ID {
			t.Fatalf("due at +1m: %+v", due)
		}
		for _, m := range due {
			it, err := tx.PromoteUnsent(m, []byte("frame-"+m.Body), t0.Add(time.Minute))
			if err != nil {
				return err
			}
			if it.ID != m.ID || *it.Message != m.ID || !it.Expires.Equal(m.Expires) {
				t.Fatalf("outbox item %+v for %+v", it, m)
			}
		}
		_, err = tx.PromoteUnsent(due[0], []byte("again"), t0)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("promoting twice: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := db.Outbox(ctx, bob.ID)
	if len(ob) != 2 || string(ob[0].Frame) != "frame-now" || ob[0].Expires.IsZero() {
		t.Fatalf("outbox %+v", ob)
	}
	// A scheduled message can be cancelled only while it is unsent.
	var cancelled Message
	err = db.Update(ctx, func(tx *Tx) (err error) { cancelled, err = tx.CancelUnsent(later.ID); return err })
	if err != nil || cancelled.Status != StatusCancelled {
		t.Fatalf("cancel: %+v %v", cancelled, err)
	}
	err = db.Update(ctx, func(tx *Tx) error { _, err := tx.CancelUnsent(soon.ID); return err })
	if !errors.Is(err, ErrState) {
		t.Fatalf("cancel of a message in the outbox: %v", err)
	}
	err = db.Update(ctx, func(tx *Tx) error { _, err := tx.CancelUnsent(NewMessageID()); return err })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel of no message: %v", err)
	}
	if s, _ := db.Scheduled(ctx); len(s) != 0 {
		t.Fatalf("scheduled after cancel: %+v", s)
	}
}

// TestExpireAndEnd: deadlines and refusals take a message out of the
// outbox for good, with a reason; only a failed message can be requeued.
func TestExpireAndEnd(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bob", "Bob", StateAccepted)
	t0 := time.Unix(1800000000, 0)
	send := func(body string, expires time.Time) Message {
		t.Helper()
		m, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: bob.ID, Body: body, Created: t0, Session: []byte("s"), Frame: []byte("f-" + body), Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	short := send("short", t0.Add(time.Minute))
	long := send("long", t0.Add(time.Hour))
	never := send("never", time.Time{})
	if err := db.MarkSent(ctx, long.ID, t0); err != nil {
		t.Fatal(err)
	}
	var ended []Ended
	err := db.Update(ctx, func(tx *Tx) (err error) {
		ended, err = tx.ExpireDue(t0.Add(time.Minute), "not delivered in time")
		return err
	})
	if err != nil || len(ended) != 1 || ended[0].ID != short.ID || ended[0].Status != StatusExpired {
		t.Fatalf("expire at +1m: %+v %v", ended, err)
	}
	if m, _ := db.OutgoingByID(ctx, short.ID); m.Status != StatusExpired || m.Error != "not delivered in time" {
		t.Fatalf("expired message %+v", m)
	}
	if _, err := db.Acknowledge(ctx, bob.ID, short.ID, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a late ack found the expired message's outbox item: %v", err)
	}
	// A sent message expires too.
	err = db.Update(ctx, func(tx *Tx) (err error) { ended, err = tx.ExpireDue(t0.Add(2*time.Hour), "late"); return err })
	if err != nil || len(ended) != 1 || ended[0].ID != long.ID {
		t.Fatalf("expire at +2h: %+v %v", ended, err)
	}
	// A refusal fails a message; a second one changes nothing.
	end := func(id MessageID) error {
		return db.Update(ctx, func(tx *Tx) error { return tx.EndMessage(bob.ID, id, StatusFailed, "refused") })
	}
	if err := end(never.ID); err != nil {
		t.Fatal(err)
	}
	if err := end(never.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second refusal: %v", err)
	}
	if ob, _ := db.Outbox(ctx, bob.ID); len(ob) != 0 {
		t.Fatalf("outbox left: %+v", ob)
	}
	// Requeue: failed only; it comes back queued and unsent, same id.
	requeue := func(id MessageID) (m Message, err error) {
		err = db.Update(ctx, func(tx *Tx) (err error) { m, err = tx.Requeue(bob.ID, id, t0.Add(3*time.Hour)); return err })
		return m, err
	}
	if _, err := requeue(short.ID); !errors.Is(err, ErrState) {
		t.Fatalf("requeue of an expired message: %v", err)
	}
	m, err := requeue(never.ID)
	if err != nil || m.Status != StatusQueued || m.Error != "" || m.ID != never.ID {
		t.Fatalf("requeue: %+v %v", m, err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		due, err := tx.Unsent(bob.ID, t0.Add(3*time.Hour))
		if err != nil || len(due) != 1 || due[0].Body != "never" {
			t.Fatalf("unsent after requeue: %+v %v", due, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Blocking fails what is still waiting.
	ids, _ := db.UndeliveredIDs(ctx, bob.ID)
	if len(ids) != 1 || ids[0] != never.ID {
		t.Fatalf("undelivered %v", ids)
	}
	if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.ForgetOutbox(bob.ID, "contact blocked"); return err }); err != nil {
		t.Fatal(err)
	}
	if m, _ := db.OutgoingByID(ctx, never.ID); m.Status != StatusFailed || m.Error != "contact blocked" {
		t.Fatalf("after forget session: %+v", m)
	}
	if out, sched, _ := db.PendingCounts(ctx, t0.Add(4*time.Hour)); out != 0 || sched != 0 {
		t.Fatalf("pending after forget: %d %d", out, sched)
	}
}

// TestIdempotencyKey: a key finds the first message sent with it, per
// contact; the key itself is not stored.
func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bob", "Bob", StateAccepted)
	carol := addContact(t, db, "carol", "Carol", StateAccepted)
	first, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: bob.ID, Body: "code 1", Session: []byte("s"), Frame: []byte("f"), IdempotencyKey: "otp-42"})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		m, err := tx.MessageByIdempotencyKey(bob.ID, "otp-42")
		if err != nil || m.ID != first.ID {
			t.Fatalf("lookup: %+v %v", m, err)
		}
		if _, err := tx.MessageByIdempotencyKey(carol.ID, "otp-42"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another contact's key: %v", err)
		}
		if _, err := tx.MessageByIdempotencyKey(bob.ID, "otp-43"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another key: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same key to another contact is another message; to the same one
	// it is refused by the unique index (callers look it up first).
	if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: carol.ID, Body: "code 1", Session: []byte("s"), Frame: []byte("f"), IdempotencyKey: "otp-42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: bob.ID, Body: "code 2", Session: []byte("s"), Frame: []byte("f"), IdempotencyKey: "otp-42"}); err == nil {
		t.Fatal("a second message with the same key to the same contact was stored")
	}
	var n int
	db.sql.QueryRow(`SELECT count(*) FROM messages WHERE CAST(idem_mac AS TEXT) LIKE '%otp-42%'`).Scan(&n)
	if n != 0 {
		t.Fatal("idempotency key stored in clear")
	}
}

// TestStoreIncomingBatch: several messages stored in one transaction with
// the session written once; duplicates are reported and change nothing.
func TestStoreIncomingBatch(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bob", "Bob", StateAccepted)
	ids := []MessageID{{1}, {2}, {1}}
	var dups int
	err := db.Update(ctx, func(tx *Tx) error {
		for i, id := range ids {
			if seen, _ := tx.Seen(bob.ID, id); seen != (i == 2) {
				t.Errorf("seen(%d) = %v", i, seen)
			}
			_, err := tx.StoreIncoming(IncomingMessage{ContactID: bob.ID, ID: id, Body: "m", Session: []byte("ignored")})
			if errors.Is(err, ErrDuplicate) {
				dups++
				continue
			}
			if err != nil {
				return err
			}
		}
		return tx.PutSession(bob.ID, []byte("after both"), time.Now())
	})
	if err != nil || dups != 1 {
		t.Fatalf("batch: %v, %d duplicates", err, dups)
	}
	if s, _ := db.Session(ctx, bob.ID); string(s) != "after both" {
		t.Fatalf("session %q", s)
	}
	if ms, _ := db.Inbox(ctx, InboxQuery{}); len(ms) != 2 {
		t.Fatalf("inbox %d messages", len(ms))
	}
}
