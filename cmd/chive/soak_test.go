package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/node/rpc"
)

// Soak tests measure the real binary under load for minutes; "make soak"
// runs them (CHIVE_SOAK=1). CHIVE_SOAK_BIN runs them against another
// binary (main's, for a before/after figure): then nothing is asserted,
// only measured.

func soak(t *testing.T) (bin string, baseline bool) {
	t.Helper()
	if os.Getenv("CHIVE_SOAK") == "" {
		t.Skip("soak test: run with make soak (CHIVE_SOAK=1)")
	}
	if b := os.Getenv("CHIVE_SOAK_BIN"); b != "" {
		return b, true
	}
	dir := t.TempDir()
	bin = filepath.Join(dir, "chive")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, false
}

// procStatus returns a field of /proc/PID/status in KiB (VmRSS, VmHWM).
func procStatus(pid int, field string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// TestSoakSocketMemory: 1,000 connections to the daemon's socket, each
// sending 1 MiB without a newline and staying open; the daemon's RSS
// while they hang on, and after they close.
func TestSoakSocketMemory(t *testing.T) {
	bin, baseline := soak(t)
	short, err := os.MkdirTemp("", "chive-soak")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(short)
	profile := filepath.Join(short, "p")
	env := append(os.Environ(), "CHIVE_HOME="+profile)
	initCmd := exec.Command(bin, "init", "--name", "soak", "--no-passphrase")
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	// No test network: tor tries the real one, which this machine cannot
	// reach; the socket is served all the same, which is all this needs.
	d := exec.Command(bin, "daemon", "--log-level", "error")
	d.Env = env
	var logs bytes.Buffer
	d.Stderr = &logs
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { d.Process.Kill(); d.Wait() }()
	sock := rpc.SocketPath(profile)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket:\n%s", logs.String())
		}
	}
	pid := d.Process.Pid
	time.Sleep(2 * time.Second)
	idle := procStatus(pid, "VmRSS")

	const conns = 1000
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var clients []net.Conn
	refused := 0
	start := time.Now()
	for range conns {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			mu.Lock()
			refused++
			mu.Unlock()
			continue
		}
		clients = append(clients, nc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent := 0; sent < 1<<20; sent += len(chunk) {
				nc.SetWriteDeadline(time.Now().Add(2 * time.Minute))
				if _, err := nc.Write(chunk); err != nil {
					mu.Lock()
					refused++
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	loaded, peak := procStatus(pid, "VmRSS"), procStatus(pid, "VmHWM")
	took := time.Since(start)
	for _, c := range clients {
		c.Close()
	}
	var after []string
	var last int
	for _, wait := range []time.Duration{time.Second, 5 * time.Second, 30 * time.Second} {
		time.Sleep(wait)
		last = procStatus(pid, "VmRSS")
		after = append(after, fmt.Sprintf("%d MB", last>>10))
	}
	c, err := rpc.Dial(context.Background(), sock)
	if err != nil {
		t.Fatalf("socket after the load: %v", err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("status after the load: %v", err)
	}
	c.Close()
	t.Logf("daemon RSS: idle %d MB; %d connections × 1 MiB without newline (%d cut off, %s): %d MB (peak %d MB); after closing, at +1 s, +6 s, +36 s: %s",
		idle>>10, conns, refused, took.Round(time.Millisecond), loaded>>10, peak>>10, strings.Join(after, ", "))
	if baseline {
		return
	}
	if peak > idle+200<<10 {
		t.Errorf("peak RSS %d MB (idle %d MB)", peak>>10, idle>>10)
	}
	if last > idle+50<<10 {
		t.Errorf("RSS %d MB after the connections closed (idle %d MB)", last>>10, idle>>10)
	}
}
