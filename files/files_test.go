package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

const waitEnd = 10 * time.Second

// TestTransfer: a file of several chunks (the last one short) goes from
// one profile to the other, is checked against its hash, saved, and both
// sides end completed; the stored chunks are never plaintext.
func TestTransfer(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{Window: 3}), newSide(t, "bob", Options{Window: 3})
	path, data := randomFile(t, t.TempDir(), "report.bin", 7*wire.ChunkSize+1234)
	imp := snd.send(path)
	if imp.Size != int64(len(data)) || imp.Name != "report.bin" || imp.MediaType != "application/octet-stream" {
		t.Fatalf("imported %+v", imp)
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(imp.SHA256, sum[:]) {
		t.Fatal("hash of the import")
	}
	// The chunk store holds no plaintext.
	stored, _ := os.ReadFile(filepath.Join(snd.db.FilesDir(), imp.Local))
	if bytes.Contains(stored, data[100:164]) {
		t.Fatal("plaintext in the sender's chunk store")
	}

	d := rcv.receive(imp.Offer(), Policy{})
	if d.State != Offered {
		t.Fatalf("a binary file is not fetched unasked: %+v", d)
	}
	if got := pipe(t, snd, rcv, "link1", 0); got != 0 {
		t.Fatalf("%d chunks moved before accept", got)
	}
	if _, err := rcv.m.Accept(ctx, imp.ID, Policy{}); err != nil {
		t.Fatal(err)
	}
	if n := pipe(t, snd, rcv, "link1", 0); n != 8 {
		t.Fatalf("moved %d chunks, want 8", n)
	}
	if e := rcv.finish(waitEnd); e.state != Completed || e.reason != wire.EndCompleted {
		t.Fatalf("receiver ended %+v", e)
	}
	if _, _, err := snd.m.Finish(ctx, imp.ID, Completed, "", nil); err != nil {
		t.Fatal(err)
	}
	tr, err := rcv.m.Get(ctx, imp.ID)
	if err != nil || tr.State != Completed || tr.Bytes != int64(len(data)) || tr.DupBytes != 0 || tr.RecvBytes != int64(len(data)) {
		t.Fatalf("receiver's transfer %+v %v", tr, err)
	}
	if st, _ := snd.m.Get(ctx, imp.ID); st.State != Completed || st.SentBytes != int64(len(data)) {
		t.Fatalf("sender's transfer %+v", st)
	}
	if got := rcv.states(imp.ID); strings.Join(statesStr(got), ",") != "accepted,completed" {
		t.Errorf("receiver's state events: %v", got)
	}
	if got := snd.states(imp.ID); strings.Join(statesStr(got), ",") != "accepted,completed" {
		t.Errorf("sender's state events: %v", got)
	}
	out := t.TempDir()
	p, err := rcv.m.Save(ctx, imp.ID, out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || filepath.Base(p) != "report.bin" {
		t.Fatalf("saved %s: %d bytes", p, len(got))
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("saved with mode %v", st.Mode())
	}
	// Saving again picks a free name; an existing file is never replaced.
	if p2, err := rcv.m.Save(ctx, imp.ID, out); err != nil || filepath.Base(p2) != "report (2).bin" {
		t.Errorf("second save: %q %v", p2, err)
	}
	if _, err := rcv.m.Save(ctx, imp.ID, p); !errors.Is(err, ErrExists) {
		t.Errorf("save over a file: %v", err)
	}
	// The sender can save its own copy too; an open copy is private.
	oc, err := snd.m.OpenCopy(ctx, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Dir(filepath.Dir(oc))); st.Mode().Perm() != 0o700 {
		t.Errorf("open copy dir mode %v", st.Mode())
	}
	snd.m.Close()
	if _, err := os.Stat(oc); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open copy left after Close: %v", err)
	}
	snd.m = nil
}

