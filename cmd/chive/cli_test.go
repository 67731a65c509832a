package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"rsc.io/qr"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
	"github.com/chive-im/chive/node/rpc"
	"github.com/chive-im/chive/onion"
)

// Unit tests of the commands against nodetest.Fake served by a real rpc
// server on the profile's socket, as a daemon would. The real daemon and
// node are tested in integration_test.go.

func testAddr(seed byte) string {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	return string(onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey)))
}

var (
	aliceAddr = testAddr(1)
	bobAddr   = testAddr(2)
	carolAddr = testAddr(3)
	t0        = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeDaemon serves a Fake on a fresh profile directory's socket.
type fakeDaemon struct {
	dir string
	f   *nodetest.Fake
}

func startFake(t *testing.T) *fakeDaemon {
	t.Helper()
	// Short path: Unix socket paths are limited to ~108 bytes.
	dir, err := os.MkdirTemp("", "chive-cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := nodetest.New("alice", aliceAddr)
	f.Now = func() time.Time { return t0 }
	f.SimTor(node.TorStatus{State: node.TorReady, Percent: 100, Summary: "Done"})
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted, Presence: node.Online, Created: t0})
	ln, err := rpc.Listen(rpc.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(f, nil)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &fakeDaemon{dir: dir, f: f}
}

type result struct {
	code           int
	stdout, stderr string
}

// chive runs the CLI in-process with the given stdin and environment.
func chive(t *testing.T, ctx context.Context, stdin string, envv map[string]string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	code := runWith(ctx, stdin, envv, &out, &errb, args...)
	return result{code, out.String(), errb.String()}
}

func runWith(ctx context.Context, stdin string, envv map[string]string, out, errb *syncBuffer, args ...string) int {
	getenv := func(k string) string { return envv[k] }
	return run(ctx, args, &env{stdin: strings.NewReader(stdin), stdout: out, stderr: errb, getenv: getenv})
}

func (d *fakeDaemon) run(t *testing.T, args ...string) result {
	t.Helper()
	return chive(t, context.Background(), "", map[string]string{"CHIVE_HOME": d.dir}, args...)
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

// deliverLater waits for the queued message to bob with the given text and
// walks it through the given states, as the network would.
func (d *fakeDaemon) deliverLater(t *testing.T, text string, states ...node.MessageState) {
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			h, _ := d.f.History(context.Background(), "bob", "", 1)
			if len(h) == 1 && h[0].Text == text && h[0].State == node.Queued {
				for _, st := range states {
					time.Sleep(10 * time.Millisecond)
					errText := ""
					if st == node.Failed {
						errText = "gave up after 3 days"
					}
					d.f.SimState(h[0].ID, st, errText)
				}
				return
			}
		}
	}()
}

func TestSend(t *testing.T) {
	d := startFake(t)

	r := d.run(t, "send", "bob", "hello", "bob")
	wantCode(t, r, exitQueued)
	if !strings.Contains(r.stdout, "queued") {
		t.Errorf("stdout %q", r.stdout)
	}
	h, _ := d.f.History(context.Background(), "bob", "", 1)
	if len(h) != 1 || h[0].Text != "hello bob" {
		t.Fatalf("history %+v", h)
	}

	// Flags after the positionals; delivered → 0 and the latency printed.
	d.deliverLater(t, "are you there?", node.Sent, node.Delivered)
	r = d.run(t, "send", "bob", "are you there?", "--wait", "delivered", "--timeout", "20s")
	wantCode(t, r, exitOK)
	if !strings.HasPrefix(r.stdout, "delivered ") {
		t.Errorf("stdout %q", r.stdout)
	}

	d.deliverLater(t, "x", node.Sent)
	r = d.run(t, "send", "--wait=sent", "--json", "bob", "x")
	wantCode(t, r, exitOK)
	var res sendResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.State != node.Sent || res.Address != bobAddr || len(res.ID) != 32 {
		t.Errorf("--json: %q (%v)", r.stdout, err)
	}

	// Sent is not enough for --wait delivered: times out with 4.
	d.deliverLater(t, "slow", node.Sent)
	r = d.run(t, "send", "bob", "slow", "--wait", "delivered", "--timeout", "300ms")
	wantCode(t, r, exitTimeout)
	if !strings.Contains(r.stderr, "timed out") || !strings.Contains(r.stderr, "stays queued") {
		t.Errorf("stderr %q", r.stderr)
	}

	d.deliverLater(t, "doomed", node.Failed)
	r = d.run(t, "send", "bob", "doomed", "--wait", "delivered")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "gave up after 3 days") {
		t.Errorf("stderr %q", r.stderr)
	}

	// Text from stdin, one trailing newline dropped, inner ones kept.
	r = chive(t, context.Background(), "line one\nline two\n", map[string]string{"CHIVE_HOME": d.dir}, "send", "bob")
	wantCode(t, r, exitQueued)
	h, _ = d.f.History(context.Background(), "bob", "", 1)
	if h[0].Text != "line one\nline two" {
		t.Errorf("stdin text %q", h[0].Text)
	}

	wantCode(t, d.run(t, "send", "nobody", "hi"), exitUnknownPeer)
	wantCode(t, d.run(t, "send", "bob", "hi", "--wait", "soon"), exitUsage)
	wantCode(t, d.run(t, "send"), exitUsage)
	wantCode(t, d.run(t, "send", "bob", "hi", "--bogus"), exitUsage)
	wantCode(t, chive(t, context.Background(), "\n", map[string]string{"CHIVE_HOME": d.dir}, "send", "bob"), exitUsage)

	d.f.SimContact(node.Contact{Address: carolAddr, Name: "carol", State: node.StateRequested})
	r = d.run(t, "send", "carol", "hi")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "accept") {
		t.Errorf("not-accepted error says nothing useful: %q", r.stderr)
	}
}

