package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chive-im/chive/internal/shell"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
)

// chive backup, restore and export (issue 17).

func newBackup(e *env) *command {
	var (
		c        common
		u        unlock
		out      string
		passFile string
		jsonOut  bool
	)
	fs := newFlagSet("backup")
	c.register(fs, e)
	u.register(fs, e)
	fs.StringVar(&out, "out", "", "write the backup to `FILE` (it must not exist)")
	fs.StringVar(&passFile, "backup-passphrase-file", "", "encrypt under the passphrase in `FILE` (default: the profile's passphrase)")
	fs.BoolVar(&jsonOut, "json", false, "print what was written as JSON")
	return &command{
		name:       "backup",
		shortUsage: "chive backup --out FILE [--backup-passphrase-file FILE]",
		shortHelp:  "write the whole profile to one encrypted file",
		longHelp: `Writes your identity (your address), contacts, sessions and history to one
file, encrypted (Argon2id, XChaCha20-Poly1305) under the profile's passphrase
(--passphrase-file, or asked), or under a separate backup passphrase
(--backup-passphrase-file). Works with or without a running daemon.
Bring it back on another machine with "chive restore FILE".
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if out == "" {
				return usagef("where to? chive backup --out FILE")
			}
			return doBackup(ctx, e, &c, &u, out, passFile, jsonOut)
		},
	}
}

func doBackup(ctx context.Context, e *env, c *common, u *unlock, out, passFile string, jsonOut bool) error {
	dir, err := resolveProfile(c.profile, e.getenv)
	if err != nil {
		return err
	}
	// The daemon writes the file: give it a path that means the same there.
	path, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists; a backup never replaces a file", path)
	}
	var pass []byte
	if passFile != "" {
		if pass, err = readPassphraseFile(passFile); err != nil {
			return err
		}
	} else {
		if !profileExists(dir) {
			return &noProfileError{dir}
		}
		need, err := needsPassphrase(dir)
		if err != nil {
			return explainOpenError(dir, err)
		}
		if !need {
			return usagef("the profile has no passphrase to encrypt the backup under: give --backup-passphrase-file FILE")
		}
		if pass, err = u.passphrase(e, dir); err != nil {
			return err
		}
		if err := node.CheckProfilePassphrase(dir, pass); err != nil {
			clear(pass)
			return explainOpenError(dir, err)
		}
	}
	defer clear(pass)
	if err := node.CheckPassphrase(pass, false); err != nil {
		return fmt.Errorf("the backup passphrase is too short: %w (at least %d characters)", err, node.MinPassphrase)
	}
	api, closeAPI, err := attachUnlocked(ctx, e, c, u, dir, pass, passFile == "")
	if err != nil {
		return err
	}
	defer closeAPI()
	start := time.Now()
	info, err := api.Backup(ctx, node.BackupOptions{Path: path, Passphrase: string(pass)})
	if err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, info)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d contacts, %d messages, %s in %s\n", info.Path, info.Contacts, info.Messages,
		size(info.Bytes), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.stderr, "Keep it somewhere safe; bring it back with: chive restore %s --profile NEW-DIR\n", shell.Quote(info.Path))
	return nil
}

// attachUnlocked is attach for a caller that already has the profile's
// passphrase (unlocks says whether pass is it): the daemon, or the profile
// opened here.
func attachUnlocked(ctx context.Context, e *env, c *common, u *unlock, dir string, pass []byte, unlocks bool) (node.API, func() error, error) {
	client, err := rpc.Dial(ctx, rpc.SocketPath(dir))
	if err == nil {
		return client, client.Close, nil
	}
	if !errors.Is(err, rpc.ErrNoDaemon) {
		return nil, nil, fmt.Errorf("connect to the daemon: %w", err)
	}
	if !profileExists(dir) {
		return nil, nil, &noProfileError{dir}
	}
	if !unlocks {
		// nil: no waiting for the lock here (errDaemonUp would need a retry
		// through the daemon this function already tried).
		n, err := unlockProfile(ctx, e, dir, c, u, stderrLogger(e, slog.LevelWarn), nil)
		if err != nil {
			return nil, nil, err
		}
		return n, n.Close, nil
	}
	n, err := openNode(ctx, openOptions{dir: dir, passphrase: pass, testnet: c.testnet, logger: stderrLogger(e, slog.LevelWarn)})
	if err != nil {
		return nil, nil, explainOpenError(dir, err)
	}
	return n, n.Close, nil
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func newRestore(e *env) *command {
	var (
		c              common
		u              unlock
		backupPassFile string
		noPass         bool
		jsonOut        bool
	)
	fs := newFlagSet("restore")
	c.register(fs, e)
	u.register(fs, e)
	fs.StringVar(&backupPassFile, "backup-passphrase-file", "", "the backup's passphrase is in `FILE` (default: asked)")
	fs.BoolVar(&noPass, "no-passphrase", false, "store the restored profile without a passphrase (not recommended)")
	fs.BoolVar(&jsonOut, "json", false, "print what was restored as JSON")
	return &command{
		name:       "restore",
		shortUsage: "chive restore FILE [--profile DIR] [--backup-passphrase-file FILE] [--passphrase-file FILE | --no-passphrase]",
		shortHelp:  "make a new profile from a backup",
		longHelp: `Makes a new profile in --profile DIR (or CHIVE_HOME, or the default place;
it must not hold a profile) from a backup written by "chive backup": the same
address, contacts and history. The new profile's passphrase is read from
--passphrase-file, else it is the backup's.

A restored profile's sessions are as old as the backup: when it first runs
(chive daemon, or chive) it asks each contact for a new session. Messages
that were waiting to be sent when the backup was made are marked failed.
Run only one copy of a profile: two nodes with one address steal each
other's connections.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := exactArgs(args, 1); err != nil {
				return err
			}
			if noPass && u.passFile != "" {
				return usagef("give either --passphrase-file or --no-passphrase, not both")
			}
			return doRestore(ctx, e, &c, &u, args[0], backupPassFile, noPass, jsonOut)
		},
	}
}

