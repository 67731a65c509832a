package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/chive-im/chive/node"
)

// Conversation features (issue 17): reply, react, edit, delete, edits,
// timer. Search is in search.go, backups and export in backup.go.

// convoCmd is a command that talks to the node about one message.
type convoCmd struct {
	e    *env
	c    common
	u    unlock
	json bool
}

func (cc *convoCmd) flags(name string, own ...func(*flag.FlagSet)) *flag.FlagSet {
	fs := newFlagSet(name)
	cc.c.register(fs, cc.e)
	cc.u.register(fs, cc.e)
	for _, f := range own {
		f(fs)
	}
	return fs
}

func (cc *convoCmd) jsonFlag(fs *flag.FlagSet) {
	fs.BoolVar(&cc.json, "json", false, "print the message as JSON")
}

func (cc *convoCmd) run(ctx context.Context, f func(*session) error) error {
	s, err := attach(ctx, cc.e, &cc.c, &cc.u)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

// printMessage prints m as JSON or as a line saying what happened.
func (cc *convoCmd) printMessage(s *session, m node.Message, what string) error {
	if cc.json {
		return writeJSON(cc.e.stdout, m)
	}
	fmt.Fprintf(cc.e.stdout, "%s %s%s\n", what, m.ID, later(s))
	return nil
}

// textArgs is the text of the arguments from i on, or stdin without any.
func textArgs(e *env, args []string, i int) (string, error) {
	if len(args) > i {
		return strings.Join(args[i:], " "), nil
	}
	text, err := readText(e.stdin, maxStdinText)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(text) == "" {
		return "", usagef("no text: give TEXT or pipe it on stdin")
	}
	return text, nil
}

func newReply(e *env) *command {
	cc := &convoCmd{e: e}
	return &command{
		name:       "reply",
		shortUsage: "chive reply CONTACT ID [TEXT...] [--json]",
		shortHelp:  "answer message ID (TEXT or stdin), quoting it",
		longHelp: `Sends TEXT to CONTACT as a reply to their message (or yours) ID, with an
excerpt of it that they see above your reply even if they no longer have it.
IDs are in "chive inbox --json", "chive search --json" and what send prints.
`,
		flags: cc.flags("reply", cc.jsonFlag),
		exec: func(ctx context.Context, args []string) error {
			if len(args) < 2 {
				return usagef("whom and what to answer? chive reply CONTACT ID TEXT")
			}
			text, err := textArgs(e, args, 2)
			if err != nil {
				return err
			}
			return cc.run(ctx, func(s *session) error {
				m, err := s.api.Reply(ctx, args[0], args[1], text)
				if err != nil {
					return err
				}
				return cc.printMessage(s, m, "queued reply "+m.ID+" to")
			})
		},
	}
}

func newReact(e *env) *command {
	cc := &convoCmd{e: e}
	var remove bool
	return &command{
		name:       "react",
		shortUsage: "chive react CONTACT ID EMOJI | chive react CONTACT ID --remove",
		shortHelp:  "react to a message with an emoji (one per person; --remove takes it back)",
		flags: cc.flags("react", func(fs *flag.FlagSet) {
			fs.BoolVar(&remove, "remove", false, "remove your reaction")
		}),
		exec: func(ctx context.Context, args []string) error {
			emoji := ""
			switch {
			case remove && len(args) == 2:
			case !remove && len(args) == 3:
				emoji = args[2]
			default:
				return usagef("chive react CONTACT ID EMOJI, or CONTACT ID --remove")
			}
			return cc.run(ctx, func(s *session) error {
				if err := s.api.React(ctx, args[0], args[1], emoji); err != nil {
					return err
				}
				if emoji == "" {
					fmt.Fprintf(e.stdout, "removed your reaction to %s%s\n", args[1], later(s))
				} else {
					fmt.Fprintf(e.stdout, "reacted %s to %s%s\n", emoji, args[1], later(s))
				}
				return nil
			})
		},
	}
}

func newEdit(e *env) *command {
	cc := &convoCmd{e: e}
	return &command{
		name:       "edit",
		shortUsage: "chive edit CONTACT ID [TEXT...] [--json]",
		shortHelp:  "replace the text of your message ID (within 24 h)",
		longHelp: `Replaces the text of one of your messages, for you and for CONTACT, within
24 hours of sending it. Both sides keep every version ("chive edits").
`,
		flags: cc.flags("edit", cc.jsonFlag),
		exec: func(ctx context.Context, args []string) error {
			if len(args) < 2 {
				return usagef("chive edit CONTACT ID TEXT")
			}
			text, err := textArgs(e, args, 2)
			if err != nil {
				return err
			}
			return cc.run(ctx, func(s *session) error {
				m, err := s.api.Edit(ctx, args[0], args[1], text)
				if err != nil {
					return err
				}
				return cc.printMessage(s, m, "edited")
			})
		},
	}
}

func newDelete(e *env) *command {
	cc := &convoCmd{e: e}
	var everyone bool
	return &command{
		name:       "delete",
		shortUsage: "chive delete CONTACT ID [--everyone]",
		shortHelp:  "delete a message for you, or (yours, within 24 h) for everyone",
		longHelp: `Without --everyone the message is erased from your profile only; CONTACT
keeps theirs. With --everyone (your own messages, within 24 hours of sending
them) both sides keep only a note that it was deleted: the text, its edits
and reactions are erased from both profiles.
`,
		flags: cc.flags("delete", func(fs *flag.FlagSet) {
			fs.BoolVar(&everyone, "everyone", false, "delete it for CONTACT too")
		}),
		exec: func(ctx context.Context, args []string) error {
			if err := exactArgs(args, 2); err != nil {
				return err
			}
			return cc.run(ctx, func(s *session) error {
				if err := s.api.Delete(ctx, args[0], args[1], everyone); err != nil {
					return err
				}
				if everyone {
					fmt.Fprintf(e.stdout, "deleted %s for everyone%s\n", args[1], later(s))
				} else {
					fmt.Fprintf(e.stdout, "deleted %s for you\n", args[1])
				}
				return nil
			})
		},
	}
}

func newEdits(e *env) *command {
	cc := &convoCmd{e: e}
	return &command{
		name:       "edits",
		shortUsage: "chive edits CONTACT ID [--json]",
		shortHelp:  "every version of an edited message, the original first",
		flags:      cc.flags("edits", func(fs *flag.FlagSet) { fs.BoolVar(&cc.json, "json", false, "print JSON") }),
		exec: func(ctx context.Context, args []string) error {
			if err := exactArgs(args, 2); err != nil {
				return err
			}
			return cc.run(ctx, func(s *session) error {
				vs, err := s.api.Edits(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				if cc.json {
					return writeJSON(e.stdout, vs)
				}
				for _, v := range vs {
					fmt.Fprintf(e.stdout, "%s  %s\n", v.At.Local().Format(time.DateTime), oneLine(v.Text))
				}
				return nil
			})
		},
	}
}

// timerNames are the timers as the CLI and the TUI name them.
var timerNames = []struct {
	name string
	d    time.Duration
}{{"off", 0}, {"5m", 5 * time.Minute}, {"1h", time.Hour}, {"1d", 24 * time.Hour}, {"1w", 7 * 24 * time.Hour}, {"4w", 28 * 24 * time.Hour}}

func timerName(d time.Duration) string {
	for _, t := range timerNames {
		if t.d == d {
			return t.name
		}
	}
	return d.String()
}

func newTimer(e *env) *command {
	cc := &convoCmd{e: e}
	var names []string
	for _, t := range timerNames {
		names = append(names, t.name)
	}
	return &command{
		name:       "timer",
		shortUsage: "chive timer CONTACT [" + strings.Join(names, "|") + "] [--json]",
		shortHelp:  "show or set the conversation's disappearing-messages timer",
		longHelp: `With a timer, messages sent from then on are erased from both profiles that
long after each side read them (yours: after sending). Either side may change
it; the change shows in the conversation. Without a value, prints the timer.
`,
		flags: cc.flags("timer", cc.jsonFlag),
		exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 && len(args) != 2 {
				return usagef("chive timer CONTACT [%s]", strings.Join(names, "|"))
			}
			var set *time.Duration
			if len(args) == 2 {
				for _, t := range timerNames {
					if strings.EqualFold(args[1], t.name) {
						set = &t.d
					}
				}
				if set == nil {
					return usagef("timer %q: want %s", args[1], strings.Join(names, ", "))
				}
			}
			return cc.run(ctx, func(s *session) error {
				if set == nil {
					ct, err := s.api.Contact(ctx, args[0])
					if err != nil {
						return err
					}
					if cc.json {
						return writeJSON(e.stdout, map[string]any{"contact": ct.Name, "timer": ct.Timer})
					}
					fmt.Fprintf(e.stdout, "disappearing messages with %s: %s\n", displayName(ct), timerName(time.Duration(ct.Timer)))
					return nil
				}
				m, err := s.api.SetTimer(ctx, args[0], *set)
				if err != nil {
					return err
				}
				if cc.json {
					return writeJSON(e.stdout, m)
				}
				fmt.Fprintf(e.stdout, "disappearing messages with %s: %s%s\n", sender(m), timerName(*set), later(s))
				return nil
			})
		},
	}
}

// errNeedsYes: a clear-text export without a terminal to confirm on.
var errNeedsYes = errors.New("this writes the conversation in clear text; confirm with --yes")
