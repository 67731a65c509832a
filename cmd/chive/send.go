package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chive-im/chive/node"
)

func newSend(e *env) *command {
	var (
		c common
		u unlock
		o sendOpts
	)
	fs := newFlagSet("send")
	c.register(fs, e)
	u.register(fs, e)
	fs.StringVar(&o.wait, "wait", "", "wait until the message is `delivered`, stored (in a mailbox) or sent")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long --wait waits")
	fs.BoolVar(&o.json, "json", false, "print the message's id, state and latency as JSON")
	return &command{
		name:       "send",
		shortUsage: "chive send CONTACT|GROUP [TEXT...] [--wait delivered|stored|sent] [--timeout D] [--json]",
		shortHelp:  "send a message (TEXT or stdin); --wait delivered|stored|sent to wait for it",
		longHelp: `Encrypts TEXT (the rest of the arguments, or stdin when there are none) for
CONTACT (a nickname or an address) and queues it. To a GROUP (its name or id)
it goes to every member; --wait delivered then waits until all have it.
Without --wait it returns at once with exit status 3 (queued); the daemon delivers it in the background.
--wait sent waits until it was written to the contact's link, --wait delivered
until their node acknowledged it, --wait stored until a mailbox (yours or
theirs) keeps it for them while they are offline, or it was delivered;
without a daemon, send then starts Tor itself for as long as it waits.

Exit status: 0 delivered or sent (as asked with --wait), 3 queued (no --wait),
4 timed out waiting (the message stays queued and is delivered later),
5 unknown contact, 1 any other error (e.g. the contact has not accepted yet).
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			return send(ctx, e, &c, &u, o, args)
		},
	}
}

// maxStdinText bounds what send reads from stdin; the node rejects longer
// messages with ErrTooLong anyway, this only keeps the request small.
const maxStdinText = 256 << 10

type sendOpts struct {
	wait    string
	timeout time.Duration
	json    bool
}

// sendResult is send's --json output.
type sendResult struct {
	ID        string            `json:"id"`
	Contact   string            `json:"contact"`
	Address   string            `json:"address"`
	State     node.MessageState `json:"state"`
	LatencyMS int64             `json:"latency_ms,omitempty"` // from queued to the state waited for
	TimedOut  bool              `json:"timed_out,omitempty"`

	// A group's message (issue 18): the group's id, and how many members
	// it is for and have it.
	Group       string `json:"group,omitempty"`
	Recipients  int    `json:"recipients,omitempty"`
	DeliveredTo int    `json:"delivered_to,omitempty"`
}

func send(ctx context.Context, e *env, c *common, u *unlock, o sendOpts, pos []string) error {
	if o.wait != "" && o.wait != "delivered" && o.wait != "sent" && o.wait != "stored" {
		return usagef("--wait %q: want delivered, stored or sent", o.wait)
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	ref, text, err := sendArgs(e, pos)
	if err != nil {
		return err
	}

	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()

	var events <-chan node.Event
	subCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	if o.wait != "" {
		// Subscribe before sending so no state change can be missed.
		if events, err = s.api.Subscribe(subCtx); err != nil {
			return err
		}
	}
	m, err := s.api.Send(ctx, ref, text)
	if err != nil {
		if errors.Is(err, node.ErrNotAccepted) {
			return fmt.Errorf("%w (they must accept your request first; see: chive contacts)", err)
		}
		return err
	}
	queued := time.Now()
	res := sendResult{ID: m.ID, Contact: m.Contact, Address: m.Address, State: m.State, Group: m.Group, Recipients: m.Recipients}
	if o.wait == "" {
		human := fmt.Sprintf("queued %s for %s; the daemon delivers it (--wait delivered to wait)", m.ID, sender(m))
		if !s.daemon() {
			human = fmt.Sprintf("queued %s for %s; no daemon runs, so it is sent when chive next runs (e.g. chive daemon), or use --wait", m.ID, sender(m))
		}
		if err := o.print(e, res, human); err != nil {
			return err
		}
		return exitStatus(exitQueued)
	}
	if !s.daemon() {
		fmt.Fprintln(e.stderr, "chive send: no daemon running; starting Tor to deliver (this can take a while)")
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("start tor: %w", err)
		}
	}
	return awaitState(ctx, e, o, m, res, queued, events)
}

// sendArgs is whom to send to and the text: the rest of the arguments, or
// stdin when there are none.
func sendArgs(e *env, pos []string) (ref, text string, err error) {
	if len(pos) == 0 {
		return "", "", usagef("whom to send to? chive send CONTACT TEXT")
	}
	if len(pos) > 1 {
		text = strings.Join(pos[1:], " ")
	} else if text, err = readText(e.stdin, maxStdinText); err != nil {
		return "", "", err
	}
	if strings.TrimSpace(text) == "" {
		return "", "", usagef("nothing to send: give TEXT or pipe it on stdin")
	}
	return pos[0], text, nil
}

// awaitState waits until message m, queued at start, reaches the state
// --wait asks for, fails, or the timeout passes (exit status 4: it stays
// queued).
func awaitState(ctx context.Context, e *env, o sendOpts, m node.Message, res sendResult, start time.Time, events <-chan node.Event) error {
	done := func(verb string) error {
		res.LatencyMS = time.Since(start).Milliseconds()
		return o.print(e, res, fmt.Sprintf("%s %s to %s in %s", verb, m.ID, sender(m), time.Since(start).Round(time.Millisecond)))
	}
	timer := time.NewTimer(o.timeout)
	defer timer.Stop()
	for {
		select {
		case ev, open := <-events:
			if !open {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errors.New("lost the connection to the daemon while waiting; the message stays queued")
			}
			st, ok := ev.(node.MessageStateEvent)
			if gr, isGroup := ev.(node.GroupReceiptEvent); isGroup && gr.ID == m.ID {
				// A group's message is delivered once every member has it.
				st, ok = node.MessageStateEvent{ID: gr.ID, State: gr.State}, true
				res.DeliveredTo = gr.DeliveredTo
			}
			if !ok || st.ID != m.ID {
				continue
			}
			res.State = st.State
			switch st.State {
			case node.Failed:
				return fmt.Errorf("message %s failed: %s (chive can retry it: the message is kept)", m.ID, st.Error)
			case node.Delivered, node.Read:
				return done("delivered")
			case node.Sent:
				if o.wait == "sent" {
					return done("sent")
				}
			case node.Stored:
				if o.wait == "stored" {
					return done("stored")
				}
			}
		case <-timer.C:
			res.TimedOut = true
			fmt.Fprintf(e.stderr, "chive send: timed out after %s waiting for %s; the message stays queued (%s) and is delivered later\n",
				o.timeout, o.wait, res.State)
			if o.json {
				writeJSON(e.stdout, res)
			}
			return exitStatus(exitTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// print reports the outcome: res with --json, else the human line.
func (o sendOpts) print(e *env, res sendResult, human string) error {
	if o.json {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintln(e.stdout, human)
	return nil
}
