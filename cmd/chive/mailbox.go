package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chive-im/chive/mailbox"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
)

// "chive mailbox": the mailbox role (init, run, status, unlink on the
// always-on machine) and the owner's side (link, unlink, status on the
// profile). See docs/protocol.md, "Mailbox".

// mailboxFlags are the mailbox role's: where its store is and how to
// unlock it.
type mailboxFlags struct {
	dir     string // --dir; "" means $CHIVE_MAILBOX_HOME or the XDG default
	dirSet  bool   // --dir was given (status, unlink: the mailbox's side)
	testnet string
	u       unlock
}

func (m *mailboxFlags) register(fs *flag.FlagSet, e *env) {
	fs.Func("dir", "the mailbox's `directory` (default $CHIVE_MAILBOX_HOME, else $XDG_DATA_HOME/chive-mailbox)", func(s string) error {
		m.dir, m.dirSet = s, true
		return nil
	})
	fs.StringVar(&m.testnet, "tor-testnet", e.getenv("CHIVE_TOR_TESTNET"), "use the private Tor network in `dir` (default $CHIVE_TOR_TESTNET)")
	m.u.register(fs, e)
}

// resolve is the mailbox's directory.
func (m *mailboxFlags) resolve(e *env) (string, error) {
	dir := m.dir
	switch {
	case dir != "":
	case e.getenv("CHIVE_MAILBOX_HOME") != "":
		dir = e.getenv("CHIVE_MAILBOX_HOME")
	case e.getenv("XDG_DATA_HOME") != "":
		dir = filepath.Join(e.getenv("XDG_DATA_HOME"), "chive-mailbox")
	default:
		home := e.getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no home directory: give --dir (%w)", err)
			}
			home = h
		}
		dir = filepath.Join(home, ".local", "share", "chive-mailbox")
	}
	return filepath.Abs(dir)
}

func newMailbox(e *env) *command {
	return &command{
		name:       "mailbox",
		shortUsage: "chive mailbox init|run|status|link|unlink",
		shortHelp:  "run a mailbox that keeps messages while you are offline, or link yours",
		longHelp: `A chive mailbox runs on an always-on machine (a Raspberry Pi, a small
server) and keeps, encrypted end to end, the messages your contacts send you
while you are offline, and yours for contacts who are offline when you are
not. On that machine:
  chive mailbox init --no-passphrase        create it; prints its pairing link
  chive mailbox run                         run it (tmux, or contrib/chive-mailbox.service)
  chive mailbox status                      what it keeps; the pairing link while unpaired
On your own profile (the daemon, or chive itself, may be running):
  chive mailbox link 'chive:ADDRESS?pair=SECRET'
  chive mailbox status                      linked? connected? which contacts were told
  chive mailbox unlink                      on either side
`,
		children: []*command{newMailboxInit(e), newMailboxRun(e), newMailboxStatus(e), newMailboxLink(e), newMailboxUnlink(e)},
	}
}

