package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
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
	// waitLock decides what to do while another process holds the profile
	// (node.Options.WaitLock); nil: fail at once.
	waitLock func(context.Context, *node.LockedError) error
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
	opts := node.Options{Dir: o.dir, Passphrase: o.passphrase, Logger: o.logger, WaitLock: o.waitLock}
	if o.testnet != "" {
		lines, err := testnet.ClientTorrcFromDir(o.testnet)
		if err != nil {
			return nil, err
		}
		opts.ExtraTorrc = lines
		// "chive testnet up" again on the same directory makes a new
		// network (new ports, new relay keys): tor restarts read it afresh.
		opts.ReloadTorrc = func() ([]string, error) { return testnet.ClientTorrcFromDir(o.testnet) }
	}
	n, err := node.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// runDoctor checks (and with repair, repairs) the profile in dir.
func runDoctor(ctx context.Context, dir string, passphrase []byte, repair bool) (node.DoctorReport, error) {
	return node.Doctor(ctx, node.DoctorOptions{Dir: dir, Passphrase: passphrase, Repair: repair})
}

// explainOpenError says in the user's words why a profile did not open.
func explainOpenError(dir string, err error) error {
	var locked *node.LockedError
	var perm *node.PermissionError
	var inUse *inUseError
	switch {
	case errors.As(err, &inUse):
		return inUse
	case errors.Is(err, errDaemonUp):
		return errDaemonUp
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
	case errors.Is(err, node.ErrKeyFileMissing):
		return fmt.Errorf("the profile in %s has its database (chive.db) but not its key file (key.json), "+
			"and the database cannot be unlocked without it.\n"+
			"Restore key.json from a backup of this profile (the one from your last passphrase change or later), "+
			"or copy it back if you moved it. \"chive init\" would not help: it cannot read this database", dir)
	case errors.Is(err, node.ErrKeyFileDamaged):
		return fmt.Errorf("the key file of the profile in %s (key.json) is damaged, so the database cannot be unlocked "+
			"(%v).\nRestore key.json from a backup of this profile (chive doctor makes them in %s)", dir, err, filepath.Join(dir, "backups"))
	case errors.Is(err, node.ErrIdentityDamaged):
		return fmt.Errorf("the profile in %s opens, but its identity (your onion key and ratchet keys) is damaged on disk "+
			"and chive cannot run without it.\nRestore chive.db from a backup of this profile (chive doctor makes them in %s); "+
			"chive doctor --profile %s lists what else is damaged", dir, filepath.Join(dir, "backups"), dir)
	}
	return err
}
