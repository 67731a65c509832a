package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
)

// BenchmarkTyping measures the real binary in tmux, on the private Tor
// network, with Alice's UI open on her conversation with Bob (his daemon
// online), typing 5,000 characters (CHIVE_PERF_KEYS) one key at a time
// with tmux send-keys:
//
//   - as fast as tmux takes them: s-catch-up is the time from the last key
//     sent to the screen showing it, keys/s the rate they went in;
//   - paced at 30 keys/s (unless CHIVE_PERF_PACED=0): s-behind@30/s is how
//     far the screen is behind the last key (about the polling interval when
//     it keeps up).
//
// CHIVE_BASELINE_BIN names a chive built from another commit to measure the
// same way in the same run (its profiles are made with its own init):
//
//	git worktree add /tmp/base main && (cd /tmp/base && go build -o /tmp/chive-base ./cmd/chive)
//	CHIVE_BASELINE_BIN=/tmp/chive-base go test -run '^$' -bench 'Typing|Idle' -benchtime 1x -timeout 60m ./tui/e2e
func BenchmarkTyping(b *testing.B) {
	net, bins := perfSetup(b)
	keys := 5000
	if n, err := strconv.Atoi(os.Getenv("CHIVE_PERF_KEYS")); err == nil && n > 0 {
		keys = n
	}
	for _, bin := range bins {
		b.Run("bin="+bin.name, func(b *testing.B) {
			for b.Loop() {
				p := newPerfPair(b, bin.path, net.Dir())
				catchUp, rate := p.typing(b, keys, 0)
				b.ReportMetric(catchUp, "s-catch-up")
				b.ReportMetric(rate, "keys/s")
				if os.Getenv("CHIVE_PERF_PACED") != "0" {
					behind, _ := p.typing(b, keys, 30)
					b.ReportMetric(behind, "s-behind@30/s")
				}
			}
		})
	}
}

// BenchmarkIdle measures the CPU (percent of one core) and the wakeups
// (voluntary context switches a second) of chive processes doing nothing
// for two minutes: the UI with its node in-process (inproc), and the UI
// attached to a daemon (ui, the UI alone). Every binary's processes run
// and are measured in the same window, so the machine's other load falls
// on all of them alike.
func BenchmarkIdle(b *testing.B) {
	net, bins := perfSetup(b)
	for b.Loop() {
		root := b.TempDir()
		x := &tmux{t: b, sock: "chive-idle-" + strconv.Itoa(os.Getpid())}
		b.Cleanup(func() { x.kill(); waitNone(b, root) })
		type proc struct{ bin, kind, session string }
		var procs []proc
		for _, bin := range bins {
			ip, at := filepath.Join(root, bin.name+"-inproc"), filepath.Join(root, bin.name+"-attached")
			for _, dir := range []string{ip, at} {
				if out, err := exec.Command(bin.path, "init", "--profile", dir, "--name", "Idle", "--no-passphrase").CombinedOutput(); err != nil {
					b.Fatalf("init: %v %s", err, out)
				}
			}
			x.must("new-session", "-d", "-s", bin.name+"-d", fmt.Sprintf("%s daemon --profile %s --tor-testnet %s 2>/dev/null; sleep 900", bin.path, at, net.Dir()))
			waitSocket(b, at, time.Minute)
			for _, p := range []proc{{bin.path, "inproc", bin.name + "-inproc"}, {bin.path, "ui", bin.name + "-ui"}} {
				dir := ip
				if p.kind == "ui" {
					dir = at
				}
				x.must("new-session", "-d", "-s", p.session, "-x", "100", "-y", "30", fmt.Sprintf("CHIVE_NO_BELL=1 %s --profile %s --tor-testnet %s; sleep 900", bin.path, dir, net.Dir()))
				procs = append(procs, p)
			}
		}
		for _, p := range procs {
			x.waitFor(p.session, "Tor ready", 4*time.Minute)
		}
		time.Sleep(10 * time.Second) // flashes fade, the onion services settle
		type sample struct{ ticks, switches float64 }
		pids := map[string]string{}
		read := func() map[string]sample {
			out := map[string]sample{}
			for _, p := range procs {
				if pids[p.session] == "" {
					pids[p.session] = chivePID(b, x, p.session, p.bin)
				}
				out[p.session] = procSample(b, pids[p.session])
			}
			return out
		}
		const window = 2 * time.Minute
		t0, s0 := time.Now(), read()
		time.Sleep(window)
		s1, secs := read(), time.Since(t0).Seconds()
		for _, p := range procs {
			cpu := (s1[p.session].ticks - s0[p.session].ticks) / 100 / secs * 100 // USER_HZ is 100 on Linux
			wake := (s1[p.session].switches - s0[p.session].switches) / secs
			b.ReportMetric(cpu, "%cpu-"+p.session)
			b.ReportMetric(wake, "wakeups/s-"+p.session)
			b.Logf("%s: %.3f%% of a core, %.1f wakeups/s", p.session, cpu, wake)
		}
	}
}

