package node

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/wire"
)

// writeRandom writes size pseudo-random bytes to dir/name.
func writeRandom(t testing.TB, dir, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func isFileState(id string, st FileState) func(Event) bool {
	return func(e Event) bool {
		f, ok := e.(FileStateEvent)
		return ok && f.Transfer.ID == id && f.Transfer.State == st
	}
}

func fileMessage(id string) func(Event) bool {
	return func(e Event) bool {
		m, ok := e.(MessageEvent)
		return ok && m.Message.ID == id && m.Message.File != nil
	}
}

// TestFileTransferMem: a file of many chunks goes from Alice to Bob over
// the in-memory network: offered, accepted by Bob, completed on both
// sides with every byte checked, saved; a chat message sent meanwhile
// arrives before the file is done.
func TestFileTransferMem(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	ctx := t.Context()

	path, data := writeRandom(t, t.TempDir(), "data.bin", 300*wire.ChunkSize+77)
	if _, err := alice.SendFile(ctx, "b", "relative/path", ""); err == nil {
		t.Error("a relative path was accepted")
	}
	m, err := alice.SendFile(ctx, "b", path, "the data")
	if err != nil {
		t.Fatal(err)
	}
	if m.File == nil || m.File.State != FileOffered || m.File.Size != int64(len(data)) || m.Text != "the data" || m.File.ID != m.ID {
		t.Fatalf("sent %+v file %+v", m, m.File)
	}
	got := bob.waitFor(t, memWait, "the offer", fileMessage(m.ID)).(MessageEvent).Message
	if got.File.State != FileOffered || got.File.Name != "data.bin" || got.Text != "the data" {
		t.Fatalf("bob got %+v %+v", got, got.File)
	}
	if _, err := bob.SaveFile(ctx, m.ID, t.TempDir()); !errors.Is(err, ErrFileNotReady) {
		t.Errorf("save before accepting: %v", err)
	}
	if _, err := bob.AcceptFile(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "accepted at alice", isFileState(m.ID, FileAccepted))
	// Chat goes on while the file moves.
	chat := mustSend(t, alice, "b", "while the file moves")
	bob.waitReceived(t, memWait, alice.Address(), 1)
	doneAt := bob.waitFor(t, memWait, "completed at bob", isFileState(m.ID, FileCompleted))
	alice.waitFor(t, memWait, "completed at alice", isFileState(m.ID, FileCompleted))
	if bob.count(isMsgState(chat.ID, Delivered)) > 0 {
		t.Log("(the chat message's ack came after the file)")
	}
	tr := doneAt.(FileStateEvent).Transfer
	sum := sha256.Sum256(data)
	if tr.SHA256 != fmt.Sprintf("%x", sum) || tr.Bytes != int64(len(data)) || tr.DuplicateBytes != 0 || tr.Direction != Incoming {
		t.Fatalf("bob's transfer %+v", tr)
	}
	if bob.count(func(e Event) bool { _, ok := e.(FileProgressEvent); return ok }) == 0 {
		t.Error("no progress events")
	}
	out, err := bob.SaveFile(ctx, m.ID, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, data) {
		t.Fatal("saved file differs")
	}
	at, err := alice.File(ctx, m.ID)
	if err != nil || at.State != FileCompleted || at.SentBytes != int64(len(data)) {
		t.Fatalf("alice's transfer %+v %v", at, err)
	}
	list, err := bob.Files(ctx, FileQuery{Contact: alice.Address()})
	if err != nil || len(list) != 1 || list[0].ID != m.ID {
		t.Fatalf("files: %+v %v", list, err)
	}
	if act, _ := bob.Files(ctx, FileQuery{Active: true}); len(act) != 0 {
		t.Fatalf("active after completion: %+v", act)
	}
	h, _ := bob.History(ctx, alice.Address(), "", 10)
	var hf *File
	for _, hm := range h {
		if hm.ID == m.ID {
			hf = hm.File
		}
	}
	if hf == nil || hf.State != FileCompleted {
		t.Fatalf("history's file %+v", hf)
	}
	if c, _ := bob.Contact(ctx, alice.Address()); c.LastMessage != "[data.bin] the data" && !strings.HasPrefix(c.LastMessage, "while") {
		t.Errorf("contact's last message: %q", c.LastMessage)
	}
}

func testPNG(t testing.TB, dir string) string {
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	for y := range 300 {
		for x := range 400 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 100, 255})
		}
	}
	p := filepath.Join(dir, "photo.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, img)
	f.Close()
	return p
}

