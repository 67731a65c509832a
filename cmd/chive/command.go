package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// command is one entry of the CLI's table, in the shape of tailscale's
// ffcli.Command: a name, a flag set, usage text and exec. A command with
// subcommands (contacts add, testnet up) is a command with children.
// Commands neither parse their flags nor print their errors: run does both,
// and maps exec's error to an exit code in one place (exitCode).
type command struct {
	name       string
	aliases    []string
	shortUsage string // the synopsis: "chive send CONTACT [TEXT...] [--wait delivered|sent]"
	shortHelp  string // one line in the parent's list
	longHelp   string // what "chive CMD -h" says after the synopsis
	hidden     bool   // left out of the parent's list
	flags      *flag.FlagSet
	children   []*command
	// exec runs the command with the positional arguments left once the
	// flags are parsed. nil for a command that only groups its children.
	exec func(ctx context.Context, args []string) error

	parent *command // set by wire
}

// newFlagSet returns an empty flag set for a command; wire sets where it
// prints and its usage.
func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ContinueOnError)
}

// wire links children to their parents and points every flag set's
// messages and usage at w.
func (c *command) wire(parent *command, w io.Writer) {
	c.parent = parent
	if c.flags == nil {
		c.flags = newFlagSet(c.name)
	}
	c.flags.SetOutput(w)
	c.flags.Usage = func() { c.printUsage(w) }
	for _, ch := range c.children {
		ch.wire(c, w)
	}
}

// path is the command's words after "chive": "" for the root, "contacts add".
func (c *command) path() string {
	if c.parent == nil {
		return ""
	}
	if p := c.parent.path(); p != "" {
		return p + " " + c.name
	}
	return c.name
}

func (c *command) child(name string) *command {
	for _, ch := range c.children {
		if ch.name == name {
			return ch
		}
		for _, a := range ch.aliases {
			if a == name {
				return ch
			}
		}
	}
	return nil
}

// run runs the command line args (without the program name) and returns the
// exit code.
func (c *command) run(ctx context.Context, e *env, args []string) int {
	c.wire(nil, e.stderr)
	cmd, err := c.dispatch(ctx, args)
	report(e, cmd, err)
	return exitCode(err)
}

// dispatch runs the command args name under c: it parses that command's
// flags and calls its exec. It returns the command it got to, for the error
// report, with the error.
//
// Flags may come before or after positional arguments. For a command with
// children, the flags before the first positional are its own, and a first
// positional naming a child hands the rest to that child:
// "chive --profile P contacts --json list".
func (c *command) dispatch(ctx context.Context, args []string) (*command, error) {
	var pos []string
	if len(c.children) > 0 {
		if err := c.flags.Parse(args); err != nil {
			return c, flagError(err)
		}
		if rest := c.flags.Args(); len(rest) > 0 {
			consumed := len(args) - len(rest)
			afterDashes := consumed > 0 && args[consumed-1] == "--"
			ch := c.child(rest[0])
			if ch == nil || afterDashes {
				return c, c.unknown(rest[0])
			}
			if err := inherit(c.flags, ch); err != nil {
				return c, err
			}
			return ch.dispatch(ctx, rest[1:])
		}
	} else {
		var err error
		if pos, err = parseInterspersed(c.flags, args); err != nil {
			return c, flagError(err)
		}
	}
	if c.exec == nil {
		return c, usagef("want %s", c.childList())
	}
	return c, c.exec(ctx, pos)
}

func (c *command) unknown(name string) error {
	if c.parent == nil {
		return usagef("unknown command %q", name)
	}
	return usagef("unknown subcommand %q, want %s", name, c.childList())
}

