// Command chive is a terminal messenger where every user is a Tor onion service.
//
// With no arguments it opens the terminal UI; subcommands run the node headless
// and talk to it from scripts. Run "chive help" for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in "chive help". Scripts depend on them.
const (
	exitOK    = 0
	exitError = 1 // anything not listed below; send --wait: the message failed
	exitUsage = 2 // bad flags or arguments
	// exitQueued is no longer returned: a queued message is a success (0).
	// It was send's status without --wait; a script's set -e stopped on it.
	exitQueued      = 3
	exitTimeout     = 4 // send --wait: timed out waiting
	exitUnknownPeer = 5 // send/contacts: no such contact
	exitNoDaemon    = 6 // the command needs a running daemon or a profile and found neither
	exitExpired     = 7 // send --wait: the message expired (--ttl) before it was delivered
)

// env is what a command sees of the outside world, so commands are testable.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e *env) int {
	return newRoot(e).run(ctx, e, args)
}

// newRoot builds the command table. Plain "chive" (with or without flags)
// opens the UI; the table is built per run because flag defaults come from
// the environment.
func newRoot(e *env) *command {
	root := newTUI(e)
	root.name, root.longHelp = "chive", "" // its usage is printHelp
	tui := newTUI(e)
	tui.hidden = true
	root.children = []*command{
		newAddress(e),
		newConfig(e),
		newContacts(e),
		newDaemon(e),
		newDemo(e),
		newDoctor(e),
		newFiles(e),
		newGroups(e),
		newInbox(e),
		newInit(e),
		newInvites(e),
		newMailbox(e),
		newRetry(e),
		newScheduled(e),
		newSend(e),
		newStatus(e),
		newTestnet(e),
		tui,
		// Conversation features (issue 17).
		newReply(e),
		newReact(e),
		newEdit(e),
		newDelete(e),
		newEdits(e),
		newTimer(e),
		newSearch(e),
		newBackup(e),
		newRestore(e),
		newExport(e),
		newHelp(e, root),
		{
			name:       "version",
			shortUsage: "chive version",
			shortHelp:  "print the version",
			// Arguments are ignored, as they always were.
			exec: func(context.Context, []string) error {
				fmt.Fprintln(e.stdout, "chive", version)
				return nil
			},
		},
	}
	return root
}

func newHelp(e *env, root *command) *command {
	return &command{
		name:       "help",
		shortUsage: "chive help [COMMAND [SUBCOMMAND]]",
		shortHelp:  `show this help, or "chive help <command>"`,
		exec: func(_ context.Context, args []string) error {
			c := root
			for _, name := range args {
				ch := c.child(name)
				if ch == nil {
					// An unknown topic gets the overview, as "chive help" does.
					c = root
					break
				}
				c = ch
			}
			c.printUsage(e.stdout)
			return nil
		},
	}
}

// printHelp is the root's usage: "chive help" and "chive -h".
func printHelp(w io.Writer, root *command) {
	fmt.Fprint(w, `chive — a terminal messenger where every user is a Tor onion service.

Usage:
  chive [flags]              open the terminal UI
  chive <command> [flags]    run a command; "chive <command> -h" for its flags

Commands:
`)
	printRows(w, root.children, func(c *command) string { return c.name })
	fmt.Fprint(w, `
Every command takes --profile DIR (or CHIVE_HOME) and --tor-testnet DIR (or
CHIVE_TOR_TESTNET) to use a private Tor network started by "chive testnet up".
Flags may come before or after positional arguments.

Headless: "chive daemon" runs the node and serves <profile>/chive.sock
(JSON-RPC, docs/api.md); address, contacts, send, inbox and status talk to
it. With no daemon running they open the profile themselves, unlocking it
with --passphrase-file FILE (or CHIVE_PASSPHRASE_FILE) or a terminal prompt.

Exit codes:
  0  success (send: queued; with --wait: delivered or sent, as asked)
  1  error (send --wait: the message failed; the reason is printed)
  2  usage error (bad flag or argument)
  3  not used any more (was: send queued without --wait; that is 0 now)
  4  send --wait: timed out (the message stays queued and will be delivered later)
  5  unknown contact
  6  no running daemon and no profile to open (create one with "chive init")
  7  send --wait: the message expired (--ttl) before it was delivered
`)
}
