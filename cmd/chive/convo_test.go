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

// The conversation commands (issue 17) against the fake daemon; backup and
// restore also on real profiles.

func TestConvoCommands(t *testing.T) {
	d := startFake(t)
	in := d.f.SimReceive("bob", "dinner at 8?")

	r := d.run(t, "reply", "bob", in.ID, "yes,", "see", "you")
	wantCode(t, r, exitOK)
	h, _ := d.f.History(context.Background(), "bob", "", 1)
	mine := h[0]
	if mine.Text != "yes, see you" || mine.ReplyTo == nil || mine.ReplyTo.ID != in.ID || !strings.Contains(r.stdout, mine.ID) {
		t.Fatalf("reply: %+v; stdout %q", mine, r.stdout)
	}
	wantCode(t, d.run(t, "reply", "bob"), exitUsage)
	if r := d.run(t, "reply", "nobody", in.ID, "x"); r.code != exitUnknownPeer {
		t.Fatalf("reply to an unknown contact: %d %s", r.code, r.stderr)
	}
	if r := d.run(t, "reply", "bob", strings.Repeat("0", 32), "x"); r.code != exitError || !strings.Contains(r.stderr, "no such message") {
		t.Fatalf("reply to an unknown message: %d %s", r.code, r.stderr)
	}

	wantCode(t, d.run(t, "react", "bob", in.ID, "👍"), exitOK)
	if h, _ := d.f.History(context.Background(), "bob", "", 5); len(h[1].Reactions) != 1 || h[1].Reactions[0].Emoji != "👍" {
		t.Fatalf("reaction: %+v", h[1].Reactions)
	}
	wantCode(t, d.run(t, "react", "bob", in.ID, "--remove"), exitOK)
	if h, _ := d.f.History(context.Background(), "bob", "", 5); len(h[1].Reactions) != 0 {
		t.Fatalf("reaction after --remove: %+v", h[1].Reactions)
	}
	wantCode(t, d.run(t, "react", "bob", in.ID), exitUsage)

	r = d.run(t, "edit", "bob", mine.ID, "yes, see you at 8", "--json")
	wantCode(t, r, exitOK)
	var edited node.Message
	if err := json.Unmarshal([]byte(r.stdout), &edited); err != nil || edited.Text != "yes, see you at 8" || edited.Edited.IsZero() {
		t.Fatalf("edit --json: %s (%v)", r.stdout, err)
	}
	if r := d.run(t, "edit", "bob", in.ID, "theirs"); r.code != exitError || !strings.Contains(r.stderr, "only its author") {
		t.Fatalf("edit of theirs: %d %s", r.code, r.stderr)
	}
	r = d.run(t, "edits", "bob", mine.ID)
	wantCode(t, r, exitOK)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[0], "yes, see you") {
		t.Fatalf("edits: %q", r.stdout)
	}

	r = d.run(t, "timer", "bob", "1h")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "1h") {
		t.Fatalf("timer: %q", r.stdout)
	}
	if r := d.run(t, "timer", "bob"); !strings.Contains(r.stdout, "disappearing messages with bob: 1h") {
		t.Fatalf("timer shown: %q", r.stdout)
	}
	wantCode(t, d.run(t, "timer", "bob", "3h"), exitUsage)
	wantCode(t, d.run(t, "timer", "bob", "off"), exitOK)

	r = d.run(t, "search", "AT", "8", "--json", "--contact", "bob")
	wantCode(t, r, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], mine.ID) || !strings.Contains(lines[1], in.ID) {
		t.Fatalf("search --json: %q", r.stdout)
	}
	r = d.run(t, "search", "dinner")
	if !strings.Contains(r.stdout, "bob: dinner at 8?") {
		t.Fatalf("search: %q", r.stdout)
	}
	if r := d.run(t, "search", "zebra"); r.code != exitOK || r.stdout != "" || !strings.Contains(r.stderr, "nothing found") {
		t.Fatalf("search for nothing: %+v", r)
	}
	wantCode(t, d.run(t, "search"), exitUsage)

	wantCode(t, d.run(t, "delete", "bob", mine.ID, "--everyone"), exitOK)
	wantCode(t, d.run(t, "delete", "bob", in.ID), exitOK)
	if h, _ := d.f.History(context.Background(), "bob", "", 10); len(h) != 3 || !h[2].Deleted {
		t.Fatalf("after deleting: %+v", h)
	}
}