func newMailboxInit(e *env) *command {
	var (
		m      mailboxFlags
		noPass bool
	)
	fs := newFlagSet("init")
	m.register(fs, e)
	fs.BoolVar(&noPass, "no-passphrase", false, "store the mailbox without a passphrase (so it can start unattended)")
	return &command{
		name:       "init",
		shortUsage: "chive mailbox init [--dir DIR] (--passphrase-file FILE | --no-passphrase)",
		shortHelp:  "create a mailbox and print its one-time pairing link",
		longHelp: `Creates a mailbox in DIR: its own onion identity and a small encrypted
database. It only ever holds messages already encrypted end to end, but its
key and its owner's are in it too: a passphrase protects them if the disk is
taken; --no-passphrase lets it start unattended (systemd).
Prints the pairing link: give it to "chive mailbox link" on your profile.
Anyone who has the link before you use it can take the mailbox.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if noPass && m.u.passFile != "" {
				return usagef("give either --passphrase-file or --no-passphrase, not both")
			}
			dir, err := m.resolve(e)
			if err != nil {
				return err
			}
			if mailbox.Exists(dir) {
				return fmt.Errorf("a mailbox already exists in %s (run it with: chive mailbox run --dir %s)", dir, dir)
			}
			var pass []byte
			if !noPass {
				if pass, err = newPassphrase(e, &m.u); err != nil {
					return err
				}
				if err := checkPassphrase(pass, false); err != nil {
					return err
				}
			}
			store, err := mailbox.Create(ctx, dir, pass, mailbox.CreateOptions{NoPassphrase: noPass})
			clear(pass)
			if err != nil {
				return explainMailboxError(dir, err)
			}
			defer store.Close()
			link, err := store.PairingLink(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Created a mailbox in %s: %s\n", dir, store.Address())
			printPairing(e, link)
			fmt.Fprintf(e.stdout, "Run it with: chive mailbox run --dir %s\n", dir)
			return nil
		},
	}
}

// printPairing shows the pairing link and its QR code.
func printPairing(e *env, link string) {
	fmt.Fprintf(e.stdout, "Pairing link (one use; on your profile: chive mailbox link '%s'):\n%s\n", link, link)
	if _, tty := terminal(e.stdout); tty {
		writeQR(e.stdout, link, true)
	}
}

func newMailboxRun(e *env) *command {
	var (
		m             mailboxFlags
		format, level string
		retention     time.Duration
		perContactMiB int
		totalMiB      int
	)
	fs := newFlagSet("run")
	m.register(fs, e)
	fs.StringVar(&format, "log-format", "text", "log format: text or json")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	def := mailbox.DefaultLimits()
	fs.DurationVar(&retention, "retention", def.Retention, "delete what was not collected after this `long` (its sender is told)")
	fs.IntVar(&perContactMiB, "quota-contact", int(def.SlotBytes>>20), "MiB each contact may have waiting")
	fs.IntVar(&totalMiB, "quota-total", int(def.Total>>20), "MiB the mailbox keeps in all")
	return &command{
		name:       "run",
		shortUsage: "chive mailbox run [--dir DIR] [--passphrase-file FILE] [--retention D] [--quota-contact MIB] [--quota-total MIB]",
		shortHelp:  "run the mailbox: its onion service, until stopped",
		longHelp: `Runs the mailbox headless: starts Tor, publishes the mailbox's onion service
and serves its owner and the owner's contacts, until SIGINT, SIGTERM or SIGHUP.
While unpaired it prints its pairing link. It keeps only what was already
encrypted end to end, padded to a few sizes; an item nobody collected within
--retention is deleted and its sender told. "chive mailbox status" and
"unlink" talk to it on <dir>/mailbox.sock. Run it in tmux or under systemd
(contrib/chive-mailbox.service).
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if retention <= 0 || perContactMiB <= 0 || totalMiB <= 0 {
				return usagef("--retention, --quota-contact and --quota-total must be positive")
			}
			log, err := newLogger(e, format, level)
			if err != nil {
				return err
			}
			signal.Ignore(syscall.SIGPIPE)
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
			defer stop()
			dir, err := m.resolve(e)
			if err != nil {
				return err
			}
			store, err := openMailbox(ctx, e, dir, &m.u)
			if err != nil {
				return err
			}
			defer store.Close()
			cfg := onion.Config{}
			if m.testnet != "" {
				if cfg.ExtraTorrc, err = testnet.ClientTorrcFromDir(m.testnet); err != nil {
					return err
				}
			}
			lim := mailbox.Limits{Retention: retention}
			lim.SlotBytes = int64(perContactMiB) << 20
			lim.Total = int64(totalMiB) << 20
			log.Info("mailbox starting", "pid", os.Getpid(), "dir", dir, "address", store.Address())
			err = mailbox.Run(ctx, store, mailbox.RunOptions{
				Tor:    cfg,
				Server: mailbox.ServerOptions{Limits: lim, Logger: log},
				OnReachable: func(a onion.Address) {
					log.Info("mailbox reachable", "address", a)
				},
				OnPairing: func(link string) {
					fmt.Fprintf(e.stderr, "Waiting to be paired. On your profile: chive mailbox link '%s'\n", link)
				},
			})
			log.Info("mailbox stopped")
			return err
		},
	}
}

