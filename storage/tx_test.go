package storage

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

var errInjected = errors.New("injected failure")

// failAt makes the transaction stage fail for the rest of the test.
func failAt(t *testing.T, stage string) *[]string {
	t.Helper()
	var seen []string
	testHook = func(s string) error {
		seen = append(seen, s)
		if s == stage {
			return errInjected
		}
		return nil
	}
	t.Cleanup(func() { testHook = nil })
	return &seen
}

// snapshot is every row of the tables the transactions touch, sealed
// bytes included: equal snapshots mean nothing changed.
func snapshot(t *testing.T, db *DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT contact_id, hex(state_sealed), updated FROM sessions ORDER BY contact_id`,
		`SELECT seq, hex(id), contact_id, direction, hex(body_sealed), status, created, sent, delivered, read FROM messages ORDER BY seq`,
		`SELECT seq, hex(id), contact_id, kind, message_seq, hex(frame_sealed), attempts, next_attempt, sent FROM outbox ORDER BY seq`,
		`SELECT contact_id, hex(id), at FROM seen ORDER BY contact_id, id`,
		`SELECT name, seq FROM sqlite_sequence ORDER BY name`,
	} {
		rows, err := db.sql.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				b.WriteString(v.String + "|")
			}
			b.WriteString("\n")
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

func TestTransactionsRollBackWhole(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1800000000, 0)
	type txCase struct {
		name   string
		stages []string
		run    func(db *DB, c Contact) error
	}
	cases := []txCase{
		{"queue", []string{"queue:session", "queue:message", "queue:outbox"}, func(db *DB, c Contact) error {
			_, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, ID: MessageID{9}, Body: "b", Session: []byte("new"), Frame: []byte("f"), Created: now})
			return err
		}},
		{"receive", []string{"receive:seen", "receive:message", "receive:session"}, func(db *DB, c Contact) error {
			_, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: c.ID, ID: MessageID{8}, Body: "b", Session: []byte("new"), Received: now})
			return err
		}},
		{"ack", []string{"ack:outbox", "ack:message"}, func(db *DB, c Contact) error {
			_, err := db.Acknowledge(ctx, c.ID, MessageID{1}, now)
			return err
		}},
	}
	for _, tc := range cases {
		for _, stage := range tc.stages {
			t.Run(stage, func(t *testing.T) {
				db := newTestDB(t)
				c := addContact(t, db, "bob", "Bob", StateAccepted)
				// Something for ack to remove.
				if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, ID: MessageID{1}, Body: "a", Session: []byte("old"), Frame: []byte("f"), Created: now}); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, db)
				seen := failAt(t, stage)
				if err := tc.run(db, c); !errors.Is(err, errInjected) {
					t.Fatalf("%s with failure at %s: %v", tc.name, stage, err)
				}
				if (*seen)[len(*seen)-1] != stage {
					t.Fatalf("stages %v did not stop at %s", *seen, stage)
				}
				if after := snapshot(t, db); after != before {
					t.Fatalf("failure at %s changed the database:\nbefore:\n%s\nafter:\n%s", stage, before, after)
				}
				// The same call succeeds once the failure is gone, and changes things.
				testHook = nil
				if err := tc.run(db, c); err != nil {
					t.Fatalf("%s after removing the failure: %v", tc.name, err)
				}
				if snapshot(t, db) == before {
					t.Fatalf("%s succeeded but changed nothing", tc.name)
				}
			})
		}
	}
}

func TestReceiveDuplicateChangesNothing(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "bob", "Bob", StateAccepted)
	im := IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: "once", Session: []byte("s1")}
	if _, err := db.ReceiveMessage(ctx, im); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, db)
	im.Body, im.Session = "twice", []byte("s2")
	if _, err := db.ReceiveMessage(ctx, im); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if snapshot(t, db) != before {
		t.Fatal("duplicate changed the database")
	}
	if seen, err := db.Seen(ctx, c.ID, im.ID); err != nil || !seen {
		t.Fatalf("Seen = %v %v", seen, err)
	}
	// The same id from another contact is a different message.
	d := addContact(t, db, "dave", "Dave", StateAccepted)
	im.ContactID = d.ID
	if _, err := db.ReceiveMessage(ctx, im); err != nil {
		t.Fatalf("same id from another contact: %v", err)
	}
	// A peer cannot acknowledge another peer's frames.
	m, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "to bob", Session: []byte("s"), Frame: []byte("f")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Acknowledge(ctx, d.ID, m.ID, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack by the wrong contact: %v", err)
	}
	if _, err := db.Acknowledge(ctx, c.ID, m.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Acknowledge(ctx, c.ID, m.ID, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("repeated ack: %v", err)
	}
}

// TestUpdateRollsBack: DB.Update is all or nothing across several writes.
func TestUpdateRollsBack(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	before := snapshot(t, db)
	err := db.Update(ctx, func(tx *Tx) error {
		c, err := tx.InsertContact(Contact{Address: "x", Nickname: "x", State: StateAccepted})
		if err != nil {
			return err
		}
		if err := tx.PutSession(c.ID, []byte("s"), time.Now()); err != nil {
			return err
		}
		if _, err := tx.QueueFrame(OutboxItem{ContactID: c.ID, Kind: KindAccept, Frame: []byte("f")}); err != nil {
			return err
		}
		return errInjected
	})
	if !errors.Is(err, errInjected) {
		t.Fatal(err)
	}
	if snapshot(t, db) != before {
		t.Fatal("rolled-back Update left rows")
	}
	if cs, _ := db.Contacts(ctx); len(cs) != 0 {
		t.Fatalf("contacts after rollback: %+v", cs)
	}
}
