package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
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
	fs.StringVar(&o.exec, "exec", "", "with --follow: run shell `CMD` for every message (JSON on stdin); what it prints is the reply")
	o.hookTimeout = durationFlag{d: defaultHookTimeout, set: true}
	fs.Var(&o.hookTimeout, "hook-timeout", "kill the --exec command after `D`")
	return &command{
		name:       "inbox",
		shortUsage: "chive inbox [--follow [--exec CMD [--hook-timeout D]]] [--json] [--contact CONTACT|GROUP] [--after SEQ] [--outgoing]",
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

--follow --exec CMD runs CMD with /bin/sh for every message, one at a time:
the message's JSON line on stdin, and CHIVE_CONTACT, CHIVE_CONTACT_ADDRESS,
CHIVE_MESSAGE_ID, CHIVE_MESSAGE_SEQ in the environment; what it prints on
stdout, if anything, is sent back as the reply. It starts with the messages
that arrive from now on, or, with --after SEQ, with those after SEQ (resume
where a bot stopped). A command that fails or outlives --hook-timeout is
reported on stderr; the next message does not wait for more than that.
Your own messages (--outgoing) are printed but never run through CMD.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected argument %q (to filter by contact: --contact %s)", args[0], args[0])
			}
			fs.Visit(func(f *flag.Flag) { o.afterSet = o.afterSet || f.Name == "after" })
			if o.exec != "" && !o.follow {
				return usagef("--exec runs for messages as they arrive: add --follow")
			}
			if o.exec != "" {
				if err := checkHook(o.exec); err != nil {
					return usagef("--exec: %v", err)
				}
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
	follow      bool
	json        bool
	contact     string
	after       int64
	outgoing    bool
	exec        string
	hookTimeout durationFlag
	afterSet    bool // --after was given (0 included)
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
	// A file message: Text is its caption (issue 15).
	File *node.File `json:"file,omitempty"`

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
	if o.exec != "" && !o.afterSet {
		// A bot starts with what arrives now, not with the whole history:
		// skip the backlog. Before subscribing: what arrives in between is
		// listed after the subscription, as backlog.
		if o.after, err = lastSeq(ctx, api, o.contact); err != nil {
			return err
		}
	}
	var events <-chan node.Event
	if o.follow {
		// Subscribe before listing so nothing falls between the two.
		if events, err = api.Subscribe(ctx); err != nil {
			return err
		}
	}

	var hooks *hookRunner
	if o.exec != "" {
		hooks = newHookRunner(o.exec, o.hookTimeout.d, s.dir, api, stderrLogger(e, slog.LevelInfo))
		hctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			hooks.run(hctx)
		}()
		defer func() { stop(); <-done }()
	}
	// Damaged messages are not printed one by one: a run of them becomes
	// one line, "2 messages could not be read", in the text output, and
	// a count on stderr with --json (whose lines are all real messages).
	unreadable := 0
	flush := func() error {
		if unreadable == 0 {
			return nil
		}
		var err error
		if o.json {
			_, err = fmt.Fprintf(e.stderr, "chive inbox: %s (chive doctor checks the profile)\n", plural(unreadable, "message")+" could not be read")
		} else {
			_, err = fmt.Fprintf(e.stdout, "%s\n", plural(unreadable, "message")+" could not be read")
		}
		unreadable = 0
		return err
	}
	print := func(m node.Message) error {
		if m.Unreadable {
			unreadable++
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		if o.json {
			l := inboxLineOf(m)
			if o.outgoing {
				l.Direction, l.State = m.Direction, m.State
			}
			return writeJSON(e.stdout, l)
		}
		if m.Direction == node.Outgoing {
			_, err := fmt.Fprintf(e.stdout, "%s  → %s: %s [%s]\n", m.Time.Local().Format(time.DateTime), sender(m), messageLine(m), m.State)
			return err
		}
		_, err := fmt.Fprintf(e.stdout, "%s  %s: %s\n", m.Time.Local().Format(time.DateTime), sender(m), messageLine(m))
		return err
	}
	printed, err := printBacklog(ctx, api, o, func(m node.Message) error {
		if err := print(m); err != nil {
			return err
		}
		if hooks != nil && m.Direction == node.Incoming && !m.Unreadable {
			return hooks.push(ctx, m)
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
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
			if err := flush(); err != nil {
				return err
			}
			if hooks != nil && m.Direction == node.Incoming && !m.Unreadable {
				hooks.offer(m)
			}
		}
	}
}

// lastSeq is the seq of the newest message in the inbox (of one contact).
func lastSeq(ctx context.Context, api node.API, contact string) (int64, error) {
	var last int64
	for {
		ms, err := api.Inbox(ctx, node.InboxQuery{After: last, Contact: contact, Limit: node.MaxPage})
		if err != nil || len(ms) == 0 {
			return last, err
		}
		last = ms[len(ms)-1].Seq
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

// messageLine is a message on one line; a file shows as
// "[file NAME, SIZE, STATE] caption".
func messageLine(m node.Message) string {
	if m.File == nil {
		return oneLine(m.Text)
	}
	f := fmt.Sprintf("[file %s, %s, %s]", oneLine(m.File.Name), humanSize(m.File.Size), m.File.State)
	switch {
	case m.File.State == node.FileOffered && m.Direction == node.Incoming:
		f = fmt.Sprintf("[file %s, %s — chive files accept %s]", oneLine(m.File.Name), humanSize(m.File.Size), m.ID[:8])
	case m.File.State == node.FileCompleted:
		f = fmt.Sprintf("[file %s, %s, completed — chive files get %s]", oneLine(m.File.Name), humanSize(m.File.Size), m.ID[:8])
	}
	if m.Text == "" {
		return f
	}
	return f + " " + oneLine(m.Text)
}