// openMailbox unlocks the mailbox store in dir.
func openMailbox(ctx context.Context, e *env, dir string, u *unlock) (*mailbox.Store, error) {
	if !mailbox.Exists(dir) {
		return nil, fmt.Errorf("no mailbox in %s; create one with: chive mailbox init --dir %s", dir, dir)
	}
	pass, err := u.passphrase(e, dir)
	if err != nil {
		return nil, err
	}
	store, err := mailbox.Open(ctx, dir, pass)
	clear(pass)
	if err != nil {
		return nil, explainMailboxError(dir, err)
	}
	return store, nil
}

func explainMailboxError(dir string, err error) error {
	var locked *node.LockedError
	switch {
	case errors.Is(err, node.ErrWrongPassphrase):
		return fmt.Errorf("wrong passphrase for the mailbox in %s", dir)
	case errors.As(err, &locked):
		return fmt.Errorf("the mailbox in %s is running (pid %d); stop it first, or use chive mailbox status", dir, locked.PID)
	}
	return explainOpenError(dir, err)
}

// mailboxSide reports whether status and unlink act on the mailbox (the
// machine it runs on) rather than on our profile's link to one: --dir
// says so; else whichever of the two exists, the profile first.
func mailboxSide(e *env, m *mailboxFlags, c *common) (bool, string, error) {
	if m.dirSet {
		dir, err := m.resolve(e)
		return true, dir, err
	}
	if c.profile == "" {
		if dir, err := resolveProfile("", e.getenv); err == nil && !profileExists(dir) {
			if mdir, err := m.resolve(e); err == nil && mailbox.Exists(mdir) {
				return true, mdir, nil
			}
		}
	}
	return false, "", nil
}

// mailboxStatusJSON is "chive mailbox status --json" on the mailbox.
type mailboxStatusJSON struct {
	Running bool `json:"running"`
	mailbox.Stats
	PairingLink string `json:"pairing_link,omitempty"`
}

