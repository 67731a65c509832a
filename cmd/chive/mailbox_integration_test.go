package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chive-im/chive/mailbox"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/wire"
)

// Integration tests of the mailbox (issue 16): real binaries (two daemons
// and "chive mailbox run"), real tor on the private network.

var pairingRE = regexp.MustCompile(`chive:[a-z2-7]{56}\?pair=[a-z2-7]{52}`)

// mailboxProc is a running "chive mailbox run".
type mailboxProc struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

// newMailboxDir runs "chive mailbox init" and returns the dir, address and
// pairing link.
func newMailboxDir(t *testing.T, name string) (dir, addr, link string) {
	t.Helper()
	dir = profileDir(t, name)
	r := cli(t, dir, "", "mailbox", "init", "--dir", dir, "--no-passphrase")
	wantCode(t, r, exitOK)
	link = pairingRE.FindString(r.stdout)
	if link == "" {
		t.Fatalf("mailbox init printed no pairing link:\n%s", r.stdout)
	}
	a, _, err := mailbox.ParsePairingLink(link)
	if err != nil {
		t.Fatal(err)
	}
	return dir, string(a), link
}

func startMailbox(t *testing.T, dir string) *mailboxProc {
	t.Helper()
	cmd := exec.Command(it.bin, "mailbox", "run", "--dir", dir, "--log-level", "debug")
	cmd.Env = cliEnv(dir)
	m := &mailboxProc{t: t, dir: dir, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = m.log, m.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.err = cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		select {
		case <-m.done:
		default:
			cmd.Process.Kill()
			<-m.done
		}
		if t.Failed() {
			t.Logf("mailbox %s log:\n%s", filepath.Base(dir), m.log.String())
		}
	})
	return m
}

// waitReachable waits for the mailbox's onion service to be published
// (since the n-th time it said so).
func (m *mailboxProc) waitReachable(n int) {
	m.t.Helper()
	until(m.t, 3*time.Minute, filepath.Base(m.dir)+" reachable", func() bool {
		select {
		case <-m.done:
			m.t.Fatalf("mailbox exited (%v):\n%s", m.err, m.log.String())
		default:
		}
		return strings.Count(m.log.String(), "mailbox reachable") > n
	})
}

func (m *mailboxProc) kill() {
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
}

// client is an rpc client of a daemon, closed with the test.
func client(t *testing.T, profile string) *rpc.Client {
	t.Helper()
	c, err := rpc.Dial(context.Background(), rpc.SocketPath(profile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// states returns the state of each of ids in profile's conversation with ref.
func states(t *testing.T, c *rpc.Client, ref string, ids []string) map[string]node.MessageState {
	t.Helper()
	h, err := c.History(context.Background(), ref, "", 2000)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string]node.MessageState{}
	for _, m := range h {
		if want[m.ID] {
			out[m.ID] = m.State
		}
	}
	return out
}

func countState(st map[string]node.MessageState, ok ...node.MessageState) int {
	n := 0
	for _, s := range st {
		for _, o := range ok {
			if s == o {
				n++
			}
		}
	}
	return n
}

// received counts a daemon's incoming MessageEvents from addr whose text
// has prefix; it starts counting at once (subscribe before the messages
// can arrive).
type receiver struct {
	mu          chan struct{} // cap 1: a lock usable with select
	texts       []string
	first, last time.Time // arrival of the first and the latest message
}

func receive(t *testing.T, c *rpc.Client, addr, prefix string) *receiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	events, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{mu: make(chan struct{}, 1)}
	go func() {
		for e := range events {
			if m, ok := e.(node.MessageEvent); ok && m.Message.Direction == node.Incoming && m.Message.Address == addr && strings.HasPrefix(m.Message.Text, prefix) {
				r.mu <- struct{}{}
				r.texts = append(r.texts, m.Message.Text)
				if r.first.IsZero() {
					r.first = time.Now()
				}
				r.last = time.Now()
				<-r.mu
			}
		}
	}()
	return r
}

// span is the time from the first message to the latest.
func (r *receiver) span() time.Duration {
	r.mu <- struct{}{}
	defer func() { <-r.mu }()
	return r.last.Sub(r.first)
}

func (r *receiver) count() int {
	r.mu <- struct{}{}
	defer func() { <-r.mu }()
	return len(r.texts)
}

// waitCount waits until n messages arrived, polling often: the time is a
// measurement.
func (r *receiver) waitCount(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for r.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d messages", r.count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inboxTexts is what "chive inbox --json --contact ref" lists with prefix, in order.
func inboxTexts(t *testing.T, profile, ref, prefix string) []string {
	t.Helper()
	r := cli(t, profile, "", "inbox", "--json", "--contact", ref)
	wantCode(t, r, exitOK)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l inboxLine
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Text, prefix) {
			out = append(out, l.Text)
		}
	}
	return out
}

