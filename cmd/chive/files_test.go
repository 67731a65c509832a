package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
)

// CLI file commands against nodetest.Fake behind a real rpc server.

func TestSendFile(t *testing.T) {
	d := startFake(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "report.txt")
	os.WriteFile(p, []byte("the report\n"), 0o600)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)

	// A relative path is made absolute for the daemon.
	r := d.run(t, "send", "bob", "--file", "report.txt", "--caption", "Q1", "--json")
	wantCode(t, r, exitOK)
	var res sendFileResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.File == nil || res.File.Name != "report.txt" || res.File.State != node.FileOffered || res.State != node.Queued {
		t.Fatalf("send --file --json: %q %v", r.stdout, err)
	}
	h, _ := d.f.History(context.Background(), "bob", "", 1)
	if len(h) != 1 || h[0].Text != "Q1" || h[0].File == nil {
		t.Fatalf("history: %+v", h)
	}
	wantCode(t, d.run(t, "send", "bob", "--file", "missing.bin"), exitError)
	wantCode(t, d.run(t, "send", "bob", "--file", dir), exitError)
	wantCode(t, d.run(t, "send", "bob", "text", "--caption", "x"), exitUsage)
	wantCode(t, d.run(t, "send", "bob", "caption", "--file", p, "--caption", "x"), exitUsage)
	wantCode(t, d.run(t, "send", "nobody", "--file", p), exitUnknownPeer)
	wantCode(t, d.run(t, "send", "bob", "hi", "--wait", "completed"), exitUsage)

	// Two files with --wait completed: done when both are.
	q := filepath.Join(dir, "second.txt")
	os.WriteFile(q, []byte("two"), 0o600)
	go func() {
		for range 1000 {
			ts, _ := d.f.Files(context.Background(), node.FileQuery{Active: true, Direction: node.Outgoing})
			if len(ts) == 3 {
				for _, tr := range ts {
					if tr.ID != res.ID {
						d.f.SimFileState(tr.ID, node.FileCompleted, "")
					}
				}
				return
			}
			waitABit()
		}
	}()
	r = d.run(t, "send", "bob", "--file", p, "--file", q, "--wait", "completed")
	wantCode(t, r, exitOK)
	if strings.Count(r.stdout, "completed ") != 2 || !strings.Contains(r.stdout, "(second.txt) to bob") {
		t.Errorf("--wait completed: %s", r.stdout)
	}
	// A refusal ends the wait with an error.
	go func() {
		for range 1000 {
			ts, _ := d.f.Files(context.Background(), node.FileQuery{Active: true, Direction: node.Outgoing})
			for _, tr := range ts {
				if tr.Name == "second.txt" {
					d.f.SimFileState(tr.ID, node.FileFailed, "refused by bob: larger than their limit")
					return
				}
			}
			waitABit()
		}
	}()
	r = d.run(t, "send", "bob", "--file", q, "--wait", "completed")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "second.txt: failed refused by bob: larger than their limit") {
		t.Errorf("refused: %q", r.stderr)
	}
}

func TestFilesCommand(t *testing.T) {
	d := startFake(t)
	in := d.f.SimFile("bob", "talk\x1b[2J.pdf", []byte("%PDF-1.7 slides"), "slides", nil)
	img := d.f.SimFile("bob", "cat.png", []byte("\x89PNG\r\n\x1a\nnot really"), "", []byte("thumb"))

	r := d.run(t, "files")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, in.ID[:8]) || !strings.Contains(r.stdout, "offered") || strings.Contains(r.stdout, "\x1b") ||
		!strings.Contains(r.stdout, "bob offers talk.pdf (15 B): chive files accept "+in.ID[:8]) {
		t.Errorf("files:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "accepted") { // the small image came unasked
		t.Errorf("auto-download not shown:\n%s", r.stdout)
	}
	r = d.run(t, "files", "--json", "--active")
	var ts []node.Transfer
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil || len(ts) != 2 {
		t.Fatalf("files --json: %q %v", r.stdout, err)
	}
	wantCode(t, d.run(t, "files", "accept", in.ID[:6]), exitOK)
	if tr, _ := d.f.File(context.Background(), in.ID); tr.State != node.FileAccepted {
		t.Errorf("after accept: %+v", tr)
	}
	wantCode(t, d.run(t, "files", "pause", in.ID), exitOK)
	wantCode(t, d.run(t, "files", "resume", in.ID), exitOK)
	r = d.run(t, "files", "get", in.ID[:8], "--out", t.TempDir())
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "not complete") {
		t.Errorf("get before completion: %q", r.stderr)
	}
	d.f.SimFileState(in.ID, node.FileCompleted, "")
	out := t.TempDir()
	r = d.run(t, "files", "get", in.ID[:8], "--out", out)
	wantCode(t, r, exitOK)
	if b, _ := os.ReadFile(strings.TrimSpace(r.stdout)); string(b) != "%PDF-1.7 slides" {
		t.Errorf("saved %q", r.stdout)
	}
	wantCode(t, d.run(t, "files", "get", in.ID, "--out", strings.TrimSpace(r.stdout)), exitError) // never overwrites
	wantCode(t, d.run(t, "files", "cancel", img.ID), exitOK)
	wantCode(t, d.run(t, "files", "cancel", img.ID), exitError)
	wantCode(t, d.run(t, "files", "accept", "ffff"), exitError)
	wantCode(t, d.run(t, "files", "accept"), exitUsage)
	wantCode(t, d.run(t, "files", "--contact", "nobody"), exitUnknownPeer)

	// The inbox shows file messages with what to do next.
	r = d.run(t, "inbox")
	if !strings.Contains(r.stdout, "bob: [file talk.pdf, 15 B, completed — chive files get "+in.ID[:8]+"] slides") {
		t.Errorf("inbox:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "bob: [file cat.png, 18 B, cancelled]") {
		t.Errorf("inbox:\n%s", r.stdout)
	}
	r = d.run(t, "inbox", "--json")
	if !strings.Contains(r.stdout, `"file":{"id":"`+in.ID+`"`) {
		t.Errorf("inbox --json: %s", r.stdout)
	}

	// --follow prints state changes.
	ctx, cancel := context.WithCancel(context.Background())
	var o, e syncBuffer
	done := make(chan int)
	go func() {
		done <- runWith(ctx, "", map[string]string{"CHIVE_HOME": d.dir}, &o, &e, "files", "--follow", "--json")
	}()
	// It subscribes before it lists: once the list is out, events follow.
	eventually(t, func() bool { return strings.Contains(o.String(), in.ID) }, "the listed transfers")
	late := d.f.SimFile("bob", "late.bin", []byte{0, 1, 2}, "", nil)
	d.f.SimFileProgress(late.ID, 2)
	eventually(t, func() bool {
		return strings.Contains(o.String(), `"kind":"file.state"`) && strings.Contains(o.String(), late.ID) && strings.Contains(o.String(), `"kind":"file.progress"`)
	}, "followed file events")
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("files --follow exit %d: %s", code, e.String())
	}
}

func waitABit() { time.Sleep(5 * time.Millisecond) }
