package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
	"github.com/chive-im/chive/onion/testnet"
)

// Integration tests: the real chive binary, real daemons, real tor on a
// private Tor network (onion/testnet), talking through the CLI as a user
// would. Skipped with -short.

var it struct {
	once   sync.Once
	err    error
	bin    string // the chive binary
	tmp    string // holds the binary
	netDir string // the shared test network's directory, for --tor-testnet
}

func TestMain(m *testing.M) {
	code := testnet.Main(m)
	if it.tmp != "" {
		os.RemoveAll(it.tmp)
	}
	os.Exit(code)
}

// setup builds the binary once and points the CLI at the package's shared
// test network.
func setup(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test on a private Tor network; skipped with -short")
	}
	it.netDir = testnet.Shared(t).Dir()
	it.once.Do(func() {
		start := time.Now()
		defer func() {
			t.Logf("setup: test network up in %s, build took %s",
				testnet.SharedStartup().Round(time.Second), time.Since(start).Round(time.Second))
		}()
		it.tmp, it.err = os.MkdirTemp("", "chive-it")
		if it.err != nil {
			return
		}
		it.bin = filepath.Join(it.tmp, "chive")
		build := exec.Command("go", "build", "-o", it.bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			it.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if it.err != nil {
		t.Fatalf("integration setup: %v", it.err)
	}
	start := time.Now()
	t.Cleanup(func() { t.Logf("%s took %s (after setup)", t.Name(), time.Since(start).Round(time.Second)) })
}

// profileDir returns a fresh short directory for a profile (Unix socket
// paths are limited to about 108 bytes, t.TempDir's can be longer).
func profileDir(t *testing.T, name string) string {
	t.Helper()
	d, err := os.MkdirTemp("", "chive-"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, name)
}

func cliEnv(profile string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHIVE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "CHIVE_HOME="+profile, "CHIVE_TOR_TESTNET="+it.netDir)
	return append(env, extra...)
}

// cli runs the binary to completion.
func cli(t *testing.T, profile string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, it.bin, args...)
	cmd.Env = cliEnv(profile)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chive %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// daemonProc is a running "chive daemon".
type daemonProc struct {
	t       *testing.T
	profile string
	cmd     *exec.Cmd
	log     *syncBuffer
	done    chan struct{}
	err     error
}

func startDaemon(t *testing.T, profile string, extraEnv ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(it.bin, "daemon", "--log-level", "debug")
	cmd.Env = cliEnv(profile, extraEnv...)
	d := &daemonProc{t: t, profile: profile, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", filepath.Base(profile), d.log.String())
		}
	})
	// The socket appears once the profile is unlocked (Argon2id: seconds on a busy machine).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := rpc.Dial(context.Background(), rpc.SocketPath(profile)); err == nil {
			c.Close()
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited early (%v):\n%s", d.err, d.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon socket did not appear:\n%s", d.log.String())
		}
	}
}

// stop sends sig and waits for the daemon to exit.
func (d *daemonProc) stop(sig syscall.Signal) error {
	d.t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
		return d.err
	case <-time.After(60 * time.Second):
		d.t.Fatalf("daemon did not exit within 60s of %v:\n%s", sig, d.log.String())
		return nil
	}
}

// status asks the daemon (or the profile) for its status.
func statusOf(t *testing.T, profile string) node.Status {
	t.Helper()
	r := cli(t, profile, "", "status", "--json")
	wantCode(t, r, exitOK)
	var st node.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json: %v: %q", err, r.stdout)
	}
	return st
}

// until polls cond every half second for up to d.
func until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitReachable(t *testing.T, profile string) {
	t.Helper()
	until(t, 3*time.Minute, filepath.Base(profile)+" reachable", func() bool { return statusOf(t, profile).Reachable })
}