func statesStr(ss []State) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// TestTamperedChunks: a chunk changed, moved to another index, truncated
// or taken from another file fails authentication and is not stored;
// enough of them fail the transfer.
func TestTamperedChunks(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{}), newSide(t, "bob", Options{})
	p1, _ := randomFile(t, t.TempDir(), "a.bin", 3*wire.ChunkSize+10)
	p2, _ := randomFile(t, t.TempDir(), "b.bin", 3*wire.ChunkSize+10)
	imp, other := snd.send(p1), snd.send(p2)
	rcv.receive(imp.Offer(), Policy{})
	rcv.m.Accept(ctx, imp.ID, Policy{})
	reqs := rcv.m.Requests(rcv.contact, "l")
	for _, r := range reqs {
		snd.m.OnRequest(snd.contact, "l", r)
	}
	snd.m.OnRequest(snd.contact, "l", &wire.FileRequest{File: other.ID, Ranges: []wire.Range{{First: 0, Count: 4}}})
	chunks := map[wire.ID]map[uint64][]byte{imp.ID: {}, other.ID: {}}
	buf := make([]byte, slotSize)
	for {
		c, ok := snd.m.NextChunk(snd.contact, "l", buf)
		if !ok {
			break
		}
		chunks[c.File][c.Index] = bytes.Clone(c.Data)
	}
	good := chunks[imp.ID]
	flip := bytes.Clone(good[1])
	flip[len(flip)-20] ^= 1
	for name, c := range map[string]*wire.FileChunk{
		"flipped bit":     {File: imp.ID, Index: 1, Data: flip},
		"reordered":       {File: imp.ID, Index: 2, Data: good[1]},
		"other file":      {File: imp.ID, Index: 1, Data: chunks[other.ID][1]},
		"truncated":       {File: imp.ID, Index: 1, Data: good[1][:len(good[1])-1]},
		"last as middle":  {File: imp.ID, Index: 2, Data: good[3]},
		"middle as last":  {File: imp.ID, Index: 3, Data: good[2][:len(good[3])]},
		"beyond the last": {File: imp.ID, Index: 4, Data: good[3]},
	} {
		if _, err := rcv.m.OnChunk(rcv.contact, "l", c); !errors.Is(err, errChunk) {
			t.Errorf("%s: %v, want errChunk", name, err)
		}
	}
	if tr, _ := rcv.m.Get(ctx, imp.ID); tr.Bytes != 0 {
		t.Fatalf("a bad chunk was stored: %+v", tr)
	}
	// The good ones are stored.
	for i := range uint64(4) {
		if _, err := rcv.m.OnChunk(rcv.contact, "l", &wire.FileChunk{File: imp.ID, Index: i, Data: good[i]}); err != nil {
			t.Fatalf("good chunk %d: %v", i, err)
		}
	}
	if e := rcv.finish(waitEnd); e.state != Completed {
		t.Fatalf("ended %+v", e)
	}
	// A sender that keeps forging is given up on.
	imp2 := snd.send(p2)
	rcv.receive(imp2.Offer(), Policy{})
	rcv.m.Accept(ctx, imp2.ID, Policy{})
	for range maxBad {
		rcv.m.OnChunk(rcv.contact, "l", &wire.FileChunk{File: imp2.ID, Index: 0, Data: good[0]})
	}
	if e := rcv.finish(waitEnd); e.state != Failed || e.reason != wire.EndCorrupt {
		t.Fatalf("forger: %+v", e)
	}
}

// TestResumeAfterCrash: the receiver dies (no checkpoint since the
// transfer began) and then the sender does; after each restart the
// transfer completes and no stored chunk is sent twice.
func TestResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	o := Options{Window: 4, Checkpoint: time.Hour}
	snd, rcv := newSide(t, "alice", o), newSide(t, "bob", o)
	path, data := randomFile(t, t.TempDir(), "big.bin", 40*wire.ChunkSize+7)
	imp := snd.send(path)
	rcv.receive(imp.Offer(), Policy{})
	rcv.m.Accept(ctx, imp.ID, Policy{})

	if n := pipe(t, snd, rcv, "l1", 13); n != 13 {
		t.Fatal(n)
	}
	// kill -9 of the receiver: the link goes down with it.
	rcv.restart(false)
	snd.m.LinkDown(snd.contact, "l1")
	tr, _ := rcv.m.Get(ctx, imp.ID)
	if tr.Bytes != 13*wire.ChunkSize || tr.State != Accepted {
		t.Fatalf("after the receiver's crash: %+v (want 13 chunks recovered)", tr)
	}
	pipe(t, snd, rcv, "l2", 11)
	// kill -9 of the sender.
	snd.restart(false)
	rcv.m.LinkDown(rcv.contact, "l2")
	pipe(t, snd, rcv, "l3", 0)
	if e := rcv.finish(waitEnd); e.state != Completed {
		t.Fatalf("ended %+v", e)
	}
	tr, _ = rcv.m.Get(ctx, imp.ID)
	if tr.DupBytes != 0 || tr.Bytes != int64(len(data)) {
		t.Fatalf("after both crashes: %+v", tr)
	}
	p, err := rcv.m.Save(ctx, imp.ID, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("saved file differs")
	}
	// A clean restart keeps a completed file.
	rcv.restart(true)
	if tr, _ := rcv.m.Get(ctx, imp.ID); tr.State != Completed {
		t.Fatalf("after restart: %+v", tr)
	}
}

