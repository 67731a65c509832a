// Package e2e drives two real chive binaries in tmux over a private Tor
// network, as two new users would: create profiles in the welcome screen,
// add a contact, accept, and chat both ways. Assertions read the screen
// with tmux capture-pane; every step waits for the screen to show what it
// expects rather than sleeping.
package e2e

import (
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

var chiveBin string // built in TestMain

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run builds chive, then runs the tests with the binary's shared private
// Tor network (testnet.Shared), which stops after the last test.
func run(m *testing.M) int {
	if runtime.GOOS == "windows" {
		return m.Run() // the test skips itself
	}
	dir, err := os.MkdirTemp("", "chive-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	chiveBin = filepath.Join(dir, "chive")
	goBin, err := exec.LookPath("go")
	if err != nil {
		// go test runs without go on $PATH sometimes.
		goBin = "/usr/local/go/bin/go"
		if root := os.Getenv("GOROOT"); root != "" {
			goBin = filepath.Join(root, "bin", "go")
		}
	}
	build := exec.Command(goBin, "build", "-o", chiveBin, "github.com/chive-im/chive/cmd/chive")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build chive:", err)
		return 1
	}
	return testnet.Main(m)
}

// tmux is one private tmux server (its own socket) for the test.
type tmux struct {
	t    testing.TB
	sock string
}

func (x *tmux) cmd(args ...string) (string, error) {
	c := exec.Command("tmux", append([]string{"-L", x.sock}, args...)...)
	c.Env = append(os.Environ(), "TMUX=")
	out, err := c.CombinedOutput()
	return string(out), err
}

// kill stops the server and removes the socket file tmux leaves behind.
func (x *tmux) kill() {
	x.cmd("kill-server")
	dir := os.Getenv("TMUX_TMPDIR")
	if dir == "" {
		dir = "/tmp"
	}
	os.Remove(filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), x.sock))
}