// torProcessesFor lists tor processes whose command line mentions dir.
func torProcessesFor(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cl := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		if strings.Contains(cl, "tor") && strings.Contains(cl, dir) && !strings.Contains(cl, "chive daemon") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestDaemonLifecycle: init with a passphrase file, the daemon's socket,
// a second daemon refused, bad requests over the socket, clean shutdown.
func TestDaemonLifecycle(t *testing.T) {
	setup(t)
	alice := profileDir(t, "alice")
	pass := filepath.Join(filepath.Dir(alice), "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o640)

	r := cli(t, alice, "", "init", "--name", "alice", "--passphrase-file", pass)
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("group-readable passphrase file: %q", r.stderr)
	}
	os.Chmod(pass, 0o600)
	r = cli(t, alice, "", "init", "--name", "alice", "--passphrase-file", pass)
	wantCode(t, r, exitOK)
	addr := strings.TrimSpace(r.stdout)
	if len(addr) != 56 {
		t.Fatalf("init printed %q", r.stdout)
	}
	wantCode(t, cli(t, alice, "", "init", "--name", "again", "--passphrase-file", pass), exitError)

	// Without a daemon: no passphrase, no terminal → a clear error.
	r = cli(t, alice, "", "status")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "--passphrase-file") {
		t.Errorf("locked profile without passphrase: %q", r.stderr)
	}
	wrong := filepath.Join(filepath.Dir(alice), "wrong")
	os.WriteFile(wrong, []byte("nope"), 0o600)
	d0 := exec.Command(it.bin, "daemon")
	d0.Env = cliEnv(alice, "CHIVE_PASSPHRASE_FILE="+wrong)
	out, err := d0.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "wrong passphrase") {
		t.Errorf("daemon with a wrong passphrase: %v %q", err, out)
	}

	d := startDaemon(t, alice, "CHIVE_PASSPHRASE_FILE="+pass)
	fi, err := os.Stat(rpc.SocketPath(alice))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket: %v %v", fi.Mode(), err)
	}

	// A second daemon is refused, naming the first one's pid.
	d2 := exec.Command(it.bin, "daemon")
	d2.Env = cliEnv(alice, "CHIVE_PASSPHRASE_FILE="+pass)
	out, err = d2.CombinedOutput()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Errorf("second daemon: %v", err)
	}
	if want := fmt.Sprintf("already running on the profile in %s (pid %d)", alice, d.cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Errorf("second daemon said %q, want %q", out, want)
	}
	if _, err := os.Stat(rpc.SocketPath(alice)); err != nil {
		t.Errorf("second daemon removed the first one's socket: %v", err)
	}

	// Commands now go through the daemon: no passphrase needed.
	st := statusOf(t, alice)
	if !st.Daemon || st.Address != addr || st.Name != "alice" {
		t.Errorf("status through the daemon: %+v", st)
	}

	// Malformed and oversized requests get errors; the daemon lives on.
	nc, err := net.Dial("unix", rpc.SocketPath(alice))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.Write([]byte("{\"jsonrpc\":\"2.0\",\"id\":1,\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}\n"))
	var replies string // requests run concurrently: replies in any order
	for range 2 {
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("bad requests: %v", err)
		}
		replies += line
	}
	for _, want := range []string{`"id":null,"error":{"code":-32700`, `"id":2,"error":{"code":-32601`} {
		if !strings.Contains(replies, want) {
			t.Errorf("bad requests: got %q, want %s", replies, want)
		}
	}
	go nc.Write(append(bytes.Repeat([]byte("x"), rpc.MaxLine+10), '\n'))
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, `"code":-32600`) {
		t.Errorf("oversized request: %q %v", line, err)
	}
	nc.Close()
	if st := statusOf(t, alice); !st.Daemon {
		t.Error("daemon gone after bad requests")
	}

	// SIGTERM: clean exit, socket removed, tor stopped, profile unlocked.
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v\n%s", err, d.log.String())
	}
	if _, err := os.Stat(rpc.SocketPath(alice)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after SIGTERM: %v", err)
	}
	if pids := torProcessesFor(alice); len(pids) > 0 {
		t.Errorf("tor still running for the profile after SIGTERM: %v", pids)
	}
	log := d.log.String()
	for _, want := range []string{"daemon running", "shutting down", "msg=stopped", "msg=tor"} {
		if !strings.Contains(log, want) {
			t.Errorf("daemon log lacks %q", want)
		}
	}
	// The profile opens in-process now that the daemon is gone.
	r = cli(t, alice, "", "status", "--passphrase-file", pass)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "daemon:    not running") {
		t.Errorf("status without daemon:\n%s", r.stdout)
	}

	// On a terminal, the daemon asks for the passphrase (tmux is the terminal).
	if tmux, err := exec.LookPath("tmux"); err != nil {
		t.Log("no tmux: passphrase prompt not tested")
	} else {
		sock := filepath.Join(filepath.Dir(alice), "tmux.sock") // a private tmux server, removed with the dir
		tm := func(args ...string) {
			t.Helper()
			c := exec.Command(tmux, append([]string{"-S", sock}, args...)...)
			c.Env = append(cliEnv(alice), "TMUX=")
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("tmux %v: %v %s", args, err, out)
			}
		}
		logf := filepath.Join(filepath.Dir(alice), "prompt.log")
		tm("new-session", "-d", "-s", "p", "-x", "100", "-y", "20", it.bin+" daemon 2> "+logf)
		defer exec.Command(tmux, "-S", sock, "kill-server").Run()
		until(t, 30*time.Second, "the passphrase prompt", func() bool {
			b, _ := os.ReadFile(logf)
			return strings.Contains(string(b), "Passphrase for "+alice)
		})
		tm("send-keys", "-t", "p", "correct horse battery staple", "Enter")
		until(t, 2*time.Minute, "the daemon unlocked from the prompt", func() bool {
			c, err := rpc.Dial(context.Background(), rpc.SocketPath(alice))
			if err != nil {
				return false
			}
			defer c.Close()
			st, err := c.Status(context.Background())
			return err == nil && st.Daemon
		})
		b, _ := os.ReadFile(logf)
		m := regexp.MustCompile(`daemon running" pid=(\d+)`).FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("no pid in the log:\n%s", b)
		}
		pid, _ := strconv.Atoi(m[1])
		syscall.Kill(pid, syscall.SIGTERM)
		// The socket goes first; the profile lock only when the process
		// has exited, and the next daemon below needs the lock.
		until(t, time.Minute, "the prompted daemon to stop", func() bool {
			_, err := os.Stat(rpc.SocketPath(alice))
			return errors.Is(err, os.ErrNotExist) && syscall.Kill(pid, 0) != nil
		})
		if strings.Contains(string(b), "correct horse") {
			t.Error("the passphrase was echoed or logged")
		}
	}

	// "chive daemon 2>&1 | tee log", then Ctrl-C kills tee too: the daemon
	// must still shut down cleanly with nowhere to write its log.
	cmd := exec.Command(it.bin, "daemon")
	cmd.Env = cliEnv(alice, "CHIVE_PASSPHRASE_FILE="+pass)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	until(t, 2*time.Minute, "the daemon's socket", func() bool {
		_, err := os.Stat(rpc.SocketPath(alice))
		return err == nil
	})
	pipe.Close()
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("daemon with a closed stderr, after SIGINT: %v", err)
	}
	if _, err := os.Stat(rpc.SocketPath(alice)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after SIGINT with a closed stderr: %v", err)
	}
}

