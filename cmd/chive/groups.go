package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

// groupsCmd holds the flags of "chive groups" and its subcommands.
type groupsCmd struct {
	e       *env
	c       common
	u       unlock
	json    bool
	members multiFlag
}

// multiFlag is a repeatable string flag (--member A --member B).
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error {
	*m = append(*m, s)
	return nil
}

func newGroups(e *env) *command {
	gc := &groupsCmd{e: e}
	flags := func(name string, own ...func(*flag.FlagSet)) *flag.FlagSet {
		fs := newFlagSet(name)
		gc.c.register(fs, e)
		gc.u.register(fs, e)
		for _, f := range own {
			f(fs)
		}
		return fs
	}
	jsonFlag := func(fs *flag.FlagSet) { fs.BoolVar(&gc.json, "json", false, "print JSON") }
	// change is a subcommand taking GROUP and n more arguments.
	change := func(name, usage, help string, n int, do func(context.Context, *session, []string) error) *command {
		return &command{
			name:       name,
			shortUsage: "chive groups " + name + " " + usage,
			shortHelp:  help,
			flags:      flags(name),
			exec: func(ctx context.Context, args []string) error {
				if err := exactArgs(args, n+1); err != nil {
					return err
				}
				return gc.withSession(ctx, func(s *session) error { return do(ctx, s, args) })
			},
		}
	}
	rm := change("remove", "GROUP MEMBER", "remove a member (admins): they read nothing sent after", 1, gc.remove)
	rm.aliases = []string{"rm"}
	return &command{
		name:       "groups",
		shortUsage: "chive groups [SUBCOMMAND] [ARGS...]",
		shortHelp:  "list groups; create one, invite, remove, promote, leave, rename",
		longHelp: `A group is a conversation of up to 50 members, with no server: every member
sends to every other, and holds what the others missed for them. GROUP is a
group's name or id; it works wherever a contact does (chive send GROUP TEXT,
chive inbox --contact GROUP). A name that is both a group's and a contact's
is refused as ambiguous: use the group's id or the contact's address.
Members you invite must be your contacts; they need not be each other's.
`,
		flags: flags("groups", jsonFlag),
		exec:  gc.list,
		children: []*command{
			{
				name:       "list",
				shortUsage: "chive groups [list] [--json]",
				shortHelp:  "list groups",
				flags:      flags("list", jsonFlag),
				exec:       gc.list,
			},
			{
				name:       "create",
				shortUsage: "chive groups create NAME [--member CONTACT]... [--json]",
				shortHelp:  "create a group and invite contacts into it",
				flags: flags("create", jsonFlag, func(fs *flag.FlagSet) {
					fs.Var(&gc.members, "member", "a `CONTACT` to invite (repeat for more)")
				}),
				exec: gc.create,
			},
			{
				name:       "show",
				shortUsage: "chive groups show GROUP [--json]",
				shortHelp:  "one group, with its members",
				flags:      flags("show", jsonFlag),
				exec: func(ctx context.Context, args []string) error {
					if err := exactArgs(args, 1); err != nil {
						return err
					}
					return gc.withSession(ctx, func(s *session) error { return gc.show(ctx, s, args[0]) })
				},
			},
			change("invite", "GROUP CONTACT", "invite a contact (admins)", 1, gc.invite),
			rm,
			change("promote", "GROUP MEMBER", "make a member an admin (admins)", 1, gc.promote),
			change("leave", "GROUP", "leave a group (its history stays)", 0, gc.leave),
			change("rename", "GROUP NEWNAME", "rename a group (admins)", 1, gc.rename),
		},
	}
}