func TestExport(t *testing.T) {
	d := startFake(t)
	in := d.f.SimReceive("bob", "first\nline")
	d.f.SimReaction("bob", in.ID, "🎉")
	d.f.SimTimer("bob", time.Hour)
	d.f.SimReply("bob", in.ID, "a reply")

	// No terminal to confirm on: refused.
	if r := d.run(t, "export", "bob"); r.code != exitError || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("export without --yes: %+v", r)
	}
	r := d.run(t, "export", "bob", "--yes")
	wantCode(t, r, exitOK)
	for _, want := range []string{"conversation with bob", "bob: first↵line  (🎉 bob)", "bob set disappearing messages to 1h", `bob: a reply  (in reply to "first line")`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("export txt lacks %q:\n%s", want, r.stdout)
		}
	}
	out := filepath.Join(t.TempDir(), "bob.json")
	wantCode(t, d.run(t, "export", "bob", "--yes", "--format", "json", "--out", out), exitOK)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Contact  node.Contact   `json:"contact"`
		Messages []node.Message `json:"messages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Contact.Name != "bob" || len(doc.Messages) != 3 || doc.Messages[0].ID != in.ID {
		t.Fatalf("export json: %s (%v)", b, err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Fatalf("export file mode %v", st.Mode())
	}
	if r := d.run(t, "export", "bob", "--yes", "--out", out); r.code != exitError {
		t.Fatalf("export over a file: %+v", r)
	}
	wantCode(t, d.run(t, "export", "bob", "--format", "html"), exitUsage)
}

// TestBackupRestoreCLI: a real profile backed up without a daemon, under
// its own passphrase and under a separate one, restored into new profiles
// with the same address.
func TestBackupRestoreCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("Argon2id at its real cost several times (seconds)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	writePass := func(name, pass string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	profPass := writePass("pass", "profile passphrase")
	sepPass := writePass("sep", "a separate backup passphrase")
	prof := filepath.Join(dir, "prof")
	r := chive(t, ctx, "", nil, "init", "--name", "alice", "--passphrase-file", profPass, "--profile", prof)
	wantCode(t, r, exitOK)
	addr := strings.TrimSpace(r.stdout)

	b1 := filepath.Join(dir, "b1")
	r = chive(t, ctx, "", nil, "backup", "--out", b1, "--profile", prof, "--passphrase-file", profPass)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "wrote "+b1) {
		t.Fatalf("backup: %q", r.stdout)
	}
	if r := chive(t, ctx, "", nil, "backup", "--out", b1, "--profile", prof, "--passphrase-file", profPass); r.code != exitError || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("backup over a file: %+v", r)
	}
	wrong := writePass("wrong", "not the profile passphrase")
	if r := chive(t, ctx, "", nil, "backup", "--out", filepath.Join(dir, "b0"), "--profile", prof, "--passphrase-file", wrong); r.code != exitError || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("backup with a wrong profile passphrase: %+v", r)
	}
	b2 := filepath.Join(dir, "b2")
	wantCode(t, chive(t, ctx, "", nil, "backup", "--out", b2, "--profile", prof, "--passphrase-file", profPass, "--backup-passphrase-file", sepPass, "--json"), exitOK)

	// Restored under the backup's passphrase (b1: the profile's).
	r1 := filepath.Join(dir, "r1")
	r = chive(t, ctx, "", nil, "restore", b1, "--profile", r1, "--backup-passphrase-file", profPass)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "restored 0 contacts") {
		t.Fatalf("restore: %q", r.stdout)
	}
	r = chive(t, ctx, "", nil, "address", "--profile", r1, "--passphrase-file", profPass)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, addr) {
		t.Fatalf("restored address %q, want %s", r.stdout, addr)
	}
	// b2 needs its own passphrase; the new profile gets another.
	r2 := filepath.Join(dir, "r2")
	if r := chive(t, ctx, "", nil, "restore", b2, "--profile", r2, "--backup-passphrase-file", profPass); r.code != exitError || !strings.Contains(r.stderr, "wrong backup passphrase") {
		t.Fatalf("restore with the wrong passphrase: %+v", r)
	}
	newPass := writePass("new", "the new machine passphrase")
	wantCode(t, chive(t, ctx, "", nil, "restore", b2, "--profile", r2, "--backup-passphrase-file", sepPass, "--passphrase-file", newPass), exitOK)
	r = chive(t, ctx, "", nil, "address", "--profile", r2, "--passphrase-file", newPass)
	if r.code != exitOK || !strings.Contains(r.stdout, addr) {
		t.Fatalf("second restored profile: %+v", r)
	}
	if r := chive(t, ctx, "", nil, "restore", b2, "--profile", r2, "--backup-passphrase-file", sepPass); r.code != exitError || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("restore over a profile: %+v", r)
	}
}

func TestBackupThroughDaemon(t *testing.T) {
	d := startFake(t)
	pass := filepath.Join(t.TempDir(), "p")
	if err := os.WriteFile(pass, []byte("long enough passphrase"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := "relative.backup"
	r := d.run(t, "backup", "--out", out, "--backup-passphrase-file", pass, "--json")
	wantCode(t, r, exitOK)
	var info node.BackupInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || !filepath.IsAbs(info.Path) || filepath.Base(info.Path) != out {
		t.Fatalf("backup through the daemon: %s (%v): the daemon needs an absolute path", r.stdout, err)
	}
	wantCode(t, d.run(t, "backup"), exitUsage)
}