var latencyRE = regexp.MustCompile(`delivered [0-9a-f]{32} to \S+ in (\S+)`)

// TestTwoDaemonsChat: two daemons introduced through the CLI, messages both
// ways with --wait delivered, inbox --follow, queued messages across a
// restart and across kill -9, each delivered once.
func TestTwoDaemonsChat(t *testing.T) {
	setup(t)
	alice, bob := profileDir(t, "alice"), profileDir(t, "bob")
	var addrs [2]string
	for i, p := range []string{alice, bob} {
		r := cli(t, p, "", "init", "--name", filepath.Base(p), "--no-passphrase")
		wantCode(t, r, exitOK)
		addrs[i] = strings.TrimSpace(r.stdout)
	}
	aliceAddr, bobAddr := addrs[0], addrs[1]
	da, db := startDaemon(t, alice), startDaemon(t, bob)
	all := []*daemonProc{da, db}
	waitReachable(t, alice)
	waitReachable(t, bob)

	// Alice asks; Bob sees the request and accepts it.
	r := cli(t, alice, "", "contacts", "add", "chive:"+bobAddr, "--name", "bob", "--greeting", "hi, it's alice")
	wantCode(t, r, exitOK)
	var req node.Contact
	until(t, 3*time.Minute, "bob to see alice's request", func() bool {
		r := cli(t, bob, "", "contacts", "--json")
		var cs []node.Contact
		json.Unmarshal([]byte(r.stdout), &cs)
		for _, c := range cs {
			if c.Address == aliceAddr && c.State == node.StatePendingIncoming {
				req = c
				return true
			}
		}
		return false
	})
	if req.Greeting != "hi, it's alice" {
		t.Errorf("greeting %q", req.Greeting)
	}
	wantCode(t, cli(t, bob, "", "contacts", "accept", aliceAddr), exitOK)
	wantCode(t, cli(t, bob, "", "contacts", "rename", aliceAddr, "alice"), exitOK)
	until(t, 3*time.Minute, "alice to see bob's acceptance", func() bool {
		r := cli(t, alice, "", "contacts", "--json")
		var cs []node.Contact
		json.Unmarshal([]byte(r.stdout), &cs)
		return len(cs) == 1 && cs[0].State == node.StateAccepted
	})

	// Bob follows his inbox while Alice sends.
	follow := exec.Command(it.bin, "inbox", "--follow", "--json")
	follow.Env = cliEnv(bob)
	followOut := &syncBuffer{}
	follow.Stdout, follow.Stderr = followOut, followOut
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	// No need to wait for it to subscribe: it subscribes before it lists the
	// backlog, so a message arriving first is printed from the backlog.

	r = cli(t, alice, "", "send", "bob", "hello bob, this is secret text", "--wait", "delivered", "--timeout", "3m")
	wantCode(t, r, exitOK)
	if m := latencyRE.FindStringSubmatch(r.stdout); m != nil {
		t.Logf("alice → bob send→delivered: %s", m[1])
	} else {
		t.Errorf("send output %q", r.stdout)
	}
	until(t, time.Minute, "inbox --follow to print the message", func() bool {
		return strings.Contains(followOut.String(), "hello bob, this is secret text")
	})
	var line inboxLine
	json.Unmarshal([]byte(strings.SplitN(followOut.String(), "\n", 2)[0]), &line)
	if line.Address != aliceAddr || line.Contact != "alice" || len(line.ID) != 32 {
		t.Errorf("follow line %+v", line)
	}

	r = cli(t, bob, "", "send", "alice", "--wait", "delivered", "--timeout", "3m")
	wantCode(t, r, exitUsage) // no text, empty stdin
	r = cli(t, bob, "hi alice\n", "send", "alice", "--wait", "delivered", "--timeout", "3m")
	wantCode(t, r, exitOK)
	if m := latencyRE.FindStringSubmatch(r.stdout); m != nil {
		t.Logf("bob → alice send→delivered: %s", m[1])
	}
	r = cli(t, alice, "", "inbox", "--json")
	if !strings.Contains(r.stdout, `"text":"hi alice"`) {
		t.Errorf("alice's inbox: %s", r.stdout)
	}
	wantCode(t, cli(t, alice, "", "send", "carol", "hi"), exitUnknownPeer)

	// The rest of the API, through rpc.Client against the real daemons.
	ctx := context.Background()
	ca, err := rpc.Dial(ctx, rpc.SocketPath(alice))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := rpc.Dial(ctx, rpc.SocketPath(bob))
	if err != nil {
		t.Fatal(err)
	}
	snA, errA := ca.SafetyNumber(ctx, "bob")
	snB, errB := cb.SafetyNumber(ctx, "alice")
	if errA != nil || errB != nil || snA == "" || snA != snB {
		t.Errorf("safety numbers differ: %q %v / %q %v", snA, errA, snB, errB)
	}
	h, err := ca.History(ctx, "bob", "", 10)
	if err != nil || len(h) != 2 || h[0].Text != "hi alice" || h[1].Direction != node.Outgoing || h[1].State != node.Delivered {
		t.Errorf("alice's history: %+v %v", h, err)
	}
	if err := ca.MarkRead(ctx, "bob"); err != nil {
		t.Error(err)
	}
	if c, err := ca.Contact(ctx, "bob"); err != nil || c.Unread != 0 {
		t.Errorf("after mark_read: %+v %v", c, err)
	}
	if err := ca.SetVerified(ctx, bobAddr, true); err != nil {
		t.Error(err)
	}
	if c, _ := ca.Contact(ctx, "bob"); !c.Verified {
		t.Error("verified not recorded")
	}
	if err := ca.Typing(ctx, "bob"); err != nil {
		t.Error(err)
	}
	if err := ca.SetSettings(ctx, node.Settings{ReadReceipts: false, Typing: true}); err != nil {
		t.Error(err)
	}
	if s, err := ca.Settings(ctx); err != nil || s.ReadReceipts || !s.Typing {
		t.Errorf("settings: %+v %v", s, err)
	}
	if _, err := ca.History(ctx, "nobody", "", 1); !errors.Is(err, node.ErrUnknownContact) {
		t.Errorf("history of an unknown contact: %v", err)
	}
	ca.Close()
	cb.Close()

	// Bob stops (SIGTERM). Alice queues a message, restarts cleanly, queues
	// two more and is killed with -9. Her restart cleans up the stale socket
	// and still has all three queued; when Bob is back each arrives once.
	if err := db.stop(syscall.SIGTERM); err != nil {
		t.Errorf("bob's daemon: %v", err)
	}
	wantCode(t, cli(t, alice, "", "send", "bob", "while you were away"), exitOK)
	if err := da.stop(syscall.SIGTERM); err != nil {
		t.Errorf("alice's daemon: %v", err)
	}
	da = startDaemon(t, alice)
	all = append(all, da)
	for _, text := range []string{"queued one", "queued two"} {
		wantCode(t, cli(t, alice, "", "send", "bob", text), exitOK)
	}
	da.stop(syscall.SIGKILL)
	if _, err := os.Stat(rpc.SocketPath(alice)); err != nil {
		t.Errorf("expected a stale socket after kill -9: %v", err)
	}
	da = startDaemon(t, alice)
	all = append(all, da)
	if st := statusOf(t, alice); st.Outbox < 3 {
		t.Errorf("outbox after kill -9 and restart: %d, want 3", st.Outbox)
	}
	db = startDaemon(t, bob)
	all = append(all, db)
	texts := []string{"while you were away", "queued one", "queued two"}
	until(t, 4*time.Minute, "bob to receive the queued messages", func() bool {
		r := cli(t, bob, "", "inbox", "--json", "--contact", "alice")
		for _, text := range texts {
			if !strings.Contains(r.stdout, `"text":"`+text+`"`) {
				return false
			}
		}
		return true
	})
	// Give any duplicate time to arrive, then count.
	until(t, time.Minute, "alice's outbox to drain", func() bool { return statusOf(t, alice).Outbox == 0 })
	r = cli(t, bob, "", "inbox", "--json")
	for _, text := range append(texts, "hello bob, this is secret text") {
		if n := strings.Count(r.stdout, `"text":"`+text+`"`); n != 1 {
			t.Errorf("%q received %d times, want once", text, n)
		}
	}

	// Logs never hold message text or greetings.
	for _, d := range all {
		log := d.log.String()
		for _, secret := range []string{"secret text", "hi alice", "queued one", "while you were away", "it's alice"} {
			if strings.Contains(log, secret) {
				t.Errorf("daemon log of %s holds message text %q", filepath.Base(d.profile), secret)
			}
		}
	}
	// Without a daemon, send --wait opens the profile, starts Tor, waits
	// for delivery and closes it again.
	if err := da.stop(syscall.SIGTERM); err != nil {
		t.Errorf("stop: %v", err)
	}
	r = cli(t, alice, "", "send", "bob", "one-shot", "--wait", "delivered", "--timeout", "3m")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stderr, "no daemon running") || !latencyRE.MatchString(r.stdout) {
		t.Errorf("one-shot send: %q %q", r.stdout, r.stderr)
	}
	if pids := torProcessesFor(alice); len(pids) > 0 {
		t.Errorf("one-shot send left tor running: %v", pids)
	}
	r = cli(t, bob, "", "inbox", "--contact", "alice")
	if !strings.Contains(r.stdout, "alice: one-shot") {
		t.Errorf("bob's inbox after one-shot send:\n%s", r.stdout)
	}
	// SIGHUP (terminal or tmux pane closed) is a clean stop too.
	if err := db.stop(syscall.SIGHUP); err != nil {
		t.Errorf("bob's daemon after SIGHUP: %v", err)
	}
	if _, err := os.Stat(rpc.SocketPath(bob)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after SIGHUP: %v", err)
	}
}

