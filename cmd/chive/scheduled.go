package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/chive-im/chive/node"
)

func newScheduled(e *env) *command {
	var (
		c       common
		u       unlock
		jsonOut bool
	)
	flags := func(name string, withJSON bool) *flag.FlagSet {
		fs := newFlagSet(name)
		c.register(fs, e)
		u.register(fs, e)
		if withJSON {
			fs.BoolVar(&jsonOut, "json", false, "print JSON")
		}
		return fs
	}
	list := func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		s, err := attach(ctx, e, &c, &u)
		if err != nil {
			return err
		}
		defer s.Close()
		ms, err := s.api.Scheduled(ctx)
		if err != nil {
			return err
		}
		if jsonOut {
			if ms == nil {
				ms = []node.Message{}
			}
			return writeJSON(e.stdout, ms)
		}
		if len(ms) == 0 {
			fmt.Fprintln(e.stdout, "Nothing scheduled. Schedule with: chive send CONTACT TEXT --at 2026-12-01T09:00 (or --in 2h)")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AT\tTO\tID\tTEXT")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.SendAt.Local().Format(time.DateTime), sender(m), m.ID, clip(oneLine(m.Text), 40))
		}
		return tw.Flush()
	}
	return &command{
		name:       "scheduled",
		shortUsage: "chive scheduled [SUBCOMMAND] [--json]",
		shortHelp:  "list the messages scheduled with send --at/--in; cancel one",
		longHelp: `Lists the messages scheduled for later (chive send --at TIME or --in D) that
have not been sent yet, earliest first. They are kept in the profile: sent at
their time by the daemon, or when it next runs if it is down then.
`,
		flags: flags("scheduled", true),
		exec:  list,
		children: []*command{
			{
				name:       "list",
				shortUsage: "chive scheduled [list] [--json]",
				shortHelp:  "list scheduled messages",
				flags:      flags("list", true),
				exec:       list,
			},
			{
				name:       "cancel",
				shortUsage: "chive scheduled cancel MESSAGE-ID",
				shortHelp:  "cancel a scheduled message before it is sent",
				flags:      flags("cancel", false),
				exec: func(ctx context.Context, args []string) error {
					if err := exactArgs(args, 1); err != nil {
						return err
					}
					s, err := attach(ctx, e, &c, &u)
					if err != nil {
						return err
					}
					defer s.Close()
					if err := s.api.CancelScheduled(ctx, args[0]); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "cancelled %s; it is not sent\n", args[0])
					return nil
				},
			},
		},
	}
}

// clip cuts s to n runes, with "…".
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