// childList is `"up" or "down"`: the visible children, for an error.
func (c *command) childList() string {
	var names []string
	for _, ch := range c.children {
		if !ch.hidden {
			names = append(names, fmt.Sprintf("%q", ch.name))
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// printUsage writes what "chive CMD -h" shows: the synopsis (one line per
// child for a command with children), the long help and the flags.
func (c *command) printUsage(w io.Writer) {
	if c.parent == nil {
		printHelp(w, c)
	} else if len(c.children) == 0 {
		fmt.Fprintf(w, "Usage: %s\n", c.shortUsage)
	} else {
		fmt.Fprintln(w, "Usage:")
		printRows(w, c.children, func(ch *command) string { return ch.shortUsage })
	}
	if c.longHelp != "" {
		fmt.Fprintf(w, "\n%s", c.longHelp)
		if !strings.HasSuffix(c.longHelp, "\n") {
			fmt.Fprintln(w)
		}
	}
	if hasFlags(c.flags) {
		fmt.Fprintln(w, "\nFlags:")
		out := c.flags.Output()
		c.flags.SetOutput(w)
		c.flags.PrintDefaults()
		c.flags.SetOutput(out)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// printRows lists the visible commands, each with its short help, the help
// aligned in one column; a label too long for it puts the help on the next
// line.
func printRows(w io.Writer, cs []*command, label func(*command) string) {
	const maxCol = 50
	col := 0
	for _, ch := range cs {
		if l := len(label(ch)); !ch.hidden && l < maxCol {
			col = max(col, l)
		}
	}
	for _, ch := range cs {
		if ch.hidden {
			continue
		}
		l := label(ch)
		if len(l) > col {
			fmt.Fprintf(w, "  %s\n  %-*s  %s\n", l, col, "", ch.shortHelp)
			continue
		}
		fmt.Fprintf(w, "  %-*s  %s\n", col, l, ch.shortHelp)
	}
}

// usageError is a mistake on the command line: exit status 2, and a
// pointer to the command's usage.
type usageError struct {
	msg   string
	shown bool // the flag package has already printed the problem and the usage
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// inherit gives child the flags set on its parent's command line, before
// the child's name ("chive --profile P send ..."); the child's own command
// line, parsed next, may override them.
func inherit(parent *flag.FlagSet, child *command) error {
	var err error
	parent.Visit(func(f *flag.Flag) {
		cf := child.flags.Lookup(f.Name)
		switch {
		case err != nil:
		case cf == nil:
			err = usagef("flag -%s does not apply to %q", f.Name, child.path())
		default:
			if serr := cf.Value.Set(f.Value.String()); serr != nil {
				err = usagef("flag -%s: %v", f.Name, serr)
			}
		}
	})
	return err
}

// flagError turns an error from flag parsing into what run reports: -h is
// no error, anything else a usage error the flag package has explained.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &usageError{msg: err.Error(), shown: true}
}

// noArgs is the usage error of a command that takes no positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// exactArgs is the usage error of a command that takes exactly n arguments.
func exactArgs(args []string, n int) error {
	if len(args) != n {
		return usagef("takes %d argument(s), got %d", n, len(args))
	}
	return nil
}

// exitStatus ends a command with a status it has already explained on its
// output: send's 3 (queued) and 4 (timed out) are results, not errors.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// noProfileError: no daemon runs for the profile directory and there is no
// profile in it to open.
type noProfileError struct{ dir string }

func (e *noProfileError) Error() string {
	return fmt.Sprintf("no chive profile in %s and no daemon running for it.\n"+
		"Create one with:  chive init --name NAME --passphrase-file FILE   (or --no-passphrase)\n"+
		"or point to another with --profile DIR or CHIVE_HOME", e.dir)
}

// inUseError: another process holds the profile's lock.
type inUseError struct {
	dir string
	pid int // 0 when unknown
}

func (e *inUseError) Error() string {
	if e.pid != 0 {
		return fmt.Sprintf("another chive is already running on the profile in %s (pid %d)", e.dir, e.pid)
	}
	return fmt.Sprintf("another chive is already running on the profile in %s", e.dir)
}

// exitCode maps a command's error to the exit codes documented in
// "chive help". Scripts depend on them.
func exitCode(err error) int {
	var status exitStatus
	var usage *usageError
	var noProfile *noProfileError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &status):
		return int(status)
	case errors.As(err, &usage):
		return exitUsage
	case errors.Is(err, node.ErrUnknownContact), errors.Is(err, node.ErrUnknownGroup):
		return exitUnknownPeer
	case errors.As(err, &noProfile):
		return exitNoDaemon
	}
	return exitError
}

// report prints cmd's error on stderr, in the user's words; a usage error
// also says where to find the usage.
func report(e *env, cmd *command, err error) {
	var status exitStatus
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.As(err, &status):
		return
	case errors.As(err, &usage) && usage.shown:
		return
	case errors.Is(err, context.Canceled):
		err = errors.New("interrupted")
	}
	name := "chive"
	if p := cmd.path(); p != "" {
		name += " " + p
	}
	// Errors can quote what a peer or the daemon sent: clean them like
	// any other text shown on the terminal.
	fmt.Fprintf(e.stderr, "%s: %s\n", name, safetext.Text(err.Error()))
	switch {
	case usage == nil:
	case cmd.parent == nil:
		fmt.Fprintln(e.stderr, "Run 'chive help' for the list of commands.")
	default:
		fmt.Fprintf(e.stderr, "Run '%s -h' for usage.\n", name)
	}
}
