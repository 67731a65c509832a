package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

func init() {
	register(&command{
		name:    "inbox",
		summary: "print received messages, oldest first; --follow for new ones",
		usage: `Usage: chive inbox [--follow] [--json] [--contact CONTACT] [--after SEQ]

Prints received messages, oldest first, one per line:
  2026-11-26 20:01:02  bob: hello
With --json, one JSON object per line:
  {"id":"…","seq":12,"contact":"bob","address":"…","time":"2026-11-26T20:01:02Z","text":"hello"}
--after SEQ prints only messages after that seq (resume where a script left
off); --follow keeps running and prints new messages as they arrive (without
a daemon it starts Tor itself to receive them; when the daemon it follows
stops, it exits with status 1). Reading the inbox does not mark messages read.
`,
		run: runInbox,
	})
}

type inboxOpts struct {
	follow  bool
	json    bool
	contact string
	after   int64
}

func runInbox(ctx context.Context, e *env, args []string) int {
	const name = "inbox"
	fs := newFlags(name, commands[name].usage, e.stderr)
	c := addCommon(fs, e)
	u := addUnlock(fs, e)
	var o inboxOpts
	fs.BoolVar(&o.follow, "follow", false, "keep printing new messages as they arrive")
	fs.BoolVar(&o.json, "json", false, "print JSON lines")
	fs.StringVar(&o.contact, "contact", "", "only messages from `CONTACT`")
	fs.Int64Var(&o.after, "after", 0, "only messages after this `seq`")
	pos, help, err := parseArgs(fs, args)
	if help {
		return exitOK
	}
	if err == nil && len(pos) > 0 {
		err = usageError("unexpected argument %q (to filter by contact: --contact %s)", pos[0], pos[0])
	}
	if err == nil {
		err = inbox(ctx, e, c, u, o)
	}
	if err != nil && !(o.follow && errors.Is(err, context.Canceled)) {
		return fail(e, name, err)
	}
	return exitOK
}

// inboxLine is one message of "inbox --json".
type inboxLine struct {
	ID      string    `json:"id"`
	Seq     int64     `json:"seq"`
	Contact string    `json:"contact"`
	Address string    `json:"address"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
}

const inboxPage = 200

func inbox(ctx context.Context, e *env, c *common, u *unlock, o inboxOpts) error {
	if o.after < 0 {
		return usageError("--after must not be negative")
	}
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	api := s.api

	var only string // address of --contact
	if o.contact != "" {
		ct, err := api.Contact(ctx, o.contact)
		if err != nil {
			return err
		}
		only = ct.Address
	}
	var events <-chan node.Event
	if o.follow {
		// Subscribe before listing so nothing falls between the two.
		if events, err = api.Subscribe(ctx); err != nil {
			return err
		}
	}

	last := o.after
	printed := map[string]bool{} // ids printed from the backlog, to drop repeats from events
	print := func(m node.Message) error {
		if o.json {
			return writeJSON(e.stdout, inboxLine{ID: m.ID, Seq: m.Seq, Contact: m.Contact, Address: m.Address, Time: m.Time, Text: m.Text})
		}
		_, err := fmt.Fprintf(e.stdout, "%s  %s: %s\n", m.Time.Local().Format(time.DateTime), sender(m), clean(m.Text))
		return err
	}
	for {
		ms, err := api.Inbox(ctx, node.InboxQuery{After: last, Contact: o.contact, Limit: inboxPage})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := print(m); err != nil {
				return err
			}
			if o.follow {
				printed[m.ID] = true
			}
			last = max(last, m.Seq)
		}
		if len(ms) == 0 {
			break
		}
	}
	if !o.follow {
		return nil
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
			me, ok := ev.(node.MessageEvent)
			if !ok {
				continue
			}
			m := me.Message
			if m.Direction != node.Incoming || (only != "" && m.Address != only) || printed[m.ID] || (m.Seq > 0 && m.Seq <= o.after) {
				continue
			}
			if err := print(m); err != nil {
				return err
			}
		}
	}
}

// sender names a message's contact for people: the nickname, or the short
// address when the contact has none.
func sender(m node.Message) string {
	if n := clean(m.Contact); n != "" {
		return n
	}
	return onion.Address(m.Address).Short()
}