func (gc *groupsCmd) withSession(ctx context.Context, f func(*session) error) error {
	s, err := attach(ctx, gc.e, &gc.c, &gc.u)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

func (gc *groupsCmd) list(ctx context.Context, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	return gc.withSession(ctx, func(s *session) error {
		gs, err := s.api.Groups(ctx)
		if err != nil {
			return err
		}
		if gc.json {
			if gs == nil {
				gs = []node.Group{}
			}
			return writeJSON(gc.e.stdout, gs)
		}
		if len(gs) == 0 {
			fmt.Fprintln(gc.e.stdout, "No groups yet. Create one with: chive groups create NAME --member CONTACT")
			return nil
		}
		tw := tabwriter.NewWriter(gc.e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tMEMBERS\tONLINE\tUNREAD\tID")
		for _, g := range gs {
			online := 0
			for _, m := range g.Members {
				if m.Presence == node.Online && !m.Self {
					online++
				}
			}
			name := oneLine(g.Name)
			if g.Admin {
				name += " (admin)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", name, g.State, len(g.Members), online, g.Unread, g.ID)
		}
		return tw.Flush()
	})
}

func (gc *groupsCmd) create(ctx context.Context, args []string) error {
	if err := exactArgs(args, 1); err != nil {
		return usagef("groups create takes the group's NAME, then --member CONTACT for each member")
	}
	return gc.withSession(ctx, func(s *session) error {
		g, err := s.api.CreateGroup(ctx, args[0], gc.members)
		if err != nil {
			return err
		}
		if gc.json {
			return writeJSON(gc.e.stdout, g)
		}
		fmt.Fprintf(gc.e.stdout, "Created %s (%s) with %d members%s.\nWrite to it: chive send %s TEXT\n",
			oneLine(g.Name), g.ID, len(g.Members), later(s), shellWord(g.Name))
		return nil
	})
}

func (gc *groupsCmd) show(ctx context.Context, s *session, ref string) error {
	g, err := s.api.Group(ctx, ref)
	if err != nil {
		return err
	}
	w := gc.e.stdout
	if gc.json {
		return writeJSON(w, g)
	}
	fmt.Fprintf(w, "name:    %s\nid:      %s\nstate:   %s\nmembers: %d\n", oneLine(g.Name), g.ID, g.State, len(g.Members))
	if g.InvitedBy != "" {
		fmt.Fprintf(w, "invited by: %s\n", g.InvitedBy)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  MEMBER\tROLE\tPRESENCE\tADDRESS")
	for _, m := range g.Members {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", memberName(m), role(m), m.Presence, m.Address)
	}
	return tw.Flush()
}

// memberName is how a member is shown: our nickname, their own name, or
// their short address.
func memberName(m node.GroupMember) string {
	n := oneLine(m.Name)
	if n == "" {
		n = onion.Address(m.Address).Short()
	}
	if m.Self {
		n += " (you)"
	}
	return n
}

func role(m node.GroupMember) string {
	var r []string
	switch {
	case m.Creator && m.Admin:
		r = append(r, "creator")
	case m.Admin:
		r = append(r, "admin")
	default:
		r = append(r, "member")
	}
	if !m.Self && !m.Session {
		r = append(r, "connecting")
	}
	return strings.Join(r, ", ")
}

func (gc *groupsCmd) invite(ctx context.Context, s *session, args []string) error {
	g, err := s.api.InviteToGroup(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(gc.e.stdout, "Invited %s into %s%s.\n", oneLine(args[1]), oneLine(g.Name), later(s))
	return nil
}

func (gc *groupsCmd) remove(ctx context.Context, s *session, args []string) error {
	g, err := s.api.RemoveFromGroup(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(gc.e.stdout, "Removed %s from %s%s: they read nothing sent from now on.\n", oneLine(args[1]), oneLine(g.Name), later(s))
	return nil
}

func (gc *groupsCmd) promote(ctx context.Context, s *session, args []string) error {
	g, err := s.api.PromoteInGroup(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(gc.e.stdout, "%s is an admin of %s%s.\n", oneLine(args[1]), oneLine(g.Name), later(s))
	return nil
}

func (gc *groupsCmd) leave(ctx context.Context, s *session, args []string) error {
	if err := s.api.LeaveGroup(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(gc.e.stdout, "Left %s%s; its history stays.\n", oneLine(args[0]), later(s))
	return nil
}

func (gc *groupsCmd) rename(ctx context.Context, s *session, args []string) error {
	if strings.TrimSpace(args[1]) == "" {
		return usagef("the new name is empty")
	}
	if err := s.api.RenameGroup(ctx, args[0], args[1]); err != nil {
		return err
	}
	fmt.Fprintf(gc.e.stdout, "Renamed %s to %s%s.\n", oneLine(args[0]), oneLine(args[1]), later(s))
	return nil
}
