package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var writeArchiveSeeds = flag.Bool("write-archive-seeds", false, "rewrite the backup fuzz seeds under testdata/fuzz")

var backupPass = []byte("a separate backup passphrase")

// fillProfile gives db a contact, a conversation with replies, reactions,
// edits and a timer, a draft and an outbox item.
func fillProfile(t testing.TB, db *DB) (Contact, []Message) {
	t.Helper()
	c := addContact(t, db, "bobaddress", "bob", StateAccepted)
	now := time.Unix(1800000000, 0)
	var ms []Message
	for i := range 50 {
		if i%2 == 0 {
			ms = append(ms, receiveText(t, db, c.ID, fmt.Sprintf("message %d from bob", i), now.Add(time.Duration(i)*time.Second)))
		} else {
			ms = append(ms, queueText(t, db, c.ID, fmt.Sprintf("message %d to bob", i), now.Add(time.Duration(i)*time.Second)))
		}
	}
	updateTx(t, db, func(tx *Tx) error {
		if err := tx.SetConvo(ms[1], ConvoFields{Reply: &ReplyRef{ID: ms[0].ID, Direction: Incoming, Quote: "message 0"}, Timer: time.Hour}); err != nil {
			return err
		}
		if _, err := tx.SetReaction(Target{c.ID, Incoming, ms[0].ID}, Outgoing, "👍", now); err != nil {
			return err
		}
		if _, err := tx.Edit(Target{c.ID, Incoming, ms[2].ID}, "message 2, edited", now.Add(time.Hour)); err != nil {
			return err
		}
		if _, err := tx.SetConversationTimer(c.ID, time.Hour, now); err != nil {
			return err
		}
		return tx.SetDraft(c.ID, "half a thought")
	})
	return c, ms
}