// perfSetup is the network and the binaries to measure: this tree's, and
// $CHIVE_BASELINE_BIN's first when set.
func perfSetup(b *testing.B) (*testnet.Network, []struct{ name, path string }) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		b.Skip("tmux not installed")
	}
	net := testnet.Shared(b)
	bins := []struct{ name, path string }{{"new", chiveBin}}
	if p := os.Getenv("CHIVE_BASELINE_BIN"); p != "" {
		bins = append([]struct{ name, path string }{{"baseline", p}}, bins...)
	}
	return net, bins
}

// chivePID is the pid of the chive running in a tmux session's pane.
func chivePID(b *testing.B, x *tmux, session, bin string) string {
	pane, err := x.cmd("display-message", "-p", "-t", session, "#{pane_pid}")
	if err != nil {
		b.Fatalf("pane pid: %v %s", err, pane)
	}
	out, err := exec.Command("pgrep", "-P", strings.TrimSpace(pane), "-f", regexp.QuoteMeta(bin)).Output()
	if err != nil {
		b.Fatalf("no chive under pane %s: %v", pane, err)
	}
	return strings.Fields(string(out))[0]
}

// procSample reads a process's CPU time (clock ticks) and voluntary
// context switches.
func procSample(b *testing.B, pid string) (s struct{ ticks, switches float64 }) {
	st, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// After the command name (which may hold spaces): utime and stime are
	// the 14th and 15th fields of the line.
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	sy, _ := strconv.ParseFloat(f[12], 64)
	s.ticks = u + sy
	// Every thread's switches: Go parks its goroutines on several.
	tasks, _ := filepath.Glob("/proc/" + pid + "/task/*/status")
	for _, t := range tasks {
		status, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended meanwhile
		}
		if m := switchesRE.FindSubmatch(status); m != nil {
			n, _ := strconv.ParseFloat(string(m[1]), 64)
			s.switches += n
		}
	}
	return s
}

var switchesRE = regexp.MustCompile(`(?m)^voluntary_ctxt_switches:\s+(\d+)`)