func newMailboxStatus(e *env) *command {
	var (
		m       mailboxFlags
		c       common
		jsonOut bool
	)
	fs := newFlagSet("status")
	m.register(fs, e)
	fs.StringVar(&c.profile, "profile", e.getenv("CHIVE_HOME"), "your profile `dir`ectory: show its mailbox link (default $CHIVE_HOME)")
	fs.BoolVar(&jsonOut, "json", false, "print the status as JSON")
	return &command{
		name:       "status",
		shortUsage: "chive mailbox status [--dir DIR | --profile DIR] [--json]",
		shortHelp:  "what a mailbox keeps, or your profile's link to one",
		longHelp: `On the mailbox (--dir, or where no profile exists): whether it runs and is
paired, the owner's last visit, and per contact slot what waits for the owner
and for the contact (the mailbox knows no names: slots are shown as in the
owner's status). Unpaired, it shows the pairing link.
On your profile: which mailbox is linked, whether you are connected to it,
and per contact whether they were told and how many of your messages a
mailbox holds for them.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			onMailbox, dir, err := mailboxSide(e, &m, &c)
			if err != nil {
				return err
			}
			if onMailbox {
				return mailboxStatus(ctx, e, dir, &m, jsonOut)
			}
			c.testnet = m.testnet
			return ownerMailboxStatus(ctx, e, &c, &m.u, jsonOut)
		},
	}
}

func mailboxStatus(ctx context.Context, e *env, dir string, m *mailboxFlags, jsonOut bool) error {
	var out mailboxStatusJSON
	r, err := mailbox.Control(ctx, dir, "status")
	switch {
	case err == nil && r.Status != nil:
		out = mailboxStatusJSON{Running: true, Stats: *r.Status, PairingLink: r.PairingLink}
	case errors.Is(err, mailbox.ErrNotRunning):
		store, err := openMailbox(ctx, e, dir, &m.u)
		if err != nil {
			return err
		}
		defer store.Close()
		st, err := store.Stats(ctx)
		if err != nil {
			return err
		}
		link, _ := store.PairingLink(ctx)
		out = mailboxStatusJSON{Stats: st, PairingLink: link}
	default:
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, out)
	}
	w := e.stdout
	fmt.Fprintf(w, "mailbox:   %s\n", out.Address)
	fmt.Fprintf(w, "directory: %s\n", dir)
	fmt.Fprintf(w, "running:   %s\n", yesNo(out.Running))
	if out.Paired {
		fmt.Fprintf(w, "paired:    yes; owner last seen %s\n", when(out.OwnerSeen))
	} else {
		fmt.Fprintf(w, "paired:    no\n")
	}
	fmt.Fprintf(w, "stored:    %d items, %s\n", out.Items, bytesText(out.Bytes))
	if len(out.Slots) > 0 {
		fmt.Fprintf(w, "contacts:  %-10s %9s %11s %10s  %s\n", "slot", "to owner", "to contact", "bytes", "last seen")
		for _, s := range out.Slots {
			fmt.Fprintf(w, "           %-10s %9d %11d %10s  %s\n", s.Slot, s.ToOwner, s.ToContact, bytesText(s.Bytes), when(s.LastSeen))
		}
	}
	if out.PairingLink != "" {
		printPairing(e, out.PairingLink)
	}
	return nil
}

func ownerMailboxStatus(ctx context.Context, e *env, c *common, u *unlock, jsonOut bool) error {
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.api.MailboxStatus(ctx)
	if err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, st)
	}
	printOwnerStatus(e.stdout, st, s.daemon())
	return nil
}

func printOwnerStatus(w io.Writer, st node.MailboxStatus, daemon bool) {
	if !st.Linked {
		fmt.Fprintln(w, "mailbox:   none linked (chive mailbox link 'chive:ADDRESS?pair=SECRET')")
	} else {
		fmt.Fprintf(w, "mailbox:   %s (linked %s)\n", st.Address, when(st.LinkedAt))
		switch {
		case st.Connected:
			fmt.Fprintln(w, "connected: yes")
		case !daemon:
			fmt.Fprintln(w, "connected: no daemon running (start it with: chive daemon)")
		default:
			fmt.Fprintln(w, "connected: no")
		}
		fmt.Fprintf(w, "last seen: %s\n", when(st.LastSeen))
		if st.Error != "" {
			fmt.Fprintf(w, "problem:   %s\n", oneLine(st.Error))
		}
	}
	if len(st.Contacts) == 0 {
		return
	}
	fmt.Fprintf(w, "contacts:  %-20s %-10s %-5s %-13s %s\n", "name", "slot", "told", "their mailbox", "stored")
	for _, c := range st.Contacts {
		name := oneLine(c.Contact)
		if name == "" {
			name = onion.Address(c.Address).Short()
		}
		fmt.Fprintf(w, "           %-20s %-10s %-5s %-13s %d\n", name, orDash(c.Slot), yesNo(c.Told), yesNo(c.HasMailbox), c.Stored)
	}
}

func newMailboxLink(e *env) *command {
	var (
		c       common
		u       unlock
		timeout time.Duration
		jsonOut bool
	)
	fs := newFlagSet("link")
	c.register(fs, e)
	u.register(fs, e)
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to try to reach the mailbox")
	fs.BoolVar(&jsonOut, "json", false, "print the mailbox status as JSON")
	return &command{
		name:       "link",
		shortUsage: "chive mailbox link 'chive:ADDRESS?pair=SECRET' [--timeout D] [--json]",
		shortHelp:  "pair your profile with a mailbox, over Tor",
		longHelp: `Pairs your profile with the mailbox whose pairing link "chive mailbox init"
(or "run", or "status" on it) printed. Your node reaches the mailbox over Tor
(the link's address proves the mailbox; your onion key and the one-time
secret prove you), then tells each accepted contact, inside your encrypted
session, how to leave messages there while you are offline. Without a
running daemon it starts Tor for as long as it takes.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := exactArgs(args, 1); err != nil {
				return err
			}
			if _, _, err := mailbox.ParsePairingLink(args[0]); err != nil {
				return usagef("%v", err)
			}
			s, err := attach(ctx, e, &c, &u)
			if err != nil {
				return err
			}
			defer s.Close()
			if !s.daemon() {
				fmt.Fprintln(e.stderr, "chive mailbox link: no daemon running; starting Tor (this can take a while)")
				if err := s.start(ctx); err != nil {
					return fmt.Errorf("start tor: %w", err)
				}
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, err := s.api.MailboxLink(ctx, args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(e.stdout, st)
			}
			fmt.Fprintf(e.stdout, "Linked to the mailbox %s; your contacts are being told.\n", st.Address)
			if !s.daemon() {
				fmt.Fprintln(e.stdout, "Contacts learn of it when they next hear from you: run chive daemon (or chive).")
			}
			return nil
		},
	}
}

