package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chive-im/chive/onion/testnet"
)

func init() {
	register(&command{
		name:    "testnet",
		summary: "run a private Tor network on this machine (for tests and demos)",
		usage: `Usage: chive testnet up [--dir DIR] [--detach] [--relays N]
       chive testnet down [--dir DIR]

"up" starts a private Tor network on 127.0.0.1 (3 directory authorities and
3 relays, no internet needed; ready in about 10-20 s), prints how to point
chive at it, and stays in the foreground until Ctrl-C, which stops it. With
--detach it returns once the network is ready and leaves it running; stop it
with "chive testnet down".

Point other chive commands at the network with --tor-testnet DIR or
CHIVE_TOR_TESTNET=DIR. DIR defaults to --tor-testnet / $CHIVE_TOR_TESTNET,
else $XDG_CACHE_HOME/chive/testnet.
`,
		run: runTestnet,
	})
}

func runTestnet(ctx context.Context, e *env, args []string) int {
	const name = "testnet"
	fs := newFlags(name, commands[name].usage, e.stderr)
	c := addCommon(fs, e)
	dir := fs.String("dir", "", "the network's state `dir`ectory")
	detach := fs.Bool("detach", false, "up: return once the network is ready and leave it running")
	relays := fs.Int("relays", 3, "up: number of relays besides the 3 authorities")
	pos, help, err := parseArgs(fs, args)
	if help {
		return exitOK
	}
	if err == nil && len(pos) != 1 {
		err = usageError("want \"up\" or \"down\"")
	}
	if err == nil {
		if *dir == "" {
			*dir = c.testnet
		}
		if *dir == "" {
			*dir, err = defaultTestnetDir()
		}
	}
	if err == nil {
		switch pos[0] {
		case "up":
			err = testnetUp(ctx, e, *dir, *detach, *relays)
		case "down":
			err = testnetDown(e, *dir)
		default:
			err = usageError("unknown subcommand %q, want \"up\" or \"down\"", pos[0])
		}
	}
	if err != nil {
		return fail(e, name, err)
	}
	return exitOK
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
		return usageError("--relays must be at least 1")
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
	case <-stopped(n):
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

// stopped is closed when the network's authorities are all gone.
func stopped(n *testnet.Network) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for {
			time.Sleep(2 * time.Second)
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
