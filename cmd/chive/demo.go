package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

	panes := demoPanes{self: self, tmux: tmux, net: net.Dir(), alice: alice, bob: bob}
	if e.getenv("TMUX") != "" {
		// Inside tmux already: a new window of the user's tmux, not a tmux
		// nested in a pane.
		say("  %5.1fs  opening a new tmux window (Alice on the left, Bob on the right; ctrl+b o switches panes)", time.Since(start).Seconds())
		if err := panes.inWindow(ctx); err != nil {
			return err
		}
	} else {
		say("  %5.1fs  opening tmux (Alice on the left, Bob on the right; ctrl+b o switches panes)", time.Since(start).Seconds())
		if err := panes.ownServer(ctx); err != nil {
			return err
		}
	}
	if keep {
		say("chive demo: profiles kept in %s", dir)
	}
	return nil
}

// demoPanes runs Alice's and Bob's chive side by side in tmux.
type demoPanes struct {
	self, tmux, net, alice, bob string
}

// paneHint is what each pane's border says: whose it is (the left one is
// Alice's; chive sets the pane titles, so not those) and how to move.
const paneHint = " #{?pane_at_left,Alice,Bob} · ctrl+b o or a click: other pane · ctrl+q: quit the demo "

// command is the shell command of a pane: chive on profile, then end what
// holds both panes (after is a tmux command line).
func (p demoPanes) command(profile string, after ...string) string {
	return shell.Join(p.self, "--profile", profile, "--tor-testnet", p.net) + "; " + shell.Join(after...)
}

// style shows the hint on each pane's border, the mouse on (click a pane,
// wheel to scroll, drag to select), focus events for notifications.
func (p demoPanes) style(tm func(args ...string) *exec.Cmd, window, session string) {
	tm("set-option", "-w", "-t", window, "pane-border-status", "top").Run()
	tm("set-option", "-w", "-t", window, "pane-border-format", paneHint).Run()
	tm("set-option", "-t", session, "mouse", "on").Run()
	tm("select-pane", "-L", "-t", window).Run()
}

// ownServer runs the panes in a tmux server of our own (a private
// socket) and attaches this terminal to it until either chive quits.
func (p demoPanes) ownServer(ctx context.Context) error {
	sock := "chive-demo-" + strconv.Itoa(os.Getpid())
	tm := func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, p.tmux, append([]string{"-L", sock}, args...)...)
		c.Env = append(os.Environ(), "TMUX=") // allow running the demo from inside tmux
		return c
	}
	end := []string{p.tmux, "-L", sock, "kill-session", "-t", "chive"}
	if out, err := tm("new-session", "-d", "-s", "chive", "-x", "200", "-y", "50", p.command(p.alice, end...)).CombinedOutput(); err != nil {
		return fmt.Errorf("tmux new-session: %v: %s", err, out)
	}
	// Stop our tmux server (and so both chives) however we leave, and
	// remove its socket file, which tmux leaves behind.
	defer func() {
		tm("kill-server").Run()
		os.Remove(tmuxSocket(sock))
	}()
	if out, err := tm("split-window", "-h", "-t", "chive", p.command(p.bob, end...)).CombinedOutput(); err != nil {
		return fmt.Errorf("tmux split-window: %v: %s", err, out)
	}
	tm("set-option", "-s", "focus-events", "on").Run()
	tm("set-option", "-t", "chive", "status-left", " chive demo ").Run()
	p.style(tm, "chive:0", "chive")
	attach := tm("attach-session", "-t", "chive")
	attach.Stdin, attach.Stdout, attach.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := attach.Run(); err != nil && ctx.Err() == nil {
		// tmux exits non-zero when the session is killed under it: fine.
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("tmux attach: %w", err)
		}
	}
	return nil
}

// inWindow runs the panes in a new window of the tmux we run in, and
// waits for it to close: either chive quitting closes it, and so does
// ctrl+c here. The mouse is turned on for the session meanwhile.
func (p demoPanes) inWindow(ctx context.Context) error {
	tm := func(args ...string) *exec.Cmd { return exec.Command(p.tmux, args...) }
	// A pane knows its own id ($TMUX_PANE): kill-window on it closes the
	// demo's window and no other.
	end := func(profile string) string {
		return p.command(profile) + shell.Join(p.tmux, "kill-window", "-t") + ` "$TMUX_PANE"`
	}
	out, err := tm("new-window", "-P", "-F", "#{session_id} #{window_id}", "-n", "chive demo", end(p.alice)).Output()
	if err != nil {
		return fmt.Errorf("tmux new-window: %w", err)
	}
	ids := strings.Fields(string(out))
	if len(ids) != 2 {
		return fmt.Errorf("tmux new-window said %q", out)
	}
	session, window := ids[0], ids[1]
	defer tm("kill-window", "-t", window).Run()
	if out, err := tm("split-window", "-h", "-t", window, end(p.bob)).CombinedOutput(); err != nil {
		return fmt.Errorf("tmux split-window: %v: %s", err, out)
	}
	// The session's own mouse setting, to put back ("" when it has none
	// of its own and follows the global one).
	if prev, err := tm("show-options", "-v", "-t", session, "mouse").Output(); err == nil {
		if v := strings.TrimSpace(string(prev)); v != "" {
			defer tm("set-option", "-t", session, "mouse", v).Run()
		} else {
			defer tm("set-option", "-u", "-t", session, "mouse").Run()
		}
	}
	p.style(tm, window, session)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// (display-message on a window that is gone prints nothing and
		// succeeds: list the session's windows instead.)
		out, err := tm("list-windows", "-t", session, "-F", "#{window_id}").Output()
		if err != nil || !slices.Contains(strings.Fields(string(out)), window) {
			return nil // the window is gone
		}
	}
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