// TestDiskFull: a chunk that cannot be written stalls the transfer with a
// clear error and a FileStop to the sender; once there is room the retry
// asks again and the file completes. /dev/full plays the full disk.
func TestDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	ctx := context.Background()
	o := Options{Retry: 50 * time.Millisecond}
	snd, rcv := newSide(t, "alice", o), newSide(t, "bob", o)
	path, data := randomFile(t, t.TempDir(), "x.bin", 5*wire.ChunkSize)
	imp := snd.send(path)
	// Bob's chunk file for it will be /dev/full.
	var local string
	err := rcv.db.Update(ctx, func(tx *storage.Tx) error {
		msg, err := tx.ReceiveMessage(storage.IncomingMessage{ContactID: rcv.contact, ID: storage.MessageID(imp.ID), Body: "x", Meta: MetaFile, Session: []byte("s")})
		if err != nil {
			return err
		}
		_, err = rcv.m.InsertIncoming(tx, rcv.contact, msg.Seq, imp.Offer(), Policy{}, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rcv.db.File(ctx, storage.MessageID(imp.ID))
	local = filepath.Join(rcv.db.FilesDir(), r.Local)
	if err := os.Symlink("/dev/full", local); err != nil {
		t.Fatal(err)
	}
	rcv.m.Activate(ctx, imp.ID)
	rcv.m.Accept(ctx, imp.ID, Policy{})
	for _, q := range rcv.m.Requests(rcv.contact, "l") {
		snd.m.OnRequest(snd.contact, "l", q)
	}
	c, _ := snd.m.NextChunk(snd.contact, "l", make([]byte, slotSize))
	resp, err := rcv.m.OnChunk(rcv.contact, "l", c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.(*wire.FileStop); !ok {
		t.Fatalf("full disk answered %#v, want a FileStop", resp)
	}
	snd.m.OnStop(snd.contact, "l", resp.(*wire.FileStop))
	tr, _ := rcv.m.Get(ctx, imp.ID)
	if tr.State != Accepted || !strings.Contains(tr.Error, "no space left") || tr.Bytes != 0 {
		t.Fatalf("stalled transfer: %+v", tr)
	}
	if reqs := rcv.m.Requests(rcv.contact, "l"); len(reqs) != 0 {
		t.Fatal("a stalled transfer asked for chunks")
	}
	// Room again: the retry pokes the node, which asks again.
	os.Remove(local)
	rcv.m.mu.Lock()
	if t := rcv.m.active[imp.ID]; t.f != nil {
		t.f.Close()
		t.f = nil
	}
	rcv.m.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rcv.mu.Lock()
		p := rcv.pokes
		rcv.mu.Unlock()
		if p >= 2 && len(rcv.m.Requests(rcv.contact, "l")) == 0 || time.Now().After(deadline) {
			break // the Requests call above consumed the window
		}
		time.Sleep(10 * time.Millisecond)
	}
	rcv.m.LinkDown(rcv.contact, "l")
	snd.m.LinkDown(snd.contact, "l")
	pipe(t, snd, rcv, "l2", 0)
	if e := rcv.finish(waitEnd); e.state != Completed {
		t.Fatalf("after the disk had room: %+v", e)
	}
	p, _ := rcv.m.Save(ctx, imp.ID, t.TempDir())
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("saved file differs")
	}
	if tr, _ := rcv.m.Get(ctx, imp.ID); tr.Error != "" {
		t.Errorf("error kept after completing: %q", tr.Error)
	}
}

func TestPolicy(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{}), newSide(t, "bob", Options{})
	dir := t.TempDir()
	small, _ := randomFile(t, dir, "small.bin", 1000)
	imp := snd.send(small)

	offer := func(size uint64, mt string) *wire.FileOffer {
		o := imp.Offer()
		o.ID, o.Size, o.MediaType = wire.NewID(), size, mt
		return o
	}
	pol := Policy{MaxSize: 1 << 20, AutoDownload: 100 << 10, Quota: 3 << 20}
	for _, tc := range []struct {
		name   string
		o      *wire.FileOffer
		state  State
		reason wire.EndReason
	}{
		{"over the limit", offer(2<<20, "image/png"), Failed, wire.EndTooLarge},
		{"small image", offer(50<<10, "image/jpeg"), Accepted, 0},
		{"small voice", offer(50<<10, "audio/ogg"), Accepted, 0},
		{"large image", offer(200<<10, "image/png"), Offered, 0},
		{"small pdf", offer(10, "application/pdf"), Offered, 0},
		{"garbage type", offer(10, "image/png; x=\x01"), Offered, 0},
	} {
		d := rcv.receive(tc.o, pol)
		if d.State != tc.state || (d.Refused() && d.Reason != tc.reason) {
			t.Errorf("%s: %+v", tc.name, d)
		}
	}
	// Quota: accepted files count; beyond it offers are refused and
	// accepting fails.
	big := offer(900<<10, "application/zip")
	rcv.receive(big, pol)
	for range 3 {
		o := offer(900<<10, "application/zip")
		rcv.receive(o, pol)
		rcv.m.Accept(ctx, o.ID, pol)
	}
	if _, err := rcv.m.Accept(ctx, big.ID, pol); !errors.Is(err, ErrQuota) {
		t.Errorf("accept over quota: %v", err)
	}
	if d := rcv.receive(offer(900<<10, "application/zip"), pol); d.Reason != wire.EndQuota || !d.Refused() {
		t.Errorf("offer over quota: %+v", d)
	}
	// Auto-download off.
	if d := rcv.receive(offer(10, "image/png"), Policy{AutoDownload: -1}); d.State != Offered {
		t.Errorf("auto-download off: %+v", d)
	}
	// A sender's own limit.
	if _, err := snd.m.Import(ctx, wire.NewID(), small, 999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("import over the limit: %v", err)
	}
	if _, err := snd.m.Import(ctx, wire.NewID(), dir, 1<<20); !errors.Is(err, ErrNotRegular) {
		t.Errorf("import a directory: %v", err)
	}
	if ents, _ := os.ReadDir(snd.db.FilesDir()); len(ents) != 1 {
		t.Errorf("failed imports left %d chunk files", len(ents)-1)
	}
}

