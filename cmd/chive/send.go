package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chive-im/chive/node"
)

func init() {
	register(&command{
		name:    "send",
		summary: "send a message (TEXT or stdin); --wait delivered|sent to wait for it",
		usage: `Usage: chive send CONTACT [TEXT...] [--wait delivered|sent] [--timeout D] [--json]

Encrypts TEXT (the rest of the arguments, or stdin when there are none) for
CONTACT (a nickname or an address) and queues it. Without --wait it returns at
once with exit status 3 (queued); the daemon delivers it in the background.
--wait sent waits until it was written to the contact's link, --wait delivered
until their node acknowledged it; without a daemon, send then starts Tor
itself for as long as it waits.

Exit status: 0 delivered or sent (as asked with --wait), 3 queued (no --wait),
4 timed out waiting (the message stays queued and is delivered later),
5 unknown contact, 1 any other error (e.g. the contact has not accepted yet).
`,
		run: runSend,
	})
}

// maxStdinText bounds what send reads from stdin; the node rejects longer
// messages with ErrTooLong anyway, this only keeps the request small.
const maxStdinText = 256 << 10

type sendOpts struct {
	wait    string
	timeout time.Duration
	json    bool
}

func runSend(ctx context.Context, e *env, args []string) int {
	const name = "send"
	fs := newFlags(name, commands[name].usage, e.stderr)
	c := addCommon(fs, e)
	u := addUnlock(fs, e)
	var o sendOpts
	fs.StringVar(&o.wait, "wait", "", "wait until the message is `delivered` or sent")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long --wait waits")
	fs.BoolVar(&o.json, "json", false, "print the message's id, state and latency as JSON")
	pos, help, err := parseArgs(fs, args)
	if help {
		return exitOK
	}
	code := exitOK
	if err == nil {
		code, err = send(ctx, e, c, u, o, pos)
	}
	if err != nil {
		return fail(e, name, err)
	}
	return code
}

// sendResult is send's --json output.
type sendResult struct {
	ID        string            `json:"id"`
	Contact   string            `json:"contact"`
	Address   string            `json:"address"`
	State     node.MessageState `json:"state"`
	LatencyMS int64             `json:"latency_ms,omitempty"` // from queued to the state waited for
	TimedOut  bool              `json:"timed_out,omitempty"`
}

func send(ctx context.Context, e *env, c *common, u *unlock, o sendOpts, pos []string) (int, error) {
	if o.wait != "" && o.wait != "delivered" && o.wait != "sent" {
		return 0, usageError("--wait %q: want delivered or sent", o.wait)
	}
	if o.timeout <= 0 {
		return 0, usageError("--timeout must be positive")
	}
	if len(pos) == 0 {
		return 0, usageError("whom to send to? chive send CONTACT TEXT")
	}
	ref := pos[0]
	var text string
	if len(pos) > 1 {
		text = strings.Join(pos[1:], " ")
	} else {
		t, err := readText(e.stdin, maxStdinText)
		if err != nil {
			return 0, err
		}
		text = t
	}
	if strings.TrimSpace(text) == "" {
		return 0, usageError("nothing to send: give TEXT or pipe it on stdin")
	}

	s, err := attach(ctx, e, c, u)
	if err != nil {
		return 0, err
	}
	defer s.Close()

	var events <-chan node.Event
	subCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	if o.wait != "" {
		// Subscribe before sending so no state change can be missed.
		if events, err = s.api.Subscribe(subCtx); err != nil {
			return 0, err
		}
	}
	m, err := s.api.Send(ctx, ref, text)
	if err != nil {
		if errors.Is(err, node.ErrNotAccepted) {
			return 0, fmt.Errorf("%w (they must accept your request first; see: chive contacts)", err)
		}
		return 0, err
	}
	start := time.Now()
	res := sendResult{ID: m.ID, Contact: m.Contact, Address: m.Address, State: m.State}
	report := func(code int, human string) (int, error) {
		if o.json {
			return code, writeJSON(e.stdout, res)
		}
		fmt.Fprintln(e.stdout, human)
		return code, nil
	}
	who := sender(m)
	if o.wait == "" {
		if s.daemon() {
			return report(exitQueued, fmt.Sprintf("queued %s for %s; the daemon delivers it (--wait delivered to wait)", m.ID, who))
		}
		return report(exitQueued, fmt.Sprintf("queued %s for %s; no daemon runs, so it is sent when chive next runs (e.g. chive daemon), or use --wait", m.ID, who))
	}
	if !s.daemon() {
		fmt.Fprintln(e.stderr, "chive send: no daemon running; starting Tor to deliver (this can take a while)")
		if err := s.start(ctx); err != nil {
			return 0, fmt.Errorf("start tor: %w", err)
		}
	}
	timer := time.NewTimer(o.timeout)
	defer timer.Stop()
	for {
		select {
		case ev, open := <-events:
			if !open {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				return 0, errors.New("lost the connection to the daemon while waiting; the message stays queued")
			}
			st, ok := ev.(node.MessageStateEvent)
			if !ok || st.ID != m.ID {
				continue
			}
			res.State = st.State
			switch st.State {
			case node.Failed:
				return 0, fmt.Errorf("message %s failed: %s (chive can retry it: the message is kept)", m.ID, st.Error)
			case node.Delivered, node.Read:
				res.LatencyMS = time.Since(start).Milliseconds()
				return report(exitOK, fmt.Sprintf("delivered %s to %s in %s", m.ID, who, time.Since(start).Round(time.Millisecond)))
			case node.Sent:
				if o.wait == "sent" {
					res.LatencyMS = time.Since(start).Milliseconds()
					return report(exitOK, fmt.Sprintf("sent %s to %s in %s", m.ID, who, time.Since(start).Round(time.Millisecond)))
				}
			}
		case <-timer.C:
			res.TimedOut = true
			fmt.Fprintf(e.stderr, "chive send: timed out after %s waiting for %s; the message stays queued (%s) and is delivered later\n",
				o.timeout, o.wait, res.State)
			if o.json {
				writeJSON(e.stdout, res)
			}
			return exitTimeout, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
