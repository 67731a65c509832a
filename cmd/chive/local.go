package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion/testnet"
)

// This file is the CLI's only contact with the node's lifecycle functions
// (profile creation and in-process opening); everything else goes through
// node.API.

// localNode is a profile opened in-process: the API plus its lifecycle.
type localNode interface {
	node.API
	Start(ctx context.Context) error
	Close() error
}

type openOptions struct {
	dir        string
	passphrase []byte
	testnet    string
	logger     *slog.Logger
}

func resolveProfile(flagDir string, getenv func(string) string) (string, error) {
	return node.ResolveProfile(flagDir, getenv)
}

func profileExists(dir string) bool { return node.ProfileExists(dir) }

func needsPassphrase(dir string) (bool, error) { return node.NeedsPassphrase(dir) }

func createProfile(ctx context.Context, dir, name string, passphrase []byte, noPassphrase bool) (string, error) {
	return node.CreateProfile(ctx, dir, name, passphrase, noPassphrase)
}

// checkPassphrase applies the node's policy for new passphrases, in the
// user's words.
func checkPassphrase(passphrase []byte, noPassphrase bool) error {
	if err := node.CheckPassphrase(passphrase, noPassphrase); err != nil {
		return fmt.Errorf("the passphrase is too short (%d characters); choose one of at least %d, "+
			"a few words are easy to remember (or --no-passphrase, not recommended): %w",
			utf8.RuneCount(passphrase), node.MinPassphrase, node.ErrShortPassphrase)
	}
	return nil
}

func openNode(ctx context.Context, o openOptions) (localNode, error) {
	opts := node.Options{Dir: o.dir, Passphrase: o.passphrase, Logger: o.logger}
	if o.testnet != "" {
		lines, err := testnet.ClientTorrcFromDir(o.testnet)
		if err != nil {
			return nil, err
		}
		opts.ExtraTorrc = lines
	}
	n, err := node.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// explainOpenError says in the user's words why a profile did not open.
func explainOpenError(dir string, err error) error {
	var locked *node.LockedError
	var perm *node.PermissionError
	switch {
	case errors.Is(err, node.ErrWrongPassphrase):
		return fmt.Errorf("wrong passphrase for the profile in %s", dir)
	case errors.As(err, &locked):
		return &inUseError{dir: dir, pid: locked.PID}
	case errors.As(err, &perm):
		return fmt.Errorf("%s is readable by other users (mode %04o); fix it with: %s", perm.Path, perm.Mode.Perm(), perm.Fix())
	case errors.Is(err, node.ErrNoProfile):
		return &noProfileError{dir}
	case errors.Is(err, node.ErrNewerVersion):
		return fmt.Errorf("the profile in %s was written by a newer version of chive; upgrade chive to open it", dir)
	}
	return err
}
