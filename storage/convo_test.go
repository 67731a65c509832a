package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func receiveText(t testing.TB, db *DB, contactID int64, body string, created time.Time) Message {
	t.Helper()
	m, err := db.ReceiveMessage(context.Background(), IncomingMessage{ContactID: contactID, ID: NewMessageID(), Body: body,
		Created: created, Received: created.Add(time.Second), Session: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func queueText(t testing.TB, db *DB, contactID int64, body string, created time.Time) Message {
	t.Helper()
	m, err := db.QueueMessage(context.Background(), OutgoingMessage{ContactID: contactID, Body: body, Created: created,
		Session: []byte("s"), Frame: []byte("frame")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func updateTx(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func convoOf(t testing.TB, db *DB, seq int64) Convo {
	t.Helper()
	cs, err := db.Convos(context.Background(), []int64{seq})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cs[seq]
	if !ok {
		t.Fatalf("no convo for message %d", seq)
	}
	return c
}

func TestConvoReplyAndTimer(t *testing.T) {
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	orig := receiveText(t, db, c.ID, "dinner at 8?", now)
	reply := queueText(t, db, c.ID, "yes", now.Add(time.Minute))
	vanish := now.Add(time.Minute + time.Hour)
	updateTx(t, db, func(tx *Tx) error {
		return tx.SetConvo(reply, ConvoFields{Reply: &ReplyRef{ID: orig.ID, Direction: Incoming, Quote: "dinner at 8?"}, Timer: time.Hour, Vanish: vanish})
	})
	got := convoOf(t, db, reply.Seq)
	if got.Kind != KindText || got.Reply == nil || got.Reply.ID != orig.ID || got.Reply.Direction != Incoming || got.Reply.Quote != "dinner at 8?" ||
		got.Timer != time.Hour || !got.Vanish.Equal(vanish) {
		t.Fatalf("convo = %+v", got)
	}
	if o := convoOf(t, db, orig.Seq); o.Kind != KindText || o.Reply != nil || o.Timer != 0 || !o.Vanish.IsZero() {
		t.Fatalf("a plain message's convo = %+v", o)
	}

	// A timer notice, and the conversation's timer: the later change wins
	// whatever order they arrive in.
	var notice Message
	updateTx(t, db, func(tx *Tx) error {
		var err error
		notice, err = tx.InsertNotice(c.ID, NewMessageID(), 5*time.Minute, now, now)
		return err
	})
	if n := convoOf(t, db, notice.Seq); n.Kind != KindTimer || n.Timer != 5*time.Minute {
		t.Fatalf("notice = %+v", n)
	}
	set := func(d time.Duration, at time.Time) bool {
		var ok bool
		updateTx(t, db, func(tx *Tx) error {
			var err error
			ok, err = tx.SetConversationTimer(c.ID, d, at)
			return err
		})
		return ok
	}
	if !set(time.Hour, now.Add(2*time.Second)) || set(5*time.Minute, now.Add(time.Second)) || !set(0, now.Add(3*time.Second)) {
		t.Fatal("timer changes applied out of order")
	}
	if !set(time.Minute, now.Add(3*time.Second)) || !set(time.Hour, now.Add(3*time.Second)) || set(time.Minute, now.Add(3*time.Second)) {
		t.Fatal("equal times: the longer timer must win")
	}
	if d, err := db.ConversationTimer(context.Background(), c.ID); err != nil || d != time.Hour {
		t.Fatalf("timer = %v, %v", d, err)
	}
}

func TestConvoReactions(t *testing.T) {
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	m := receiveText(t, db, c.ID, "news", now)
	target := Target{ContactID: c.ID, Direction: Incoming, ID: m.ID}
	react := func(author Direction, emoji string, at time.Time) bool {
		var changed bool
		updateTx(t, db, func(tx *Tx) error {
			var err error
			changed, err = tx.SetReaction(target, author, emoji, at)
			return err
		})
		return changed
	}
	emojis := func() string {
		var s []string
		for _, r := range convoOf(t, db, m.Seq).Reactions {
			s = append(s, string(r.Author)+":"+r.Emoji)
		}
		return strings.Join(s, " ")
	}
	if !react(Outgoing, "👍", now.Add(1)) || !react(Incoming, "🎉", now.Add(2)) {
		t.Fatal("reactions not set")
	}
	if got := emojis(); got != "out:👍 in:🎉" {
		t.Fatalf("reactions = %q", got)
	}
	if !react(Outgoing, "❤️", now.Add(3)) || emojis() != "in:🎉 out:❤️" {
		t.Fatalf("changed reaction: %q", emojis())
	}
	// An older change arriving late changes nothing; a removal removes.
	if react(Outgoing, "😢", now.Add(2)) || !react(Incoming, "", now.Add(4)) || emojis() != "out:❤️" {
		t.Fatalf("after a late change and a removal: %q", emojis())
	}
	if react(Incoming, "🎉", now.Add(3)) || emojis() != "out:❤️" {
		t.Fatalf("a reaction older than its removal came back: %q", emojis())
	}
	err := db.Update(context.Background(), func(tx *Tx) error {
		_, err := tx.SetReaction(Target{ContactID: c.ID, Direction: Incoming, ID: NewMessageID()}, Outgoing, "👍", now)
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("reaction to an unknown message: %v", err)
	}
}

func TestConvoEdits(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	m := receiveText(t, db, c.ID, "v1", now)
	target := Target{ContactID: c.ID, Direction: Incoming, ID: m.ID}
	edit := func(text string, at time.Time) bool {
		var changed bool
		updateTx(t, db, func(tx *Tx) error {
			var err error
			changed, err = tx.Edit(target, text, at)
			return err
		})
		return changed
	}
	versions := func() string {
		vs, err := db.Edits(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, v := range vs {
			s = append(s, v.Text)
		}
		return strings.Join(s, " ")
	}
	// v3 arrives before v2 (edits that crossed): v3 stays the text, v2 joins the history.
	if !edit("v3", now.Add(3*time.Second)) || edit("v2", now.Add(2*time.Second)) || edit("v3", now.Add(3*time.Second)) {
		t.Fatal("edits applied in the wrong order")
	}
	if edit("v0", now.Add(-time.Second)) {
		t.Fatal("an edit older than the message applied")
	}
	if got := versions(); got != "v1 v2 v3" {
		t.Fatalf("versions = %q", got)
	}
	got, err := db.Message(ctx, c.ID, Incoming, m.ID)
	if err != nil || got.Body != "v3" {
		t.Fatalf("message = %+v, %v", got, err)
	}
	if cv := convoOf(t, db, m.Seq); !cv.Edited.Equal(now.Add(3 * time.Second)) {
		t.Fatalf("edited = %v", cv.Edited)
	}
}

// sealedWindows are the aligned 32-byte windows of a sealed value: a piece
// of it left anywhere on disk that is at least 63 bytes long holds one.
func sealedWindows(b []byte) [][]byte {
	var out [][]byte
	for i := 0; i+32 <= len(b); i += 32 {
		out = append(out, b[i:i+32])
	}
	return out
}

// onDisk reports which of the profile's database files hold a piece of one
// of the values.
func onDisk(t testing.TB, db *DB, values ...[]byte) []string {
	t.Helper()
	var found []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db.Path() + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	values:
		for _, v := range values {
			for _, w := range sealedWindows(v) {
				if bytes.Contains(b, w) {
					found = append(found, "chive.db"+suffix)
					break values
				}
			}
		}
	}
	return found
}

func convoSealedColumn(t testing.TB, db *DB, query string, args ...any) []byte {
	t.Helper()
	var b []byte
	if err := db.sql.QueryRow(query, args...).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConvoDeleteErasesFromDisk deletes for everyone, erases and lets
// messages vanish, then looks for their sealed text, edits, replies and
// reactions in chive.db, its -wal and -shm. Every value is found there
// before (so the check can fail).
func TestConvoDeleteErasesFromDisk(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	long := strings.Repeat("a secret that spills onto overflow pages. ", 200) // ~8 KiB
	del := receiveText(t, db, c.ID, long, now)
	erase := queueText(t, db, c.ID, "delete me for me", now)
	vanish := receiveText(t, db, c.ID, strings.Repeat("disappearing ", 40), now)
	keep := receiveText(t, db, c.ID, strings.Repeat("kept ", 40), now)
	updateTx(t, db, func(tx *Tx) error {
		if err := tx.SetConvo(erase, ConvoFields{Reply: &ReplyRef{ID: del.ID, Direction: Incoming, Quote: strings.Repeat("quoted ", 20)}}); err != nil {
			return err
		}
		if _, err := tx.SetReaction(Target{c.ID, Incoming, del.ID}, Outgoing, "👍", now); err != nil {
			return err
		}
		if _, err := tx.Edit(Target{c.ID, Incoming, del.ID}, long+" (edited)", now.Add(time.Second)); err != nil {
			return err
		}
		return tx.SetConvo(vanish, ConvoFields{Timer: time.Minute})
	})
	if _, err := db.MarkRead(ctx, c.ID, now); err != nil {
		t.Fatal(err)
	}
	updateTx(t, db, func(tx *Tx) error {
		n, err := tx.StartVanish(c.ID)
		if err == nil && n != 1 {
			t.Errorf("StartVanish started %d timers, want 1", n)
		}
		return err
	})
	gone := [][]byte{
		convoSealedColumn(t, db, `SELECT body_sealed FROM messages WHERE seq = ?`, del.Seq),
		convoSealedColumn(t, db, `SELECT text_sealed FROM edits WHERE message_seq = ?`, del.Seq),
		convoSealedColumn(t, db, `SELECT body_sealed FROM messages WHERE seq = ?`, erase.Seq),
		convoSealedColumn(t, db, `SELECT reply_sealed FROM messages WHERE seq = ?`, erase.Seq),
		convoSealedColumn(t, db, `SELECT frame_sealed FROM outbox WHERE message_seq = ?`, erase.Seq),
		convoSealedColumn(t, db, `SELECT body_sealed FROM messages WHERE seq = ?`, vanish.Seq),
	}
	kept := convoSealedColumn(t, db, `SELECT body_sealed FROM messages WHERE seq = ?`, keep.Seq)
	for i, v := range gone {
		if len(onDisk(t, db, v)) == 0 {
			t.Fatalf("value %d is not on disk before deletion: the check below could not fail", i)
		}
	}

	updateTx(t, db, func(tx *Tx) error {
		if ok, err := tx.DeleteForEveryone(Target{c.ID, Incoming, del.ID}, now.Add(2*time.Second)); err != nil || !ok {
			t.Errorf("delete = %v, %v", ok, err)
		}
		if _, err := tx.Erase(Target{c.ID, Outgoing, erase.ID}); err != nil {
			return err
		}
		next, ok, err := db.NextVanish(ctx)
		if err != nil || !ok || !next.Equal(now.Add(time.Minute)) {
			t.Errorf("next vanish = %v %v %v", next, ok, err)
		}
		es, err := tx.EraseVanished(now.Add(time.Minute))
		if err == nil && (len(es) != 1 || es[0].ID != vanish.ID) {
			t.Errorf("vanished = %+v", es)
		}
		return err
	})
	if err := db.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	if where := onDisk(t, db, gone...); len(where) > 0 {
		t.Fatalf("deleted values still in %v", where)
	}
	if len(onDisk(t, db, kept)) == 0 {
		t.Fatal("the kept message is not on disk")
	}
	m, err := db.Message(ctx, c.ID, Incoming, del.ID)
	if err != nil || m.Body != "" {
		t.Fatalf("tombstone = %+v, %v", m, err)
	}
	cv := convoOf(t, db, del.Seq)
	if cv.Deleted.IsZero() || len(cv.Reactions) != 0 || !cv.Edited.IsZero() {
		t.Fatalf("tombstone convo = %+v", cv)
	}
	for _, e := range []Message{erase, vanish} {
		if _, err := db.Message(ctx, c.ID, e.Direction, e.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("erased message %d: %v", e.Seq, err)
		}
	}
	if ob, _ := db.Outbox(ctx, c.ID); len(ob) != 0 {
		t.Fatalf("outbox of an erased message: %+v", ob)
	}
	// A tombstone is not edited, reacted to or deleted again.
	err = db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.Edit(Target{c.ID, Incoming, del.ID}, "back", now.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("edit of a tombstone: %v", err)
		}
		if _, err := tx.SetReaction(Target{c.ID, Incoming, del.ID}, Outgoing, "👍", now.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("reaction to a tombstone: %v", err)
		}
		if ok, err := tx.DeleteForEveryone(Target{c.ID, Incoming, del.ID}, now.Add(time.Hour)); ok || err != nil {
			t.Errorf("second delete: %v %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConvoPending(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	target := NewMessageID()
	a, b := Pending{ID: NewMessageID(), Content: []byte("edit"), At: now}, Pending{ID: NewMessageID(), Content: []byte("react"), At: now.Add(time.Second)}
	updateTx(t, db, func(tx *Tx) error {
		for _, p := range []Pending{b, a, a} { // a twice: kept once
			if err := tx.AddPending(c.ID, target, p); err != nil {
				return err
			}
		}
		return tx.AddPending(c.ID, NewMessageID(), Pending{ID: NewMessageID(), Content: []byte("old"), At: now.Add(-time.Hour)})
	})
	updateTx(t, db, func(tx *Tx) error {
		if n, err := tx.CountPending(c.ID); err != nil || n != 3 {
			t.Errorf("count = %d, %v", n, err)
		}
		ps, err := tx.TakePending(c.ID, target)
		if err != nil {
			return err
		}
		if len(ps) != 2 || string(ps[0].Content) != "edit" || string(ps[1].Content) != "react" || ps[0].ID != a.ID {
			t.Errorf("pending = %+v", ps)
		}
		if ps, _ := tx.TakePending(c.ID, target); len(ps) != 0 {
			t.Errorf("taken twice: %+v", ps)
		}
		return nil
	})
	if n, err := db.PrunePending(ctx, now.Add(-time.Minute)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
}

func TestScanBodies(t *testing.T) {
	db := newTestDB(t)
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	var want []string
	for i := range 5000 {
		body := strings.Repeat("x", i%7+1)
		if i%2 == 0 {
			receiveText(t, db, c.ID, body, now)
		} else {
			queueText(t, db, c.ID, body, now)
		}
		want = append(want, body)
	}
	var got []string
	last := int64(0)
	err := db.ScanBodies(context.Background(), func(b Body) error {
		if b.Seq <= last || b.ContactID != c.ID {
			t.Fatalf("body %+v after seq %d", b, last)
		}
		last = b.Seq
		got = append(got, b.Text)
		return nil
	})
	if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("scanned %d bodies, want %d (%v)", len(got), len(want), err)
	}
}
