package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

func newInbox(e *env) *command {
	var (
		c common
		u unlock
		o inboxOpts
	)
	fs := newFlagSet("inbox")
	c.register(fs, e)
	u.register(fs, e)
	fs.BoolVar(&o.follow, "follow", false, "keep printing new messages as they arrive")
	fs.BoolVar(&o.json, "json", false, "print JSON lines")
	fs.StringVar(&o.contact, "contact", "", "only messages from `CONTACT` (or in a GROUP)")
	fs.Int64Var(&o.after, "after", 0, "only messages after this `seq`")
	fs.BoolVar(&o.outgoing, "outgoing", false, "also your own messages, with their state (queued, sent, stored, delivered, read, failed)")
	return &command{
		name:       "inbox",
		shortUsage: "chive inbox [--follow] [--json] [--contact CONTACT|GROUP] [--after SEQ] [--outgoing]",
		shortHelp:  "print received messages, oldest first; --follow for new ones",
		longHelp: `Prints received messages, oldest first, one per line:
  2026-11-26 20:01:02  bob: hello
A group's message names the group and its author:
  2026-11-26 20:01:05  [team] carol: hi all
With --json, one JSON object per line:
  {"id":"…","seq":12,"contact":"bob","address":"…","time":"2026-11-26T20:01:02Z","text":"hello"}
(a group's message adds "group" (its id), "author", "author_name", and "via"
when it came from another member than its author).
--after SEQ prints only messages after that seq (resume where a script left
off); --follow keeps running and prints new messages as they arrive (without
a daemon it starts Tor itself to receive them; when the daemon it follows
stops, it exits with status 1). Reading the inbox does not mark messages read.
--outgoing adds your own messages, as "→ bob: text [state]" (with --json, the
fields "direction" and "state"), e.g. to see which a mailbox keeps (stored).
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected argument %q (to filter by contact: --contact %s)", args[0], args[0])
			}
			err := inbox(ctx, e, &c, &u, o)
			if o.follow && errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how --follow ends
			}
			return err
		},
	}
}

type inboxOpts struct {
	follow   bool
	json     bool
	contact  string
	after    int64
	outgoing bool
}

// inboxLine is one message of "inbox --json".
type inboxLine struct {
	ID      string    `json:"id"`
	Seq     int64     `json:"seq"`
	Contact string    `json:"contact"`
	Address string    `json:"address"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
	// With --outgoing (issue 16).
	Direction node.Direction    `json:"direction,omitempty"`
	State     node.MessageState `json:"state,omitempty"`

	// Group messages (issue 18).
	Group      string `json:"group,omitempty"`
	Author     string `json:"author,omitempty"`
	AuthorName string `json:"author_name,omitempty"`
	Via        string `json:"via,omitempty"`
}

const inboxPage = 200

func inbox(ctx context.Context, e *env, c *common, u *unlock, o inboxOpts) error {
	if o.after < 0 {
		return usagef("--after must not be negative")
	}
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	api := s.api

	var only, onlyGroup string // address of --contact, or the id of its group
	if o.contact != "" {
		if g, err := api.Group(ctx, o.contact); err == nil {
			onlyGroup = g.ID
		} else if errors.Is(err, node.ErrAmbiguous) {
			return err
		} else {
			ct, err := api.Contact(ctx, o.contact)
			if err != nil {
				return err
			}
			only = ct.Address
		}
	}
	var events <-chan node.Event
	if o.follow {
		// Subscribe before listing so nothing falls between the two.
		if events, err = api.Subscribe(ctx); err != nil {
			return err
		}
	}

	print := func(m node.Message) error {
		if o.json {
			l := inboxLine{ID: m.ID, Seq: m.Seq, Contact: m.Contact, Address: m.Address, Time: m.Time, Text: m.Text,
				Group: m.Group, Author: m.Author, AuthorName: m.AuthorName, Via: m.Via}
			if o.outgoing {
				l.Direction, l.State = m.Direction, m.State
			}
			return writeJSON(e.stdout, l)
		}
		if m.Direction == node.Outgoing {
			_, err := fmt.Fprintf(e.stdout, "%s  → %s: %s [%s]\n", m.Time.Local().Format(time.DateTime), sender(m), oneLine(m.Text), m.State)
			return err
		}
		_, err := fmt.Fprintf(e.stdout, "%s  %s: %s\n", m.Time.Local().Format(time.DateTime), sender(m), oneLine(m.Text))
		return err
	}
	printed, err := printBacklog(ctx, api, o, print)
	if err != nil || !o.follow {
		return err
	}
	if !s.daemon() {
		fmt.Fprintln(e.stderr, "chive inbox: no daemon running; starting Tor to receive messages")
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("start tor: %w", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, open := <-events:
			if !open {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errors.New("the daemon stopped")
			}
			if se, ok := ev.(node.SessionEvent); ok && !o.json && (only == "" || se.Contact.Address == only) {
				// Not a message, but something the reader must not miss.
				if _, err := fmt.Fprintf(e.stdout, "-- %s\n", oneLine(se.Notice)); err != nil {
					return err
				}
				continue
			}
			me, ok := ev.(node.MessageEvent)
			if !ok {
				continue
			}
			m := me.Message
			if (m.Direction != node.Incoming && !o.outgoing) || (only != "" && (m.Group != "" || m.Address != only)) || (onlyGroup != "" && m.Group != onlyGroup) ||
				printed[m.ID] || (m.Seq > 0 && m.Seq <= o.after) {
				continue
			}
			if err := print(m); err != nil {
				return err
			}
		}
	}
}

// printBacklog prints the stored messages after o.after, page by page, and
// returns the ids it printed (with --follow, to drop repeats from events).
func printBacklog(ctx context.Context, api node.API, o inboxOpts, print func(node.Message) error) (map[string]bool, error) {
	printed := map[string]bool{}
	last := o.after
	for {
		ms, err := api.Inbox(ctx, node.InboxQuery{After: last, Contact: o.contact, Limit: inboxPage, Outgoing: o.outgoing})
		if err != nil || len(ms) == 0 {
			return printed, err
		}
		for _, m := range ms {
			if err := print(m); err != nil {
				return nil, err
			}
			if o.follow {
				printed[m.ID] = true
			}
			last = max(last, m.Seq)
		}
	}
}

// sender names a message's contact for people: the nickname, or the short
// address when the contact has none.
func sender(m node.Message) string {
	if m.Group != "" && m.Direction == node.Incoming {
		a := oneLine(m.AuthorName)
		if a == "" {
			a = onion.Address(m.Author).Short()
		}
		return "[" + oneLine(m.Contact) + "] " + a
	}
	if n := oneLine(m.Contact); n != "" {
		return n
	}
	return onion.Address(m.Address).Short()
}