func writeArchive(t testing.TB, db *DB, pass []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	info, err := db.WriteArchive(context.Background(), &buf, pass, cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	if info.DBKey != nil {
		t.Fatal("WriteArchive returned the database key")
	}
	return buf.Bytes()
}

func TestArchiveRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c, ms := fillProfile(t, db)
	archive := writeArchive(t, db, backupPass)
	if bytes.Contains(archive, []byte("message 0 from bob")) || bytes.Contains(archive, []byte("SQLite format")) {
		t.Fatal("the backup holds plaintext")
	}
	// The profile's own files hold no copy of the backup's.
	ents, _ := os.ReadDir(db.Dir())
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".tmp" {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	dir := filepath.Join(t.TempDir(), "restored")
	newPass := []byte("the new machine's passphrase")
	info, err := RestoreArchive(ctx, bytes.NewReader(archive), dir, backupPass, newPass, RestoreOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	if info.Contacts != 1 || info.Messages != len(ms) || info.Schema != SchemaVersion() || info.DBKey != nil {
		t.Fatalf("info = %+v", info)
	}
	if _, err := Open(ctx, dir, backupPass, OpenOptions{}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("the restored profile opens with the backup's passphrase: %v", err)
	}
	r, err := Open(ctx, dir, newPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	id, _ := db.Identity(ctx)
	rid, err := r.Identity(ctx)
	if err != nil || !bytes.Equal(rid.OnionKey, id.OnionKey) || rid.Name != id.Name {
		t.Fatalf("identity = %+v, %v", rid, err)
	}
	h1, _ := db.History(ctx, c.ID, 0, 100)
	h2, err := r.History(ctx, c.ID, 0, 100)
	if err != nil || len(h2) != len(h1) {
		t.Fatalf("history: %d messages, want %d (%v)", len(h2), len(h1), err)
	}
	for i := range h1 {
		if h1[i].Body != h2[i].Body || h1[i].ID != h2[i].ID || h1[i].Status != h2[i].Status {
			t.Fatalf("message %d: %+v, want %+v", i, h2[i], h1[i])
		}
	}
	cv := convoOf(t, r, ms[1].Seq)
	if cv.Reply == nil || cv.Reply.Quote != "message 0" || cv.Timer != time.Hour {
		t.Fatalf("reply = %+v", cv)
	}
	if cv := convoOf(t, r, ms[0].Seq); len(cv.Reactions) != 1 || cv.Reactions[0].Emoji != "👍" {
		t.Fatalf("reactions = %+v", cv.Reactions)
	}
	if vs, err := r.Edits(ctx, Target{c.ID, Incoming, ms[2].ID}); err != nil || len(vs) != 2 {
		t.Fatalf("edits = %+v, %v", vs, err)
	}
	if d, _ := r.Draft(ctx, c.ID); d != "half a thought" {
		t.Fatalf("draft = %q", d)
	}
	if ob, _ := r.Outbox(ctx, c.ID); len(ob) != 25 {
		t.Fatalf("outbox: %d items", len(ob))
	}
	if v, ok, _ := r.Setting(ctx, SettingRestored); !ok || v == "" {
		t.Fatal("the restored profile is not marked restored")
	}
	if err := CheckPermissions(dir); err != nil {
		t.Fatal(err)
	}

	// A profile is never overwritten.
	r.Close()
	if _, err := RestoreArchive(ctx, bytes.NewReader(archive), dir, backupPass, newPass, RestoreOptions{KDF: cheapKDF}); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("restore over a profile: %v", err)
	}
}

func TestArchiveDamage(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	fillProfile(t, db)
	// Enough rows for several chunks.
	c := addContact(t, db, "carol", "carol", StateAccepted)
	for i := range 600 {
		receiveText(t, db, c.ID, fmt.Sprintf("%d %s", i, bytes.Repeat([]byte("x"), 300)), time.Unix(1800000000, 0))
	}
	archive := writeArchive(t, db, backupPass)
	chunk := archiveChunk + 16
	if len(archive) < archiveHeader+3*chunk {
		t.Fatalf("archive of %d bytes: want several chunks", len(archive))
	}
	flip := func(i int) []byte {
		b := bytes.Clone(archive)
		b[i] ^= 1
		return b
	}
	for name, tc := range map[string]struct {
		data []byte
		pass []byte
		want error
	}{
		"wrong passphrase":       {archive, []byte("not it"), ErrWrongPassphrase},
		"empty":                  {nil, backupPass, ErrArchive},
		"not a backup":           {[]byte("SQLite format 3\x00 and so on, long enough to be a header of a backup"), backupPass, ErrArchive},
		"salt changed":           {flip(len(archiveMagic) + 12), backupPass, ErrWrongPassphrase},
		"first chunk changed":    {flip(archiveHeader + 5), backupPass, ErrWrongPassphrase},
		"a middle chunk changed": {flip(archiveHeader + chunk + 100), backupPass, ErrArchive},
		"cut at a chunk":         {archive[:archiveHeader+2*chunk], backupPass, ErrArchive},
		"cut in a chunk":         {archive[:archiveHeader+2*chunk+1000], backupPass, ErrArchive},
		"last chunk dropped":     {archive[:len(archive)-(len(archive)-archiveHeader)%chunk], backupPass, ErrArchive},
		"appended":               {append(bytes.Clone(archive), make([]byte, 100)...), backupPass, ErrArchive},
		"chunks swapped": {func() []byte {
			b := bytes.Clone(archive)
			x, y := archiveHeader+chunk, archiveHeader+2*chunk
			tmp := bytes.Clone(b[x:y])
			copy(b[x:y], b[y:y+chunk])
			copy(b[y:y+chunk], tmp)
			return b
		}(), backupPass, ErrArchive},
		"huge memory asked": {func() []byte {
			b := bytes.Clone(archive)
			binary.BigEndian.PutUint32(b[len(archiveMagic)+5:], 4<<20)
			return b
		}(), backupPass, ErrArchive},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			_, err := RestoreArchive(ctx, bytes.NewReader(tc.data), dir, tc.pass, testPass, RestoreOptions{KDF: cheapKDF})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if Exists(dir) {
				t.Fatal("a failed restore left a profile")
			}
			if _, err := os.Stat(filepath.Join(dir, dbFileName)); err == nil {
				t.Fatal("a failed restore left a database")
			}
		})
	}
}

