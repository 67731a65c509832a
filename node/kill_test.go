package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/storage"
)

// The kill -9 test runs each side in a child process: the test binary
// re-executed with childEnv set, which runs childMain instead of the tests.
const childEnv = "CHIVE_NODE_CHILD"

// childMain is a node that befriends its peer and sends it count numbered
// messages, resuming after a crash from what its profile says was sent.
// It reports "progress sent=N recv=M" lines on stdout, "done" when every
// message went both ways, and exits when stdin closes.
func childMain() int {
	dir, peer, role := os.Getenv("CHILD_DIR"), os.Getenv("CHILD_PEER"), os.Getenv("CHILD_ROLE")
	count, _ := strconv.Atoi(os.Getenv("CHILD_COUNT"))
	pace, _ := time.ParseDuration(os.Getenv("CHILD_PACE"))
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	ctx := context.Background()
	torrc, err := testnet.ClientTorrcFromDir(os.Getenv("CHILD_TESTNET"))
	if err != nil {
		return fail(err)
	}
	o := Options{Dir: dir, Passphrase: testPass, ExtraTorrc: torrc, tune: torTuning(), Logger: testLogger(role)}
	n, err := Open(ctx, o)
	if err != nil {
		return fail(err)
	}
	defer n.Close()
	events, err := n.Subscribe(ctx)
	if err != nil {
		return fail(err)
	}
	if err := n.Start(ctx); err != nil {
		return fail(err)
	}
	// Befriend: the requester asks once; the accepter accepts whenever the
	// request is there (also after a restart).
	accepted := func() bool {
		c, err := n.Contact(ctx, peer)
		if err == nil && c.State == StatePendingIncoming && role == "accepter" {
			c, err = n.AcceptContact(ctx, peer)
		}
		return err == nil && c.State == StateAccepted
	}
	if role == "requester" {
		if _, err := n.Contact(ctx, peer); errors.Is(err, ErrUnknownContact) {
			if _, err := n.AddContact(ctx, peer, "peer", "kill test"); err != nil {
				return fail(err)
			}
		}
	}
	go func() {
		for range events { // drain; state is read from storage below
		}
	}()
	for !accepted() {
		time.Sleep(200 * time.Millisecond)
	}
	// Resume: every message this profile holds was sent (Send is one
	// transaction), so continue after the last one.
	prefix := role + "-"
	all, err := n.db.Inbox(ctx, storage.InboxQuery{IncludeOutgoing: true, Limit: 100000})
	if err != nil {
		return fail(err)
	}
	sent := 0
	for _, m := range all {
		if m.Direction == storage.Outgoing {
			sent++
		}
	}
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	recv := 0
	var cursor int64
	lastReport := ""
	report := func() {
		ms, err := n.Inbox(ctx, InboxQuery{After: cursor, Contact: peer, Limit: 1000})
		if err == nil {
			for _, m := range ms {
				cursor = m.Seq
				recv++
			}
		}
		line := fmt.Sprintf("progress sent=%d recv=%d", sent, recv)
		if line != lastReport {
			fmt.Println(line)
			lastReport = line
		}
	}
	// recv counts from the start of the profile: count what is stored.
	for ms, _ := n.Inbox(ctx, InboxQuery{Contact: peer, Limit: 100000}); len(ms) > 0; ms = nil {
		recv = len(ms)
		cursor = ms[len(ms)-1].Seq
	}
	tick := time.NewTicker(pace)
	defer tick.Stop()
	done := false
	for {
		select {
		case <-stdinClosed:
			return 0
		case <-tick.C:
		}
		if sent < count {
			if _, err := n.Send(ctx, peer, fmt.Sprintf("%s%04d", prefix, sent)); err != nil {
				return fail(err)
			}
			sent++
		}
		report()
		if !done && sent == count && recv >= count {
			if st, err := n.Status(ctx); err == nil && st.Outbox == 0 {
				fmt.Println("done")
				done = true
			}
		}
	}
}

// child is one run of a child process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	sent  int
	recv  int
	done  bool
	exit  chan error
}

func startChild(t *testing.T, role, dir, peer string, count int, pace time.Duration) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_DIR="+dir, "CHILD_PEER="+peer, "CHILD_ROLE="+role,
		"CHILD_COUNT="+strconv.Itoa(count), "CHILD_PACE="+pace.String(), "CHILD_TESTNET="+testnet.Shared(t).Dir())
	// Its own process group, so SIGKILL takes its tor down with it, as a
	// crash of the whole machine would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, exit: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			switch {
			case line == "done":
				c.done = true
			case strings.HasPrefix(line, "progress "):
				fmt.Sscanf(line, "progress sent=%d recv=%d", &c.sent, &c.recv)
			}
			c.mu.Unlock()
		}
		c.exit <- cmd.Wait()
	}()
	return c
}

func (c *child) state() (sent, recv int, done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent, c.recv, c.done
}