// TestHostileOffer: the name and media type are the sender's claims; a
// thumbnail that does not decode within limits is dropped.
func TestHostileOffer(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{}), newSide(t, "bob", Options{})
	p, _ := randomFile(t, t.TempDir(), "x", 10)
	imp := snd.send(p)
	o := imp.Offer()
	o.Name = "../../.ssh/authorized_keys\x1b[2J"
	o.MediaType = "text/html"
	o.Thumbnail = bombThumb()
	rcv.receive(o, Policy{})
	tr, _ := rcv.m.Get(ctx, o.ID)
	if tr.Name != "_._.ssh_authorized_keys" || tr.Thumbnail {
		t.Errorf("hostile offer stored as %+v", tr)
	}
	if th, _ := rcv.m.Thumbnail(ctx, o.ID); th != nil {
		t.Error("a thumbnail over the limits was kept")
	}
}

func bombThumb() []byte {
	var b bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 2000, 1))
	png.Encode(&b, img)
	return b.Bytes()
}

// TestImageThumbnail: the sender makes a JPEG thumbnail within the cap,
// and the receiver learns the real media type when the file is complete.
func TestImageThumbnail(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{}), newSide(t, "bob", Options{})
	img := image.NewRGBA(image.Rect(0, 0, 1200, 800))
	for y := range 800 {
		for x := range 1200 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	p := filepath.Join(t.TempDir(), "photo.dat")
	f, _ := os.Create(p)
	png.Encode(f, img)
	f.Close()
	imp := snd.send(p)
	if imp.MediaType != "image/png" || len(imp.Thumb) == 0 || len(imp.Thumb) > wire.MaxThumbnail || imp.Width != 1200 {
		t.Fatalf("import of an image: type %q, thumb %d bytes, %dx%d", imp.MediaType, len(imp.Thumb), imp.Width, imp.Height)
	}
	o := imp.Offer()
	o.MediaType = "application/octet-stream" // lie: the content tells
	if d := rcv.receive(o, Policy{}); d.State != Offered {
		t.Fatalf("%+v", d)
	}
	if th, err := rcv.m.Thumbnail(ctx, o.ID); err != nil || !bytes.Equal(th, imp.Thumb) {
		t.Fatalf("thumbnail %d bytes %v", len(th), err)
	}
	rcv.m.Accept(ctx, o.ID, Policy{})
	pipe(t, snd, rcv, "l", 0)
	rcv.finish(waitEnd)
	tr, _ := rcv.m.Get(ctx, o.ID)
	if tr.MediaType != "image/png" || tr.Width != 1200 || tr.Height != 800 || !tr.Thumbnail {
		t.Fatalf("completed image: %+v", tr)
	}
}

