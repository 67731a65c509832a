package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chive-im/chive/node"
)

func newInvites(e *env) *command {
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
	withSession := func(ctx context.Context, f func(*session) error) error {
		s, err := attach(ctx, e, &c, &u)
		if err != nil {
			return err
		}
		defer s.Close()
		return f(s)
	}
	list := func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return withSession(ctx, func(s *session) error {
			ivs, err := s.api.Invites(ctx)
			if err != nil {
				return err
			}
			if jsonOut {
				if ivs == nil {
					ivs = []node.Invite{}
				}
				return writeJSON(e.stdout, ivs)
			}
			if len(ivs) == 0 {
				fmt.Fprintln(e.stdout, "No invite links. Make one with: chive address --invite")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSED\tEXPIRES\tLINK")
			for _, iv := range ivs {
				fmt.Fprintf(tw, "%d\t%d/%d\t%s\t%s\n", iv.ID, iv.Uses, iv.MaxUses, iv.Expires.Local().Format(time.DateTime), iv.Link)
			}
			return tw.Flush()
		})
	}
	return &command{
		name:       "invites",
		shortUsage: "chive invites [list] [--json] | chive invites revoke ID",
		shortHelp:  "list your invite links, or revoke one",
		longHelp: `Lists the invite links that still work ("chive address --invite" makes
them): how often each was used, until when it works, and the link.
"chive invites revoke ID" makes a link stop working at once.
`,
		flags: flags("invites", true),
		exec:  list,
		children: []*command{
			{
				name:       "list",
				shortUsage: "chive invites list [--json]",
				shortHelp:  "list invite links",
				flags:      flags("list", true),
				exec:       list,
			},
			{
				name:       "revoke",
				shortUsage: "chive invites revoke ID",
				shortHelp:  "make an invite link stop working",
				flags:      flags("revoke", false),
				exec: func(ctx context.Context, args []string) error {
					if err := exactArgs(args, 1); err != nil {
						return err
					}
					id, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
					if err != nil || id <= 0 {
						return usagef("%q is not an invite id (see chive invites)", args[0])
					}
					return withSession(ctx, func(s *session) error {
						if err := s.api.RevokeInvite(ctx, id); err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "Invite #%d revoked: its link no longer works.\n", id)
						return nil
					})
				},
			},
		},
	}
}
