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

func newTUI(e *env) *command {
	var (
		c               common
		noBell, noTitle bool
	)
	fs := newFlagSet("chive")
	c.register(fs, e)
	fs.BoolVar(&noBell, "no-bell", e.getenv("CHIVE_NO_BELL") != "", "no terminal bell when a message arrives out of view (default $CHIVE_NO_BELL)")
	fs.BoolVar(&noTitle, "no-title", e.getenv("CHIVE_NO_TITLE") != "", "no unread count in the window title (default $CHIVE_NO_TITLE)")
	return &command{
		name:       "tui",
		shortUsage: "chive [--profile DIR] [--tor-testnet DIR] [--no-bell] [--no-title]",
		shortHelp:  `open the terminal UI (what plain "chive" does)`,
		longHelp: `Opens the terminal UI. With no profile yet it walks you through creating one.
When a daemon ("chive daemon") runs on the profile, the UI attaches to it and
quitting leaves the daemon running; otherwise the node runs inside the UI and
stops when you quit. Its theme, keys, notifications and layout come from the
config file ("chive config path", docs/config.md).
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			// Positional arguments are ignored, as they always were.
			dir, err := resolveProfile(c.profile, e.getenv)
			if err != nil {
				return err
			}
			opts := tui.Options{Dir: dir, NoBell: noBell, NoTitle: noTitle, Getenv: e.getenv}
			// A config file with a mistake: the defaults, and the UI says
			// what is wrong rather than refusing to open.
			if path, err := tui.ConfigPath(e.getenv); err != nil {
				opts.ConfigError = err
			} else {
				cfg, err := tui.LoadConfig(path)
				opts.Config, opts.ConfigPath, opts.ConfigError = &cfg, path, err
			}
			return runTUI(ctx, opts, c.testnet)
		},
	}
}

// runTUI runs the UI on the daemon serving the profile, or, when none runs,
// on a node it opens (and creates, if need be) itself.
func runTUI(ctx context.Context, opts tui.Options, testnet string) error {
	// A daemon serving the profile (or another UI running its node):
	// attach, no unlock; it keeps running after. The client reconnects by
	// itself when the daemon restarts.
	client, err := rpc.DialWith(ctx, rpc.SocketPath(opts.Dir), rpc.Options{Reconnect: true})
	switch {
	case err == nil:
		defer client.Close()
		opts.API = client
		return tui.Run(ctx, opts)
	case !errors.Is(err, rpc.ErrNoDaemon):
		return fmt.Errorf("connect to the daemon: %w", err)
	}

	// No daemon: the UI creates or unlocks the profile and runs the node here.
	p := &tuiProfile{ctx: ctx, dir: opts.Dir, testnet: testnet}
	opts.Profile = p
	err = tui.Run(ctx, opts)
	if cerr := p.close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// tuiProfile is tui.Profile over the node's lifecycle functions. The node
// it runs also serves the profile's control socket, as the daemon does, so
// "chive send" and scripts work while the UI runs.
type tuiProfile struct {
	ctx     context.Context // lives as long as the UI: the node runs under it
	dir     string
	testnet string

	mu  sync.Mutex
	n   localNode
	srv *socketServer
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
	// The profile lock is ours: a socket left in the profile is stale. If
	// it cannot be served (a path too long for a socket), the UI still
	// runs; the CLI then says the profile is in use.
	srv, _ := serveSocket(n, p.dir, nil)
	p.mu.Lock()
	p.n, p.srv = n, srv
	p.mu.Unlock()
	return n, nil
}

func (p *tuiProfile) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		return nil
	}
	if p.srv != nil {
		p.srv.close() // clients first: the socket goes before the node
		p.srv = nil
	}
	err := p.n.Close()
	p.n = nil
	return err
}
