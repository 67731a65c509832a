package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/chive-im/chive/onion"
)

func newInit(e *env) *command {
	var (
		c               common
		u               unlock
		nick            string
		noPass, jsonOut bool
	)
	fs := newFlagSet("init")
	c.register(fs, e)
	u.register(fs, e)
	fs.StringVar(&nick, "name", "", "your display `name` (shown to contacts you add)")
	fs.BoolVar(&noPass, "no-passphrase", false, "store the profile without a passphrase (not recommended)")
	fs.BoolVar(&jsonOut, "json", false, "print {\"address\",\"uri\",\"profile\"} as JSON")
	return &command{
		name:       "init",
		shortUsage: "chive init --name NAME (--passphrase-file FILE | --no-passphrase) [--profile DIR]",
		shortHelp:  "create a profile and print its address",
		longHelp: `Creates a new profile: a fresh onion identity and an encrypted database.
The passphrase is read from FILE (which only you may read: chmod 600), or
asked twice on a terminal. --no-passphrase leaves the database key unwrapped
on disk: anyone who can read the profile directory can read your messages.
Prints the new address, to give to your contacts.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return doInit(ctx, e, &c, &u, strings.TrimSpace(nick), noPass, jsonOut)
		},
	}
}

func doInit(ctx context.Context, e *env, c *common, u *unlock, nick string, noPass, jsonOut bool) error {
	if nick == "" {
		return usagef("--name is required")
	}
	if noPass && u.passFile != "" {
		return usagef("give either --passphrase-file or --no-passphrase, not both")
	}
	dir, err := resolveProfile(c.profile, e.getenv)
	if err != nil {
		return err
	}
	if profileExists(dir) {
		return fmt.Errorf("a profile already exists in %s (use --profile DIR to create another one)", dir)
	}
	var pass []byte
	if noPass {
		fmt.Fprintln(e.stderr, "chive init: warning: no passphrase; anyone who can read "+dir+" can read your messages")
	} else if pass, err = newPassphrase(e, u); err != nil {
		return err
	}
	if err := checkPassphrase(pass, noPass); err != nil {
		clear(pass)
		return err
	}
	addr, err := createProfile(ctx, dir, nick, pass, noPass)
	clear(pass)
	if err != nil {
		return explainOpenError(dir, err)
	}
	a := onion.Address(addr)
	if jsonOut {
		return writeJSON(e.stdout, map[string]string{"address": addr, "uri": a.URI(), "profile": dir})
	}
	fmt.Fprintln(e.stdout, addr)
	fmt.Fprintf(e.stderr, "Created profile %s for %s.\nShare your address: %s\nStart the node with: chive daemon   (or just: chive)\n", dir, nick, a.URI())
	return nil
}

// newPassphrase is the new profile's passphrase: the passphrase file's, or
// asked twice on the terminal.
func newPassphrase(e *env, u *unlock) ([]byte, error) {
	if u.passFile != "" {
		return readPassphraseFile(u.passFile)
	}
	if _, ok := terminal(e.stdin); !ok {
		return nil, usagef("give --passphrase-file FILE or --no-passphrase (no terminal to ask for a passphrase)")
	}
	pass, err := promptPassphrase(e, "New passphrase: ")
	if err != nil {
		return nil, err
	}
	again, err := promptPassphrase(e, "Again: ")
	if err != nil {
		clear(pass)
		return nil, err
	}
	same := bytes.Equal(pass, again)
	clear(again)
	switch {
	case !same:
		clear(pass)
		return nil, errors.New("the passphrases differ; nothing was created")
	case len(pass) == 0:
		return nil, errors.New("empty passphrase; use --no-passphrase if you really want none")
	}
	return pass, nil
}