// TestPauseCancel: a paused receiver asks for nothing and tells the sender
// to stop; resuming asks again; cancelling deletes the partial data and
// the sender's refused file is forgotten.
func TestPauseCancel(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{Window: 2}), newSide(t, "bob", Options{Window: 2})
	p, _ := randomFile(t, t.TempDir(), "x.bin", 10*wire.ChunkSize)
	imp := snd.send(p)
	rcv.receive(imp.Offer(), Policy{})
	rcv.m.Accept(ctx, imp.ID, Policy{})
	pipe(t, snd, rcv, "l", 3)
	stop, tr, err := rcv.m.Pause(ctx, imp.ID)
	if err != nil || stop == nil || tr.State != Paused {
		t.Fatalf("pause: %v %+v %v", stop, tr, err)
	}
	snd.m.OnStop(snd.contact, "l", stop)
	if _, ok := snd.m.NextChunk(snd.contact, "l", make([]byte, slotSize)); ok {
		t.Fatal("sender sends after a stop")
	}
	if len(rcv.m.Requests(rcv.contact, "l")) != 0 {
		t.Fatal("paused transfer asks")
	}
	if _, err := rcv.m.Resume(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	pipe(t, snd, rcv, "l", 2)
	// The sender pauses: it serves nothing until it resumes.
	if _, _, err := snd.m.Pause(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}
	if n := pipe(t, snd, rcv, "l", 0); n != 0 {
		t.Fatalf("paused sender sent %d", n)
	}
	snd.m.Resume(ctx, imp.ID)
	rcv.m.Finish(ctx, imp.ID, Cancelled, "", nil)
	tr, _ = rcv.m.Get(ctx, imp.ID)
	if tr.State != Cancelled {
		t.Fatalf("%+v", tr)
	}
	if ents, _ := os.ReadDir(rcv.db.FilesDir()); len(ents) != 0 {
		t.Errorf("cancelled data left: %d files", len(ents))
	}
	if _, err := rcv.m.Accept(ctx, imp.ID, Policy{}); !errors.Is(err, ErrState) {
		t.Errorf("accept after cancel: %v", err)
	}
	if _, err := rcv.m.Save(ctx, imp.ID, t.TempDir()); !errors.Is(err, ErrNotReady) {
		t.Errorf("save after cancel: %v", err)
	}
	// The sender learns it (FileEnd) and forgets the file too.
	snd.m.Finish(ctx, imp.ID, Cancelled, "cancelled by bob", nil)
	if r := snd.m.OnRequest(snd.contact, "l", &wire.FileRequest{File: imp.ID, Ranges: []wire.Range{{Count: 1}}}); r == nil || *r != wire.EndUnavailable {
		t.Errorf("request for a cancelled file: %v", r)
	}
	// Deleting the conversation removes what is left.
	snd.db.Update(ctx, func(tx *storage.Tx) error { return tx.DeleteHistory(snd.contact) })
	snd.m.GC(ctx)
	if ents, _ := os.ReadDir(snd.db.FilesDir()); len(ents) != 0 {
		t.Errorf("files left after deleting the conversation: %d", len(ents))
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":                       "report.pdf",
		"../../etc/passwd":                 "_._etc_passwd",
		"..":                               "file",
		"...":                              "file",
		".bashrc":                          "bashrc",
		"a/b\\c:d":                         "a_b_c_d",
		"evil\u202egpj.exe":                "evilgpj.exe",
		"bell\a\x00nul":                    "bellnul",
		"  spaced . ":                      "spaced",
		"CON.txt":                          "_CON.txt",
		"nul":                              "_nul",
		"ünïcödé 日本.txt":                   "ünïcödé 日本.txt",
		"line\nbreak.txt":                  "line break.txt",
		"":                                 "file",
		"a..b":                             "a.b",
		strings.Repeat("x", 300) + ".jpeg": strings.Repeat("x", MaxName-5) + ".jpeg",
	} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSanitizeName: whatever a peer calls a file, the result is one safe
// path element.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../x", "..", "a\x00b", "\u202e", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := SanitizeName(s)
		if n == "" || len(n) > MaxName+1 || !utf8.ValidString(n) || strings.ContainsAny(n, "/\\:\x00\n\r") ||
			strings.Contains(n, "..") || n[0] == '.' || filepath.Base(n) != n {
			t.Fatalf("SanitizeName(%q) = %q", s, n)
		}
		for _, r := range n {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", n)
			}
		}
	})
}

