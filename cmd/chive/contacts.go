package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

func init() {
	register(&command{
		name:    "contacts",
		summary: "list contacts; add, accept, decline, block, rename or remove one",
		usage: `Usage:
  chive contacts [--json]                              list contacts
  chive contacts add ADDRESS --name NAME [--greeting TEXT]
                                                       ask ADDRESS to be your contact
  chive contacts accept CONTACT                        accept a contact request
  chive contacts decline CONTACT                       drop a request (the sender learns nothing)
  chive contacts block CONTACT                         block an address, silently
  chive contacts rename CONTACT NEWNAME                change your nickname for a contact
  chive contacts rm CONTACT [--keep-history]           forget a contact
  chive contacts show CONTACT [--json]                 one contact, with its safety number

CONTACT is a nickname or an address (any form: upper case, .onion, chive: link).
The list shows each contact's state (pending-incoming, requested, accepted,
blocked), presence (online, connecting, offline) and address.
`,
		run: runContacts,
	})
}

func runContacts(ctx context.Context, e *env, args []string) int {
	const name = "contacts"
	fs := newFlags(name, commands[name].usage, e.stderr)
	c := addCommon(fs, e)
	u := addUnlock(fs, e)
	o := contactsOpts{}
	fs.BoolVar(&o.json, "json", false, "print JSON (list and show)")
	fs.StringVar(&o.name, "name", "", "nickname for the contact (add)")
	fs.StringVar(&o.greeting, "greeting", "", "a line for them to see with your request (add)")
	fs.BoolVar(&o.keep, "keep-history", false, "keep the conversation (rm)")
	pos, help, err := parseArgs(fs, args)
	if help {
		return exitOK
	}
	if err == nil {
		err = contacts(ctx, e, c, u, o, pos)
	}
	if err != nil {
		return fail(e, name, err)
	}
	return exitOK
}

type contactsOpts struct {
	json           bool
	name, greeting string
	keep           bool
}

// contactArgs is how many positional arguments each subcommand takes.
var contactArgs = map[string]int{
	"list": 0, "add": 1, "accept": 1, "decline": 1, "block": 1, "rename": 2, "rm": 1, "remove": 1, "show": 1,
}

func contacts(ctx context.Context, e *env, c *common, u *unlock, o contactsOpts, pos []string) error {
	sub := "list"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	want, known := contactArgs[sub]
	if !known {
		return usageError("unknown subcommand %q", sub)
	}
	if len(pos) != want {
		return usageError("contacts %s takes %d argument(s), got %d", sub, want, len(pos))
	}
	if (o.name != "" || o.greeting != "") && sub != "add" {
		return usageError("--name and --greeting are for 'contacts add' (to rename: chive contacts rename CONTACT NEWNAME)")
	}
	if o.keep && sub != "rm" && sub != "remove" {
		return usageError("--keep-history is for 'contacts rm'")
	}
	var addr onion.Address
	if sub == "add" {
		if strings.TrimSpace(o.name) == "" {
			return usageError("contacts add needs --name NAME")
		}
		// Check the address before anything is opened, with the precise reason.
		a, err := onion.ParseAddress(pos[0])
		if err != nil {
			return fmt.Errorf("%q is not a chive address: %w", pos[0], err)
		}
		addr = a
	}

	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	api, w := s.api, e.stdout
	later := ""
	if !s.daemon() {
		later = " (no daemon runs: it is sent when chive next runs, e.g. 'chive daemon')"
	}
	switch sub {
	case "list":
		cs, err := api.Contacts(ctx)
		if err != nil {
			return err
		}
		if o.json {
			if cs == nil {
				cs = []node.Contact{}
			}
			return writeJSON(w, cs)
		}
		printContacts(e, cs)
	case "show":
		ct, err := api.Contact(ctx, pos[0])
		if err != nil {
			return err
		}
		sn, snErr := api.SafetyNumber(ctx, pos[0])
		if o.json {
			type shown struct {
				node.Contact
				SafetyNumber string `json:"safety_number,omitempty"`
			}
			return writeJSON(w, shown{ct, sn})
		}
		fmt.Fprintf(w, "name:     %s\naddress:  %s\nstate:    %s\npresence: %s\nverified: %s\n",
			displayName(ct), ct.Address, ct.State, ct.Presence, yesNo(ct.Verified))
		if !ct.LastSeen.IsZero() {
			fmt.Fprintf(w, "seen:     %s\n", ct.LastSeen.Local().Format(time.DateTime))
		}
		if ct.Greeting != "" {
			fmt.Fprintf(w, "greeting: %s\n", clean(ct.Greeting))
		}
		if snErr == nil && sn != "" {
			fmt.Fprintf(w, "safety number (compare with theirs out of band):\n  %s\n", sn)
		}
	case "add":
		ct, err := api.AddContact(ctx, string(addr), strings.TrimSpace(o.name), o.greeting)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Asked %s (%s) to be your contact%s.\nThey show as accepted once they accept.\n", displayName(ct), ct.Address, later)
	case "accept":
		ct, err := api.AcceptContact(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Accepted %s (%s)%s.\n", displayName(ct), ct.Address, later)
		if ct.Name == "" {
			fmt.Fprintf(w, "Give them a name: chive contacts rename %s NAME\n", ct.Address)
		} else {
			fmt.Fprintf(w, "Say hello: chive send %s hi\n", shellWord(ct.Name))
		}
	case "decline":
		if err := api.DeclineContact(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(w, "Declined %s.\n", clean(pos[0]))
	case "block":
		if err := api.BlockContact(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(w, "Blocked %s.\n", clean(pos[0]))
	case "rename":
		if strings.TrimSpace(pos[1]) == "" {
			return usageError("the new name is empty")
		}
		if err := api.RenameContact(ctx, pos[0], strings.TrimSpace(pos[1])); err != nil {
			return err
		}
		fmt.Fprintf(w, "Renamed %s to %s.\n", clean(pos[0]), clean(pos[1]))
	case "rm", "remove":
		if err := api.RemoveContact(ctx, pos[0], o.keep); err != nil {
			return err
		}
		if o.keep {
			fmt.Fprintf(w, "Removed %s (conversation kept).\n", clean(pos[0]))
		} else {
			fmt.Fprintf(w, "Removed %s and the conversation.\n", clean(pos[0]))
		}
	}
	return nil
}

func printContacts(e *env, cs []node.Contact) {
	if len(cs) == 0 {
		fmt.Fprintln(e.stdout, "No contacts yet. Add one with: chive contacts add ADDRESS --name NAME")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPRESENCE\tUNREAD\tADDRESS")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", displayName(c), c.State, c.Presence, c.Unread, c.Address)
	}
	tw.Flush()
	for _, c := range cs {
		if c.State == node.StatePendingIncoming {
			g := ""
			if c.Greeting != "" {
				g = fmt.Sprintf(" (%q)", clean(c.Greeting))
			}
			fmt.Fprintf(e.stdout, "%s asks to be your contact%s: chive contacts accept %s\n", displayName(c), g, ref(c))
		}
	}
}

// displayName is the contact's nickname, or "-" before it has one (a
// request from a stranger).
func displayName(c node.Contact) string {
	if n := clean(c.Name); n != "" {
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

// shellWord quotes s for a command line a user may copy.
func shellWord(s string) string {
	s = clean(s)
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
