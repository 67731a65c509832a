package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest/memnet"
)

// Faults in a real profile, through the CLI: one damaged row must not take
// the profile down, and the errors for a missing or damaged key file must
// say what is wrong. The profiles are made by real nodes talking over an
// in-memory network (no Tor needed); the CLI then opens them as a user
// would, without a daemon.

func memStart(mem *memnet.Network) node.StartTransport {
	return func(ctx context.Context, progress func(node.TorStatus)) (node.Transport, error) {
		progress(node.TorStatus{State: node.TorReady, Percent: 100, Summary: "Done"})
		return mem.NewTransport(), nil
	}
}

// chatProfiles makes alice's and bob's profiles (no passphrase) in dir,
// has bob add alice and carol, alice accept, and alice send bob n messages.
// It returns bob's profile, closed.
func chatProfiles(t *testing.T, dir string, n int) (bob string) {
	t.Helper()
	ctx := context.Background()
	mem := memnet.New()
	open := func(name string) *node.Node {
		p := filepath.Join(dir, name)
		if _, err := node.CreateProfileWith(ctx, p, node.ProfileOptions{Name: name, NoPassphrase: true, InsecureFastKDF: true}); err != nil {
			t.Fatal(err)
		}
		nd, err := node.Open(ctx, node.Options{Dir: p, Transport: memStart(mem)})
		if err != nil {
			t.Fatal(err)
		}
		if err := nd.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	a, b := open("alice"), open("bob")
	defer a.Close()
	events, _ := a.Subscribe(ctx)
	if _, err := b.AddContact(ctx, a.Address(), "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddContact(ctx, carolAddr, "carol", "hi carol"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, func(e node.Event) bool { _, ok := e.(node.ContactRequestEvent); return ok })
	if _, err := a.AcceptContact(ctx, b.Address()); err != nil {
		t.Fatal(err)
	}
	if err := a.RenameContact(ctx, b.Address(), "bob"); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := range n {
		m, err := a.Send(ctx, "bob", fmt.Sprintf("message %d", i))
		if err != nil {
			t.Fatal(err)
		}
		last = m.ID
	}
	waitEvent(t, events, func(e node.Event) bool {
		s, ok := e.(node.MessageStateEvent)
		return ok && s.ID == last && s.State == node.Delivered
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "bob")
}

func waitEvent(t *testing.T, ch <-chan node.Event, f func(node.Event) bool) {
	t.Helper()
	timeout := time.After(3 * time.Minute) // a request's proof of work is slow under -race
	for {
		select {
		case e := <-ch:
			if f(e) {
				return
			}
		case <-timeout:
			t.Fatal("timed out waiting for an event")
		}
	}
}

// flipSealed flips one bit in the middle of a sealed column of the row
// where selects it.
func flipSealed(t *testing.T, profile, table, col, where string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(profile, "chive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rowid int64
	var b []byte
	if err := db.QueryRow(`SELECT rowid, `+col+` FROM `+table+` WHERE `+where).Scan(&rowid, &b); err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x04
	if _, err := db.Exec(`UPDATE `+table+` SET `+col+` = ? WHERE rowid = ?`, b, rowid); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedRows: one flipped bit in a message body and one in a contact
// address. status, send, inbox, contacts and contacts show go on (they
// failed with "sealed value failed authentication" before); status counts
// the damage; doctor lists it, --repair moves it aside after a backup.
func TestDamagedRows(t *testing.T) {
	bob := chatProfiles(t, t.TempDir(), 5)
	flipSealed(t, bob, "messages", "body_sealed", "direction = 'in' ORDER BY seq LIMIT 1 OFFSET 2")
	flipSealed(t, bob, "contacts", "address_sealed", "id = (SELECT max(id) FROM contacts)") // carol
	env := map[string]string{"CHIVE_HOME": bob}
	ctx := context.Background()

	r := chive(t, ctx, "", env, "status", "--json")
	wantCode(t, r, exitOK)
	var st node.Status
	json.Unmarshal([]byte(r.stdout), &st)
	if st.Unreadable["messages"] != 1 || st.Unreadable["contacts"] != 1 || st.Contacts != 1 {
		t.Errorf("status: %+v", st)
	}
	r = chive(t, ctx, "", env, "status")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "1 message, 1 contact could not be read") {
		t.Errorf("status:\n%s", r.stdout)
	}

	r = chive(t, ctx, "", env, "inbox")
	wantCode(t, r, exitOK)
	want := []string{"alice: message 0", "alice: message 1", "1 message could not be read", "alice: message 3", "alice: message 4"}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("inbox:\n%s", r.stdout)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("inbox line %d = %q, want …%q", i, lines[i], w)
		}
	}
	r = chive(t, ctx, "", env, "inbox", "--json")
	wantCode(t, r, exitOK)
	if n := strings.Count(r.stdout, "\n"); n != 4 || !strings.Contains(r.stderr, "1 message could not be read") {
		t.Errorf("inbox --json: %d lines\n%s\nstderr: %s", n, r.stdout, r.stderr)
	}

	r = chive(t, ctx, "", env, "contacts")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "alice") || strings.Contains(r.stdout, "carol") {
		t.Errorf("contacts:\n%s", r.stdout)
	}
	wantCode(t, chive(t, ctx, "", env, "contacts", "show", "alice"), exitOK)
	wantCode(t, chive(t, ctx, "", env, "send", "alice", "still here"), exitOK) // queued is a success (issue 12)

	// doctor: lists the two rows, exit 1.
	r = chive(t, ctx, "", env, "doctor", "--json")
	wantCode(t, r, exitError)
	var rep node.DoctorReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r.stdout)
	}
	if rep.OK || len(rep.Unreadable) != 2 || rep.Integrity[0] != "ok" || rep.Checked["messages"] != 6 {
		t.Errorf("doctor report: %+v", rep)
	}
	r = chive(t, ctx, "", env, "doctor", "--repair")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "repaired:    2 moved to quarantine") || !strings.Contains(r.stdout, "backup:") {
		t.Errorf("doctor --repair:\n%s", r.stdout)
	}
	r = chive(t, ctx, "", env, "doctor")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "The profile is healthy.") || !strings.Contains(r.stdout, "quarantine:  2 rows kept aside") {
		t.Errorf("doctor after repair:\n%s", r.stdout)
	}
	r = chive(t, ctx, "", env, "status", "--json")
	st = node.Status{}
	json.Unmarshal([]byte(r.stdout), &st)
	if len(st.Unreadable) != 0 {
		t.Errorf("status after repair: %+v", st)
	}
	r = chive(t, ctx, "", env, "inbox")
	if strings.Count(r.stdout, "\n") != 4 || strings.Contains(r.stdout, "could not be read") {
		t.Errorf("inbox after repair:\n%s", r.stdout)
	}
	ents, _ := os.ReadDir(filepath.Join(bob, "backups"))
	if len(ents) != 1 {
		t.Errorf("backups: %v", ents)
	}
}