func mtexts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d secret text", prefix, i)
	}
	return out
}

func exactlyInOrder(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d is %q, want %q (order or duplicate)", i, got[i], want[i])
		}
	}
}

// sendMany sends texts through the daemon's API, pausing between them.
func sendMany(t *testing.T, c *rpc.Client, ref string, texts []string, pause time.Duration) []string {
	t.Helper()
	var ids []string
	for _, s := range texts {
		m, err := c.Send(context.Background(), ref, s)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		time.Sleep(pause)
	}
	return ids
}

func mailboxStatusOf(t *testing.T, profile string) node.MailboxStatus {
	t.Helper()
	r := cli(t, profile, "", "mailbox", "status", "--json")
	wantCode(t, r, exitOK)
	var st node.MailboxStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("mailbox status --json: %v: %q", err, r.stdout)
	}
	return st
}

func knowsMailbox(t *testing.T, profile, addr string, want bool) bool {
	for _, c := range mailboxStatusOf(t, profile).Contacts {
		if c.Address == addr {
			return c.HasMailbox == want
		}
	}
	return false
}

// scanFor returns the files under dir holding any of needles.
func scanFor(dir string, needles []string) []string {
	var hits []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				hits = append(hits, fmt.Sprintf("%s holds %q", p, n))
			}
		}
		return nil
	})
	return hits
}

