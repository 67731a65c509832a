package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chive-im/chive/internal/shell"
	"github.com/chive-im/chive/node"
)

// contactsCmd holds the flags of "chive contacts" and its subcommands. Each
// subcommand's flag set registers the ones it takes, bound to these fields.
type contactsCmd struct {
	e              *env
	c              common
	u              unlock
	json           bool
	name, greeting string
	keep           bool
}

func newContacts(e *env) *command {
	cc := &contactsCmd{e: e}
	flags := func(name string, own ...func(*flag.FlagSet)) *flag.FlagSet {
		fs := newFlagSet(name)
		cc.c.register(fs, e)
		cc.u.register(fs, e)
		for _, f := range own {
			f(fs)
		}
		return fs
	}
	jsonFlag := func(fs *flag.FlagSet) { fs.BoolVar(&cc.json, "json", false, "print JSON") }
	// oneContact is a subcommand that takes one CONTACT.
	oneContact := func(name, help string, do func(context.Context, *session, string) error, own ...func(*flag.FlagSet)) *command {
		return &command{
			name:       name,
			shortUsage: "chive contacts " + name + " CONTACT",
			shortHelp:  help,
			flags:      flags(name, own...),
			exec: func(ctx context.Context, args []string) error {
				if err := exactArgs(args, 1); err != nil {
					return err
				}
				return cc.withSession(ctx, func(s *session) error { return do(ctx, s, args[0]) })
			},
		}
	}
	rm := oneContact("rm", "forget a contact", cc.remove, func(fs *flag.FlagSet) {
		fs.BoolVar(&cc.keep, "keep-history", false, "keep the conversation")
	})
	rm.shortUsage += " [--keep-history]"
	rm.aliases = []string{"remove"}
	show := oneContact("show", "one contact, with its safety number", cc.show, jsonFlag)
	show.shortUsage += " [--json]"
	reset := oneContact("reset", "start a new session (after restoring a backup)", cc.reset)
	reset.longHelp = `Drops your session with CONTACT and asks them for a new one. Use it when your
chive lost its state (you restored an old backup) or says the stored session
belongs to another key. Messages queued for them wait and go out under the new
session; their chive answers by itself and tells them you started a new one.
`

	return &command{
		name:       "contacts",
		shortUsage: "chive contacts [SUBCOMMAND] [ARGS...]",
		shortHelp:  "list contacts; add, accept, decline, block, unblock, rename or remove one",
		longHelp: `CONTACT is a nickname or an address (any form: upper case, .onion, chive: link).
The list shows each contact's state (pending-incoming, requested, accepted,
blocked), presence (online, connecting, offline) and address.
`,
		flags: flags("contacts", jsonFlag),
		exec:  cc.list,
		children: []*command{
			{
				name:       "list",
				shortUsage: "chive contacts [list] [--json]",
				shortHelp:  "list contacts",
				flags:      flags("list", jsonFlag),
				exec:       cc.list,
			},
			{
				name:       "add",
				shortUsage: "chive contacts add ADDRESS --name NAME [--greeting TEXT]",
				shortHelp:  "ask ADDRESS (or their invite link) to be your contact",
				flags: flags("add", func(fs *flag.FlagSet) {
					fs.StringVar(&cc.name, "name", "", "nickname for the contact")
					fs.StringVar(&cc.greeting, "greeting", "", "a line for them to see with your request")
				}),
				exec: cc.add,
			},
			oneContact("accept", "accept a contact request", cc.accept),
			oneContact("decline", "drop a request (the sender learns nothing)", cc.decline),
			oneContact("block", "block an address, silently", cc.block),
			oneContact("unblock", "undo a block: the contact is as it was before", cc.unblock),
			{
				name:       "rename",
				shortUsage: "chive contacts rename CONTACT NEWNAME",
				shortHelp:  "change your nickname for a contact",
				flags:      flags("rename"),
				exec:       cc.rename,
			},
			rm,
			show,
			reset,
		},
	}
}

