package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Where files meet the conversation features: a file goes with its
// message (deleted for everyone, for us, or disappeared), a file message
// disappears like a chat message, and a queued offer survives a session
// reset.

// chunkFile is the path of the chunk file of file id in n's profile.
func chunkFile(t testing.TB, n *tnode, id string) string {
	t.Helper()
	mid, err := storage.ParseMessageID(id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := n.db.File(t.Context(), mid)
	if err != nil {
		t.Fatalf("%s: file %s: %v", n.addr.Short(), id[:8], err)
	}
	return filepath.Join(n.db.FilesDir(), r.Local)
}

// fileGone checks that n knows nothing more of file id: no transfer, none
// listed, no chunk file at path.
func fileGone(t testing.TB, n *tnode, id, path string) {
	t.Helper()
	ctx := t.Context()
	if tr, err := n.File(ctx, id); !errors.Is(err, ErrUnknownFile) {
		t.Errorf("%s: file %s still known: %+v %v", n.addr.Short(), id[:8], tr, err)
	}
	list, err := n.Files(ctx, FileQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range list {
		if tr.ID == id {
			t.Errorf("%s: Files still lists %s (%s)", n.addr.Short(), id[:8], tr.State)
		}
	}
	if _, err := n.Thumbnail(ctx, id); !errors.Is(err, ErrUnknownFile) {
		t.Errorf("%s: thumbnail of %s: %v", n.addr.Short(), id[:8], err)
	}
	waitUntil(t, 10*time.Second, "the chunk file removed", func() bool {
		_, err := os.Stat(path)
		return errors.Is(err, os.ErrNotExist)
	})
}

func exists(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the chunk file is not there before the deletion (the check could not fail): %v", err)
	}
}

// TestFileErasedWithMessageMem: deleting a file's message deletes the
// file — its row (key, thumbnail) and chunk file — on each side that
// erases the message, and a transfer still running stops on both sides.
func TestFileErasedWithMessageMem(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	slow := fastTuning()
	slow.filePace = 2 * time.Millisecond
	alice := startMemTuned(t, mem, newProfile(t, "alice"), slow)
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	ctx := t.Context()
	dir := t.TempDir()

	t.Run("ForEveryoneCompleted", func(t *testing.T) {
		m, err := alice.SendFile(ctx, bob.Address(), testPNG(t, dir), "a photo")
		if err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, memWait, "completed at bob", isFileState(m.ID, FileCompleted))
		alice.waitFor(t, memWait, "completed at alice", isFileState(m.ID, FileCompleted))
		pa, pb := chunkFile(t, alice, m.ID), chunkFile(t, bob, m.ID)
		exists(t, pa)
		exists(t, pb)
		if th, err := bob.Thumbnail(ctx, m.ID); err != nil || len(th.Data) == 0 {
			t.Fatalf("no thumbnail before the deletion (the check could not fail): %v", err)
		}
		if err := alice.Delete(ctx, bob.Address(), m.ID, true); err != nil {
			t.Fatal(err)
		}
		bob.changed(t, memWait, m.ID, ChangeDeleted)
		for _, side := range []struct {
			n    *tnode
			ref  string
			path string
		}{{alice, bob.Address(), pa}, {bob, alice.Address(), pb}} {
			fileGone(t, side.n, m.ID, side.path)
			h, ok := historyMsg(t, side.n, side.ref, m.ID)
			if !ok || !h.Deleted || h.File != nil || h.Text != "" {
				t.Errorf("%s: tombstone %+v %+v", side.n.addr.Short(), h, h.File)
			}
		}
	})

	// Bob deletes for himself a file still coming: his copy goes, Alice's
	// transfer ends "cancelled by b" (her message stays) and she stops
	// sending.
	t.Run("ForMeReceiving", func(t *testing.T) {
		path, _ := writeRandom(t, dir, "slow.bin", 400*wire.ChunkSize)
		m, err := alice.SendFile(ctx, bob.Address(), path, "")
		if err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, memWait, "offer", fileMessage(m.ID))
		if _, err := bob.AcceptFile(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, memWait, "some progress", func(e Event) bool {
			p, ok := e.(FileProgressEvent)
			return ok && p.ID == m.ID && p.Bytes > 20*wire.ChunkSize
		})
		pa, pb := chunkFile(t, alice, m.ID), chunkFile(t, bob, m.ID)
		exists(t, pb)
		if err := bob.Delete(ctx, alice.Address(), m.ID, false); err != nil {
			t.Fatal(err)
		}
		fileGone(t, bob, m.ID, pb)
		ev := alice.waitFor(t, memWait, "cancelled at alice", isFileState(m.ID, FileCancelled)).(FileStateEvent)
		if !strings.HasPrefix(ev.Transfer.Error, "cancelled by ") || ev.Transfer.Bytes >= ev.Transfer.Size {
			t.Errorf("alice's transfer: %+v", ev.Transfer)
		}
		waitUntil(t, 10*time.Second, "alice's chunk file removed", func() bool {
			_, err := os.Stat(pa)
			return errors.Is(err, os.ErrNotExist)
		})
		if _, ok := historyMsg(t, alice, bob.Address(), m.ID); !ok {
			t.Error("alice's message went too")
		}
	})

	// Alice deletes for herself a file still going out: Bob's transfer ends
	// cancelled and his partial copy is deleted.
	t.Run("ForMeSending", func(t *testing.T) {
		path, _ := writeRandom(t, dir, "slow2.bin", 400*wire.ChunkSize)
		m, err := alice.SendFile(ctx, bob.Address(), path, "")
		if err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, memWait, "offer", fileMessage(m.ID))
		if _, err := bob.AcceptFile(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, memWait, "some progress", func(e Event) bool {
			p, ok := e.(FileProgressEvent)
			return ok && p.ID == m.ID && p.Bytes > 20*wire.ChunkSize
		})
		pa, pb := chunkFile(t, alice, m.ID), chunkFile(t, bob, m.ID)
		exists(t, pa)
		if err := alice.Delete(ctx, bob.Address(), m.ID, false); err != nil {
			t.Fatal(err)
		}
		fileGone(t, alice, m.ID, pa)
		ev := bob.waitFor(t, memWait, "cancelled at bob", isFileState(m.ID, FileCancelled)).(FileStateEvent)
		if !strings.HasPrefix(ev.Transfer.Error, "cancelled by ") {
			t.Errorf("bob's transfer: %+v", ev.Transfer)
		}
		waitUntil(t, 10*time.Second, "bob's partial chunk file removed", func() bool {
			_, err := os.Stat(pb)
			return errors.Is(err, os.ErrNotExist)
		})
	})
}

