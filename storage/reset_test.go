package storage

import (
	"errors"
	"testing"
	"time"
)

func TestRequeueOutbox(t *testing.T) {
	db := newTestDB(t)
	ctx := t.Context()
	c := addContact(t, db, "resetaddr", "reset", StateAccepted)
	now := time.Now()
	m, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, ID: NewMessageID(), Body: "hello", Created: now, Session: []byte("s1"), Frame: []byte("old frame")})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := db.QueueFrame(ctx, OutboxItem{ContactID: c.ID, Kind: KindReceipt, Frame: []byte("receipt")})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSent(ctx, m.ID, now); err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.DeleteSession(c.ID); err != nil {
			return err
		}
		if _, err := tx.QueueFrame(OutboxItem{ContactID: c.ID, Kind: KindAccept, Frame: []byte("accept")}); err != nil {
			return err
		}
		if _, err := tx.RequeueOutbox(m.ID, []byte("new frame")); err != nil {
			return err
		}
		_, err := tx.RequeueOutbox(rc.ID, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session after DeleteSession: %v", err)
	}
	its, err := db.Outbox(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(its) != 3 || string(its[0].Frame) != "accept" || string(its[1].Frame) != "new frame" || string(its[2].Frame) != "receipt" {
		t.Fatalf("outbox = %+v", its)
	}
	if its[1].ID != m.ID || its[1].Kind != KindMessage || its[1].Message == nil || *its[1].Message != m.ID || !its[1].Sent.IsZero() {
		t.Fatalf("requeued message item = %+v", its[1])
	}
	// The message is still the same row, and an ack still delivers it.
	if _, err := db.Acknowledge(ctx, c.ID, m.ID, now); err != nil {
		t.Fatal(err)
	}
	got, err := db.Message(ctx, c.ID, Outgoing, m.ID)
	if err != nil || got.Status != StatusDelivered {
		t.Fatalf("message = %+v, %v", got, err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.RequeueOutbox(m.ID, nil); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("requeue of an acknowledged item: %v", err)
	}
}
