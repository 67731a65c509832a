package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/chive-im/chive/node"
)

// The command table is whole: every command can be found by its path, says
// what it does, and has a synopsis that starts with "chive <path>".
func TestCommandTable(t *testing.T) {
	root := newRoot(&env{getenv: func(string) string { return "" }})
	root.wire(nil, &syncBuffer{})
	var walk func(c *command)
	walk = func(c *command) {
		seen := map[string]bool{}
		for _, ch := range c.children {
			for _, n := range append([]string{ch.name}, ch.aliases...) {
				if seen[n] {
					t.Errorf("%q: two children named %q", c.path(), n)
				}
				seen[n] = true
			}
			if ch.shortHelp == "" {
				t.Errorf("%q has no short help", ch.path())
			}
			optional := "chive " + strings.TrimSpace(c.path()+" ["+ch.name+"]") // "chive contacts [list]"
			if ch.exec != nil && !ch.hidden && !strings.HasPrefix(ch.shortUsage, "chive "+ch.path()) && !strings.HasPrefix(ch.shortUsage, optional) {
				t.Errorf("%q: synopsis %q", ch.path(), ch.shortUsage)
			}
			if ch.exec == nil && len(ch.children) == 0 {
				t.Errorf("%q neither runs nor has subcommands", ch.path())
			}
			walk(ch)
		}
	}
	walk(root)
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, exitOK},
		{flag.ErrHelp, exitOK},
		{errors.New("boom"), exitError},
		{usagef("bad"), exitUsage},
		{fmt.Errorf("wrapped: %w", usagef("bad")), exitUsage},
		{flagError(errors.New("flag provided but not defined: -x")), exitUsage},
		{exitStatus(exitQueued), exitQueued},
		{exitStatus(exitTimeout), exitTimeout},
		{fmt.Errorf("send: %w", node.ErrUnknownContact), exitUnknownPeer},
		{&noProfileError{"/p"}, exitNoDaemon},
		{fmt.Errorf("attach: %w", &noProfileError{"/p"}), exitNoDaemon},
		{&inUseError{dir: "/p", pid: 7}, exitError},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
}

// TestDispatch: where flags may go, subcommands and their aliases, help
// for any command, and what a mistake prints.
func TestDispatch(t *testing.T) {
	d := startFake(t)
	noEnv := func(args ...string) result {
		t.Helper()
		return chive(t, context.Background(), "", nil, args...)
	}

	// Flags before the command's name carry over to it.
	r := noEnv("--profile", d.dir, "status")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, aliceAddr) {
		t.Errorf("--profile before the command: %s", r.stdout)
	}
	r = noEnv("--no-bell", "status", "--profile", d.dir)
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, `-no-bell does not apply to "status"`) {
		t.Errorf("a UI flag before status: %q", r.stderr)
	}

	// contacts: list by default; --json before, after, or around "list".
	for _, args := range [][]string{
		{"contacts", "--json"},
		{"contacts", "--json", "list"},
		{"contacts", "list", "--json"},
		{"--profile", d.dir, "contacts", "list", "--json"},
	} {
		r := d.run(t, args...)
		wantCode(t, r, exitOK)
		var cs []node.Contact
		if err := json.Unmarshal([]byte(r.stdout), &cs); err != nil || len(cs) != 1 || cs[0].Name != "bob" {
			t.Errorf("%q: %q %v", args, r.stdout, err)
		}
	}
	wantCode(t, d.run(t, "contacts", "list", "bob"), exitUsage)
	r = d.run(t, "contacts", "--json", "add", bobAddr, "--name", "b")
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, `does not apply to "contacts add"`) {
		t.Errorf("--json before add: %q", r.stderr)
	}
	r = d.run(t, "contacts", "frobnicate")
	wantCode(t, r, exitUsage)
	for _, want := range []string{`chive contacts: unknown subcommand "frobnicate", want "list", "add"`, "Run 'chive contacts -h' for usage."} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("unknown subcommand: %q lacks %q", r.stderr, want)
		}
	}
	r = d.run(t, "contacts", "accept")
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, "chive contacts accept: takes 1 argument(s), got 0") {
		t.Errorf("accept without a contact: %q", r.stderr)
	}
	wantCode(t, d.run(t, "contacts", "remove", "bob", "--keep-history"), exitOK)
	if _, err := d.f.Contact(context.Background(), "bob"); !errors.Is(err, node.ErrUnknownContact) {
		t.Errorf("contacts remove (alias of rm): bob is still there: %v", err)
	}

	// "--" ends the flags: what follows is text.
	d.f.SimContact(node.Contact{Address: carolAddr, Name: "carol", State: node.StateAccepted})
	wantCode(t, d.run(t, "send", "carol", "--", "--wait", "x"), exitOK)
	if h, _ := d.f.History(context.Background(), "carol", "", 1); len(h) != 1 || h[0].Text != "--wait x" {
		t.Errorf("text after --: %+v", h)
	}

	r = noEnv("frob")
	wantCode(t, r, exitUsage)
	if r.stderr != "chive: unknown command \"frob\"\nRun 'chive help' for the list of commands.\n" {
		t.Errorf("unknown command: %q", r.stderr)
	}
	r = noEnv("version")
	wantCode(t, r, exitOK)
	if r.stdout != "chive "+version+"\n" {
		t.Errorf("version: %q", r.stdout)
	}

	// Help for any command, subcommands included: on stdout with "help",
	// on stderr with -h.
	r = noEnv("help", "contacts", "add")
	wantCode(t, r, exitOK)
	if !strings.HasPrefix(r.stdout, "Usage: chive contacts add ADDRESS --name NAME") || !strings.Contains(r.stdout, "-greeting") {
		t.Errorf("help contacts add: %q", r.stdout)
	}
	r = noEnv("contacts", "rm", "-h")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stderr, "-keep-history") || r.stdout != "" {
		t.Errorf("contacts rm -h: %q %q", r.stdout, r.stderr)
	}
	r = noEnv("contacts", "-h")
	wantCode(t, r, exitOK)
	for _, sub := range []string{"add", "accept", "decline", "block", "rename", "rm", "show"} {
		if !strings.Contains(r.stderr, "chive contacts "+sub+" ") {
			t.Errorf("contacts -h does not list %q:\n%s", sub, r.stderr)
		}
	}
	r = noEnv("-h")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stderr, "Exit codes:") || !strings.Contains(r.stderr, "-no-bell") {
		t.Errorf("chive -h: %q", r.stderr)
	}
}