func (x *tmux) must(args ...string) string {
	x.t.Helper()
	out, err := x.cmd(args...)
	if err != nil {
		x.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return out
}

// keys sends tmux key names (Enter, Tab, C-n, Space...). The UI reads
// them in order; a step that depends on what they did waits for the screen.
func (x *tmux) keys(target string, keys ...string) {
	x.t.Helper()
	x.must(append([]string{"send-keys", "-t", target}, keys...)...)
}

// text types literal text.
func (x *tmux) text(target, s string) {
	x.t.Helper()
	x.must("send-keys", "-t", target, "-l", s)
}

func (x *tmux) screen(target string) string {
	out, _ := x.cmd("capture-pane", "-p", "-t", target)
	return out
}

// waitFor polls the screen until it contains want.
func (x *tmux) waitFor(target, want string, timeout time.Duration) string {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := x.screen(target)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: %q not on screen after %s:\n%s", target, want, timeout, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExit polls until no process runs the binary at path, or fails tb
// after timeout. The panes' shells mention the profile too; the pattern
// matches the binary itself.
func waitExit(tb testing.TB, path string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := exec.Command("pgrep", "-f", "^"+regexp.QuoteMeta(path)+" ").Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s still running after %s: %s", path, timeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var addressRE = regexp.MustCompile(`\b[a-z2-7]{56}\b`)

// senderRE matches the line naming who wrote the messages under it.
func senderRE(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)│` + regexp.QuoteMeta(name) + `( [0-9:]+)?\s*$`)
}

func TestTwoUsersChatInTmux(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("tmux end-to-end test needs a Unix terminal")
	}
	if testing.Short() {
		t.Skip("starts a private Tor network and two chive processes")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (make deps installs it)")
	}
	t.Log("starting the private Tor network (or sharing the test binary's)")
	net := testnet.Shared(t) // skips without tor
	root := t.TempDir()

	x := &tmux{t: t, sock: "chive-e2e-" + strconv.Itoa(os.Getpid())}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []string{"alice", "bob"} {
				t.Logf("--- %s's screen at the end:\n%s", p, x.screen(p))
			}
		}
		x.kill()
		waitNone(t, root) // tor may still be writing under root
	})
	start := func(name string) {
		cmdline := fmt.Sprintf("CHIVE_NO_BELL=1 %s --profile %s --tor-testnet %s; sleep 600", chiveBin, filepath.Join(root, name), net.Dir())
		x.must("new-session", "-d", "-s", name, "-x", "100", "-y", "30", cmdline)
	}
	start("alice")
	start("bob")

	// Alice creates a profile with a passphrase, Bob without one.
	x.waitFor("alice", "Create your profile", 30*time.Second)
	x.text("alice", "Alice")
	x.keys("alice", "Enter")
	x.waitFor("alice", "▸ Passphrase", 10*time.Second)
	x.text("alice", "purple otter saxophone 42")
	x.waitFor("alice", "strength: strong", 10*time.Second)
	x.keys("alice", "Enter")
	x.waitFor("alice", "▸ Repeat", 10*time.Second)
	x.text("alice", "purple otter saxophone 42")
	x.waitFor("alice", "✓ match", 10*time.Second)
	x.keys("alice", "Enter")

	x.waitFor("bob", "Create your profile", 30*time.Second)
	x.text("bob", "Bob")
	x.keys("bob", "Tab", "Tab", "Tab", "Space")
	x.waitFor("bob", "Without a passphrase", 10*time.Second)
	x.keys("bob", "Enter")

	// Both reach the main screen at once, while Tor bootstraps.
	x.waitFor("alice", "No contacts yet", 3*time.Minute)
	bobScreen := x.waitFor("bob", "No contacts yet", 3*time.Minute)
	bobAddr := addressRE.FindString(bobScreen)
	if bobAddr == "" {
		t.Fatalf("no address on Bob's screen:\n%s", bobScreen)
	}
	t.Logf("Bob's address: %s", bobAddr)
	x.waitFor("alice", "Tor ready", 4*time.Minute)
	x.waitFor("bob", "Tor ready", 4*time.Minute)

	// Alice adds Bob, pasting the address in the chive: link form.
	x.keys("alice", "C-n")
	x.waitFor("alice", "Add a contact", 10*time.Second)
	x.text("alice", "chive:"+strings.ToUpper(bobAddr))
	x.waitFor("alice", "valid address", 10*time.Second)
	x.keys("alice", "Enter")
	x.waitFor("alice", "▸ Nickname", 10*time.Second)
	x.text("alice", "Bob")
	x.keys("alice", "Enter") // from the nickname, enter sends; the greeting is pre-filled: "Hi, it's Alice"
	x.waitFor("alice", "Waiting for Bob to accept", 30*time.Second)

	// Bob sees the request with the greeting and the name Alice gave
	// herself, and accepts: no name to ask for.
	x.waitFor("bob", "Hi, it's Alice", 4*time.Minute)
	x.waitFor("bob", "Alice wants to chat", 10*time.Second)
	x.keys("bob", "Enter")
	x.waitFor("bob", "Contact request", 10*time.Second)
	x.keys("bob", "a")
	x.waitFor("bob", "accepted Alice", 60*time.Second)
	// The request carried Alice's display name: it is Bob's nickname for
	// her already, nothing to ask.
	if s := x.waitFor("bob", "No messages yet", 10*time.Second); !strings.Contains(s, "Alice") {
		t.Errorf("Bob's screen after accepting lacks Alice's name:\n%s", s)
	}

	// Alice learns it; then they chat both ways.
	x.waitFor("alice", "accepted", 4*time.Minute)
	x.text("alice", "Hello Bob, over onion services!")
	x.keys("alice", "Enter")
	x.waitFor("bob", "Hello Bob, over onion services!", 3*time.Minute)
	x.text("bob", "Hi Alice, loud and clear.")
	x.keys("bob", "Enter")
	x.waitFor("alice", "Hi Alice, loud and clear.", 3*time.Minute)
	// Bob had the conversation open, so Alice's message shows as read;
	// both sides show who said what.
	s := x.waitFor("alice", "✔✔ read", 2*time.Minute)
	if !senderRE("You").MatchString(s) || !senderRE("Bob").MatchString(s) {
		t.Errorf("Alice's screen lacks sender labels:\n%s", s)
	}
	t.Logf("Alice's screen mid-conversation:\n%s", s)

	// Quitting stops the node: the pane's shell goes on to "sleep".
	x.keys("alice", "C-q")
	x.keys("bob", "C-q")
	waitExit(t, chiveBin, 30*time.Second)
}
