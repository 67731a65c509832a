package rpc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// exerciseFiles calls every file method through the client (TestEveryMethod
// checks each reached the node).
func exerciseFiles(t *testing.T, c *Client, f *nodetest.Fake) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "notes.txt")
	os.WriteFile(src, []byte("some notes\n"), 0o600)

	m, err := c.SendFile(ctx, "bob", src, "my notes")
	if err != nil || m.File == nil || m.File.State != node.FileOffered || m.File.Name != "notes.txt" || m.File.MediaType != "text/plain" || m.Text != "my notes" {
		t.Fatalf("SendFile = %+v %+v, %v", m, m.File, err)
	}
	in := f.SimFile("bob", "photo.jpg", []byte("not really a jpeg"), "look", []byte("thumb"))
	if tr, err := c.AcceptFile(ctx, in.ID); err != nil || tr.State != node.FileAccepted || tr.Direction != node.Incoming {
		t.Errorf("AcceptFile = %+v, %v", tr, err)
	}
	if tr, err := c.PauseFile(ctx, in.ID); err != nil || tr.State != node.FilePaused {
		t.Errorf("PauseFile = %+v, %v", tr, err)
	}
	if tr, err := c.ResumeFile(ctx, in.ID); err != nil || tr.State != node.FileAccepted {
		t.Errorf("ResumeFile = %+v, %v", tr, err)
	}
	if _, err := c.SaveFile(ctx, in.ID, dir); !errors.Is(err, node.ErrFileNotReady) {
		t.Errorf("SaveFile before completion: %v", err)
	}
	f.SimFileState(in.ID, node.FileCompleted, "")
	p, err := c.SaveFile(ctx, in.ID, dir)
	if b, _ := os.ReadFile(p); err != nil || !bytes.Equal(b, []byte("not really a jpeg")) || filepath.Base(p) != "photo.jpg" {
		t.Errorf("SaveFile = %q, %v", p, err)
	}
	if _, err := c.SaveFile(ctx, in.ID, p); !errors.Is(err, node.ErrFileExists) {
		t.Errorf("SaveFile over a file: %v", err)
	}
	if p, err := c.OpenFile(ctx, in.ID); err != nil || filepath.Base(p) != "photo.jpg" {
		t.Errorf("OpenFile = %q, %v", p, err)
	} else {
		os.RemoveAll(filepath.Dir(p))
	}
	if th, err := c.Thumbnail(ctx, in.ID); err != nil || string(th.Data) != "thumb" {
		t.Errorf("Thumbnail = %+v, %v", th, err)
	}
	ts, err := c.Files(ctx, node.FileQuery{Contact: "bob"})
	if err != nil || len(ts) != 2 {
		t.Errorf("Files = %+v, %v", ts, err)
	}
	if ts, _ := c.Files(ctx, node.FileQuery{Direction: node.Outgoing}); len(ts) != 1 || ts[0].ID != m.ID {
		t.Errorf("Files out = %+v", ts)
	}
	if tr, err := c.CancelFile(ctx, m.ID); err != nil || tr.State != node.FileCancelled {
		t.Errorf("CancelFile = %+v, %v", tr, err)
	}
	if tr, err := c.File(ctx, m.ID); err != nil || tr.State != node.FileCancelled {
		t.Errorf("File = %+v, %v", tr, err)
	}
	if _, err := c.File(ctx, "nope"); !errors.Is(err, node.ErrUnknownFile) {
		t.Errorf("unknown file: %v", err)
	}
	if _, err := c.CancelFile(ctx, m.ID); !errors.Is(err, node.ErrFileState) {
		t.Errorf("cancel twice: %v", err)
	}
	if _, err := c.SendFile(ctx, "nobody", src, ""); !errors.Is(err, node.ErrUnknownContact) {
		t.Errorf("send to nobody: %v", err)
	}
	// The settings carry the file policy.
	s, err := c.Settings(ctx)
	if err != nil || s.MaxFileSize != 1<<30 || s.AutoDownload != 10<<20 || s.FileQuota != 4<<30 {
		t.Errorf("file settings %+v %v", s, err)
	}
}

// TestSettingsPatchFiles: settings.set changes only the file fields given.
func TestSettingsPatchFiles(t *testing.T) {
	f := newFake()
	path, _ := serve(t, f)
	c := dialT(t, path)
	var s node.Settings
	if err := c.Call(context.Background(), "settings.set", map[string]any{"auto_download": -1}, &s); err != nil {
		t.Fatal(err)
	}
	if s.AutoDownload != -1 || s.MaxFileSize != 1<<30 || !s.ReadReceipts {
		t.Errorf("after patch: %+v", s)
	}
}
