package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
)

// Soak tests on the private Tor network, with real daemons: start-up with
// 500 offline contacts, a frozen network, a network restarted on the same
// directory. Run by "make soak"; CHIVE_SOAK_BIN=path measures another build
// (main's) the same way, asserting nothing.

// soakTor sets the package's binary up (ours, or CHIVE_SOAK_BIN) on the
// shared test network.
func soakTor(t *testing.T) (baseline bool) {
	t.Helper()
	if os.Getenv("CHIVE_SOAK") == "" {
		t.Skip("soak test: run with make soak (CHIVE_SOAK=1)")
	}
	setup(t)
	if b := os.Getenv("CHIVE_SOAK_BIN"); b != "" {
		it.bin = b
		return true
	}
	return false
}

// runEnv runs the binary with env to completion.
func runEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, it.bin, args...)
	cmd.Env = env
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

// statusVia asks a profile's daemon for its status over the socket; ok is
// false while the socket does not answer.
func statusVia(profile string) (node.Status, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, rpc.SocketPath(profile))
	if err != nil {
		return node.Status{}, false
	}
	defer c.Close()
	st, err := c.Status(ctx)
	return st, err == nil
}

func initProfile(t *testing.T, env []string, profile string) string {
	t.Helper()
	r := runEnv(t, env, "init", "--name", filepath.Base(profile), "--no-passphrase")
	wantCode(t, r, exitOK)
	return strings.TrimSpace(r.stdout)
}

// befriendCLI: a asks b, b accepts; it waits until a sees b accepted.
func befriendSoak(t *testing.T, aEnv, bEnv []string, a, bAddr, aAddr, bName string) {
	t.Helper()
	wantCode(t, runEnv(t, aEnv, "contacts", "add", bAddr, "--name", bName), exitOK)
	until(t, 4*time.Minute, bName+" to see the request", func() bool {
		return runEnv(t, bEnv, "contacts", "accept", aAddr).code == exitOK
	})
	until(t, 4*time.Minute, bName+"'s acceptance", func() bool {
		c, err := rpc.Dial(context.Background(), rpc.SocketPath(a))
		if err != nil {
			return false
		}
		defer c.Close()
		ct, err := c.Contact(context.Background(), bAddr)
		return err == nil && ct.State == node.StateAccepted
	})
}