func doRestore(ctx context.Context, e *env, c *common, u *unlock, file, backupPassFile string, noPass, jsonOut bool) error {
	dir, err := resolveProfile(c.profile, e.getenv)
	if err != nil {
		return err
	}
	if profileExists(dir) {
		return fmt.Errorf("a profile already exists in %s; restore into a new one with --profile DIR", dir)
	}
	if _, err := os.Stat(file); err != nil {
		return err
	}
	var bpass []byte
	if backupPassFile != "" {
		bpass, err = readPassphraseFile(backupPassFile)
	} else if _, ok := terminal(e.stdin); ok {
		bpass, err = promptPassphrase(e, "Backup passphrase: ")
	} else {
		err = usagef("give --backup-passphrase-file FILE (no terminal to ask for the backup's passphrase)")
	}
	if err != nil {
		return err
	}
	defer clear(bpass)
	var pass []byte
	switch {
	case noPass:
	case u.passFile != "":
		if pass, err = readPassphraseFile(u.passFile); err != nil {
			return err
		}
		defer clear(pass)
	default:
		pass = bpass
		fmt.Fprintln(e.stderr, "chive restore: the restored profile is locked with the backup's passphrase")
	}
	if err := checkPassphrase(pass, noPass); err != nil {
		return err
	}
	start := time.Now()
	info, err := node.RestoreProfile(ctx, file, dir, node.RestoreOptions{BackupPassphrase: bpass, Passphrase: pass, NoPassphrase: noPass})
	switch {
	case errors.Is(err, node.ErrBackupPassphrase):
		return fmt.Errorf("wrong backup passphrase for %s (or it is not a chive backup)", file)
	case errors.Is(err, node.ErrBadBackup):
		return fmt.Errorf("%s is damaged or cut short; nothing was restored: %w", file, err)
	case err != nil:
		return explainOpenError(dir, err)
	}
	if jsonOut {
		return writeJSON(e.stdout, map[string]any{"profile": dir, "contacts": info.Contacts, "messages": info.Messages, "backup_created": info.Created})
	}
	fmt.Fprintf(e.stdout, "restored %d contacts and %d messages (backup of %s) into %s in %s\n", info.Contacts, info.Messages,
		info.Created.Local().Format(time.DateTime), dir, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(e.stderr, "Start it (chive daemon, or chive): it asks your contacts for new sessions.")
	return nil
}

func newExport(e *env) *command {
	var (
		c      common
		u      unlock
		format string
		out    string
		yes    bool
	)
	fs := newFlagSet("export")
	c.register(fs, e)
	u.register(fs, e)
	fs.StringVar(&format, "format", "txt", "`txt` (one line per message) or json")
	fs.StringVar(&out, "out", "", "write to `FILE` (it must not exist; default: standard output)")
	fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return &command{
		name:       "export",
		shortUsage: "chive export CONTACT [--format txt|json] [--out FILE] [--yes]",
		shortHelp:  "write one conversation in clear text",
		longHelp: `Writes the whole conversation with CONTACT, oldest first, in CLEAR TEXT:
anyone who can read the output can read the messages. It asks first (on the
terminal), or takes --yes. --format txt is one line per message; json is
{"contact": …, "exported": …, "messages": [ … ]} with the fields of the API
(docs/api.md).
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := exactArgs(args, 1); err != nil {
				return err
			}
			if format != "txt" && format != "json" {
				return usagef("--format %q: want txt or json", format)
			}
			return doExport(ctx, e, &c, &u, args[0], format, out, yes)
		},
	}
}

func doExport(ctx context.Context, e *env, c *common, u *unlock, ref, format, out string, yes bool) error {
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	ct, err := s.api.Contact(ctx, ref)
	if err != nil {
		return err
	}
	where := "standard output"
	if out != "" {
		where = out
	}
	if !yes {
		if err := confirm(e, fmt.Sprintf("Write your conversation with %s in clear text to %s? Anyone who can read it can read your messages. [y/N] ",
			displayName(ct), where)); err != nil {
			return err
		}
	}
	// Newest first, page by page; written oldest first.
	var ms []node.Message
	before := ""
	for {
		page, err := s.api.History(ctx, ref, before, 500)
		if err != nil {
			return err
		}
		ms = append(ms, page...)
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	slices.Reverse(ms)

	w := e.stdout
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		w = bw
	}
	if format == "json" {
		if ms == nil {
			ms = []node.Message{}
		}
		return writeJSON(w, struct {
			Contact  node.Contact   `json:"contact"`
			Exported time.Time      `json:"exported"`
			Messages []node.Message `json:"messages"`
		}{ct, time.Now().UTC(), ms})
	}
	writeTranscript(w, ct, ms)
	if out != "" {
		fmt.Fprintf(e.stderr, "wrote %d messages to %s\n", len(ms), out)
	}
	return nil
}

// confirm asks a yes/no question on the terminal; no means an error.
func confirm(e *env, question string) error {
	if _, ok := terminal(e.stdin); !ok {
		return errNeedsYes
	}
	fmt.Fprint(e.stderr, question)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not exported")
}

// writeTranscript is the txt export: one line per message, cleaned for a
// terminal.
func writeTranscript(w io.Writer, ct node.Contact, ms []node.Message) {
	fmt.Fprintf(w, "# chive: conversation with %s (%s), exported %s\n", displayName(ct), ct.Address, time.Now().Local().Format(time.DateTime))
	for _, m := range ms {
		name := displayName(ct)
		if m.Direction == node.Outgoing {
			name = "you"
		}
		at := m.Time.Local().Format(time.DateTime)
		switch {
		case m.Kind == node.KindTimer:
			fmt.Fprintf(w, "%s  %s set disappearing messages to %s\n", at, name, timerName(time.Duration(m.Timer)))
			continue
		case m.Deleted:
			fmt.Fprintf(w, "%s  %s: [deleted]\n", at, name)
			continue
		}
		var extra []string
		if m.ReplyTo != nil {
			extra = append(extra, fmt.Sprintf("in reply to %q", oneLine(m.ReplyTo.Quote)))
		}
		if !m.Edited.IsZero() {
			extra = append(extra, "edited")
		}
		for _, r := range m.Reactions {
			by := displayName(ct)
			if r.From == node.Outgoing {
				by = "you"
			}
			extra = append(extra, oneLine(r.Emoji)+" "+by)
		}
		line := fmt.Sprintf("%s  %s: %s", at, name, oneLine(m.Text))
		if len(extra) > 0 {
			line += "  (" + strings.Join(extra, "; ") + ")"
		}
		fmt.Fprintln(w, line)
	}
}