// TestFilePolicyMem: a small image is fetched unasked and has a
// thumbnail; an offer over the receiver's limit is refused and the sender
// learns why; a cancel by the receiver reaches the sender.
func TestFilePolicyMem(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	ctx := t.Context()

	img, err := alice.SendFile(ctx, "b", testPNG(t, t.TempDir()), "")
	if err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "image completed", isFileState(img.ID, FileCompleted))
	th, err := bob.Thumbnail(ctx, img.ID)
	if err != nil || th.MediaType != "image/jpeg" || len(th.Data) == 0 {
		t.Fatalf("thumbnail %q %d %v", th.MediaType, len(th.Data), err)
	}
	ti, _ := bob.File(ctx, img.ID)
	if ti.MediaType != "image/png" || ti.Width != 400 || ti.Height != 300 {
		t.Fatalf("image transfer %+v", ti)
	}

	s, _ := bob.Settings(ctx)
	if s.MaxFileSize != 1<<30 || s.AutoDownload != 10<<20 || s.FileQuota != 4<<30 {
		t.Fatalf("default settings %+v", s)
	}
	s.MaxFileSize = 100 << 10
	if err := bob.SetSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	big, _ := writeRandom(t, t.TempDir(), "big.bin", 200<<10)
	m, err := alice.SendFile(ctx, "b", big, "")
	if err != nil {
		t.Fatal(err)
	}
	ev := alice.waitFor(t, memWait, "refused", isFileState(m.ID, FileFailed)).(FileStateEvent)
	if ev.Transfer.Error != "refused by b: larger than their limit" {
		t.Errorf("refusal: %q", ev.Transfer.Error)
	}
	bm := bob.waitFor(t, memWait, "the refused offer", fileMessage(m.ID)).(MessageEvent)
	if bm.Message.File.State != FileFailed {
		t.Errorf("bob's refused file: %+v", bm.Message.File)
	}
	s.MaxFileSize = 0 // back to the default
	bob.SetSettings(ctx, s)

	m, err = alice.SendFile(ctx, "b", big, "")
	if err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "offer", fileMessage(m.ID))
	if _, err := bob.CancelFile(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	ev = alice.waitFor(t, memWait, "declined", isFileState(m.ID, FileCancelled)).(FileStateEvent)
	if ev.Transfer.Error != "cancelled by b" {
		t.Errorf("decline: %q", ev.Transfer.Error)
	}
	if _, err := bob.CancelFile(ctx, m.ID); !errors.Is(err, ErrFileState) {
		t.Errorf("cancel twice: %v", err)
	}
	if _, err := bob.AcceptFile(ctx, "00"); !errors.Is(err, ErrUnknownFile) {
		t.Errorf("unknown file: %v", err)
	}
	// Deleting the conversation deletes the files.
	if err := bob.RemoveContact(ctx, alice.Address(), false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(bob.Dir(), "files")); len(ents) != 0 {
		t.Errorf("%d chunk files left after deleting the conversation", len(ents))
	}
}

// TestFileResumeMem: the receiver's node closes mid-transfer and opens
// again; the transfer completes from where it was, nothing stored is sent
// twice.
func TestFileResumeMem(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	dirB := newProfile(t, "bob")
	slow := fastTuning()
	slow.filePace = time.Millisecond
	alice := startMemTuned(t, mem, newProfile(t, "alice"), slow)
	bob := startMem(t, mem, dirB)
	befriend(t, alice, bob, memWait)
	ctx := t.Context()
	path, data := writeRandom(t, t.TempDir(), "r.bin", 400*wire.ChunkSize)
	m, err := alice.SendFile(ctx, "b", path, "")
	if err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "offer", fileMessage(m.ID))
	if _, err := bob.AcceptFile(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "some progress", func(e Event) bool {
		p, ok := e.(FileProgressEvent)
		return ok && p.ID == m.ID && p.Bytes > 50*wire.ChunkSize
	})
	bob.Close()
	before, _ := alice.File(ctx, m.ID)
	if before.Bytes == before.Size {
		t.Fatal("the transfer finished before the restart")
	}
	bob = startMem(t, mem, dirB)
	bob.waitFor(t, memWait, "completed after restart", isFileState(m.ID, FileCompleted))
	tr, _ := bob.File(ctx, m.ID)
	if tr.DuplicateBytes != 0 || tr.Bytes != int64(len(data)) {
		t.Fatalf("after restart: %+v", tr)
	}
	alice.waitFor(t, memWait, "completed at alice", isFileState(m.ID, FileCompleted))
	after, _ := alice.File(ctx, m.ID)
	t.Logf("sent %d bytes for a %d-byte file (%d before the restart)", after.SentBytes, len(data), before.SentBytes)
	if after.SentBytes > int64(len(data))+int64(32+2)*wire.ChunkSize {
		t.Errorf("resent more than the window: %d bytes sent", after.SentBytes)
	}
}