func TestContacts(t *testing.T) {
	d := startFake(t)
	d.f.SimRequest(carolAddr, "carol", "hi \x1b[2Jit's carol")

	r := d.run(t, "contacts")
	wantCode(t, r, exitOK)
	for _, want := range []string{"NAME", "bob", "accepted", "online", bobAddr, "carol", "pending-incoming", "chive contacts accept carol"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Error("escape sequence from a peer's greeting reached the terminal")
	}
	r = d.run(t, "contacts", "--json")
	wantCode(t, r, exitOK)
	var cs []node.Contact
	if err := json.Unmarshal([]byte(r.stdout), &cs); err != nil || len(cs) != 2 || cs[0].State != node.StatePendingIncoming {
		t.Fatalf("--json: %q %v", r.stdout, err)
	}

	// A stranger's request has no nickname yet: shown as "-", named by address.
	stranger := testAddr(9)
	d.f.SimRequest(stranger, "", "")
	r = d.run(t, "contacts")
	if !strings.Contains(r.stdout, "- asks to be your contact: chive contacts accept "+stranger) {
		t.Errorf("nameless request:\n%s", r.stdout)
	}
	r = d.run(t, "contacts", "accept", stranger)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "chive contacts rename "+stranger+" NAME") {
		t.Errorf("accepting a nameless request: %s", r.stdout)
	}
	wantCode(t, d.run(t, "contacts", "rm", stranger), exitOK)

	wantCode(t, d.run(t, "contacts", "accept", "carol"), exitOK)
	if c, _ := d.f.Contact(context.Background(), "carol"); c.State != node.StateAccepted {
		t.Errorf("after accept: %s", c.State)
	}
	wantCode(t, d.run(t, "contacts", "rename", "carol", "caroline"), exitOK)
	wantCode(t, d.run(t, "contacts", "block", "CAROLINE"), exitOK)
	if c, _ := d.f.Contact(context.Background(), carolAddr); c.State != node.StateBlocked || c.Name != "caroline" {
		t.Errorf("after rename+block: %+v", c)
	}
	r = d.run(t, "contacts", "show", "bob")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "safety number") || !strings.Contains(r.stdout, bobAddr) {
		t.Errorf("show: %s", r.stdout)
	}
	d.f.SimPeerName("bob", "Robert \x1b[31mB.")
	r = d.run(t, "contacts", "show", "bob")
	if !strings.Contains(r.stdout, "calls themself: Robert B.") {
		t.Errorf("show with the peer's own name: %q", r.stdout)
	}
	// unblock: back as before the block, and says so.
	r = d.run(t, "contacts", "unblock", "caroline")
	wantCode(t, r, exitOK)
	if c, _ := d.f.Contact(context.Background(), carolAddr); c.State != node.StateAccepted {
		t.Errorf("after unblock: %s, want accepted", c.State)
	}
	if !strings.Contains(r.stdout, "Unblocked caroline: a contact again") {
		t.Errorf("unblock said: %q", r.stdout)
	}
	r = d.run(t, "contacts", "unblock", "caroline")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "caroline is not blocked (accepted)") {
		t.Errorf("unblocking twice said: %q", r.stdout)
	}
	// Re-adding a contact, or our own address: plain words.
	r = d.run(t, "contacts", "add", carolAddr, "--name", "carol3")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "caroline is already a contact (accepted). Nothing was sent.") {
		t.Errorf("re-add said: %q", r.stdout)
	}
	r = d.run(t, "contacts", "add", aliceAddr, "--name", "me")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "that is your own address") {
		t.Errorf("adding our own address: %q", r.stderr)
	}
	wantCode(t, d.run(t, "contacts", "rm", "caroline", "--keep-history"), exitOK)

	// add: the address is checked with the precise reason; any paste form works.
	dave := testAddr(4)
	r = d.run(t, "contacts", "add", "chive:"+strings.ToUpper(dave), "--name", "dave", "--greeting", "from the meetup")
	wantCode(t, r, exitOK)
	if c, err := d.f.Contact(context.Background(), "dave"); err != nil || c.Address != dave || c.State != node.StateRequested {
		t.Errorf("after add: %+v %v", c, err)
	}
	bad := dave[:10] + "a" + dave[11:]
	if bad == dave {
		bad = dave[:10] + "b" + dave[11:]
	}
	r = d.run(t, "contacts", "add", bad, "--name", "x")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "not a chive address: a character is mistyped") {
		t.Errorf("bad address error: %q", r.stderr)
	}
	wantCode(t, d.run(t, "contacts", "decline", "dave"), exitOK)

	wantCode(t, d.run(t, "contacts", "add", dave), exitUsage)                    // no --name
	wantCode(t, d.run(t, "contacts", "accept"), exitUsage)                       // no contact
	wantCode(t, d.run(t, "contacts", "frobnicate", "bob"), exitUsage)            // no such subcommand
	wantCode(t, d.run(t, "contacts", "accept", "bob", "--name", "x"), exitUsage) // --name is for add
	for _, sub := range []string{"accept", "decline", "block", "unblock", "rm", "show"} {
		wantCode(t, d.run(t, "contacts", sub, "nobody"), exitUnknownPeer)
	}
	wantCode(t, d.run(t, "contacts", "rename", "nobody", "x"), exitUnknownPeer)
}

