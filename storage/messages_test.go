package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQueueSendAckReceive(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	m, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "hello", Meta: []byte("file.txt 12B"), Session: []byte("s1"), Frame: []byte("f1"), Created: now})
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != StatusQueued || m.Seq == 0 || m.ID.IsZero() {
		t.Fatalf("queued message = %+v", m)
	}
	ob, err := db.Outbox(ctx, c.ID)
	if err != nil || len(ob) != 1 || ob[0].ID != m.ID || string(ob[0].Frame) != "f1" || ob[0].Message == nil || *ob[0].Message != m.ID ||
		ob[0].Kind != KindMessage || !ob[0].NextAttempt.Equal(now) {
		t.Fatalf("outbox = %+v, %v", ob, err)
	}
	if err := db.MarkSent(ctx, m.ID, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Message(ctx, c.ID, Outgoing, m.ID); got.Status != StatusSent || !got.Sent.Equal(now.Add(time.Second)) {
		t.Fatalf("after MarkSent: %+v", got)
	}
	it, err := db.Acknowledge(ctx, c.ID, m.ID, now.Add(2*time.Second))
	if err != nil || it.ID != m.ID {
		t.Fatal(it, err)
	}
	got, err := db.Message(ctx, c.ID, Outgoing, m.ID)
	if err != nil || got.Status != StatusDelivered || !got.Delivered.Equal(now.Add(2*time.Second)) || string(got.Meta) != "file.txt 12B" {
		t.Fatalf("after ack = %+v, %v", got, err)
	}
	if ob, _ := db.Outbox(ctx, c.ID); len(ob) != 0 {
		t.Fatalf("outbox after ack: %+v", ob)
	}
	in := IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: "hi back", Created: now, Received: now.Add(time.Minute), Session: []byte("s2")}
	rm, err := db.ReceiveMessage(ctx, in)
	if err != nil || rm.Status != StatusReceived || !rm.Delivered.Equal(in.Received) {
		t.Fatal(rm, err)
	}
	conv, err := db.Conversation(ctx, c.ID)
	if err != nil || conv.Unread != 1 || conv.Last == nil || conv.Last.Body != "hi back" {
		t.Fatalf("conversation = %+v %v", conv, err)
	}
	ids, err := db.MarkRead(ctx, c.ID, now)
	if err != nil || len(ids) != 1 || ids[0] != in.ID {
		t.Fatalf("mark read = %v %v", ids, err)
	}
	if ids, _ := db.MarkRead(ctx, c.ID, now); len(ids) != 0 {
		t.Fatalf("second mark read returned %v", ids)
	}
	if conv, _ := db.Conversation(ctx, c.ID); conv.Unread != 0 {
		t.Fatalf("unread after mark read: %d", conv.Unread)
	}
	if st, err := db.Session(ctx, c.ID); err != nil || string(st) != "s2" {
		t.Fatalf("session = %q %v", st, err)
	}
}