// befriendCLI starts daemons for two fresh profiles and makes them
// contacts through the CLI, as a user would; it returns the profiles and
// addresses.
func befriendCLI(t *testing.T, nameA, nameB string, extraEnv ...string) (a, b, addrA, addrB string) {
	t.Helper()
	a, b = profileDir(t, nameA), profileDir(t, nameB)
	var addrs [2]string
	for i, p := range []string{a, b} {
		r := cli(t, p, "", "init", "--name", filepath.Base(p), "--no-passphrase")
		wantCode(t, r, exitOK)
		addrs[i] = strings.TrimSpace(r.stdout)
	}
	startDaemon(t, a, extraEnv...)
	startDaemon(t, b, extraEnv...)
	waitReachable(t, a)
	waitReachable(t, b)
	wantCode(t, cli(t, a, "", "contacts", "add", addrs[1], "--name", nameB), exitOK)
	until(t, 3*time.Minute, nameB+" to see the request", func() bool {
		r := cli(t, b, "", "contacts", "--json")
		return strings.Contains(r.stdout, addrs[0])
	})
	wantCode(t, cli(t, b, "", "contacts", "accept", addrs[0]), exitOK)
	wantCode(t, cli(t, b, "", "contacts", "rename", addrs[0], nameA), exitOK)
	return a, b, addrs[0], addrs[1]
}