// TestMailbox: Bob's mailbox keeps Alice's messages while both are
// offline, also across kill -9 of the mailbox mid-upload and mid-fetch;
// then Alice's own mailbox carries hers to Bob, who has none. Each time all
// 100 arrive once and in order and Alice learns they were delivered. A
// stranger's upload is refused; the mailboxes' files hold no plaintext and
// not Alice's address. Last, the same 100 directly, for the comparison.
func TestMailbox(t *testing.T) {
	setup(t)
	start := time.Now()
	alice, bob := profileDir(t, "alice"), profileDir(t, "bob")
	var addrs [2]string
	for i, p := range []string{alice, bob} {
		r := cli(t, p, "", "init", "--name", filepath.Base(p), "--no-passphrase")
		wantCode(t, r, exitOK)
		addrs[i] = strings.TrimSpace(r.stdout)
	}
	aliceAddr, bobAddr := addrs[0], addrs[1]
	mbDir, mbAddr, mbLink := newMailboxDir(t, "mboxb")
	r := cli(t, mbDir, "", "mailbox", "status", "--dir", mbDir, "--json")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, `"running":false`) || !strings.Contains(r.stdout, `"paired":false`) || !strings.Contains(r.stdout, mbLink) {
		t.Errorf("status of a new mailbox: %s", r.stdout)
	}

	// Everything starts at once: tor bootstrap is most of the time.
	mb := startMailbox(t, mbDir)
	da, db := startDaemon(t, alice), startDaemon(t, bob)
	mb.waitReachable(0)
	waitReachable(t, alice)
	waitReachable(t, bob)
	wantCode(t, cli(t, alice, "", "contacts", "add", "chive:"+bobAddr, "--name", "bob"), exitOK)
	until(t, 3*time.Minute, "bob to see alice's request", func() bool {
		return cli(t, bob, "", "contacts", "accept", aliceAddr).code == exitOK
	})
	wantCode(t, cli(t, bob, "", "contacts", "rename", aliceAddr, "alice"), exitOK)
	until(t, 3*time.Minute, "alice to see the acceptance", func() bool {
		c, err := client(t, alice).Contact(context.Background(), "bob")
		return err == nil && c.State == node.StateAccepted
	})
	t.Logf("setup (3 tors, befriended) in %s", time.Since(start).Round(time.Second))

	// Bob links his mailbox; Alice learns of it inside the session.
	r = cli(t, bob, "", "mailbox", "link", mbLink)
	wantCode(t, r, exitOK)
	r = cli(t, bob, "", "mailbox", "link", mbLink)
	if r.code == exitOK || !strings.Contains(r.stderr, "already linked") {
		t.Errorf("second link: %d %q", r.code, r.stderr)
	}
	until(t, 3*time.Minute, "alice to learn bob's mailbox", func() bool { return knowsMailbox(t, alice, bobAddr, true) })
	if st := mailboxStatusOf(t, bob); !st.Linked || st.Address != mbAddr || len(st.Contacts) != 1 || !st.Contacts[0].Told {
		t.Errorf("bob's mailbox status: %+v", st)
	}
	r = cli(t, mbDir, "", "mailbox", "status", "--dir", mbDir)
	if !strings.Contains(r.stdout, "running:   yes") || !strings.Contains(r.stdout, "paired:    yes") {
		t.Errorf("mailbox status:\n%s", r.stdout)
	}

	// Phase 1: Bob offline; Alice sends 100 and goes offline; Bob comes
	// online and gets them from his mailbox.
	if err := db.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ca := client(t, alice)
	p1 := mtexts("p1", 100)
	ids := sendMany(t, ca, "bob", p1, 0)
	t0 := time.Now()
	until(t, 4*time.Minute, "all 100 stored in bob's mailbox", func() bool {
		return countState(states(t, ca, "bob", ids), node.Stored) == 100
	})
	t.Logf("phase 1: 100 stored in bob's mailbox %s after sending", time.Since(t0).Round(time.Millisecond))
	if hits := scanFor(mbDir, append(append([]string{}, p1...), aliceAddr, bobAddr)); len(hits) > 0 {
		t.Errorf("the mailbox's files hold plaintext or addresses:\n%s", strings.Join(hits, "\n"))
	}
	var st mailboxStatusJSON
	r = cli(t, mbDir, "", "mailbox", "status", "--dir", mbDir, "--json")
	json.Unmarshal([]byte(r.stdout), &st)
	if len(st.Slots) != 1 || st.Slots[0].ToOwner != 100 {
		t.Errorf("mailbox status with 100 stored: %s", r.stdout)
	}
	perItem := st.Bytes / int64(max(st.Items, 1))
	dbSize := fileSizes(mbDir, "mailbox.db")
	if err := da.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	bobOnline := time.Now()
	db = startDaemon(t, bob)
	cb := client(t, bob)
	rb := receive(t, cb, aliceAddr, "p1-")
	rb.waitCount(t, 100, 4*time.Minute)
	viaMailbox, spanMailbox := time.Since(bobOnline), rb.span()
	t.Logf("phase 1: bob online → 100 shown via his mailbox in %s (first → last %s)", viaMailbox.Round(time.Millisecond), spanMailbox.Round(time.Millisecond))
	exactlyInOrder(t, inboxTexts(t, bob, "alice", "p1-"), p1)
	if err := db.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	da = startDaemon(t, alice)
	ca = client(t, alice)
	until(t, 4*time.Minute, "alice to learn all 100 were delivered", func() bool {
		return countState(states(t, ca, "bob", ids), node.Delivered, node.Read) == 100
	})
	r = cli(t, alice, "", "inbox", "--outgoing", "--contact", "bob")
	if !strings.Contains(r.stdout, "→ bob: p1-099 secret text [delivered]") {
		t.Errorf("inbox --outgoing:\n%s", r.stdout)
	}
	t.Logf("phase 1 done at %s", time.Since(start).Round(time.Second))

	// Phase 2: the same across kill -9 of the mailbox, mid-upload and mid-fetch.
	p2 := mtexts("p2", 200)
	var ids2 []string
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		ids2 = sendMany(t, ca, "bob", p2, 50*time.Millisecond)
	}()
	// Bob is offline: once the first items are stored, kill the mailbox.
	var atKill int
	until(t, 4*time.Minute, "the upload to be under way", func() bool {
		h, _ := ca.History(context.Background(), "bob", "", 300)
		n := 0
		for _, m := range h {
			if strings.HasPrefix(m.Text, "p2-") && m.State == node.Stored {
				n++
			}
		}
		atKill = n
		return n >= 5
	})
	mb.kill()
	t.Logf("phase 2: mailbox killed with %d of 200 stored", atKill)
	mb = startMailbox(t, mbDir)
	<-sent
	until(t, 5*time.Minute, "all 200 stored after the restart", func() bool {
		return countState(states(t, ca, "bob", ids2), node.Stored) == 200
	})
	if atKill >= 200 {
		t.Errorf("the mailbox was killed after the upload, not during it")
	}
	if err := da.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	db = startDaemon(t, bob)
	cb = client(t, bob)
	rb = receive(t, cb, aliceAddr, "p2-")
	// Poll fast: a fetch of 200 takes seconds, and the kill must land in it.
	for deadline := time.Now().Add(4 * time.Minute); rb.count() < 5; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob did not start fetching")
		}
	}
	mb.kill()
	atKill = rb.count()
	t.Logf("phase 2: mailbox killed with %d of 200 fetched", atKill)
	if atKill >= 200 {
		t.Errorf("the mailbox was killed after the fetch, not during it")
	}
	mb = startMailbox(t, mbDir)
	rb.waitCount(t, 200, 5*time.Minute)
	exactlyInOrder(t, inboxTexts(t, bob, "alice", "p2-"), p2)
	if err := db.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	da = startDaemon(t, alice)
	ca = client(t, alice)
	until(t, 5*time.Minute, "alice to learn all 200 were delivered", func() bool {
		return countState(states(t, ca, "bob", ids2), node.Delivered, node.Read) == 200
	})
	t.Logf("phase 2 done at %s", time.Since(start).Round(time.Second))

	// Phase 3: Bob unlinks his mailbox; Alice's own carries her messages.
	db = startDaemon(t, bob)
	waitReachable(t, bob)
	wantCode(t, cli(t, bob, "", "mailbox", "unlink"), exitOK)
	until(t, 3*time.Minute, "alice to learn bob has no mailbox", func() bool { return knowsMailbox(t, alice, bobAddr, false) })
	mb.kill() // unlinked: it has nothing more to do here
	maDir, _, maLink := newMailboxDir(t, "mboxa")
	ma := startMailbox(t, maDir)
	ma.waitReachable(0)
	wantCode(t, cli(t, alice, "", "mailbox", "link", maLink), exitOK)
	until(t, 3*time.Minute, "bob to learn alice's mailbox", func() bool { return knowsMailbox(t, bob, aliceAddr, true) })
	if err := db.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p3 := mtexts("p3", 100)
	ids3 := sendMany(t, ca, "bob", p3, 0)
	r = cli(t, alice, "", "send", "bob", "p3-wait stored", "--wait", "stored", "--timeout", "3m")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "stored") {
		t.Errorf("send --wait stored: %q", r.stdout)
	}
	until(t, 4*time.Minute, "all 100 handed to alice's mailbox", func() bool {
		return countState(states(t, ca, "bob", ids3), node.Stored) == 100
	})
	if hits := scanFor(maDir, append(append([]string{}, p3...), bobAddr)); len(hits) > 0 {
		t.Errorf("alice's mailbox's files hold plaintext or bob's address:\n%s", strings.Join(hits, "\n"))
	}
	strangerRefused(t, maDir)
	if err := da.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	bobOnline = time.Now()
	db = startDaemon(t, bob)
	cb = client(t, bob)
	rb = receive(t, cb, aliceAddr, "p3-")
	rb.waitCount(t, 101, 4*time.Minute)
	viaOwn, spanOwn := time.Since(bobOnline), rb.span()
	t.Logf("phase 3: bob online → 100 shown via alice's mailbox in %s (first → last %s)", viaOwn.Round(time.Millisecond), spanOwn.Round(time.Millisecond))
	exactlyInOrder(t, inboxTexts(t, bob, "alice", "p3-"), append(p3, "p3-wait stored"))
	if err := db.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, alice)
	ca = client(t, alice)
	until(t, 4*time.Minute, "alice to learn all 100 were delivered", func() bool {
		return countState(states(t, ca, "bob", ids3), node.Delivered, node.Read) == 100
	})
	t.Logf("phase 3 done at %s", time.Since(start).Round(time.Second))

	// Baselines, same run: Alice unlinks hers; the same 100 (a) to Bob
	// coming online while Alice is online, (b) with both online.
	wantCode(t, cli(t, alice, "", "mailbox", "unlink"), exitOK)
	p4 := mtexts("p4", 100)
	sendMany(t, ca, "bob", p4, 0)
	bobOnline = time.Now()
	startDaemon(t, bob)
	cb = client(t, bob)
	rb = receive(t, cb, aliceAddr, "p4-")
	rb.waitCount(t, 100, 4*time.Minute)
	directComing, spanComing := time.Since(bobOnline), rb.span()
	waitReachable(t, alice)
	until(t, 3*time.Minute, "alice to see bob online", func() bool {
		c, err := ca.Contact(context.Background(), "bob")
		return err == nil && c.Presence == node.Online
	})
	p5 := mtexts("p5", 100)
	rb5 := receive(t, cb, aliceAddr, "p5-")
	t5 := time.Now()
	sendMany(t, ca, "bob", p5, 0)
	rb5.waitCount(t, 100, 4*time.Minute)
	direct := time.Since(t5)
	exactlyInOrder(t, inboxTexts(t, bob, "alice", "p5-"), p5)
	t.Logf("BENCH bob online → 100 shown: via his mailbox (alice offline) %s, via alice's mailbox (alice offline) %s, directly (alice online) %s; "+
		"ratios %.2f / %.2f",
		viaMailbox.Round(time.Millisecond), viaOwn.Round(time.Millisecond), directComing.Round(time.Millisecond),
		viaMailbox.Seconds()/directComing.Seconds(), viaOwn.Seconds()/directComing.Seconds())
	t.Logf("BENCH first → 100th shown: via his mailbox %s, via alice's %s, direct to bob coming online %s; both online, first sent → 100th shown %s; "+
		"ratios to both-online %.2f / %.2f",
		spanMailbox.Round(time.Millisecond), spanOwn.Round(time.Millisecond), spanComing.Round(time.Millisecond), direct.Round(time.Millisecond),
		spanMailbox.Seconds()/direct.Seconds(), spanOwn.Seconds()/direct.Seconds())
	t.Logf("BENCH bob online → 100 shown via his mailbox / both online, 100 sent → shown: %.2f (bob's start, tor and the mailbox session included)", viaMailbox.Seconds()/direct.Seconds())
	t.Logf("BENCH mailbox storage: %d bytes per item as stored (the padded bucket; +40 bytes of sealing); database files with their WAL after 100 items: %d bytes",
		perItem, dbSize)
	t.Logf("total %s", time.Since(start).Round(time.Second))
}