func TestOutboxScheduling(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	a := addContact(t, db, "a", "a", StateAccepted)
	b := addContact(t, db, "b", "b", StateRequested)
	t0 := time.Unix(1800000000, 0)
	req, err := db.QueueFrame(ctx, OutboxItem{ContactID: b.ID, Kind: KindRequest, Frame: []byte("request"), NextAttempt: t0.Add(time.Hour)})
	if err != nil || req.ID.IsZero() || req.Message != nil {
		t.Fatal(req, err)
	}
	if _, err := db.QueueFrame(ctx, OutboxItem{ContactID: b.ID, Kind: KindMessage, Frame: []byte("x")}); err == nil {
		t.Fatal("QueueFrame accepted a message kind")
	}
	var msgs []Message
	for i := range 3 {
		m, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: a.ID, Body: "m", Session: []byte("s"), Frame: []byte{byte(i)}, Created: t0.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	rc, err := db.QueueFrame(ctx, OutboxItem{ContactID: a.ID, Kind: KindReceipt, Frame: []byte("receipt"), Created: t0})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := db.Outbox(ctx, a.ID)
	if err != nil || len(ob) != 4 {
		t.Fatal(ob, err)
	}
	for i := range 3 {
		if ob[i].ID != msgs[i].ID || ob[i].Frame[0] != byte(i) {
			t.Fatalf("outbox order: %+v", ob)
		}
	}
	if ob[3].ID != rc.ID || ob[3].Message != nil {
		t.Fatalf("receipt item: %+v", ob[3])
	}
	pw, err := db.PendingContacts(ctx)
	if err != nil || len(pw) != 2 || pw[0].ContactID != a.ID || pw[0].Items != 4 || !pw[0].NextAttempt.Equal(t0) ||
		pw[1].ContactID != b.ID || !pw[1].NextAttempt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("pending = %+v %v", pw, err)
	}
	if err := db.Reschedule(ctx, msgs[0].ID, 3, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	it, err := db.OutboxItem(ctx, msgs[0].ID)
	if err != nil || it.Attempts != 3 || !it.NextAttempt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("rescheduled = %+v %v", it, err)
	}
	if err := db.Reschedule(ctx, MessageID{0xff}, 1, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reschedule unknown: %v", err)
	}
	// Giving up marks the message failed.
	if err := db.DropOutbox(ctx, msgs[1].ID, true); err != nil {
		t.Fatal(err)
	}
	if m, _ := db.Message(ctx, a.ID, Outgoing, msgs[1].ID); m.Status != StatusFailed {
		t.Fatalf("dropped message status %s", m.Status)
	}
	// Receipts: delivered then read; status never moves back; the outbox item goes.
	changed, err := db.ApplyReceipt(ctx, a.ID, []MessageID{msgs[2].ID, {0xee}}, StatusRead, t0.Add(time.Minute))
	if err != nil || len(changed) != 1 || changed[0] != msgs[2].ID {
		t.Fatalf("read receipt: %v %v", changed, err)
	}
	if changed, _ := db.ApplyReceipt(ctx, a.ID, []MessageID{msgs[2].ID}, StatusDelivered, t0.Add(2*time.Minute)); len(changed) != 0 {
		t.Fatalf("delivered after read changed %v", changed)
	}
	m, _ := db.Message(ctx, a.ID, Outgoing, msgs[2].ID)
	if m.Status != StatusRead || !m.Read.Equal(t0.Add(time.Minute)) || !m.Delivered.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after receipts: %+v", m)
	}
	if _, err := db.OutboxItem(ctx, msgs[2].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("outbox item of a read message: %v", err)
	}
	// Receipts from another contact do nothing.
	if changed, _ := db.ApplyReceipt(ctx, b.ID, []MessageID{msgs[0].ID}, StatusDelivered, t0); len(changed) != 0 {
		t.Fatal("receipt from the wrong contact applied")
	}
	if _, err := db.ApplyReceipt(ctx, a.ID, nil, StatusQueued, t0); err == nil {
		t.Fatal("queued is not a receipt")
	}
}