// TestReserve: chunks never take the last Options.Reserve bytes of the
// disk; the transfer waits with a clear error and goes on when there is
// room. A sender refuses to import what would not fit.
func TestReserve(t *testing.T) {
	ctx := context.Background()
	snd := newSide(t, "alice", Options{})
	rcv := newSide(t, "bob", Options{Reserve: 1 << 60, Retry: 20 * time.Millisecond})
	p, data := randomFile(t, t.TempDir(), "x.bin", 3*wire.ChunkSize)
	imp := snd.send(p)
	rcv.receive(imp.Offer(), Policy{})
	rcv.m.Accept(ctx, imp.ID, Policy{})
	if n := pipe(t, snd, rcv, "l", 0); n != 1 {
		t.Fatalf("%d chunks before the stall", n)
	}
	tr, _ := rcv.m.Get(ctx, imp.ID)
	if tr.Bytes != 0 || !strings.Contains(tr.Error, "paused: no space left on the device") || !strings.Contains(tr.Error, "chive keeps") {
		t.Fatalf("over the reserve: %+v", tr)
	}
	if _, err := rcv.m.Import(ctx, wire.NewID(), p, DefaultMaxSize); !errors.Is(err, ErrNoSpace) {
		t.Errorf("import over the reserve: %v", err)
	}
	rcv.mu.Lock()
	pokes := rcv.pokes
	rcv.mu.Unlock()
	rcv.m.mu.Lock()
	rcv.m.opts.Reserve = -1
	rcv.m.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); ; { // the retry clears the stall and pokes
		rcv.mu.Lock()
		p := rcv.pokes
		rcv.mu.Unlock()
		if p > pokes || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	rcv.m.LinkDown(rcv.contact, "l")
	snd.m.LinkDown(snd.contact, "l")
	pipe(t, snd, rcv, "l2", 0)
	if e := rcv.finish(waitEnd); e.state != Completed {
		t.Fatalf("%+v", e)
	}
	out, _ := rcv.m.Save(ctx, imp.ID, t.TempDir())
	if b, _ := os.ReadFile(out); !bytes.Equal(b, data) {
		t.Fatal("saved file differs")
	}
}