// withSession runs f on the daemon or the opened profile.
func (cc *contactsCmd) withSession(ctx context.Context, f func(*session) error) error {
	s, err := attach(ctx, cc.e, &cc.c, &cc.u)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

// later is what a change waits for when no daemon runs.
func later(s *session) string {
	if s.daemon() {
		return ""
	}
	return " (no daemon runs: it is sent when chive next runs, e.g. 'chive daemon')"
}

func (cc *contactsCmd) list(ctx context.Context, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	return cc.withSession(ctx, func(s *session) error {
		cs, err := s.api.Contacts(ctx)
		if err != nil {
			return err
		}
		if cc.json {
			if cs == nil {
				cs = []node.Contact{}
			}
			return writeJSON(cc.e.stdout, cs)
		}
		printContacts(cc.e, cs)
		return nil
	})
}

func (cc *contactsCmd) show(ctx context.Context, s *session, ref string) error {
	ct, err := s.api.Contact(ctx, ref)
	if err != nil {
		return err
	}
	sn, snErr := s.api.SafetyNumber(ctx, ref)
	w := cc.e.stdout
	if cc.json {
		type shown struct {
			node.Contact
			SafetyNumber string `json:"safety_number,omitempty"`
		}
		return writeJSON(w, shown{ct, sn})
	}
	fmt.Fprintf(w, "name:     %s\naddress:  %s\nstate:    %s\npresence: %s\nverified: %s\n",
		displayName(ct), ct.Address, ct.State, ct.Presence, yesNo(ct.Verified))
	if ct.PeerName != "" && ct.PeerName != ct.Name {
		fmt.Fprintf(w, "calls themself: %s\n", oneLine(ct.PeerName))
	}
	if !ct.LastSeen.IsZero() {
		fmt.Fprintf(w, "seen:     %s\n", ct.LastSeen.Local().Format(time.DateTime))
	}
	if ct.Greeting != "" {
		fmt.Fprintf(w, "greeting: %s\n", oneLine(ct.Greeting))
	}
	if snErr == nil && sn != "" {
		fmt.Fprintf(w, "safety number (compare with theirs out of band):\n  %s\n", sn)
	}
	return nil
}

func (cc *contactsCmd) add(ctx context.Context, args []string) error {
	if err := exactArgs(args, 1); err != nil {
		return err
	}
	name := strings.TrimSpace(cc.name)
	if name == "" {
		return usagef("contacts add needs --name NAME")
	}
	// Check the address (or invite link) before anything is opened, with
	// the precise reason.
	addr, token, err := node.ParseLink(args[0])
	if err != nil {
		return err // "that is not a chive address: it has 55 characters; …"
	}
	link := string(addr)
	if token != nil {
		link = strings.TrimSpace(args[0]) // the node reads the token from it
	}
	return cc.withSession(ctx, func(s *session) error {
		ct, err := s.api.AddContact(ctx, link, name, cc.greeting)
		switch {
		case errors.Is(err, node.ErrAlreadyContact):
			// Nothing to do is no failure: scripts may add twice. (Over the
			// socket an error comes without the contact: ask for it.)
			if ct, err = s.api.Contact(ctx, string(addr)); err != nil {
				return err
			}
			if ct.State == node.StateRequested {
				fmt.Fprintf(cc.e.stdout, "You asked %s already; they show as accepted once they accept. Nothing was sent.\n", displayName(ct))
			} else {
				fmt.Fprintf(cc.e.stdout, "%s is already a contact (%s). Nothing was sent.\n", displayName(ct), ct.State)
			}
			return nil
		case errors.Is(err, node.ErrSelf):
			return errors.New("that is your own address: give it to your contacts, and add theirs")
		case err != nil:
			return err
		}
		if ct.State == node.StateAccepted {
			fmt.Fprintf(cc.e.stdout, "%s (%s) is a contact%s.\n", displayName(ct), ct.Address, later(s))
			return nil
		}
		fmt.Fprintf(cc.e.stdout, "Asked %s (%s) to be your contact%s.\nThey show as accepted once they accept.\n",
			displayName(ct), ct.Address, later(s))
		return nil
	})
}

func (cc *contactsCmd) accept(ctx context.Context, s *session, ref string) error {
	ct, err := s.api.AcceptContact(ctx, ref)
	if err != nil {
		return err
	}
	w := cc.e.stdout
	fmt.Fprintf(w, "Accepted %s (%s)%s.\n", displayName(ct), ct.Address, later(s))
	if ct.Name == "" {
		fmt.Fprintf(w, "Give them a name: chive contacts rename %s NAME\n", ct.Address)
	} else {
		fmt.Fprintf(w, "Say hello: chive send %s hi\n", shellWord(ct.Name))
	}
	return nil
}

func (cc *contactsCmd) decline(ctx context.Context, s *session, ref string) error {
	if err := s.api.DeclineContact(ctx, ref); err != nil {
		return err
	}
	fmt.Fprintf(cc.e.stdout, "Declined %s.\n", oneLine(ref))
	return nil
}

func (cc *contactsCmd) block(ctx context.Context, s *session, ref string) error {
	if err := s.api.BlockContact(ctx, ref); err != nil {
		return err
	}
	fmt.Fprintf(cc.e.stdout, "Blocked %s.\n", oneLine(ref))
	return nil
}

func (cc *contactsCmd) unblock(ctx context.Context, s *session, who string) error {
	before, err := s.api.Contact(ctx, who)
	if err != nil {
		return err
	}
	if before.State != node.StateBlocked {
		fmt.Fprintf(cc.e.stdout, "%s is not blocked (%s).\n", displayName(before), before.State)
		return nil
	}
	if err := s.api.UnblockContact(ctx, before.Address); err != nil {
		return err
	}
	w := cc.e.stdout
	after, err := s.api.Contact(ctx, before.Address)
	switch {
	case errors.Is(err, node.ErrUnknownContact):
		fmt.Fprintf(w, "Unblocked %s: not a contact any more; they may ask again.\n", before.Address)
		return nil
	case err != nil:
		return err
	}
	switch after.State {
	case node.StateAccepted:
		fmt.Fprintf(w, "Unblocked %s: a contact again%s.\n", displayName(after), later(s))
	case node.StatePendingIncoming:
		fmt.Fprintf(w, "Unblocked %s: their request waits for you: chive contacts accept %s\n", displayName(after), ref(after))
	case node.StateRequested:
		fmt.Fprintf(w, "Unblocked %s: your request is sent again%s.\n", displayName(after), later(s))
	default:
		fmt.Fprintf(w, "Unblocked %s (%s).\n", displayName(after), after.State)
	}
	return nil
}

func (cc *contactsCmd) rename(ctx context.Context, args []string) error {
	if err := exactArgs(args, 2); err != nil {
		return err
	}
	ref, name := args[0], strings.TrimSpace(args[1])
	if name == "" {
		return usagef("the new name is empty")
	}
	return cc.withSession(ctx, func(s *session) error {
		if err := s.api.RenameContact(ctx, ref, name); err != nil {
			return err
		}
		fmt.Fprintf(cc.e.stdout, "Renamed %s to %s.\n", oneLine(ref), oneLine(args[1]))
		return nil
	})
}

func (cc *contactsCmd) reset(ctx context.Context, s *session, ref string) error {
	ct, err := s.api.ResetSession(ctx, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(cc.e.stdout, "Asked %s for a new session%s.\nMessages to them wait until they answer.\n", displayName(ct), later(s))
	return nil
}

func (cc *contactsCmd) remove(ctx context.Context, s *session, ref string) error {
	if err := s.api.RemoveContact(ctx, ref, cc.keep); err != nil {
		return err
	}
	if cc.keep {
		fmt.Fprintf(cc.e.stdout, "Removed %s (conversation kept).\n", oneLine(ref))
	} else {
		fmt.Fprintf(cc.e.stdout, "Removed %s and the conversation.\n", oneLine(ref))
	}
	return nil
}

func printContacts(e *env, cs []node.Contact) {
	if len(cs) == 0 {
		fmt.Fprintln(e.stdout, "No contacts yet. Add one with: chive contacts add ADDRESS --name NAME")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPRESENCE\tUNREAD\tADDRESS")
	for _, c := range cs {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%d\t%s\n", c.ID, displayName(c), c.State, c.Presence, c.Unread, c.Address)
	}
	tw.Flush()
	for _, c := range cs {
		if c.State == node.StatePendingIncoming {
			g := ""
			if c.Greeting != "" {
				g = fmt.Sprintf(" (%q)", oneLine(c.Greeting))
			}
			via := ""
			if c.Invited {
				via = " with one of your invite links"
			}
			fmt.Fprintf(e.stdout, "%s asks to be your contact%s%s: chive contacts accept %s\n", displayName(c), via, g, ref(c))
		}
	}
}

// displayName is the contact's nickname, or "-" before it has one (a
// request from a stranger).
func displayName(c node.Contact) string {
	if n := oneLine(c.Name); n != "" {
		return n
	}
	return "-"
}

// ref is how to name the contact on the command line.
func ref(c node.Contact) string {
	if c.Name != "" {
		return shellWord(c.Name)
	}
	return c.Address
}

// shellWord quotes a name a peer chose for a command line the user may copy.
func shellWord(s string) string { return shell.Quote(oneLine(s)) }
