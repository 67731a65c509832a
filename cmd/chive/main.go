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
	"sort"
	"strings"
	"syscall"
)

// Exit codes, documented in "chive help". Scripts depend on them.
const (
	exitOK          = 0
	exitError       = 1 // anything not listed below
	exitUsage       = 2 // bad flags or arguments
	exitQueued      = 3 // send without --wait: queued, not yet sent/delivered
	exitTimeout     = 4 // send --wait: timed out waiting
	exitUnknownPeer = 5 // send/contacts: no such contact
	exitNoDaemon    = 6 // the command needs a running daemon or a profile and found neither
)

// env is what a command sees of the outside world, so commands are testable.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand. Each lives in its own file and registers itself in init.
type command struct {
	name    string
	summary string // one line for "chive help"
	usage   string // shown by "chive <cmd> -h"
	hidden  bool
	run     func(ctx context.Context, e *env, args []string) int
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("chive: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e *env) int {
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help":
		if len(args) > 0 {
			if c, ok := commands[args[0]]; ok {
				fmt.Fprint(e.stdout, c.usage)
				return exitOK
			}
		}
		printHelp(e.stdout)
		return exitOK
	case "version":
		fmt.Fprintln(e.stdout, "chive", version)
		return exitOK
	case "":
		name = "tui"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "chive: unknown command %q\nRun 'chive help' for the list of commands.\n", name)
		return exitUsage
	}
	return c.run(ctx, e, args)
}

var version = "dev"

func printHelp(w io.Writer) {
	fmt.Fprint(w, `chive — a terminal messenger where every user is a Tor onion service.

Usage:
  chive [flags]              open the terminal UI
  chive <command> [flags]    run a command; "chive <command> -h" for its flags

Commands:
`)
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden && n != "tui" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `  help         show this help, or "chive help <command>"
  version      print the version

Every command takes --profile DIR (or CHIVE_HOME) and --tor-testnet DIR (or
CHIVE_TOR_TESTNET) to use a private Tor network started by "chive testnet up".
Flags may come before or after positional arguments.

Headless: "chive daemon" runs the node and serves <profile>/chive.sock
(JSON-RPC, docs/api.md); address, contacts, send, inbox and status talk to
it. With no daemon running they open the profile themselves, unlocking it
with --passphrase-file FILE (or CHIVE_PASSPHRASE_FILE) or a terminal prompt.

Exit codes:
  0  success (send: delivered or sent, as asked with --wait)
  1  error
  2  usage error (bad flag or argument)
  3  send without --wait: queued (accepted; it is delivered in the background)
  4  send --wait: timed out (the message stays queued and will be delivered later)
  5  unknown contact
  6  no running daemon and no profile to open (create one with "chive init")
`)
}
