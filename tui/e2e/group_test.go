package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
)

// TestGroupOfThreeInTmux: three people in three terminal UIs (each its own
// node and tor, on the private Tor network). Alice is a contact of Bob and
// of Carol, who do not know each other. Alice makes a group of the three
// in the UI (ctrl+g, picking contacts); all three see it in their lists,
// marked; each writes and the others read it under the author's name;
// Alice sees her message delivered to both, and the members panel lists
// everyone with their presence.
func TestGroupOfThreeInTmux(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("tmux end-to-end test needs a Unix terminal")
	}
	if testing.Short() {
		t.Skip("starts a private Tor network and three chive processes")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (make deps installs it)")
	}
	start := time.Now()
	net := testnet.Shared(t)
	root := t.TempDir()
	names := []string{"Alice", "Bob", "Carol"}
	profiles := map[string]string{}
	addrs := map[string]string{}
	for _, n := range names {
		p := filepath.Join(root, strings.ToLower(n))
		out, err := exec.Command(chiveBin, "init", "--profile", p, "--name", n, "--no-passphrase").CombinedOutput()
		if err != nil {
			t.Fatalf("init %s: %v: %s", n, err, out)
		}
		profiles[n], addrs[n] = p, addressRE.FindString(string(out))
	}
	x := &tmux{t: t, sock: "chive-e2e18-" + strconv.Itoa(os.Getpid())}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range names {
				t.Logf("--- %s at the end:\n%s", n, x.screen(n))
			}
		}
		x.kill()
		waitNone(t, root) // tor may still be writing under root
	})
	for _, n := range names {
		cmdline := fmt.Sprintf("CHIVE_NO_BELL=1 %s --profile %s --tor-testnet %s; sleep 600", chiveBin, profiles[n], net.Dir())
		x.must("new-session", "-d", "-s", n, "-x", "110", "-y", "32", cmdline)
	}
	for _, n := range names {
		x.waitFor(n, "Tor ready", 4*time.Minute)
	}
	// The contacts are made with the CLI, next to the UIs (they serve the
	// socket): Alice asks Bob and Carol, who accept.
	cli := func(profile string, args ...string) string {
		t.Helper()
		out, err := exec.Command(chiveBin, append(args, "--profile", profile)...).CombinedOutput()
		if err != nil {
			t.Fatalf("chive %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	for _, n := range names[1:] {
		cli(profiles["Alice"], "contacts", "add", addrs[n], "--name", n)
	}
	for _, n := range names[1:] {
		x.waitFor(n, "Alice wants to chat", 4*time.Minute)
		cli(profiles[n], "contacts", "accept", addrs["Alice"])
	}
	// Not the "Bob accepted" flash: it fades, and a loaded machine may
	// capture the screen too late. The contact book says it for good.
	deadline := time.Now().Add(4 * time.Minute)
	for strings.Count(cli(profiles["Alice"], "contacts", "--json"), `"state":"accepted"`) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("carol never accepted")
		}
		time.Sleep(time.Second)
	}
	t.Logf("three UIs up, contacts made in %s", time.Since(start).Round(time.Second))

	// Alice makes the group in the UI.
	x.keys("Alice", "C-g")
	x.waitFor("Alice", "New group", 10*time.Second)
	x.text("Alice", "Trio")
	x.keys("Alice", "Tab", "Space", "Down", "Space")
	deadline = time.Now().Add(10 * time.Second)
	for strings.Count(x.screen("Alice"), "[x]") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("two contacts not picked:\n%s", x.screen("Alice"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	x.keys("Alice", "Enter")
	x.waitFor("Alice", "# Trio", 30*time.Second)
	for _, n := range names[1:] {
		x.waitFor(n, "added to the group Trio", 4*time.Minute)
		x.waitFor(n, "# Trio", 10*time.Second)
	}
	// Everyone is connected to everyone once Alice's panel says so.
	deadline = time.Now().Add(4 * time.Minute)
	for {
		out := cli(profiles["Bob"], "groups", "show", "Trio")
		if !strings.Contains(out, "connecting") && strings.Contains(out, "members: 3") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's sessions:\n%s", out)
		}
		time.Sleep(time.Second)
	}

	// Alice writes (the group is open after creating it).
	x.text("Alice", "Hi both, welcome to Trio")
	x.keys("Alice", "Enter")
	for _, n := range names[1:] {
		// Open the group: the switcher, its name, enter.
		x.keys(n, "C-k")
		x.waitFor(n, "Go to conversation", 10*time.Second)
		x.text(n, "Trio")
		x.keys(n, "Enter")
		x.waitFor(n, "3 members", 10*time.Second)
		x.waitFor(n, "Hi both, welcome to Trio", 3*time.Minute)
	}
	if s := x.screen("Bob"); !senderRE("Alice").MatchString(s) {
		t.Errorf("Bob's screen does not name Alice as the author:\n%s", s)
	}
	x.waitFor("Alice", "delivered to 2/2", 3*time.Minute)

	// Bob and Carol answer; everyone reads everyone, by name.
	x.text("Bob", "Hello from Bob")
	x.keys("Bob", "Enter")
	x.waitFor("Carol", "Hello from Bob", 3*time.Minute)
	x.text("Carol", "Carol here, nice to meet you Bob")
	x.keys("Carol", "Enter")
	x.waitFor("Bob", "Carol here, nice to meet you Bob", 3*time.Minute)
	s := x.waitFor("Alice", "Carol here, nice to meet you Bob", 3*time.Minute)
	if !senderRE("Bob").MatchString(s) || !senderRE("Carol").MatchString(s) || !senderRE("You").MatchString(s) {
		t.Errorf("Alice's screen lacks the authors:\n%s", s)
	}
	if s := x.screen("Carol"); !senderRE("Bob").MatchString(s) {
		t.Errorf("Carol (not Bob's contact) does not see Bob's name:\n%s", s)
	}
	t.Logf("Alice's screen:\n%s", s)

	// The members panel: everyone, with presence.
	x.keys("Alice", "C-d")
	panel := x.waitFor("Alice", "you are an admin", 30*time.Second)
	for _, want := range []string{"3 members, 2 online", "Alice (you)", "creator", "Bob", "Carol", "invite"} {
		if !strings.Contains(panel, want) {
			t.Errorf("members panel lacks %q:\n%s", want, panel)
		}
	}
	x.keys("Alice", "Escape")
	x.waitGone("Alice", "you are an admin", 10*time.Second)
	for _, n := range names {
		x.keys(n, "C-q")
	}
	waitExit(t, chiveBin, 30*time.Second)
	t.Logf("TestGroupOfThreeInTmux took %s", time.Since(start).Round(time.Second))
}