// waitNone waits until no process mentions dir (the nodes and their tor),
// so the temporary directory can go.
func waitNone(tb testing.TB, dir string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if out, _ := exec.Command("pgrep", "-f", regexp.QuoteMeta(dir)).Output(); len(strings.TrimSpace(string(out))) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// perfPair is Alice and Bob as contacts, Bob's daemon running and Alice's
// UI open on their conversation, all with one chive binary.
type perfPair struct {
	x            *tmux
	bin, net     string
	alice, bob   string
	aliceRunning string // the tmux session running Alice's UI
}

func newPerfPair(b *testing.B, bin, net string) *perfPair {
	root := b.TempDir()
	p := &perfPair{bin: bin, net: net, alice: filepath.Join(root, "alice"), bob: filepath.Join(root, "bob"),
		x: &tmux{t: b, sock: "chive-perf-" + strconv.Itoa(os.Getpid())}}
	b.Cleanup(func() { p.x.kill(); waitNone(b, root) })
	run := func(args ...string) string {
		b.Helper()
		out, err := exec.Command(bin, append(args, "--tor-testnet", net)...).CombinedOutput()
		if err != nil && !strings.Contains(strings.Join(args, " "), "add") {
			b.Fatalf("chive %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	run("init", "--profile", p.alice, "--name", "Alice", "--no-passphrase")
	run("init", "--profile", p.bob, "--name", "Bob", "--no-passphrase")
	daemon := func(profile string) string {
		return fmt.Sprintf("%s daemon --profile %s --tor-testnet %s 2>/dev/null; sleep 600", bin, profile, net)
	}
	p.x.must("new-session", "-d", "-s", "bobd", daemon(p.bob))
	p.x.must("new-session", "-d", "-s", "alid", daemon(p.alice))
	waitSocket(b, p.bob, time.Minute)
	waitSocket(b, p.alice, time.Minute)
	var addr struct{ Address string }
	if err := json.Unmarshal([]byte(run("address", "--profile", p.bob, "--json")), &addr); err != nil || addr.Address == "" {
		b.Fatalf("Bob's address: %v", err)
	}
	// Alice asks, Bob accepts, through their daemons.
	run("contacts", "add", addr.Address, "--name", "Bob", "--greeting", "hi", "--profile", p.alice)
	contacts := func(profile string) string { return run("contacts", "--json", "--profile", profile) }
	until(b, 4*time.Minute, "Bob gets the request", func() bool { return strings.Contains(contacts(p.bob), `"pending-incoming"`) })
	var cs []struct{ Address string }
	json.Unmarshal([]byte(contacts(p.bob)), &cs)
	run("contacts", "accept", cs[0].Address, "--profile", p.bob)
	until(b, 4*time.Minute, "Alice learns Bob accepted", func() bool { return strings.Contains(contacts(p.alice), `"accepted"`) })
	// Alice's UI with its node in-process: her daemon goes.
	p.x.keys("alid", "C-c")
	until(b, time.Minute, "Alice's daemon stops", func() bool {
		out, _ := exec.Command("pgrep", "-f", regexp.QuoteMeta(bin+" daemon --profile "+p.alice)+"( |$)").Output()
		return len(strings.TrimSpace(string(out))) == 0
	})
	p.x.must("new-session", "-d", "-s", "alice", "-x", "100", "-y", "30", fmt.Sprintf("CHIVE_NO_BELL=1 %s --profile %s --tor-testnet %s; sleep 600", bin, p.alice, net))
	p.aliceRunning = "alice"
	p.x.waitFor("alice", "Bob", time.Minute)
	p.x.waitFor("alice", "Tor ready", 4*time.Minute)
	return p
}

// typing sends n keys to Alice's composer, one tmux send-keys each, at
// perSecond keys a second (0: as fast as tmux takes them), and returns how
// long after the last key the screen showed it, and the rate keys went in.
// The composer is emptied after (ctrl+u, which every version has; ctrl+c
// quit older ones).
func (p *perfPair) typing(b *testing.B, n, perSecond int) (lag, rate float64) {
	const words = "the quick brown fox jumps over a lazy dog "
	end := "END" + strconv.Itoa(perSecond) + "X"
	text := strings.Repeat(words, n/len(words)+1)[:n-len(end)] + end
	start := time.Now()
	for i, r := range text {
		if perSecond > 0 {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))); d > 0 {
				time.Sleep(d)
			}
		}
		p.x.must("send-keys", "-t", p.aliceRunning, "-l", string(r))
	}
	sent := time.Now()
	rate = float64(n) / sent.Sub(start).Seconds()
	p.x.waitFor(p.aliceRunning, end, 10*time.Minute)
	lag = time.Since(sent).Seconds()
	b.Logf("typing %d keys at %d/s: sent in %.1fs (%.0f keys/s), on screen %.2fs after the last", n, perSecond, sent.Sub(start).Seconds(), rate, lag)
	p.x.keys(p.aliceRunning, "C-u")
	p.x.waitGone(p.aliceRunning, end, time.Minute)
	return lag, rate
}

// until polls cond every 200 ms until it holds or fails tb after timeout.
func until(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
