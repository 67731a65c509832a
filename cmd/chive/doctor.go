package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
)

func newDoctor(e *env) *command {
	var (
		c               common
		u               unlock
		repair, jsonOut bool
	)
	fs := newFlagSet("doctor")
	c.register(fs, e)
	u.register(fs, e)
	fs.BoolVar(&repair, "repair", false, "back the profile up, then move every row that cannot be read aside (into its quarantine table)")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	return &command{
		name:       "doctor",
		shortUsage: "chive doctor [--repair] [--json]",
		shortHelp:  "check the profile for damage; --repair moves damaged rows aside",
		longHelp: `Checks the profile: SQLite's integrity check, then every encrypted value of
every row (messages, contacts, sessions, the outbox, your identity). It lists
what cannot be read. chive keeps working around damaged rows (they show as
"could not be read" and are counted in "chive status"); --repair first copies
the profile to <profile>/backups/, then moves each damaged row into the
profile's quarantine table, where it no longer gets in the way:
  a message       is taken out of its conversation
  a contact       loses the damaged fields (name, greeting, note); one whose
                  address is damaged is hidden, its messages kept
  a session       is deleted: messages to that contact need a new one
  a queued item   is dropped: its message shows as failed
Your identity cannot be repaired: restore chive.db from a backup.
The daemon must be stopped: doctor needs the profile to itself.

Exit status: 0 nothing wrong (or everything repaired), 1 damage found or left.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return doctor(ctx, e, &c, &u, repair, jsonOut)
		},
	}
}

func doctor(ctx context.Context, e *env, c *common, u *unlock, repair, jsonOut bool) error {
	dir, err := resolveProfile(c.profile, e.getenv)
	if err != nil {
		return err
	}
	if client, err := rpc.Dial(ctx, rpc.SocketPath(dir)); err == nil {
		client.Close()
		return fmt.Errorf("a daemon is running on the profile in %s; stop it first: doctor needs the profile to itself", dir)
	}
	if !profileExists(dir) {
		return &noProfileError{dir}
	}
	pass, err := u.passphrase(e, dir)
	if err != nil {
		return err
	}
	r, err := runDoctor(ctx, dir, pass, repair)
	clear(pass)
	if err != nil {
		if r.Profile == "" {
			return explainOpenError(dir, err)
		}
		// Partway: say what is known, then the error.
		printDoctor(e, r, repair)
		return err
	}
	if jsonOut {
		if r.Unreadable == nil {
			r.Unreadable = []node.DamagedRow{}
		}
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		printDoctor(e, r, repair)
	}
	if !r.OK {
		return exitStatus(exitError)
	}
	return nil
}

func printDoctor(e *env, r node.DoctorReport, repair bool) {
	w := e.stdout
	fmt.Fprintf(w, "profile:     %s\n", r.Profile)
	if len(r.Integrity) == 1 && r.Integrity[0] == "ok" {
		fmt.Fprintf(w, "integrity:   ok\n")
	} else {
		fmt.Fprintf(w, "integrity:   %d problems found by SQLite:\n", len(r.Integrity))
		for _, l := range r.Integrity {
			fmt.Fprintf(w, "  %s\n", oneLine(l))
		}
	}
	var tables []string
	for t := range r.Checked {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	var checked []string
	for _, t := range tables {
		checked = append(checked, fmt.Sprintf("%d %s", r.Checked[t], t))
	}
	fmt.Fprintf(w, "checked:     %s\n", strings.Join(checked, ", "))
	if len(r.Unreadable) == 0 {
		fmt.Fprintf(w, "unreadable:  none\n")
	} else {
		counts := map[string]int{}
		for _, d := range r.Unreadable {
			counts[d.Table]++
		}
		fmt.Fprintf(w, "unreadable:  %s\n", unreadableText(counts))
		for _, d := range r.Unreadable {
			what := "SQLite cannot read the row"
			if len(d.Columns) > 0 {
				what = strings.Join(d.Columns, ", ") + " damaged"
			}
			fmt.Fprintf(w, "  %s #%d: %s\n", d.Table, d.Row, what)
		}
	}
	if r.Backup != "" {
		fmt.Fprintf(w, "backup:      %s\n", r.Backup)
	}
	if f := r.Repaired; f != nil {
		fmt.Fprintf(w, "repaired:    %d moved to quarantine, %d unreadable rows deleted, %d left\n", len(f.Quarantined), len(f.Deleted), len(f.Left))
		for _, d := range f.Left {
			if d.Table == "identity" {
				fmt.Fprintf(w, "  your identity cannot be repaired: restore chive.db from a backup\n")
			} else {
				fmt.Fprintf(w, "  %s #%d could not be removed\n", d.Table, d.Row)
			}
		}
	}
	var q int
	for _, c := range r.Quarantined {
		q += c
	}
	if q > 0 {
		fmt.Fprintf(w, "quarantine:  %d rows kept aside\n", q)
	}
	switch {
	case r.OK:
		fmt.Fprintf(w, "The profile is healthy.\n")
	case !repair:
		fmt.Fprintf(w, "Run \"chive doctor --repair\" to move the damaged rows aside (a backup is written first).\n")
	default:
		fmt.Fprintf(w, "Some damage is left; restore from a backup in %s if you need what it held.\n", r.Profile+"/backups")
	}
}