func TestInbox(t *testing.T) {
	d := startFake(t)
	d.f.SimContact(node.Contact{Address: carolAddr, Name: "carol", State: node.StateAccepted})
	m1 := d.f.SimMessage("bob", node.Message{Direction: node.Incoming, Text: "first\nsecond line", Time: t0})
	d.f.SimMessage("bob", node.Message{Direction: node.Outgoing, Text: "mine", Time: t0.Add(time.Second)})
	m3 := d.f.SimMessage("carol", node.Message{Direction: node.Incoming, Text: "from carol", Time: t0.Add(2 * time.Second)})

	r := d.run(t, "inbox")
	wantCode(t, r, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "bob: first↵second line") || !strings.HasSuffix(lines[1], "carol: from carol") {
		t.Errorf("inbox:\n%s", r.stdout)
	}

	r = d.run(t, "inbox", "--json", "--contact", "carol")
	wantCode(t, r, exitOK)
	var l inboxLine
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || l.ID != m3.ID || l.Contact != "carol" || l.Address != carolAddr || l.Text != "from carol" || l.Seq != m3.Seq {
		t.Errorf("--json: %q %v", r.stdout, err)
	}
	var generic map[string]any
	json.Unmarshal([]byte(r.stdout), &generic)
	for _, k := range []string{"id", "contact", "address", "time", "text"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("JSON line lacks %q", k)
		}
	}

	r = d.run(t, "inbox", "--json", "--after", "1")
	if strings.Contains(r.stdout, m1.ID) || !strings.Contains(r.stdout, m3.ID) {
		t.Errorf("--after: %s", r.stdout)
	}
	wantCode(t, d.run(t, "inbox", "--contact", "nobody"), exitUnknownPeer)
	wantCode(t, d.run(t, "inbox", "bob"), exitUsage)

	// --follow: the backlog, then new messages as they arrive.
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- runWith(ctx, "", map[string]string{"CHIVE_HOME": d.dir}, &out, &errb, "inbox", "--follow", "--json", "--contact", "bob")
	}()
	eventually(t, func() bool { return strings.Contains(out.String(), m1.ID) }, "backlog")
	waitSubscribed(t, d.f)
	d.f.SimReceive("carol", "not for this follower")
	m4 := d.f.SimReceive("bob", "new one")
	eventually(t, func() bool { return strings.Contains(out.String(), m4.ID) }, "followed message")
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("inbox --follow exit %d: %s", code, errb.String())
	}
	if got := strings.Count(out.String(), "\n"); got != 2 || strings.Contains(out.String(), "not for this follower") {
		t.Errorf("follow output:\n%s", out.String())
	}
}