// kill sends SIGKILL to the child's process group and waits for it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.exit:
	case <-time.After(time.Minute):
		t.Fatal("killed child did not exit")
	}
}

// stop closes the child's stdin (it exits cleanly) and waits for it.
func (c *child) stop(t *testing.T) {
	c.stdin.Close()
	select {
	case err := <-c.exit:
		if err != nil {
			t.Errorf("child exit: %v", err)
		}
	case <-time.After(time.Minute):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		t.Error("child did not exit; killed")
	}
}

// waitChild polls until cond holds for the child's progress.
func waitChild(t *testing.T, c *child, what string, timeout time.Duration, cond func(sent, recv int, done bool) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, r, d := c.state()
		if cond(s, r, d) {
			return
		}
		select {
		case err := <-c.exit:
			c.exit <- err
			t.Fatalf("child exited (%v) while waiting for %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (sent=%d recv=%d)", what, s, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKill9 kills each side of a 1,000-message exchange (500 each way) with
// SIGKILL in the middle, restarts it, and checks that every message is
// delivered exactly once, in order per sender.
func TestKill9(t *testing.T) {
	testnet.Shared(t)
	checkLeaks(t) // after Shared: the network's goroutines outlive the test

	const count = 500 // per direction
	pace := 15 * time.Millisecond
	dirA, dirB := newProfile(t, "a"), newProfile(t, "b")
	addrA, addrB := profileAddress(t, dirA), profileAddress(t, dirB)

	a := startChild(t, "requester", dirA, addrB, count, pace)
	b := startChild(t, "accepter", dirB, addrA, count, pace)
	defer func() {
		for _, c := range []*child{a, b} {
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		}
	}()

	// Kill A while it is sending and B is receiving.
	waitChild(t, b, "B to receive 150 of A's messages", 8*time.Minute, func(_, r int, _ bool) bool { return r >= 150 })
	sa, _, _ := a.state()
	t.Logf("SIGKILL A (A has sent %d)", sa)
	a.kill(t)
	a = startChild(t, "requester", dirA, addrB, count, pace)

	// Then B, with A's remaining messages and B's own in flight.
	waitChild(t, a, "A to receive 300 of B's messages", 8*time.Minute, func(_, r int, _ bool) bool { return r >= 300 })
	_, rb, _ := b.state()
	t.Logf("SIGKILL B (B has received %d)", rb)
	b.kill(t)
	b = startChild(t, "accepter", dirB, addrA, count, pace)

	for _, c := range []*child{a, b} {
		waitChild(t, c, "done", 8*time.Minute, func(_, _ int, d bool) bool { return d })
	}
	a.stop(t)
	b.stop(t)

	// Count from the profiles themselves.
	for _, dir := range []struct{ from, to, prefix string }{{dirA, dirB, "requester-"}, {dirB, dirA, "accepter-"}} {
		sent, delivered := countSent(t, dir.from, dir.prefix)
		got := receivedTexts(t, dir.to)
		seen := map[string]int{}
		dups, outOfOrder, last := 0, 0, -1
		for _, s := range got {
			seen[s]++
			if seen[s] > 1 {
				dups++
				continue
			}
			i, _ := strconv.Atoi(strings.TrimPrefix(s, dir.prefix))
			if i <= last {
				outOfOrder++
			}
			last = i
		}
		lost := 0
		for i := range sent {
			if seen[fmt.Sprintf("%s%04d", dir.prefix, i)] == 0 {
				lost++
			}
		}
		t.Logf("KILL9 %s→: sent=%d delivered(acked)=%d received=%d duplicates=%d lost=%d out-of-order=%d",
			strings.TrimSuffix(dir.prefix, "-"), sent, delivered, len(seen), dups, lost, outOfOrder)
		if sent != count || delivered != count || len(seen) != count || dups != 0 || lost != 0 || outOfOrder != 0 {
			t.Errorf("%s: want %d sent, delivered and received exactly once in order", dir.prefix, count)
		}
	}
}

func profileAddress(t *testing.T, dir string) string {
	n, err := Open(t.Context(), Options{Dir: dir, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	return n.Address()
}

// countSent opens a profile and counts its outgoing messages and how many
// of them the peer acknowledged.
func countSent(t *testing.T, dir, prefix string) (sent, delivered int) {
	n, err := Open(t.Context(), Options{Dir: dir, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ms, err := n.db.Inbox(t.Context(), storage.InboxQuery{IncludeOutgoing: true, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Direction == storage.Outgoing && strings.HasPrefix(m.Body, prefix) {
			sent++
			if m.Status == storage.StatusDelivered || m.Status == storage.StatusRead {
				delivered++
			}
		}
	}
	return sent, delivered
}

// receivedTexts opens a profile and lists its incoming messages in arrival order.
func receivedTexts(t *testing.T, dir string) []string {
	n, err := Open(t.Context(), Options{Dir: dir, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ms, err := n.db.Inbox(t.Context(), storage.InboxQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return out
}
