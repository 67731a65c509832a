package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chive-im/chive/onion/testnet"
)

func newTestnet(e *env) *command {
	var (
		c      common
		dir    string
		detach bool
		relays int
	)
	flags := func(name string, own func(*flag.FlagSet)) *flag.FlagSet {
		fs := newFlagSet(name)
		c.register(fs, e)
		fs.StringVar(&dir, "dir", "", "the network's state `dir`ectory")
		if own != nil {
			own(fs)
		}
		return fs
	}
	// netDir is --dir, else --tor-testnet, else the default.
	netDir := func() (string, error) {
		switch {
		case dir != "":
			return dir, nil
		case c.testnet != "":
			return c.testnet, nil
		}
		return defaultTestnetDir()
	}
	return &command{
		name:       "testnet",
		shortUsage: "chive testnet up|down",
		shortHelp:  "run a private Tor network on this machine (for tests and demos)",
		longHelp: `"up" starts a private Tor network on 127.0.0.1 (3 directory authorities and
3 relays, no internet needed; ready in about 10-20 s), prints how to point
chive at it, and stays in the foreground until Ctrl-C, which stops it. With
--detach it returns once the network is ready and leaves it running; stop it
with "chive testnet down".

Point other chive commands at the network with --tor-testnet DIR or
CHIVE_TOR_TESTNET=DIR. DIR defaults to --tor-testnet / $CHIVE_TOR_TESTNET,
else $XDG_CACHE_HOME/chive/testnet.
`,
		flags: flags("testnet", nil),
		children: []*command{
			{
				name:       "up",
				shortUsage: "chive testnet up [--dir DIR] [--detach] [--relays N]",
				shortHelp:  "start a network and wait for Ctrl-C (or --detach)",
				flags: flags("up", func(fs *flag.FlagSet) {
					fs.BoolVar(&detach, "detach", false, "return once the network is ready and leave it running")
					fs.IntVar(&relays, "relays", 3, "number of relays besides the 3 authorities")
				}),
				exec: func(ctx context.Context, args []string) error {
					if err := noArgs(args); err != nil {
						return err
					}
					d, err := netDir()
					if err != nil {
						return err
					}
					return testnetUp(ctx, e, d, detach, relays)
				},
			},
			{
				name:       "down",
				shortUsage: "chive testnet down [--dir DIR]",
				shortHelp:  "stop a network started with --detach",
				flags:      flags("down", nil),
				exec: func(ctx context.Context, args []string) error {
					if err := noArgs(args); err != nil {
						return err
					}
					d, err := netDir()
					if err != nil {
						return err
					}
					return testnetDown(e, d)
				},
			},
		},
	}
}

func defaultTestnetDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no default directory (%w); give one with --dir", err)
	}
	return filepath.Join(base, "chive", "testnet"), nil
}

func testnetUp(ctx context.Context, e *env, dir string, detach bool, relays int) error {
	if relays < 1 {
		return usagef("--relays must be at least 1")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	start := time.Now()
	say("chive testnet: starting a private Tor network in %s", dir)
	n, err := testnet.Start(ctx, testnet.Options{
		Dir:      dir,
		Relays:   relays,
		Detach:   detach,
		Progress: func(s string) { say("  %5.1fs  %s", time.Since(start).Seconds(), s) },
	})
	if err != nil {
		return err
	}
	say("")
	say("Ready in %.1fs. Point chive at it with either of:", time.Since(start).Seconds())
	say("  export CHIVE_TOR_TESTNET=%s", dir)
	say("  chive --tor-testnet %s <command>", dir)
	say("")
	if detach {
		say("The network keeps running in the background. Stop it with:")
		say("  chive testnet down --dir %s", dir)
		return nil
	}
	say("Press Ctrl-C to stop it.")
	select {
	case <-ctx.Done():
	case <-stopped(ctx, n):
		// Someone ran "chive testnet down": nothing left to stop.
		say("chive testnet: the network was stopped from elsewhere")
		n.Close()
		return errors.New("the network stopped")
	}
	say("\nchive testnet: stopping…")
	if err := n.Close(); err != nil {
		return err
	}
	say("chive testnet: stopped")
	return nil
}

// stopped is closed when the network's authorities are all gone; it stops
// looking when ctx ends.
func stopped(ctx context.Context, n *testnet.Network) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := testnet.ClientTorrcFromDir(n.Dir()); errors.Is(err, testnet.ErrNotRunning) {
				close(ch)
				return
			}
		}
	}()
	return ch
}

func testnetDown(e *env, dir string) error {
	if err := testnet.StopDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "chive testnet: stopped the network in %s\n", dir)
	return nil
}