// inboxTexts is what profile received, in order.
func inboxTexts(t *testing.T, profile string) []string {
	t.Helper()
	r := cli(t, profile, "", "inbox", "--json")
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l inboxLine
		if json.Unmarshal([]byte(line), &l) == nil {
			out = append(out, l.Text)
		}
	}
	return out
}

func hasText(texts []string, f func(string) bool) bool {
	for _, s := range texts {
		if f(s) {
			return true
		}
	}
	return false
}

// TestExamples runs docs/examples against two daemons on the private Tor
// network: the one-time-code sender, the echo and reminder bots (shell and
// jq) and the Python bot (standard library, JSON-RPC socket). Bob runs each
// bot in turn; Alice writes to it with chive send.
func TestExamples(t *testing.T) {
	setup(t)
	for _, tool := range []string{"sh", "jq", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is needed to run docs/examples (make deps installs it)", tool)
		}
	}
	examples, err := filepath.Abs("../../docs/examples")
	if err != nil {
		t.Fatal(err)
	}
	alice, bob, _, _ := befriendCLI(t, "alice", "bob")
	path := filepath.Dir(it.bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	script := func(profile string, args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(cliEnv(profile), "PATH="+path)
		cmd.Dir = examples
		return cmd
	}
	// bot runs a bot for bob until the subtest ends.
	bot := func(t *testing.T, args ...string) *syncBuffer {
		t.Helper()
		cmd := script(bob, args...)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", args, out.String())
			}
		})
		return out
	}
	// await waits for alice to receive, after her first before messages,
	// one that satisfies want, and returns it.
	await := func(t *testing.T, before int, what string, want func(string) bool) string {
		t.Helper()
		var got string
		until(t, 3*time.Minute, what, func() bool {
			for _, s := range inboxTexts(t, alice)[before:] {
				if want(s) {
					got = s
					return true
				}
			}
			return false
		})
		return got
	}
	// ask sends text to bob and waits for an answer that satisfies want.
	ask := func(t *testing.T, text string, want func(string) bool) string {
		t.Helper()
		before := len(inboxTexts(t, alice))
		wantCode(t, cli(t, alice, "", "send", "bob", text), exitOK)
		return await(t, before, "an answer to "+strconv.Quote(text), want)
	}

	t.Run("OneTimeCode", func(t *testing.T) {
		cmd := script(alice, "sh", "otp.sh", "bob", "493817")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "493817" {
			t.Fatalf("otp.sh: %v, stdout %q, stderr %q", err, out, stderr.String())
		}
		if !hasText(inboxTexts(t, bob), func(s string) bool { return strings.Contains(s, "Your login code is 493817") }) {
			t.Error("bob has no code")
		}
		// Run again (a retry after a crash): the same message, not a second one.
		cmd = script(alice, "sh", "otp.sh", "bob", "493817")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("otp.sh again: %v %s", err, out)
		}
		n := 0
		for _, s := range inboxTexts(t, bob) {
			if strings.Contains(s, "493817") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("bob received the code %d times", n)
		}
		// A generated code.
		out, err = script(alice, "sh", "otp.sh", "bob").Output()
		if code := strings.TrimSpace(string(out)); err != nil || len(code) != 6 {
			t.Errorf("otp.sh without a code: %q %v", out, err)
		}
		if r := cli(t, alice, "", "send", "nobody", "x"); r.code != exitUnknownPeer {
			t.Errorf("unknown contact: %d", r.code)
		}
	})

	t.Run("EchoBot", func(t *testing.T) {
		bot(t, "sh", "echo-bot.sh")
		waitFollowing(t, bob)
		ask(t, "hello echo", func(s string) bool { return s == "echo: hello echo" })
	})

	t.Run("ReminderBot", func(t *testing.T) {
		bot(t, "sh", "reminder-bot.sh")
		waitFollowing(t, bob)
		before := len(inboxTexts(t, alice))
		start := time.Now()
		ok := ask(t, "in 20s the tea is ready", func(s string) bool { return strings.HasPrefix(s, "OK, I will remind you at") })
		t.Logf("bot: %s", ok)
		if list := ask(t, "list", func(s string) bool { return strings.Contains(s, "tea") || s == "No reminders." }); !strings.Contains(list, "⏰ the tea is ready") {
			t.Errorf("list answered %q", list)
		}
		await(t, before, "the reminder", func(s string) bool { return s == "⏰ the tea is ready" })
		if d := time.Since(start); d < 20*time.Second {
			t.Errorf("the reminder came after %s, before its time", d)
		}
		ask(t, "in soon the tea", func(s string) bool { return strings.HasPrefix(s, "Sorry, I could not schedule that") })
	})

	t.Run("ReadmeBot", func(t *testing.T) {
		// The bot in README.md's headless section, as printed there.
		readme, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		start := bytes.Index(readme, []byte("chive inbox --follow --exec '"))
		end := bytes.Index(readme[max(start, 0):], []byte("esac'\n"))
		if start < 0 || end < 0 {
			t.Fatal("README.md has no bot (chive inbox --follow --exec '…esac')")
		}
		snippet := string(readme[start : start+end+len("esac'")])
		if n := strings.Count(snippet, "\n") + 1; n > 10 {
			t.Errorf("the README's bot has %d lines, more than ten", n)
		}
		bot(t, "sh", "-c", snippet)
		waitFollowing(t, bob)
		ask(t, "ping", func(s string) bool { return s == "pong" })
		ask(t, "hello readme", func(s string) bool { return s == "you said: hello readme" })
	})

	t.Run("PythonBot", func(t *testing.T) {
		out := bot(t, "python3", "bot.py")
		until(t, time.Minute, "the bot to subscribe", func() bool { return strings.Contains(out.String(), "bot running") })
		ask(t, "ping", func(s string) bool { return s == "pong" })
		ask(t, "hello python", func(s string) bool { return s == "python bot heard: hello python" })
	})
}

