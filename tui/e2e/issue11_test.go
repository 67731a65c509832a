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

// TestDraftsNamesUnblockReconnect drives what issue 11 fixed, with the real
// binary in tmux over the private Tor network: names travel with the
// request and the acceptance; the CLI sends while the UI runs its node; a
// draft survives quitting; blocking and unblocking; a UI attached to a
// daemon that restarts reconnects by itself.
//
// Alice runs the UI with its node in-process; Bob runs a daemon, and a UI
// attached to it.
func TestDraftsNamesUnblockReconnect(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("tmux end-to-end test needs a Unix terminal")
	}
	if testing.Short() {
		t.Skip("starts a private Tor network and chive processes")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (make deps installs it)")
	}
	net := testnet.Shared(t)
	root := t.TempDir()
	alice, bob := filepath.Join(root, "alice"), filepath.Join(root, "bob")
	for _, p := range []struct{ dir, name string }{{alice, "Alice"}, {bob, "Bob"}} {
		if out, err := exec.Command(chiveBin, "init", "--profile", p.dir, "--name", p.name, "--no-passphrase").CombinedOutput(); err != nil {
			t.Fatalf("init %s: %v: %s", p.name, err, out)
		}
	}

	x := &tmux{t: t, sock: "chive-e2e11-" + strconv.Itoa(os.Getpid())}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []string{"alice", "bob", "bobd"} {
				t.Logf("--- %s at the end:\n%s", p, x.screen(p))
			}
		}
		x.kill()
		waitNone(t, root) // tor may still be writing under root
	})
	ui := func(profile string) string {
		return fmt.Sprintf("CHIVE_NO_BELL=1 %s --profile %s --tor-testnet %s; sleep 600", chiveBin, profile, net.Dir())
	}
	daemon := fmt.Sprintf("%s daemon --profile %s --tor-testnet %s 2>&1; sleep 600", chiveBin, bob, net.Dir())

	// Bob's daemon, then his UI attached to it; Alice's UI runs her node.
	x.must("new-session", "-d", "-s", "bobd", "-x", "120", "-y", "20", daemon)
	waitSocket(t, bob, time.Minute)
	x.must("new-session", "-d", "-s", "bob", "-x", "100", "-y", "30", ui(bob))
	x.must("new-session", "-d", "-s", "alice", "-x", "100", "-y", "30", ui(alice))
	bobScreen := x.waitFor("bob", "No contacts yet", time.Minute)
	bobAddr := addressRE.FindString(bobScreen) // on one line, for a mouse to select
	if bobAddr == "" {
		t.Fatalf("Bob's address is not on one line:\n%s", bobScreen)
	}
	x.waitFor("alice", "No contacts yet", time.Minute)
	x.waitFor("alice", "Tor ready", 4*time.Minute)
	x.waitFor("bob", "Tor ready", 4*time.Minute)

	// Alice adds Bob, naming him Bobby; enter in the nickname field sends.
	x.keys("alice", "C-n")
	x.waitFor("alice", "Add a contact", 10*time.Second)
	x.text("alice", "chive:"+bobAddr)
	x.waitFor("alice", "valid address", 10*time.Second)
	x.keys("alice", "Enter")
	x.waitFor("alice", "▸ Nickname", 10*time.Second)
	x.text("alice", "Bobby")
	x.keys("alice", "Enter")
	x.waitFor("alice", "Waiting for Bobby to accept", 30*time.Second)

	// Bob sees her by the name she gave herself, and accepting asks none.
	x.waitFor("bob", "Alice wants to chat with you", 4*time.Minute)
	x.keys("bob", "Enter")
	x.waitFor("bob", "Contact request", 10*time.Second)
	x.keys("bob", "a")
	x.waitFor("bob", "accepted Alice", 60*time.Second)
	if s := x.screen("bob"); strings.Contains(s, "Give them a name") {
		t.Fatalf("Bob was asked for a name Alice had given:\n%s", s)
	}
	// Alice's nickname for Bob wins; his own name shows in the details.
	x.waitFor("alice", "Bobby accepted", 4*time.Minute)
	x.keys("alice", "C-d")
	x.waitFor("alice", "Their name  Bob", 30*time.Second)
	x.keys("alice", "Escape")
	x.waitGone("alice", "Contact details", 10*time.Second)

	// The CLI sends while Alice's UI runs her node: no "already running".
	send := exec.Command(chiveBin, "send", "--profile", alice, "Bobby", "hello from the CLI", "--wait", "sent", "--timeout", "3m")
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("chive send next to the UI: %v: %s", err, out)
	}
	x.waitFor("alice", "hello from the CLI", 30*time.Second)
	x.waitFor("bob", "hello from the CLI", 3*time.Minute)

	// A draft survives quitting and coming back.
	x.text("alice", "a draft for Bobby")
	x.waitFor("alice", "› a draft for Bobby", 10*time.Second)
	x.keys("alice", "C-q")
	waitGone(t, alice, 30*time.Second)
	x.must("respawn-pane", "-k", "-t", "alice", ui(alice))
	x.waitFor("alice", "› a draft for Bobby", time.Minute)
	// Ctrl+C clears it rather than quitting.
	x.keys("alice", "C-c")
	x.waitFor("alice", "cleared the message", 10*time.Second)
	x.waitFor("alice", "Tor ready", 4*time.Minute)

	// Bob blocks Alice, then unblocks her, and they talk again.
	x.keys("bob", "C-d")
	x.waitFor("bob", "Contact details", 10*time.Second)
	x.keys("bob", "b")
	x.waitFor("bob", "press b again", 10*time.Second)
	x.keys("bob", "b")
	x.waitFor("bob", "you blocked Alice", 30*time.Second)
	x.keys("bob", "C-d")
	x.waitFor("bob", "u unblock", 10*time.Second)
	x.keys("bob", "u")
	x.waitFor("bob", "unblocked Alice", 30*time.Second)
	x.keys("bob", "Escape")
	// Typed at once after Escape, the next letter would read as Alt+letter.
	x.waitGone("bob", "Contact details", 10*time.Second)
	x.text("bob", "back again")
	x.keys("bob", "Enter")
	x.waitFor("alice", "back again", 3*time.Minute)

	// Bob's daemon restarts under his UI: it says so, then reconnects and
	// shows what comes after.
	x.keys("bobd", "C-c")
	x.waitFor("bob", "reconnecting to the daemon", time.Minute)
	x.must("respawn-pane", "-k", "-t", "bobd", daemon)
	x.waitFor("bob", "reconnected to the daemon", 2*time.Minute)
	x.text("alice", "after the restart")
	x.keys("alice", "Enter")
	x.waitFor("bob", "after the restart", 4*time.Minute)

	x.keys("alice", "C-q")
	x.keys("bob", "C-q")
	waitGone(t, alice, 30*time.Second)
}

// waitGone polls the screen until it no longer contains s.
func (x *tmux) waitGone(target, s string, timeout time.Duration) {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Contains(x.screen(target), s) {
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: %q still on screen after %s:\n%s", target, s, timeout, x.screen(target))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSocket waits for a node to serve the profile's socket.
func waitSocket(t testing.TB, profile string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(filepath.Join(profile, "chive.sock")); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket in %s after %s", profile, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone waits until no chive runs the UI on profile.
func waitGone(t *testing.T, profile string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := exec.Command("pgrep", "-f", "^"+regexp.QuoteMeta(chiveBin+" --profile "+profile)+" ").Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("chive on %s still running after %s", profile, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