// TestOfferRebuilt: the offer rebuilt from an outgoing file's row is the
// one its message first carried, thumbnail included; an incoming file or
// an unknown id has none.
func TestOfferRebuilt(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{}), newSide(t, "bob", Options{})
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	p := filepath.Join(t.TempDir(), "small image.png")
	f, _ := os.Create(p)
	png.Encode(f, img)
	f.Close()
	imp := snd.send(p)
	if len(imp.Thumb) == 0 {
		t.Fatal("no thumbnail: the test could not see one lost")
	}
	got, err := snd.m.Offer(ctx, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, imp.Offer()) {
		t.Fatalf("rebuilt offer\n%+v\nwant\n%+v", got, imp.Offer())
	}
	rcv.receive(imp.Offer(), Policy{})
	if _, err := rcv.m.Offer(ctx, imp.ID); !errors.Is(err, ErrState) {
		t.Errorf("offer of an incoming file: %v", err)
	}
	if _, err := snd.m.Offer(ctx, wire.NewID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("offer of an unknown file: %v", err)
	}
}

// TestForget: a transfer whose row went with its message stops at once on
// both sides — nothing more is served or stored, Live says so — and
// Forget removes the chunk files, also those of ended transfers it no
// longer tracks.
func TestForget(t *testing.T) {
	ctx := context.Background()
	snd, rcv := newSide(t, "alice", Options{}), newSide(t, "bob", Options{})
	path, _ := randomFile(t, t.TempDir(), "f.bin", 40*wire.ChunkSize)
	imp := snd.send(path)
	rcv.receive(imp.Offer(), Policy{})
	if _, err := rcv.m.Accept(ctx, imp.ID, Policy{}); err != nil {
		t.Fatal(err)
	}
	if n := pipe(t, snd, rcv, "l", 10); n != 10 {
		t.Fatalf("moved %d chunks", n)
	}
	for _, s := range []*side{snd, rcv} {
		if _, live := s.m.Live(imp.ID); !live {
			t.Fatal("not live before Forget")
		}
		r, err := s.db.File(ctx, storage.MessageID(imp.ID))
		if err != nil {
			t.Fatal(err)
		}
		local := filepath.Join(s.db.FilesDir(), r.Local)
		if _, err := os.Stat(local); err != nil {
			t.Fatal(err)
		}
		err = s.db.Update(ctx, func(tx *storage.Tx) error {
			_, err := tx.DeleteMessageFile(r.MessageSeq)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		s.m.Forget([]wire.ID{imp.ID}, nil)
		if _, live := s.m.Live(imp.ID); live {
			t.Error("live after Forget")
		}
		if _, err := os.Stat(local); !os.IsNotExist(err) {
			t.Errorf("chunk file after Forget: %v", err)
		}
		if _, err := s.m.Get(ctx, imp.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("get after Forget: %v", err)
		}
	}
	// The receiver's request finds nothing to serve; the sender's chunk
	// finds nothing to store.
	if r := snd.m.OnRequest(snd.contact, "l", &wire.FileRequest{File: imp.ID, Ranges: []wire.Range{{First: 10, Count: 5}}}); r == nil || *r != wire.EndUnavailable {
		t.Errorf("request after Forget: %v", r)
	}
	if ch, ok := snd.m.NextChunk(snd.contact, "l", make([]byte, wire.MaxChunkData)); ok {
		t.Errorf("chunk %d served after Forget", ch.Index)
	}
	if rcv.m.Active(rcv.contact) || snd.m.Active(snd.contact) {
		t.Error("a contact still has an active transfer")
	}

	// An ended transfer the manager no longer tracks: its chunk file by name.
	other, _ := randomFile(t, t.TempDir(), "g.bin", 10)
	imp2 := snd.send(other)
	if _, _, err := snd.m.Finish(ctx, imp2.ID, Completed, "", nil); err != nil {
		t.Fatal(err)
	}
	p2 := filepath.Join(snd.db.FilesDir(), imp2.Local)
	if _, err := os.Stat(p2); err != nil {
		t.Fatal(err)
	}
	snd.m.Forget(nil, []string{imp2.Local, "../escape"})
	if _, err := os.Stat(p2); !os.IsNotExist(err) {
		t.Errorf("completed chunk file after Forget: %v", err)
	}
}
