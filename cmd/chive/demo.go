package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chive-im/chive/internal/shell"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion/testnet"
)

func newDemo(e *env) *command {
	var (
		dir  string
		keep bool
	)
	fs := newFlagSet("demo")
	fs.StringVar(&dir, "dir", "", "keep the demo's network and profiles in `dir` (default: a new temporary directory)")
	fs.BoolVar(&keep, "keep", false, "keep the directory afterwards")
	return &command{
		name:       "demo",
		shortUsage: "chive demo [--dir DIR] [--keep]",
		shortHelp:  "chat between Alice and Bob on a private Tor network, in tmux",
		longHelp: `Starts a private Tor network on this machine (no internet needed), creates two
profiles, Alice and Bob, introduces them to each other, and opens both in one
tmux session, side by side. Type in either pane; messages go over real onion
services. Quitting either chive (ctrl+q) or leaving tmux stops everything the
demo started.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			// Positional arguments are ignored, as they always were.
			return demo(ctx, e, dir, keep)
		},
	}
}

func demo(ctx context.Context, e *env, dir string, keep bool) (err error) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		return errors.New("the demo needs tmux: install it (apt-get install tmux) and try again")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the chive binary: %w", err)
	}
	if dir == "" {
		dir, err = os.MkdirTemp("", "chive-demo-")
		if err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	start := time.Now()
	say("chive demo: starting a private Tor network in %s (about half a minute)…", dir)
	net, err := testnet.Start(ctx, testnet.Options{
		Dir:      filepath.Join(dir, "tor-testnet"),
		Progress: func(s string) { say("  %5.1fs  %s", time.Since(start).Seconds(), s) },
	})
	if err != nil {
		return fmt.Errorf("start the test network: %w", err)
	}
	defer func() {
		say("chive demo: stopping the test network…")
		if cerr := net.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	say("  %5.1fs  network up", time.Since(start).Seconds())

	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	if err := introduce(ctx, say, start, net.Dir(), alice, bob); err != nil {
		return err
	}

	// One tmux server of our own (private socket), two panes side by side.
	// When either chive exits, its pane ends the whole session.
	sock := "chive-demo-" + strconv.Itoa(os.Getpid())
	tm := func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, tmux, append([]string{"-L", sock}, args...)...)
		c.Env = append(os.Environ(), "TMUX=") // allow running the demo from inside tmux
		return c
	}
	pane := func(profile string) string {
		return shell.Join(self, "--profile", profile, "--tor-testnet", net.Dir()) + "; " +
			shell.Join(tmux, "-L", sock, "kill-session", "-t", "chive")
	}
	if out, err := tm("new-session", "-d", "-s", "chive", "-x", "200", "-y", "50", pane(alice)).CombinedOutput(); err != nil {
		return fmt.Errorf("tmux new-session: %v: %s", err, out)
	}
	// Stop our tmux server (and so both chives) however we leave, and
	// remove its socket file, which tmux leaves behind.
	defer func() {
		tm("kill-server").Run()
		os.Remove(tmuxSocket(sock))
	}()
	if out, err := tm("split-window", "-h", "-t", "chive", pane(bob)).CombinedOutput(); err != nil {
		return fmt.Errorf("tmux split-window: %v: %s", err, out)
	}
	tm("set-option", "-t", "chive", "status-left", " chive demo: Alice | Bob · ctrl+q quits ").Run()
	tm("set-option", "-t", "chive", "status-left-length", "60").Run()
	tm("set-option", "-t", "chive", "mouse", "on").Run()
	tm("select-pane", "-t", "chive:0.0").Run()
	say("  %5.1fs  opening tmux (Alice on the left, Bob on the right; ctrl+b o switches panes)", time.Since(start).Seconds())
	attach := tm("attach-session", "-t", "chive")
	attach.Stdin, attach.Stdout, attach.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := attach.Run(); err != nil && ctx.Err() == nil {
		// tmux exits non-zero when the session is killed under it: fine.
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("tmux attach: %w", err)
		}
	}
	if keep {
		say("chive demo: profiles kept in %s", dir)
	}
	return nil
}

// introduce creates Alice and Bob (no passphrases: it's a demo) and makes
// them contacts over the test network: Alice asks, Bob accepts.
func introduce(ctx context.Context, say func(string, ...any), start time.Time, netDir, alice, bob string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if !profileExists(alice) {
		if _, err := createProfile(ctx, alice, "Alice", nil, true); err != nil {
			return fmt.Errorf("create Alice: %w", err)
		}
	}
	if !profileExists(bob) {
		if _, err := createProfile(ctx, bob, "Bob", nil, true); err != nil {
			return fmt.Errorf("create Bob: %w", err)
		}
	}
	a, err := openNode(ctx, openOptions{dir: alice, testnet: netDir})
	if err != nil {
		return fmt.Errorf("open Alice: %w", err)
	}
	defer a.Close()
	b, err := openNode(ctx, openOptions{dir: bob, testnet: netDir})
	if err != nil {
		return fmt.Errorf("open Bob: %w", err)
	}
	defer b.Close()
	if err := a.Start(ctx); err != nil {
		return fmt.Errorf("start Alice: %w", err)
	}
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("start Bob: %w", err)
	}
	bst, err := b.Status(ctx)
	if err != nil {
		return err
	}
	ast, err := a.Status(ctx)
	if err != nil {
		return err
	}
	if c, err := a.Contact(ctx, bst.Address); err == nil && c.State == node.StateAccepted {
		say("  %5.1fs  Alice and Bob already know each other", time.Since(start).Seconds())
		return nil
	}
	say("  %5.1fs  Alice and Bob are publishing their onion services…", time.Since(start).Seconds())
	for _, n := range []node.API{a, b} {
		if err := waitFor(ctx, func() (bool, error) {
			st, err := n.Status(ctx)
			if st.Tor.State == node.TorFailed {
				return false, fmt.Errorf("tor failed: %s", st.Tor.Error)
			}
			return st.Reachable, err
		}); err != nil {
			return fmt.Errorf("wait for the onion services: %w", err)
		}
	}
	say("  %5.1fs  Alice sends Bob a contact request…", time.Since(start).Seconds())
	if _, err := a.AddContact(ctx, bst.Address, "Bob", "Hi Bob, it's Alice!"); err != nil {
		return fmt.Errorf("alice adds bob: %w", err)
	}
	if err := waitFor(ctx, func() (bool, error) {
		c, err := b.Contact(ctx, ast.Address)
		if errors.Is(err, node.ErrUnknownContact) {
			return false, nil
		}
		return err == nil && c.State == node.StatePendingIncoming, err
	}); err != nil {
		return fmt.Errorf("wait for Bob to get the request: %w", err)
	}
	if _, err := b.AcceptContact(ctx, ast.Address); err != nil {
		return fmt.Errorf("bob accepts: %w", err)
	}
	if err := b.RenameContact(ctx, ast.Address, "Alice"); err != nil {
		return fmt.Errorf("bob names alice: %w", err)
	}
	if err := waitFor(ctx, func() (bool, error) {
		c, err := a.Contact(ctx, bst.Address)
		return err == nil && c.State == node.StateAccepted, err
	}); err != nil {
		return fmt.Errorf("wait for Alice to learn Bob accepted: %w", err)
	}
	say("  %5.1fs  Bob accepted: they are contacts", time.Since(start).Seconds())
	return nil
}

// waitFor polls cond every 200 ms until it holds, fails, or ctx ends.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// tmuxSocket is where tmux puts the socket of "tmux -L name".
func tmuxSocket(name string) string {
	dir := os.Getenv("TMUX_TMPDIR")
	if dir == "" {
		dir = "/tmp"
	}
	return filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), name)
}