// TestArchiveStreams: restoring reads the backup in chunks; it never holds
// it all (allocations stay far below its size).
func TestArchiveStreams(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "carol", "carol", StateAccepted)
	updateTx(t, db, func(tx *Tx) error {
		for i := range 4000 {
			if _, err := tx.ReceiveMessage(IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: string(bytes.Repeat([]byte{'a' + byte(i%26)}, 2000)),
				Created: time.Unix(1800000000, 0), Session: []byte("s")}); err != nil {
				return err
			}
		}
		return nil
	})
	f, err := os.Create(filepath.Join(t.TempDir(), "backup"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteArchive(ctx, f, backupPass, cheapKDF); err != nil {
		t.Fatal(err)
	}
	size, _ := f.Seek(0, io.SeekCurrent)
	f.Seek(0, io.SeekStart)
	if size < 8<<20 {
		t.Fatalf("backup of %d bytes: too small to tell", size)
	}
	var live int64
	stream, err := newStreamReader(f, backupPass)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := stream.Read(buf)
		live += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if stream.counter > 2 && cap(stream.pbuf) > archiveChunk {
			t.Fatalf("the plaintext buffer grew to %d", cap(stream.pbuf))
		}
	}
	if live < size-int64(archiveHeader)-int64(stream.counter)*16 {
		t.Fatalf("read %d of %d bytes", live, size)
	}
	f.Close()
}

// FuzzStreamReader decrypts arbitrary bytes as a backup: a clear error,
// never a panic or a hang.
func FuzzStreamReader(f *testing.F) {
	for _, s := range archiveSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := parseStreamHeader(data[:min(len(data), archiveHeader)]); err == nil && uint64(h.params.Time)*uint64(h.params.MemoryKiB) > 1<<12 {
			return // a real but slow key derivation: not what this target looks for
		}
		r, err := newStreamReader(bytes.NewReader(data), backupPass)
		if err != nil {
			if !errors.Is(err, ErrArchive) && !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrNewerVersion) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil && !errors.Is(err, ErrArchive) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzRestorePlaintext restores well-encrypted backups of arbitrary
// content (the manifest and database a tampering holder of the passphrase
// could write): a clear error or a profile, never a panic, and nothing
// left behind on error.
func FuzzRestorePlaintext(f *testing.F) {
	for _, s := range restoreSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		var buf bytes.Buffer
		w, err := newStreamWriter(&buf, backupPass, *cheapKDF)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "p")
		_, err = RestoreArchive(context.Background(), &buf, dir, backupPass, testPass, RestoreOptions{KDF: cheapKDF})
		if err != nil && Exists(dir) {
			t.Fatalf("failed (%v) but left a profile", err)
		}
	})
}

// restoreSeeds are plaintexts of backups: a manifest and the start of a
// database, and broken framings.
func restoreSeeds() [][]byte {
	good := []byte(`{"format":1,"created":"2026-01-01T00:00:00Z","schema":1,"contacts":0,"messages":0,"db_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`)
	return [][]byte{
		append(binary.BigEndian.AppendUint32(nil, uint32(len(good))), append(good, "SQLite format 3\x00"...)...),
		binary.BigEndian.AppendUint32(nil, 0),
		append(binary.BigEndian.AppendUint32(nil, 2), "{}"...),
		{0xff, 0xff, 0xff, 0xff},
	}
}

// archiveSeeds are a small real backup and pieces of it.
func archiveSeeds(tb testing.TB) [][]byte {
	var buf bytes.Buffer
	w, err := newStreamWriter(&buf, backupPass, *cheapKDF)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte("chunk of a backup "), 5000)) // two chunks
	w.Close()
	b := buf.Bytes()
	return [][]byte{b, b[:archiveHeader], b[:archiveHeader+100], nil}
}

// TestWriteArchiveSeeds keeps the fuzz seeds in testdata: run
// `go test ./storage -run TestWriteArchiveSeeds -write-archive-seeds`.
func TestWriteArchiveSeeds(t *testing.T) {
	if !*writeArchiveSeeds {
		t.Skip("use -write-archive-seeds to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{"FuzzStreamReader": archiveSeeds(t), "FuzzRestorePlaintext": restoreSeeds()} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			if len(s) > 4096 {
				s = s[:4096] // a cut backup: keeps the seed file small
			}
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
