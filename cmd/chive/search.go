package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/chive-im/chive/node"
)

// chive search (issue 17).

func newSearch(e *env) *command {
	cc := &convoCmd{e: e}
	var (
		contact string
		limit   int
	)
	return &command{
		name:       "search",
		shortUsage: "chive search QUERY... [--contact CONTACT] [--limit N] [--json]",
		shortHelp:  "find messages holding every word of QUERY, newest first",
		longHelp: `Finds the messages (yours and theirs) whose text holds every word of QUERY,
in any case, in every conversation or only CONTACT's; newest first. Words
match inside words ("din" finds "dinner"). With --json, one message per line
(the fields of "chive inbox --json", and more: docs/api.md).
The index lives in memory only: nothing searchable is written to disk.
`,
		flags: cc.flags("search", func(fs *flag.FlagSet) {
			fs.BoolVar(&cc.json, "json", false, "print JSON lines")
			fs.StringVar(&contact, "contact", "", "only the conversation with `CONTACT`")
			fs.IntVar(&limit, "limit", 50, "at most `N` messages")
		}),
		exec: func(ctx context.Context, args []string) error {
			q := strings.TrimSpace(strings.Join(args, " "))
			if q == "" {
				return usagef("what to search for? chive search QUERY")
			}
			if limit <= 0 {
				return usagef("--limit must be positive")
			}
			return cc.run(ctx, func(s *session) error {
				ms, err := s.api.Search(ctx, node.SearchQuery{Text: q, Contact: contact, Limit: limit})
				if err != nil {
					return err
				}
				for _, m := range ms {
					if cc.json {
						if err := writeJSON(e.stdout, m); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(e.stdout, "%s  %s %s\n", m.Time.Local().Format(time.DateTime), who(m), oneLine(m.Text))
				}
				if len(ms) == 0 && !cc.json {
					fmt.Fprintln(e.stderr, "chive search: nothing found")
				}
				return nil
			})
		},
	}
}

// who is "bob:" for their message, "you → bob:" for ours.
func who(m node.Message) string {
	if m.Direction == node.Outgoing {
		return "you → " + sender(m) + ":"
	}
	return sender(m) + ":"
}
