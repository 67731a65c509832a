package storage

import (
	"context"
	"testing"
	"time"
)

func TestQueueReceiveAck(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	m, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "hello", Session: []byte("s1"), Frame: []byte("f1"), Created: now})
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != StatusQueued || m.Seq == 0 {
		t.Fatalf("queued message = %+v", m)
	}
	ob, err := db.Outbox(ctx, c.ID)
	if err != nil || len(ob) != 1 || ob[0].ID != m.ID || string(ob[0].Frame) != "f1" || ob[0].Message == nil || *ob[0].Message != m.ID {
		t.Fatalf("outbox = %+v, %v", ob, err)
	}
	if err := db.MarkSent(ctx, m.ID, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Acknowledge(ctx, c.ID, m.ID, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Message(ctx, c.ID, Outgoing, m.ID)
	if err != nil || got.Status != StatusDelivered || !got.Delivered.Equal(now.Add(2*time.Second)) || !got.Sent.Equal(now.Add(time.Second)) {
		t.Fatalf("after ack = %+v, %v", got, err)
	}
	in := IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: "hi back", Created: now, Received: now, Session: []byte("s2")}
	if _, err := db.ReceiveMessage(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReceiveMessage(ctx, in); err == nil {
		t.Fatal("duplicate accepted")
	}
	h, err := db.History(ctx, c.ID, 0, 10)
	if err != nil || len(h) != 2 || h[0].Body != "hi back" || h[1].Body != "hello" {
		t.Fatalf("history = %+v %v", h, err)
	}
	ids, err := db.MarkRead(ctx, c.ID, now)
	if err != nil || len(ids) != 1 || ids[0] != in.ID {
		t.Fatalf("mark read = %v %v", ids, err)
	}
	st, err := db.Session(ctx, c.ID)
	if err != nil || string(st) != "s2" {
		t.Fatalf("session = %q %v", st, err)
	}
}