// TestFileDisappearsMem: a file sent while the conversation's timer is on
// carries it like a chat message: on the sender's side it disappears the
// timer after sending, on the receiver's the timer after reading; the
// file goes with the message on both sides.
func TestFileDisappearsMem(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	ctx := t.Context()
	const timer = 4 * time.Second
	for _, n := range []*tnode{alice, bob} {
		n.testTimers = []time.Duration{timer}
	}
	notice, err := alice.SetTimer(ctx, bob.Address(), timer)
	if err != nil {
		t.Fatal(err)
	}
	bob.receivedMsg(t, memWait, notice.ID)

	m, err := alice.SendFile(ctx, bob.Address(), testPNG(t, t.TempDir()), "gone soon")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(m.Timer) != timer || m.Disappears.IsZero() || m.File == nil {
		t.Fatalf("as sent: %+v", m)
	}
	pa := chunkFile(t, alice, m.ID)
	got := bob.waitFor(t, memWait, "the offer", fileMessage(m.ID)).(MessageEvent).Message
	if time.Duration(got.Timer) != timer || !got.Disappears.IsZero() {
		t.Fatalf("as received (not read yet): %+v", got)
	}
	pb := chunkFile(t, bob, m.ID)
	bob.waitFor(t, memWait, "completed at bob", isFileState(m.ID, FileCompleted))
	exists(t, pb)
	alice.changed(t, memWait, m.ID, ChangeExpired)
	fileGone(t, alice, m.ID, pa)
	// Bob has not read it: it waits for him, file and all.
	if _, ok := historyMsg(t, bob, alice.Address(), m.ID); !ok {
		t.Fatal("bob's unread file message disappeared")
	}
	if tr, err := bob.File(ctx, m.ID); err != nil || tr.State != FileCompleted {
		t.Fatalf("bob's file before he read it: %+v %v", tr, err)
	}
	exists(t, pb)
	if err := bob.MarkRead(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	bob.changed(t, memWait, m.ID, ChangeExpired)
	fileGone(t, bob, m.ID, pb)
	if _, ok := historyMsg(t, bob, alice.Address(), m.ID); ok {
		t.Error("bob's file message is still in the history")
	}
}

// TestFileOfferSurvivesResetMem: a file offer still queued when its
// sender resets the session (the receiver offline) is encrypted again
// under the new session with its offer — before, only its caption went,
// and the receiver got a text message without the file. The receiver then
// gets the offer, its thumbnail, and the file.
func TestFileOfferSurvivesResetMem(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bobDir := newProfile(t, "bob")
	bob := startMem(t, mem, bobDir)
	befriend(t, alice, bob, memWait)
	ctx := t.Context()
	dir := t.TempDir()
	bob.Close()

	path, data := writeRandom(t, dir, "notes.bin", 5*wire.ChunkSize+3)
	m, err := alice.SendFile(ctx, bob.Address(), path, "the notes")
	if err != nil {
		t.Fatal(err)
	}
	img, err := alice.SendFile(ctx, bob.Address(), testPNG(t, dir), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ResetSession(ctx, bob.Address()); err != nil {
		t.Fatal(err)
	}

	bob = startMem(t, mem, bobDir)
	bob.waitFor(t, memWait, "session notice", isSession(alice.Address(), true))
	got := bob.waitFor(t, memWait, "the offer", func(e Event) bool {
		me, ok := e.(MessageEvent)
		return ok && me.Message.ID == m.ID
	}).(MessageEvent).Message
	if got.File == nil || got.Text != "the notes" || got.File.Name != "notes.bin" || got.File.Size != int64(len(data)) || got.File.State != FileOffered {
		t.Fatalf("bob got %+v with file %+v", got, got.File)
	}
	if _, err := bob.AcceptFile(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "completed at bob", isFileState(m.ID, FileCompleted))
	out, err := bob.SaveFile(ctx, m.ID, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, data) {
		t.Fatal("the saved file differs")
	}
	alice.waitFor(t, memWait, "completed at alice", isFileState(m.ID, FileCompleted))

	// The image: its thumbnail came along; fetched unasked.
	bob.waitFor(t, memWait, "image completed at bob", isFileState(img.ID, FileCompleted))
	want, err := alice.Thumbnail(ctx, img.ID)
	if err != nil || len(want.Data) == 0 {
		t.Fatalf("alice's thumbnail: %v", err)
	}
	th, err := bob.Thumbnail(ctx, img.ID)
	if err != nil || !bytes.Equal(th.Data, want.Data) {
		t.Fatalf("bob's thumbnail: %d bytes, %v (alice's: %d)", len(th.Data), err, len(want.Data))
	}
}