func newMailboxUnlink(e *env) *command {
	var (
		m     mailboxFlags
		c     common
		force bool
	)
	fs := newFlagSet("unlink")
	m.register(fs, e)
	fs.StringVar(&c.profile, "profile", e.getenv("CHIVE_HOME"), "your profile `dir`ectory (default $CHIVE_HOME)")
	fs.BoolVar(&force, "force", false, "on your profile: forget the mailbox even if it cannot be reached")
	return &command{
		name:       "unlink",
		shortUsage: "chive mailbox unlink [--dir DIR | --profile DIR] [--force]",
		shortHelp:  "end the pairing, on your profile or on the mailbox",
		longHelp: `On your profile: tells the mailbox to delete everything it keeps for you and
forget you, and tells your contacts you have no mailbox. If the mailbox
cannot be reached nothing changes, unless --force.
On the mailbox (--dir, or where no profile exists): deletes everything it
keeps, forgets its owner and prints a new pairing link. The owner's node
sees it was unlinked.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			onMailbox, dir, err := mailboxSide(e, &m, &c)
			if err != nil {
				return err
			}
			if onMailbox {
				return unlinkOnMailbox(ctx, e, dir, &m)
			}
			c.testnet = m.testnet
			s, err := attach(ctx, e, &c, &m.u)
			if err != nil {
				return err
			}
			defer s.Close()
			if !s.daemon() {
				if err := s.start(ctx); err != nil {
					return fmt.Errorf("start tor: %w", err)
				}
			}
			if err := s.api.MailboxUnlink(ctx, force); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "Unlinked; your contacts are being told you have no mailbox.")
			return nil
		},
	}
}

func unlinkOnMailbox(ctx context.Context, e *env, dir string, m *mailboxFlags) error {
	r, err := mailbox.Control(ctx, dir, "unlink")
	if errors.Is(err, mailbox.ErrNotRunning) {
		store, err := openMailbox(ctx, e, dir, &m.u)
		if err != nil {
			return err
		}
		defer store.Close()
		if err := store.Unlink(ctx); err != nil {
			return err
		}
		r.PairingLink, err = store.PairingLink(ctx)
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Unlinked: everything the mailbox kept is deleted.")
	printPairing(e, r.PairingLink)
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.DateTime)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