func TestHistoryAndInboxPaging(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	a := addContact(t, db, "a", "a", StateAccepted)
	b := addContact(t, db, "b", "b", StateAccepted)
	var all []Message
	for i := range 25 {
		c := a
		if i%3 == 0 {
			c = b
		}
		var m Message
		var err error
		if i%2 == 0 {
			m, err = db.ReceiveMessage(ctx, IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: "in", Session: []byte("s")})
		} else {
			m, err = db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "out", Session: []byte("s"), Frame: []byte("f")})
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, m)
	}
	var want []int64
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].ContactID == a.ID {
			want = append(want, all[i].Seq)
		}
	}
	var got []int64
	var cursor int64
	for {
		page, err := db.History(ctx, a.ID, cursor, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			got = append(got, m.Seq)
		}
		if len(page) < 4 {
			break
		}
		cursor = page[len(page)-1].Seq
	}
	if len(got) != len(want) {
		t.Fatalf("history paged %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("history paged %v, want %v", got, want)
		}
	}
	// Inbox: incoming only, oldest first, across contacts, after a cursor.
	var inbox []int64
	var after int64
	for {
		page, err := db.Inbox(ctx, InboxQuery{After: after, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			if m.Direction != Incoming {
				t.Fatalf("inbox returned %+v", m)
			}
			inbox = append(inbox, m.Seq)
		}
		after = page[len(page)-1].Seq
	}
	var wantIn []int64
	for _, m := range all {
		if m.Direction == Incoming {
			wantIn = append(wantIn, m.Seq)
		}
	}
	if len(inbox) != len(wantIn) {
		t.Fatalf("inbox %v, want %v", inbox, wantIn)
	}
	for i := range inbox {
		if inbox[i] != wantIn[i] {
			t.Fatalf("inbox %v, want %v", inbox, wantIn)
		}
	}
	one, err := db.Inbox(ctx, InboxQuery{ContactID: b.ID, IncludeOutgoing: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range all {
		if m.ContactID == b.ID {
			n++
		}
	}
	if len(one) != n {
		t.Fatalf("inbox for b with outgoing: %d messages, want %d", len(one), n)
	}
}

func TestSealedValuesBoundToRow(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "a", "a", StateAccepted)
	m1, _ := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "one", Session: []byte("s"), Frame: []byte("f")})
	m2, _ := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "two", Session: []byte("s"), Frame: []byte("f")})
	// Swap the sealed bodies: both rows must now fail to open.
	if _, err := db.sql.Exec(`UPDATE messages SET body_sealed = (SELECT body_sealed FROM messages WHERE seq = ?) WHERE seq = ?`, m1.Seq, m2.Seq); err != nil {
		t.Fatal(err)
	}
	if m, err := db.Message(ctx, c.ID, Outgoing, m2.ID); err != nil || !m.Unreadable || m.Body != "" {
		t.Fatalf("moved sealed body opened: %+v %v", m, err)
	}
	// A nickname copied into the note column fails too.
	if _, err := db.sql.Exec(`UPDATE contacts SET note_sealed = nickname_sealed WHERE id = ?`, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Contact(ctx, c.ID); err != nil || !got.Unreadable || got.Note != "" {
		t.Fatalf("nickname sealed value opened as a note: %+v %v", got, err)
	}
	// An address copied into another row does not open: that contact is
	// unreadable (an error on its own, left out of the list).
	d := addContact(t, db, "d", "d", StateAccepted)
	if _, err := db.sql.Exec(`UPDATE contacts SET address_sealed = (SELECT address_sealed FROM contacts WHERE id = ?) WHERE id = ?`, c.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Contact(ctx, d.ID); !errors.Is(err, errUnseal) {
		t.Fatalf("moved address opened: %v", err)
	}
}

func TestContactsStorage(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "addr1", "Ann", StatePendingIncoming)
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.InsertContact(Contact{Address: "addr1", State: StateAccepted})
		return err
	})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate address: %v", err)
	}
	got, err := db.ContactByAddress(ctx, "addr1")
	if err != nil || got.ID != c.ID || got.Nickname != "Ann" {
		t.Fatal(got, err)
	}
	got.Greeting, got.PeerBundle, got.Verified, got.State = "hi", []byte{1, 2}, true, StateAccepted
	if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateContact(got) }); err != nil {
		t.Fatal(err)
	}
	seen := time.Unix(1900000000, 5)
	db.SetLastSeen(ctx, c.ID, seen)
	back, _ := db.Contact(ctx, c.ID)
	if back.Greeting != "hi" || string(back.PeerBundle) != "\x01\x02" || !back.Verified || back.State != StateAccepted || !back.LastSeen.Equal(seen) {
		t.Fatalf("after update: %+v", back)
	}
	if n, _ := db.CountContacts(ctx, StateAccepted); n != 1 {
		t.Fatalf("count accepted = %d", n)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteContact(c.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Contact(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted contact: %v", err)
	}
}

// TestConcurrentWriters: the node writes from several goroutines (links,
// UI, receipts) while readers page; none may fail with "database is locked".
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	const writers, each = 4, 20
	cs := make([]Contact, writers)
	for i := range cs {
		cs[i] = addContact(t, db, "c"+string(rune('a'+i)), "c"+string(rune('a'+i)), StateAccepted)
	}
	errc := make(chan error, 2*writers)
	done := make(chan struct{})
	for w := range writers {
		go func() {
			for i := range each {
				var err error
				if i%2 == 0 {
					_, err = db.QueueMessage(ctx, OutgoingMessage{ContactID: cs[w].ID, Body: "q", Session: []byte("s"), Frame: []byte("f")})
				} else {
					_, err = db.ReceiveMessage(ctx, IncomingMessage{ContactID: cs[w].ID, ID: NewMessageID(), Body: "r", Session: []byte("s")})
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		go func() {
			for {
				select {
				case <-done:
					errc <- nil
					return
				default:
				}
				if _, err := db.History(ctx, cs[w].ID, 0, 50); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	ms, err := db.Inbox(ctx, InboxQuery{IncludeOutgoing: true, Limit: 1000})
	if err != nil || len(ms) != writers*each {
		t.Fatalf("%d messages after concurrent writes (%v), want %d", len(ms), err, writers*each)
	}
}