// TestSessionReset: "contacts reset" asks for a new session, and "inbox
// --follow" shows a contact's new session among the messages.
func TestSessionReset(t *testing.T) {
	d := startFake(t)
	r := d.run(t, "contacts", "reset", "bob")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "Asked bob for a new session") || d.f.Called("ResetSession") != 1 {
		t.Errorf("reset: %q, %d ResetSession calls", r.stdout, d.f.Called("ResetSession"))
	}
	wantCode(t, d.run(t, "contacts", "reset", "nobody"), exitUnknownPeer)

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- runWith(ctx, "", map[string]string{"CHIVE_HOME": d.dir}, &out, &errb, "inbox", "--follow")
	}()
	waitSubscribed(t, d.f)
	d.f.SimSession("bob", true, true)
	eventually(t, func() bool {
		return strings.Contains(out.String(), "-- bob started a new session: the safety number changed")
	}, "session notice")
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("inbox --follow exit %d: %s", code, errb.String())
	}
}

// waitSubscribed waits until the fake has a subscriber (Subscribe was called).
func waitSubscribed(t *testing.T, f *nodetest.Fake) {
	t.Helper()
	eventually(t, func() bool { return f.Called("Subscribe") > 0 }, "subscription")
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestStatusAndAddress(t *testing.T) {
	d := startFake(t)
	r := d.run(t, "status")
	wantCode(t, r, exitOK)
	for _, want := range []string{aliceAddr, "daemon:    running", "ready 100%", "1 online", "outbox:    0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	r = d.run(t, "status", "--json")
	var st node.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Daemon || st.Address != aliceAddr || st.Tor.State != node.TorReady {
		t.Errorf("status --json: %q %v", r.stdout, err)
	}

	r = d.run(t, "address")
	wantCode(t, r, exitOK)
	if r.stdout != aliceAddr+"\nchive:"+aliceAddr+"\n" {
		t.Errorf("address: %q", r.stdout)
	}
	r = d.run(t, "address", "--json")
	var ai rpc.AddressInfo
	if json.Unmarshal([]byte(r.stdout), &ai); ai.URI != "chive:"+aliceAddr || ai.Name != "alice" {
		t.Errorf("address --json: %q", r.stdout)
	}
	r = d.run(t, "address", "--qr")
	wantCode(t, r, exitOK)
	qrText := strings.SplitN(r.stdout, "\n", 3)[2]
	checkQR(t, qrText, "chive:"+aliceAddr)
}

// checkQR reads the half-block drawing back into modules and compares it
// with the encoder's matrix: the drawing is the code, quiet zone included.
func checkQR(t *testing.T, drawing, text string) {
	t.Helper()
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	const quiet = 2
	n := code.Size + 2*quiet
	lines := strings.Split(strings.TrimSuffix(drawing, "\n"), "\n")
	if len(lines) != (n+1)/2 {
		t.Fatalf("QR has %d lines, want %d", len(lines), (n+1)/2)
	}
	for row, line := range lines {
		runes := []rune(line)
		if len(runes) != n {
			t.Fatalf("QR line %d has %d columns, want %d", row, len(runes), n)
		}
		for x, r := range runes {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for i, light := range []bool{top, bottom} {
				y := 2*row + i
				if y >= n {
					continue
				}
				mx, my := x-quiet, y-quiet
				want := mx < 0 || my < 0 || mx >= code.Size || my >= code.Size || !code.Black(mx, my)
				if light != want {
					t.Fatalf("QR module (%d,%d): light=%v, want %v", mx, my, light, want)
				}
			}
		}
	}
}

func TestNoProfile(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"status"}, {"send", "bob", "hi"}, {"inbox"}, {"contacts"}, {"address"}, {"daemon"}} {
		r := chive(t, context.Background(), "", nil, append(args, "--profile", filepath.Join(dir, "none"))...)
		wantCode(t, r, exitNoDaemon)
		if !strings.Contains(r.stderr, "chive init --name") {
			t.Errorf("%v: no hint how to create a profile: %q", args, r.stderr)
		}
	}
}

func TestPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pass")
	os.WriteFile(p, []byte("correct horse\n"), 0o644)
	if _, err := readPassphraseFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable passphrase file: %v", err)
	}
	r := chive(t, context.Background(), "", nil, "init", "--name", "a", "--passphrase-file", p, "--profile", filepath.Join(dir, "prof"))
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "readable by other users") {
		t.Errorf("init with a 0644 passphrase file: %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "prof")); err == nil {
		t.Error("init created a profile anyway")
	}
	os.Chmod(p, 0o600)
	b, err := readPassphraseFile(p)
	if err != nil || string(b) != "correct horse" {
		t.Errorf("read %q, %v", b, err)
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := readPassphraseFile(p); err == nil {
		t.Error("empty passphrase accepted")
	}

	// Not a file at all: no advice to chmod a device.
	for _, path := range []string{"/dev/null", dir} {
		_, err := readPassphraseFile(path)
		if err == nil || strings.Contains(err.Error(), "chmod 600 "+path) || !strings.Contains(err.Error(), path) {
			t.Errorf("passphrase file %s: %v", path, err)
		}
	}
	r = chive(t, context.Background(), "", nil, "init", "--name", "a", "--passphrase-file", "/dev/null", "--profile", filepath.Join(dir, "prof"))
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "not a file") {
		t.Errorf("init --passphrase-file /dev/null: %q", r.stderr)
	}
	// Too short: refused before anything is created.
	os.WriteFile(p, []byte("abc\n"), 0o600)
	r = chive(t, context.Background(), "", nil, "init", "--name", "a", "--passphrase-file", p, "--profile", filepath.Join(dir, "prof"))
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "too short (3 characters)") {
		t.Errorf("init with a 3-character passphrase: %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "prof")); err == nil {
		t.Error("init created a profile with a 3-character passphrase")
	}

	wantCode(t, chive(t, context.Background(), "", nil, "init", "--profile", dir), exitUsage)                // no --name
	wantCode(t, chive(t, context.Background(), "", nil, "init", "--name", "a", "--profile", dir), exitUsage) // no terminal, no flag
	wantCode(t, chive(t, context.Background(), "", nil, "init", "--name", "a", "--no-passphrase", "--passphrase-file", p, "--profile", dir), exitUsage)
}

func TestHelp(t *testing.T) {
	r := chive(t, context.Background(), "", nil, "help")
	wantCode(t, r, exitOK)
	for _, want := range []string{"init", "daemon", "address", "contacts", "send", "inbox", "status", "Exit codes", "3  send", "4  send --wait", "5  unknown contact"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, cmd := range []string{"init", "daemon", "address", "contacts", "send", "inbox", "status"} {
		r := chive(t, context.Background(), "", nil, cmd, "-h")
		wantCode(t, r, exitOK)
		if !strings.Contains(r.stderr, "Usage:") || !strings.Contains(r.stderr, "-profile") {
			t.Errorf("%s -h: %q", cmd, r.stderr)
		}
	}
}

// TestOneLine: what the CLI prints of a peer's text is safetext's, on one
// line per message.
func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"a\nb":                  "a↵b",
		"a\r\nb":                "a↵b",
		"\x1b[31mred\x1b[0m":    "red",
		"tab\there":             "tab    here",
		"bell\a\u0085c1":        "bellc1",
		"bidi \u202eevil\u2066": "bidi evil",
		"emoji ☕ ok":            "emoji ☕ ok",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// On a terminal each QR row is forced to white on black, so it scans on a
// light background too; the modules are the same.
func TestQRColour(t *testing.T) {
	var plain, colour strings.Builder
	if err := writeQR(&plain, "chive:"+aliceAddr, false); err != nil {
		t.Fatal(err)
	}
	if err := writeQR(&colour, "chive:"+aliceAddr, true); err != nil {
		t.Fatal(err)
	}
	checkQR(t, plain.String(), "chive:"+aliceAddr)
	pl := strings.Split(strings.TrimSuffix(plain.String(), "\n"), "\n")
	cl := strings.Split(strings.TrimSuffix(colour.String(), "\n"), "\n")
	if len(pl) != len(cl) {
		t.Fatalf("%d rows plain, %d in colour", len(pl), len(cl))
	}
	for i := range cl {
		if cl[i] != "\x1b[97;40m"+pl[i]+"\x1b[0m" {
			t.Fatalf("row %d: %q", i, cl[i])
		}
	}
}
