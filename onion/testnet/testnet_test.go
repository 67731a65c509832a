package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chive-im/chive/onion/internal/proc"
)

// TestMain fails the run if a goroutine outlives the tests: Start and
// Close must leave none behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// skipWithoutTor skips tests that start a network in -short mode and when
// tor is not installed.
func skipWithoutTor(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("Tor test network skipped in -short mode")
	}
	if _, _, err := findTools(""); err != nil {
		t.Skipf("tor is not installed (sudo apt-get install tor): %v", err)
	}
}

func start(t *testing.T, o Options) *Network {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	var mu sync.Mutex
	var steps []string
	o.Progress = func(s string) {
		mu.Lock()
		steps = append(steps, fmt.Sprintf("%.1fs %s", time.Since(began).Seconds(), s))
		mu.Unlock()
	}
	n, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("network up in %v: %s", time.Since(began).Round(time.Millisecond), strings.Join(steps, "; "))
	if len(steps) < 3 || !strings.HasSuffix(steps[len(steps)-1], " network ready") {
		t.Errorf("progress steps %q", steps)
	}
	return n
}

func checkGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if proc.Alive(pid) {
			t.Errorf("tor pid %d still running", pid)
		}
	}
}

// TestTempNetwork: the default network in a temporary directory; Close
// stops every process and removes the directory.
func TestTempNetwork(t *testing.T) {
	skipWithoutTor(t)
	t.Parallel()
	n := start(t, Options{})
	pids := n.PIDs()
	if len(pids) != 6 {
		t.Fatalf("%d processes, want 6", len(pids))
	}
	lines := n.ClientTorrc()
	var auths int
	for _, l := range lines {
		if strings.HasPrefix(l, "DirAuthority ") {
			auths++
		}
	}
	if auths != 3 || lines[0] != "TestingTorNetwork 1" {
		t.Errorf("client torrc %q", lines)
	}
	// Two nodes that ignore SIGTERM, as a deadlocked tor does: Close must
	// still finish promptly and leave nothing running.
	suspended := 0
	for _, pid := range pids[len(pids)-2:] {
		if proc.Suspend(pid) == nil {
			suspended++
		}
	}
	began := time.Now()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	t.Logf("closed in %v with %d hung nodes", took.Round(time.Millisecond), suspended)
	if took > 20*time.Second {
		t.Errorf("Close took %v", took)
	}
	checkGone(t, pids)
	if _, err := os.Stat(n.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir left behind: %v", err)
	}
}

// TestDetachedNetwork is what "chive testnet up --detach" and "chive
// testnet down" do: the state in a named directory lets other processes
// use and stop the network.
func TestDetachedNetwork(t *testing.T) {
	skipWithoutTor(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "net")
	n := start(t, Options{Dir: dir, Detach: true, Relays: 2})
	pids := n.PIDs()
	t.Cleanup(func() {
		n.Close()
		checkGone(t, pids)
	})
	if len(pids) != 5 {
		t.Fatalf("%d processes, want 5", len(pids))
	}
	fi, err := os.Stat(filepath.Join(dir, stateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v", fi, err)
	}
	lines, err := ClientTorrcFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lines, "\n") != strings.Join(n.ClientTorrc(), "\n") {
		t.Errorf("ClientTorrcFromDir %q, want %q", lines, n.ClientTorrc())
	}
	// The client lines must be a torrc tor accepts.
	torrc := filepath.Join(t.TempDir(), "torrc")
	os.WriteFile(torrc, []byte(strings.Join(append(lines, "DataDirectory "+filepath.Dir(torrc)), "\n")), 0o600)
	tor, _, _ := findTools("")
	if out, err := exec.Command(tor, "--verify-config", "-f", torrc, "--defaults-torrc", torrc).CombinedOutput(); err != nil {
		t.Errorf("client torrc rejected: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Start(ctx, Options{Dir: dir}); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Start in the same dir: %v", err)
	}
	if err := StopDir(dir); err != nil {
		t.Fatal(err)
	}
	checkGone(t, pids)
	if _, err := ClientTorrcFromDir(dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ClientTorrcFromDir after StopDir: %v", err)
	}
	if err := StopDir(dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second StopDir: %v", err)
	}
	if _, err := ClientTorrcFromDir(t.TempDir()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ClientTorrcFromDir of an empty dir: %v", err)
	}
}

// BenchmarkStart: from nothing to a usable consensus, with cached authority
// keys (the first run on a machine also generates them).
// go test -run '^$' -bench . -benchtime 3x ./onion/testnet/
func BenchmarkStart(b *testing.B) {
	if _, _, err := findTools(""); err != nil {
		b.Skip(err)
	}
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		n, err := Start(ctx, Options{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := n.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
}

// TestStaleState: a network whose processes died (owner killed, machine
// rebooted) is reported as not running, and its pids, possibly reused by
// now, are never signalled.
func TestStaleState(t *testing.T) {
	dir := t.TempDir()
	nodeDir := filepath.Join(dir, "auth0")
	os.MkdirAll(nodeDir, 0o700)
	// Our own pid is alive but is not that node's tor: it must not count.
	st := state{ClientTorrc: []string{"TestingTorNetwork 1"}, Nodes: []node{
		{Name: "auth0", Dir: nodeDir, Authority: true, PID: os.Getpid()},
	}}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ClientTorrcFromDir(dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ClientTorrcFromDir: %v", err)
	}
	if err := StopDir(dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("StopDir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale state not removed: %v", err)
	}
	if err := prepareDir(dir); err != nil {
		t.Errorf("reusing the dir: %v", err)
	}
}
