package main

import (
	"context"
	"fmt"
)

func newRetry(e *env) *command {
	var (
		c common
		u unlock
	)
	fs := newFlagSet("retry")
	c.register(fs, e)
	u.register(fs, e)
	return &command{
		name:       "retry",
		shortUsage: "chive retry MESSAGE-ID",
		shortHelp:  "send a failed message again (or redial for one still waiting)",
		longHelp: `Queues a failed message again: it is encrypted afresh and sent like a new one,
under the same id (watch it with "chive send"'s states, or the API's
message.state events). For a message still waiting (queued or sent) it
redials the contact now rather than after the backoff. An expired, cancelled
or delivered message is an error: send a new one.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := exactArgs(args, 1); err != nil {
				return err
			}
			s, err := attach(ctx, e, &c, &u)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.api.Retry(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "queued %s again%s\n", args[0], later(s))
			return nil
		},
	}
}