// fileSizes is the size of a database with its WAL.
func fileSizes(dir, name string) int64 {
	var n int64
	for _, sfx := range []string{"", "-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, name+sfx)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// strangerRefused: someone with the mailbox's address but no token (nor
// the owner's key, nor the pairing secret) cannot open a session, let alone
// upload. A tor of the test's own, on the private network.
func strangerRefused(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := cli(t, dir, "", "mailbox", "status", "--dir", dir, "--json")
	var st mailboxStatusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	addr := onion.Address(st.Address)
	tor, err := onion.Start(ctx, onion.Config{DataDir: filepath.Join(t.TempDir(), "tor"), ExtraTorrc: testnet.Shared(t).ClientTorrc()})
	if err != nil {
		t.Fatal(err)
	}
	defer tor.Close()
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	open := func(what string, f func(*wire.Link) error) error {
		pub, _ := addr.PublicKey()
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		var err error
		for range 10 { // a fresh tor may need a moment for the descriptor
			var conn interface{ Close() error }
			c, derr := tor.Dial(ctx, addr)
			if derr != nil {
				err = derr
				time.Sleep(2 * time.Second)
				continue
			}
			conn = c
			l, herr := wire.Client(ctx, c, key, pub, nil)
			if herr != nil {
				conn.Close()
				return herr
			}
			return f(l)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	token := mailbox.NewSecret()
	err = open("stranger", func(l *wire.Link) error {
		_, err := mailbox.OpenContact(ctx, l, token)
		return err
	})
	if !mailbox.Refused(err, wire.MailboxDenied) {
		t.Errorf("a stranger's token: %v, want refused", err)
	}
	// Nor by sending a put straight away: no session, no Ack.
	err = open("raw put", func(l *wire.Link) error {
		defer l.Close()
		item, _ := mailbox.Pad(mustFrame(t))
		l.Send(&wire.MailboxPut{ID: wire.ID{1}, Item: item})
		m, err := l.Recv(ctx)
		if err == nil {
			return fmt.Errorf("answered a put without a session: %s", m.Type())
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	err = open("owner", func(l *wire.Link) error { _, err := mailbox.OpenOwner(ctx, l); return err })
	if !mailbox.Refused(err, wire.MailboxDenied) {
		t.Errorf("a stranger as the owner: %v, want refused", err)
	}
	err = open("pair", func(l *wire.Link) error { _, err := mailbox.Pair(ctx, l, mailbox.NewSecret()); return err })
	if !mailbox.Refused(err, wire.MailboxPaired) {
		t.Errorf("a stranger pairing: %v, want refused", err)
	}
	if st2 := func() mailboxStatusJSON {
		r := cli(t, dir, "", "mailbox", "status", "--dir", dir, "--json")
		var s mailboxStatusJSON
		json.Unmarshal([]byte(r.stdout), &s)
		return s
	}(); st2.Items != st.Items {
		t.Errorf("the stranger changed what is stored: %d → %d items", st.Items, st2.Items)
	}
}

func mustFrame(t *testing.T) []byte {
	f, err := wire.Marshal(&wire.Message{ID: wire.ID{1}, Ciphertext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