// TestKeyFileErrors: a missing key.json does not send the user to
// "chive init" (which refuses: the profile exists), and a damaged one on a
// profile without a passphrase does not say "wrong passphrase".
func TestKeyFileErrors(t *testing.T) {
	bob := chatProfiles(t, t.TempDir(), 1)
	env := map[string]string{"CHIVE_HOME": bob}
	ctx := context.Background()
	key := filepath.Join(bob, "key.json")
	good, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}

	os.WriteFile(key, []byte(strings.Replace(string(good), `"wrapped": "`, `"wrapped": "AAAA`, 1)), 0o600)
	r := chive(t, ctx, "", env, "status")
	wantCode(t, r, exitError)
	if strings.Contains(r.stderr, "passphrase") || !strings.Contains(r.stderr, "key.json) is damaged") {
		t.Errorf("damaged key file: %s", r.stderr)
	}

	os.Remove(key)
	for _, args := range [][]string{{"status"}, {"inbox"}, {"doctor"}} {
		r = chive(t, ctx, "", env, args...)
		wantCode(t, r, exitError)
		if strings.Contains(r.stderr, "chive init --name") || !strings.Contains(r.stderr, "not its key file (key.json)") {
			t.Errorf("%v without key.json: %s", args, r.stderr)
		}
	}
	r = chive(t, ctx, "", env, "init", "--name", "bob", "--no-passphrase")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "already exists") {
		t.Errorf("init over a profile without key.json: %s", r.stderr)
	}
	os.WriteFile(key, good, 0o600)
	wantCode(t, chive(t, ctx, "", env, "status"), exitOK)
}

// TestPeerTextInOutput: text a peer controls (names, greetings, messages)
// reaches the terminal without C1 controls, bidi overrides or zero-width
// characters: removed in text output, escaped (\u009b) in --json output
// (which still decodes to what the peer sent).
func TestPeerTextInOutput(t *testing.T) {
	const evil = "x\u009b31m\u009d0;t\u009c\u202egpj.exe\u200b\u2060\u200e\u061c\ufeff\U000E0041y"
	d := startFake(t)
	d.f.SimContact(node.Contact{Address: carolAddr, Name: "carol" + evil, State: node.StateAccepted, Created: t0})
	d.f.SimRequest(testAddr(9), "", "greeting"+evil)
	d.f.SimMessage(carolAddr, node.Message{Direction: node.Incoming, Text: evil, Time: t0})
	unsafe := func(s string) (rune, bool) {
		for _, r := range s {
			if r == 0x7f || r >= 0x80 && r <= 0x9f || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
				return r, true
			}
		}
		return 0, false
	}
	for _, args := range [][]string{
		{"contacts"}, {"contacts", "--json"}, {"contacts", "show", carolAddr}, {"contacts", "show", carolAddr, "--json"},
		{"inbox"}, {"inbox", "--json"}, {"status", "--json"},
	} {
		r := d.run(t, args...)
		wantCode(t, r, exitOK)
		if c, bad := unsafe(r.stdout + r.stderr); bad {
			t.Errorf("%v prints %U raw:\n%s", args, c, r.stdout)
		}
	}
	r := d.run(t, "inbox", "--json")
	var line inboxLine
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || line.Text != evil {
		t.Errorf("inbox --json decodes to %q (%v)", line.Text, err)
	}
	if !strings.Contains(r.stdout, `\u009b`) {
		t.Errorf("inbox --json: %s", r.stdout)
	}
	// Names with such characters are refused, with a clear error.
	r = d.run(t, "contacts", "rename", carolAddr, "c\u202eb")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "U+202E") {
		t.Errorf("rename: %s", r.stderr)
	}
}