// waitFollowing waits until a bot's "chive inbox --follow" subscribed to
// the daemon of profile: the daemon logs each subscription... it has no
// such log, so wait for the follower's process to show up instead.
func waitFollowing(t *testing.T, profile string) {
	t.Helper()
	until(t, time.Minute, "the bot to follow the inbox", func() bool {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !bytes.Contains(b, []byte("inbox\x00--follow")) {
				continue
			}
			env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
			if bytes.Contains(env, []byte("CHIVE_HOME="+profile+"\x00")) {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // its subscription is a moment behind
}

// TestProfileLock: a daemon started while one-shot commands keep opening
// the profile (a polling script; each unlocks it with the passphrase)
// waits for its turn instead of exiting with "already running" (it lost
// that race every time before); a send while the daemon stops is queued;
// a profile held for good gets a clear error after the wait.
func TestProfileLock(t *testing.T) {
	setup(t)
	alice := profileDir(t, "alice")
	pass := filepath.Join(filepath.Dir(alice), "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	wantCode(t, cli(t, alice, "", "init", "--name", "alice", "--passphrase-file", pass), exitOK)
	bob := profileDir(t, "bob")
	r := cli(t, bob, "", "init", "--name", "bob", "--no-passphrase")
	wantCode(t, r, exitOK)
	bobAddr := strings.TrimSpace(r.stdout)
	wantCode(t, cli(t, alice, "", "contacts", "add", bobAddr, "--name", "bob", "--passphrase-file", pass), exitOK)

	stop := make(chan struct{})
	polled := make(chan int)
	go func() {
		n := 0
		defer func() { polled <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			cmd := exec.Command(it.bin, "inbox", "--passphrase-file", pass)
			cmd.Env = cliEnv(alice)
			cmd.Run()
			n++
		}
	}()
	time.Sleep(2 * time.Second) // the polling is well under way
	d := startDaemon(t, alice, "CHIVE_PASSPHRASE_FILE="+pass)
	close(stop)
	if n := <-polled; n < 2 {
		t.Errorf("only %d polls ran", n)
	}

	// SIGTERM, and a send at once: it reaches the stopping daemon, or the
	// profile once the daemon let go; either way it is queued (exit 0).
	d.cmd.Process.Signal(syscall.SIGTERM)
	r = cli(t, alice, "", "send", "bob", "during shutdown", "--passphrase-file", pass)
	wantCode(t, r, exitOK)
	<-d.done
	r = cli(t, alice, "", "status", "--json", "--passphrase-file", pass)
	var st node.Status
	if json.Unmarshal([]byte(r.stdout), &st); st.Outbox != 2 { // the request and the message
		t.Errorf("outbox after a send during shutdown: %d, want 2 (%s)", st.Outbox, r.stderr)
	}

	// Held for good (inbox --follow without a daemon keeps it open): the
	// daemon gives up after its wait, and says why.
	follow := exec.Command(it.bin, "inbox", "--follow", "--passphrase-file", pass)
	follow.Env = cliEnv(alice)
	var ferr syncBuffer
	follow.Stderr = &ferr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	until(t, time.Minute, "inbox --follow to hold the profile", func() bool { return strings.Contains(ferr.String(), "starting Tor") })
	start := time.Now()
	d2 := exec.Command(it.bin, "daemon", "--passphrase-file", pass)
	d2.Env = cliEnv(alice)
	out, err := d2.CombinedOutput()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Errorf("daemon on a held profile: %v", err)
	}
	if want := fmt.Sprintf("(pid %d)", follow.Process.Pid); !strings.Contains(string(out), "waiting up to") || !strings.Contains(string(out), want) {
		t.Errorf("daemon on a held profile said %q, want the wait and %q", out, want)
	}
	if d := time.Since(start); d < lockWait {
		t.Errorf("gave up after %s, before %s", d, lockWait)
	}
}
