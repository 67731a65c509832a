package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFiles(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bobaddress", "bob", StateAccepted)
	carol := addContact(t, db, "caroladdress", "carol", StateAccepted)
	now := time.Unix(1800000000, 0)

	out, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: bob.ID, Body: "the report", Meta: []byte("file"), Session: []byte("s"), Frame: []byte("f"), Created: now})
	if err != nil {
		t.Fatal(err)
	}
	in, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: carol.ID, ID: NewMessageID(), Body: "a photo", Meta: []byte("file"), Session: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	rows := []FileRow{
		{ID: out.ID, ContactID: bob.ID, Direction: Outgoing, MessageSeq: out.Seq, Local: "l1", Size: 100, State: "offered", Info: []byte("secret name"), Thumb: []byte("thumb"), Created: now},
		{ID: in.ID, ContactID: carol.ID, Direction: Incoming, MessageSeq: in.Seq, Local: "l2", Size: 7 << 20, State: "accepted", Info: []byte("photo.jpg"), Created: now},
	}
	for _, r := range rows {
		if err := db.Update(ctx, func(tx *Tx) error { return tx.InsertFile(r) }); err != nil {
			t.Fatal(err)
		}
	}
	// A peer may not reuse an id it saw (here: ours).
	dup := rows[1]
	dup.ID, dup.Local = out.ID, "l3"
	if err := db.Update(ctx, func(tx *Tx) error { return tx.InsertFile(dup) }); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	f, err := db.File(ctx, out.ID)
	if err != nil || string(f.Info) != "secret name" || f.Size != 100 || f.State != "offered" || f.Direction != Outgoing || f.Local != "l1" {
		t.Fatalf("file = %+v %v", f, err)
	}
	if th, err := db.FileThumb(ctx, out.ID); err != nil || string(th) != "thumb" {
		t.Fatalf("thumb = %q %v", th, err)
	}
	if th, err := db.FileThumb(ctx, in.ID); err != nil || th != nil {
		t.Fatalf("no thumb = %q %v", th, err)
	}
	// The info is sealed at rest.
	var raw []byte
	db.sql.QueryRow(`SELECT info_sealed FROM files WHERE id = ?`, out.ID[:]).Scan(&raw)
	if len(raw) == 0 || string(raw) == "secret name" {
		t.Fatalf("info not sealed: %q", raw)
	}

	if err := db.SetFileState(ctx, in.ID, "failed", "disk full", now, now); err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		return tx.SetFileProgress(out.ID, FileProgress{Have: []byte{0xff}, Bytes: 100, SentBytes: 140}, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	f, _ = db.File(ctx, out.ID)
	if f.Bytes != 100 || f.SentBytes != 140 || len(f.Have) != 1 {
		t.Fatalf("progress: %+v", f)
	}
	g, _ := db.File(ctx, in.ID)
	if g.State != "failed" || g.Error != "disk full" || !g.Done.Equal(now) {
		t.Fatalf("state: %+v", g)
	}
	all, err := db.Files(ctx, FileQuery{})
	if err != nil || len(all) != 2 || all[0].ID != in.ID {
		t.Fatalf("files: %+v %v", all, err)
	}
	if fs, _ := db.Files(ctx, FileQuery{ContactID: bob.ID, Direction: Outgoing, States: []string{"offered", "accepted"}}); len(fs) != 1 {
		t.Fatalf("bob's outgoing: %+v", fs)
	}
	if u, err := db.FileUsage(ctx, carol.ID, Incoming, []string{"accepted", "completed"}); err != nil || u != 0 {
		t.Fatalf("usage of failed: %d %v", u, err)
	}
	if u, _ := db.FileUsage(ctx, bob.ID, Outgoing, []string{"offered"}); u != 100 {
		t.Fatalf("usage: %d", u)
	}

	// Deleting the conversation deletes its files; so does deleting the contact.
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteHistory(bob.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.File(ctx, out.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("file after delete history: %v", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteContact(carol.ID) }); err != nil {
		t.Fatal(err)
	}
	if locals, err := db.FileLocals(ctx); err != nil || len(locals) != 0 {
		t.Fatalf("locals after deletes: %v %v", locals, err)
	}
}