func fdCount(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// cpuTicks is a process's user+system CPU time in clock ticks (1/100 s).
func cpuTicks(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// TestSoakOfflineContacts: X has 3 contacts online and 500 at addresses
// nobody serves (each with a queued request). After a restart of X's
// daemon: its open fds, its tor's CPU, and the time until the 3 online
// contacts are linked.
func TestSoakOfflineContacts(t *testing.T) {
	baseline := soakTor(t)
	env := func(p string) []string { return cliEnv(p) }
	x := profileDir(t, "x")
	xAddr := initProfile(t, env(x), x)
	var ys []string
	var yAddrs []string
	for i := range 3 {
		y := profileDir(t, fmt.Sprintf("y%d", i))
		yAddrs = append(yAddrs, initProfile(t, env(y), y))
		ys = append(ys, y)
	}
	dx := startDaemon(t, x)
	for _, y := range ys {
		startDaemon(t, y)
	}
	for _, p := range append([]string{x}, ys...) {
		waitReachable(t, p)
	}
	for i, y := range ys {
		befriendSoak(t, env(x), env(y), x, yAddrs[i], xAddr, fmt.Sprintf("y%d", i))
	}
	c, err := rpc.Dial(context.Background(), rpc.SocketPath(x))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		pub, _, _ := ed25519.GenerateKey(nil)
		if _, err := c.AddContact(context.Background(), string(onion.AddressFromPublicKey(pub)), fmt.Sprintf("off%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if err := dx.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	dx = startDaemon(t, x)
	start := time.Now()
	pid := dx.cmd.Process.Pid
	var torPID, maxFDs, torStart, torAt90 int
	var torFrom time.Time
	linked := time.Duration(0)
	const window = 90 * time.Second
	for time.Since(start) < window || linked == 0 && time.Since(start) < 6*time.Minute {
		maxFDs = max(maxFDs, fdCount(pid))
		if torPID == 0 {
			if ps := torProcessesFor(x); len(ps) > 0 {
				torPID, torStart, torFrom = ps[0], cpuTicks(ps[0]), time.Now()
			}
		}
		if torAt90 == 0 && torPID != 0 && time.Since(torFrom) >= window {
			torAt90 = cpuTicks(torPID)
		}
		if st, ok := statusVia(x); ok && st.ContactsOnline == 3 && linked == 0 {
			linked = time.Since(start)
		}
		time.Sleep(time.Second)
	}
	if torAt90 == 0 {
		torAt90 = cpuTicks(torPID)
	}
	torCPU := float64(torAt90-torStart) / 100 / window.Seconds() * 100
	link := "not within 6 min"
	if linked > 0 {
		link = linked.Round(100 * time.Millisecond).String()
	}
	t.Logf("start-up with 500 offline contacts (baseline %v): 3 online contacts linked after %s; daemon fds at most %d; its tor used %.0f%% of a core over its first 90 s",
		baseline, link, maxFDs, torCPU)
	if baseline {
		return
	}
	if linked == 0 || linked > 3*time.Minute {
		t.Errorf("online contacts linked after %s", link)
	}
	if maxFDs > 150 {
		t.Errorf("%d open fds", maxFDs)
	}
}

// TestSoakFrozenNetwork: the network is stopped (SIGSTOP) for 60 s: every
// relay and authority ("relays"), or those and both users' own tors
// ("everything"); 5 s into it a new contact asks another. How long after
// the network resumes does the request arrive (1–3 s on a network that
// never froze)?
func TestSoakFrozenNetwork(t *testing.T) {
	baseline := soakTor(t)
	for _, which := range []string{"relays", "everything"} {
		t.Run(which, func(t *testing.T) {
			n := testnet.Shared(t)
			p, q := profileDir(t, "p"), profileDir(t, "q")
			initProfile(t, cliEnv(p), p)
			qAddr := initProfile(t, cliEnv(q), q)
			dp := startDaemon(t, p)
			startDaemon(t, q)
			waitReachable(t, p)
			waitReachable(t, q)

			pids := n.PIDs()
			if which == "everything" {
				pids = append(pids, torProcessesFor(p)...)
				pids = append(pids, torProcessesFor(q)...)
			}
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGSTOP)
			}
			resumed := false
			resume := func() {
				if !resumed {
					for _, pid := range pids {
						syscall.Kill(pid, syscall.SIGCONT)
					}
					resumed = true
				}
			}
			defer resume()
			// The request is made while the network is frozen: it is
			// queued, and p's dials fail (or hang) until it is back.
			time.Sleep(5 * time.Second)
			wantCode(t, runEnv(t, cliEnv(p), "contacts", "add", qAddr, "--name", "q"), exitOK)
			time.Sleep(55 * time.Second)
			resume()
			start := time.Now()
			arrived := time.Duration(0)
			for time.Since(start) < 8*time.Minute {
				r := runEnv(t, cliEnv(q), "contacts", "--json")
				var cs []node.Contact
				json.Unmarshal([]byte(r.stdout), &cs)
				if len(cs) == 1 && cs[0].State == node.StatePendingIncoming {
					arrived = time.Since(start)
					break
				}
				time.Sleep(time.Second)
			}
			got := "not within 8 min"
			if arrived > 0 {
				got = arrived.Round(100 * time.Millisecond).String()
			}
			t.Logf("a request made during a 60 s freeze of %s (baseline %v) arrived %s after it resumed", which, baseline, got)
			for _, l := range strings.Split(dp.log.String(), "\n") {
				if strings.Contains(l, "dial failed") || strings.Contains(l, "reachable") || strings.Contains(l, "tor makes no progress") {
					t.Logf("p: %.200s", l)
				}
			}
			if !baseline && (arrived == 0 || arrived > 90*time.Second) {
				t.Errorf("request arrived after %s", got)
			}
		})
	}
}

// TestSoakNetworkRestart: the private network is stopped and started again
// on the same directory (new ports, new relay keys), as "chive testnet
// down; chive testnet up" does. Do running daemons find it and deliver?
func TestSoakNetworkRestart(t *testing.T) {
	baseline := soakTor(t)
	dir, err := os.MkdirTemp("", "chive-net")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	n, err := testnet.Start(ctx, testnet.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { n.Close() }()
	env := func(p string) []string { return cliEnv(p, "CHIVE_TOR_TESTNET="+dir) }
	p, q := profileDir(t, "p"), profileDir(t, "q")
	pAddr := initProfile(t, env(p), p)
	qAddr := initProfile(t, env(q), q)
	dp := startDaemon(t, p, "CHIVE_TOR_TESTNET="+dir)
	dq := startDaemon(t, q, "CHIVE_TOR_TESTNET="+dir)
	reachable := func(profile string) bool { st, ok := statusVia(profile); return ok && st.Reachable }
	until(t, 4*time.Minute, "reachable", func() bool { return reachable(p) && reachable(q) })
	befriendSoak(t, env(p), env(q), p, qAddr, pAddr, "q")

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err = testnet.Start(ctx, testnet.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wantCode(t, runEnv(t, env(p), "send", "q", "after the restart"), exitOK)
	delivered := time.Duration(0)
	var last node.Status
	for time.Since(start) < 8*time.Minute {
		if c, err := rpc.Dial(ctx, rpc.SocketPath(p)); err == nil {
			h, err := c.History(ctx, "q", "", 1)
			if err == nil && len(h) == 1 && h[0].State == node.Delivered {
				delivered = time.Since(start)
			}
			last, _ = c.Status(ctx)
			c.Close()
		}
		if delivered > 0 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	got := "not within 8 min"
	if delivered > 0 {
		got = delivered.Round(100 * time.Millisecond).String()
	}
	t.Logf("after the network restarted on the same directory (baseline %v): a message was delivered after %s; status then: tor %s, reachable %v, problem %q",
		baseline, got, last.Tor.State, last.Reachable, last.NetworkProblem)
	for name, d := range map[string]*daemonProc{"p": dp, "q": dq} {
		for _, l := range strings.Split(d.log.String(), "\n") {
			for _, w := range []string{"reachable", "restarting", "no progress", "configuration", "link down", "published"} {
				if strings.Contains(l, w) {
					t.Logf("%s: %.220s", name, l)
					break
				}
			}
		}
	}
	if !baseline && (delivered == 0 || delivered > 6*time.Minute) {
		t.Errorf("delivered after %s", got)
	}
}
