package storage

import (
	"context"
	"errors"
	"strings"
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

// TestFilesGoWithMessages: erasing a message (for us, or its timer ran
// out) deletes its file row and names the chunk file for the caller to
// remove; a tombstone keeps its row, DeleteMessageFile deletes its file's;
// AfterCommit runs after a commit only.
func TestFilesGoWithMessages(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Now()
	withFile := func(local string) Message {
		m := queueText(t, db, bob.ID, "caption", now)
		updateTx(t, db, func(tx *Tx) error {
			return tx.InsertFile(FileRow{ID: m.ID, ContactID: bob.ID, Direction: Outgoing, MessageSeq: m.Seq, Local: local, Size: 1, State: "completed", Info: []byte("i"), Thumb: []byte("th")})
		})
		return m
	}
	erased, vanishing, tomb := withFile("l-erased"), withFile("l-vanish"), withFile("l-tomb")
	plain := queueText(t, db, bob.ID, "no file", now)
	plainVanishing := queueText(t, db, bob.ID, "no file either", now)
	for _, m := range []Message{vanishing, plainVanishing} {
		updateTx(t, db, func(tx *Tx) error { return tx.SetConvo(m, ConvoFields{Timer: time.Second, Vanish: now}) })
	}

	// A rollback runs nothing; a commit runs what was registered, in order.
	var ran []string
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx *Tx) error {
		tx.AfterCommit(func() { ran = append(ran, "rolled back") })
		return boom
	})
	if !errors.Is(err, boom) || len(ran) != 0 {
		t.Fatalf("rollback: %v, ran %v", err, ran)
	}

	updateTx(t, db, func(tx *Tx) error {
		tx.AfterCommit(func() { ran = append(ran, "1") })
		e, err := tx.Erase(Target{ContactID: bob.ID, Direction: Outgoing, ID: erased.ID})
		if err != nil || e.File != "l-erased" {
			t.Errorf("erase: %+v %v", e, err)
		}
		e, err = tx.Erase(Target{ContactID: bob.ID, Direction: Outgoing, ID: plain.ID})
		if err != nil || e.File != "" {
			t.Errorf("erase without file: %+v %v", e, err)
		}
		gone, err := tx.EraseVanished(now.Add(time.Second))
		if err != nil || len(gone) != 2 {
			t.Fatalf("vanished: %+v %v", gone, err)
		}
		for _, e := range gone {
			if want := map[MessageID]string{vanishing.ID: "l-vanish", plainVanishing.ID: ""}[e.ID]; e.File != want {
				t.Errorf("vanished %+v: file %q, want %q", e, e.File, want)
			}
		}
		if ok, err := tx.DeleteForEveryone(Target{ContactID: bob.ID, Direction: Outgoing, ID: tomb.ID}, now); err != nil || !ok {
			t.Fatalf("delete for everyone: %v %v", ok, err)
		}
		if l, err := tx.DeleteMessageFile(tomb.Seq); err != nil || l != "l-tomb" {
			t.Errorf("delete the tombstone's file: %q %v", l, err)
		}
		if l, err := tx.DeleteMessageFile(tomb.Seq); err != nil || l != "" {
			t.Errorf("again: %q %v", l, err)
		}
		tx.AfterCommit(func() { ran = append(ran, "2") })
		if len(ran) != 0 {
			t.Error("ran before the commit")
		}
		return nil
	})
	if strings.Join(ran, ",") != "1,2" {
		t.Errorf("after commit ran %v", ran)
	}
	for _, m := range []Message{erased, vanishing, tomb} {
		if _, err := db.File(ctx, m.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("file of %s: %v", m.ID, err)
		}
	}
	if locals, _ := db.FileLocals(ctx); len(locals) != 0 {
		t.Errorf("file rows left: %v", locals)
	}
}
