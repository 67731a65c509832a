package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestMailboxLink(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	if _, err := db.Mailbox(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no mailbox: %v", err)
	}
	t0 := time.Unix(1750000000, 0)
	if err := db.Update(ctx, func(tx *Tx) error { return tx.SetMailbox(MailboxLink{Address: "mboxaddress", Linked: t0}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchMailbox(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m, err := db.Mailbox(ctx)
	if err != nil || m.Address != "mboxaddress" || !m.Linked.Equal(t0) || !m.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Mailbox = %+v, %v", m, err)
	}

	bob := addContact(t, db, "bobaddress", "Bob", StateAccepted)
	if cm, err := db.ContactMailbox(ctx, bob.ID); err != nil || cm.Token != nil || cm.InfoSent != nil || cm.Peer != nil {
		t.Fatalf("empty ContactMailbox = %+v, %v", cm, err)
	}
	tok := bytes.Repeat([]byte{7}, 32)
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.SetMailboxToken(bob.ID, tok); err != nil {
			return err
		}
		if err := tx.SetSlotAdded(bob.ID, t0); err != nil {
			return err
		}
		if err := tx.SetMailboxInfoSent(bob.ID, nil); err != nil {
			return err
		}
		return tx.SetPeerMailbox(bob.ID, []byte("peer mailbox"))
	})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := db.ContactMailbox(ctx, bob.ID)
	if err != nil || !bytes.Equal(cm.Token, tok) || !cm.SlotAdded.Equal(t0) || cm.InfoSent == nil || len(cm.InfoSent) != 0 || string(cm.Peer) != "peer mailbox" {
		t.Fatalf("ContactMailbox = %+v, %v", cm, err)
	}

	// Outbox marks: stored moves a message forward, an ack makes it delivered.
	for i, body := range []string{"one", "two"} {
		if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: bob.ID, ID: MessageID{byte(i + 1)}, Body: body, Session: []byte("s"), Frame: []byte("f")}); err != nil {
			t.Fatal(err)
		}
	}
	var stored bool
	err = db.Update(ctx, func(tx *Tx) error {
		var err error
		stored, err = tx.MarkStored(bob.ID, MessageID{1}, true, t0)
		return err
	})
	if err != nil || !stored {
		t.Fatalf("MarkStored = %v, %v", stored, err)
	}
	if msg, _ := db.Message(ctx, bob.ID, Outgoing, MessageID{1}); msg.Status != StatusStored {
		t.Fatalf("status %s, want stored", msg.Status)
	}
	other := addContact(t, db, "caroladdress", "Carol", StateAccepted)
	err = db.Update(ctx, func(tx *Tx) error { _, err := tx.MarkStored(other.ID, MessageID{2}, false, t0); return err })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("MarkStored of another contact's item: %v", err)
	}
	marks, err := db.StoredMarks(ctx, bob.ID)
	if err != nil || len(marks) != 1 || !marks[MessageID{1}].Own.Equal(t0) || !marks[MessageID{1}].Peer.IsZero() {
		t.Fatalf("StoredMarks = %+v, %v", marks, err)
	}
	if err := db.MarkSent(ctx, MessageID{1}, t0); err != nil {
		t.Fatal(err)
	}
	if msg, _ := db.Message(ctx, bob.ID, Outgoing, MessageID{1}); msg.Status != StatusStored {
		t.Fatalf("a resend moved stored back to %s", msg.Status)
	}
	// Expired: failed, still in the outbox.
	var expired bool
	if err := db.Update(ctx, func(tx *Tx) error { var err error; expired, err = tx.MarkExpired(bob.ID, MessageID{1}); return err }); err != nil || !expired {
		t.Fatalf("MarkExpired = %v, %v", expired, err)
	}
	if msg, _ := db.Message(ctx, bob.ID, Outgoing, MessageID{1}); msg.Status != StatusFailed {
		t.Fatalf("expired: status %s", msg.Status)
	}
	if _, err := db.OutboxItem(ctx, MessageID{1}); err != nil {
		t.Fatalf("expired item left the outbox: %v", err)
	}
	if _, err := db.Acknowledge(ctx, bob.ID, MessageID{1}, t0); err != nil {
		t.Fatal(err)
	}
	if msg, _ := db.Message(ctx, bob.ID, Outgoing, MessageID{1}); msg.Status != StatusDelivered {
		t.Fatalf("acknowledged: status %s", msg.Status)
	}

	// A new peer mailbox clears the peer marks; unlinking ours clears tokens and own marks.
	err = db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.MarkStored(bob.ID, MessageID{2}, false, t0); err != nil {
			return err
		}
		_, err := tx.MarkStored(bob.ID, MessageID{2}, true, t0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.SetPeerMailbox(bob.ID, nil) }); err != nil {
		t.Fatal(err)
	}
	if marks, _ := db.StoredMarks(ctx, bob.ID); !marks[MessageID{2}].Peer.IsZero() || marks[MessageID{2}].Own.IsZero() {
		t.Fatalf("after a new peer mailbox: %+v", marks)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteMailbox() }); err != nil {
		t.Fatal(err)
	}
	if marks, _ := db.StoredMarks(ctx, bob.ID); len(marks) != 0 {
		t.Fatalf("after unlinking: %+v", marks)
	}
	if cm, _ := db.ContactMailbox(ctx, bob.ID); cm.Token != nil || !cm.SlotAdded.IsZero() {
		t.Fatalf("after unlinking: %+v", cm)
	}
	if _, err := db.Mailbox(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after unlinking: %v", err)
	}
}
