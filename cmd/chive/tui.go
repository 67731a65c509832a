package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
	"github.com/chive-im/chive/tui"
)

func init() {
	register(&command{
		name:    "tui",
		summary: "open the terminal UI (what plain \"chive\" does)",
		hidden:  true,
		usage: `Usage: chive [--profile DIR] [--tor-testnet DIR] [--no-bell] [--no-title]

Opens the terminal UI. With no profile yet it walks you through creating one.
When a daemon ("chive daemon") runs on the profile, the UI attaches to it and
quitting leaves the daemon running; otherwise the node runs inside the UI and
stops when you quit.
`,
		run: runTUI,
	})
}

func runTUI(ctx context.Context, e *env, args []string) int {
	fs := newFlags("chive", commands["tui"].usage, e.stderr)
	c := addCommon(fs, e)
	noBell := fs.Bool("no-bell", e.getenv("CHIVE_NO_BELL") != "", "no terminal bell when a message arrives out of view (default $CHIVE_NO_BELL)")
	noTitle := fs.Bool("no-title", e.getenv("CHIVE_NO_TITLE") != "", "no unread count in the window title (default $CHIVE_NO_TITLE)")
	if _, help, err := parseArgs(fs, args); help || err != nil {
		if help {
			return exitOK
		}
		return fail(e, "tui", err)
	}
	dir, err := resolveProfile(c.profile, e.getenv)
	if err != nil {
		return fail(e, "tui", err)
	}
	opts := tui.Options{Dir: dir, NoBell: *noBell, NoTitle: *noTitle}

	// A daemon serving the profile: attach, no unlock; it keeps running after.
	client, err := rpc.Dial(ctx, rpc.SocketPath(dir))
	switch {
	case err == nil:
		defer client.Close()
		opts.API = client
		if err := tui.Run(ctx, opts); err != nil {
			return fail(e, "tui", err)
		}
		return exitOK
	case !errors.Is(err, rpc.ErrNoDaemon):
		return fail(e, "tui", fmt.Errorf("connect to the daemon: %w", err))
	}

	// No daemon: the UI creates or unlocks the profile and runs the node here.
	p := &tuiProfile{ctx: ctx, dir: dir, testnet: c.testnet}
	opts.Profile = p
	err = tui.Run(ctx, opts)
	if cerr := p.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fail(e, "tui", err)
	}
	return exitOK
}

// tuiProfile is tui.Profile over the node's lifecycle functions.
type tuiProfile struct {
	ctx     context.Context // lives as long as the UI: the node runs under it
	dir     string
	testnet string

	mu sync.Mutex
	n  localNode
}

func (p *tuiProfile) State(ctx context.Context) (exists, needs bool, err error) {
	if !profileExists(p.dir) {
		return false, false, nil
	}
	needs, err = needsPassphrase(p.dir)
	if err != nil {
		return true, false, explainOpenError(p.dir, err)
	}
	return true, needs, nil
}

func (p *tuiProfile) Create(ctx context.Context, name string, passphrase []byte, noPassphrase bool) error {
	_, err := createProfile(ctx, p.dir, name, passphrase, noPassphrase)
	return err
}

func (p *tuiProfile) Unlock(_ context.Context, passphrase []byte) (node.API, error) {
	// The node outlives this call: open and start it under the UI's context.
	// No logger: the terminal belongs to the UI.
	n, err := openNode(p.ctx, openOptions{dir: p.dir, passphrase: passphrase, testnet: p.testnet})
	clear(passphrase)
	if err != nil {
		if errors.Is(err, node.ErrWrongPassphrase) {
			return nil, fmt.Errorf("%w", tui.ErrWrongPassphrase)
		}
		return nil, explainOpenError(p.dir, err)
	}
	if err := n.Start(p.ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	p.mu.Lock()
	p.n = n
	p.mu.Unlock()
	return n, nil
}

func (p *tuiProfile) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		return nil
	}
	err := p.n.Close()
	p.n = nil
	return err
}
