package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
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

// TestAttachImageShowsPreview is issue 15's "done means" for the TUI:
// Alice attaches an image in her UI (Ctrl+A, a typed path), and Bob's UI
// shows it in their conversation with its half-block preview, both real
// binaries in tmux over the private Tor network. The contacts are made
// with the CLI next to the running UIs, to keep the test short.
func TestAttachImageShowsPreview(t *testing.T) {
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
	out, err := exec.Command(chiveBin, "address", "--profile", bob, "--json").Output()
	var addr struct{ Address string }
	if err != nil || json.Unmarshal(out, &addr) != nil || addr.Address == "" {
		t.Fatalf("Bob's address: %v: %s", err, out)
	}
	// A picture with a shape: the top half white, the bottom half black.
	img := image.NewRGBA(image.Rect(0, 0, 96, 64))
	for y := range 64 {
		for x := range 96 {
			c := color.RGBA{255, 255, 255, 255}
			if y >= 32 {
				c = color.RGBA{0, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	pic := filepath.Join(root, "harbour.png")
	if err := os.WriteFile(pic, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	x := &tmux{t: t, sock: "chive-e2e15-" + strconv.Itoa(os.Getpid())}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []string{"alice", "bob"} {
				t.Logf("--- %s at the end:\n%s", p, x.screen(p))
			}
		}
		x.kill()
		waitNone(t, root) // tor may still be writing under root
	})
	ui := func(profile string) string {
		return fmt.Sprintf("CHIVE_NO_BELL=1 COLORTERM=truecolor %s --profile %s --tor-testnet %s; sleep 600", chiveBin, profile, net.Dir())
	}
	x.must("new-session", "-d", "-s", "alice", "-x", "100", "-y", "36", ui(alice))
	x.must("new-session", "-d", "-s", "bob", "-x", "100", "-y", "36", ui(bob))
	x.waitFor("alice", "Tor ready", 4*time.Minute)
	x.waitFor("bob", "Tor ready", 4*time.Minute)

	cli := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(chiveBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("chive %v: %v: %s", args, err, out)
		}
	}
	cli("contacts", "add", "--profile", alice, addr.Address, "--name", "Bob")
	x.waitFor("bob", "Alice wants to chat", 4*time.Minute)
	cli("contacts", "accept", "--profile", bob, "Alice")
	x.waitFor("alice", "No messages yet", 4*time.Minute) // accepted: the request note is gone

	// Alice attaches the picture: Ctrl+A, then its path (typing / moves
	// from the picker to the path field), enter sends.
	x.keys("alice", "C-a")
	x.waitFor("alice", "Send a file to Bob", 10*time.Second)
	x.text("alice", pic)
	x.waitFor("alice", "harbour.png", 10*time.Second)
	x.keys("alice", "Enter")
	x.waitFor("alice", "▤ harbour.png", 30*time.Second)

	// Bob's UI shows it as it arrives (an image under the automatic
	// download size), with its preview, then received.
	s := x.waitFor("bob", "✓ received", 4*time.Minute)
	if !strings.Contains(s, "▤ harbour.png") {
		t.Errorf("Bob's screen lacks the file:\n%s", s)
	}
	// The preview: rows of upper half blocks under the name.
	rows := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, strings.Repeat("▀", 20)) {
			rows++
		}
	}
	if rows < 4 {
		t.Errorf("Bob's screen shows %d preview rows:\n%s", rows, s)
	}
	// In colour: white cells above, black below (in true colour, or as
	// tmux keeps them when its terminal has 256 colours).
	esc, _ := x.cmd("capture-pane", "-e", "-p", "-t", "bob")
	var colours []string
	for _, l := range strings.Split(esc, "\n") {
		if strings.Contains(l, "▀") {
			colours = append(colours, l)
		}
	}
	white, black := regexp.MustCompile(`38;(2;255;255;255|5;231)m`), regexp.MustCompile(`38;(2;0;0;0|5;16)m`)
	if len(colours) < 2 || !white.MatchString(colours[0]) || !black.MatchString(colours[len(colours)-1]) {
		t.Errorf("the preview's colours (first and last rows):\n%q", colours)
	}
	t.Logf("Bob's screen:\n%s", s)
	x.waitFor("alice", "✓ sent", 2*time.Minute)

	x.keys("alice", "C-q")
	x.keys("bob", "C-q")
	waitGone(t, alice, 30*time.Second)
	waitGone(t, bob, 30*time.Second)
}
