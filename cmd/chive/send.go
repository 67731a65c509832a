package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
		o = sendOpts{timeout: durationFlag{d: 2 * time.Minute, set: true}}
	)
	fs := newFlagSet("send")
	c.register(fs, e)
	u.register(fs, e)
	fs.StringVar(&o.wait, "wait", "", "wait until the message is `delivered`, stored (in a mailbox) or sent")
	fs.Var(&o.timeout, "timeout", "how long --wait waits (a `duration` like 90s, 5m)")
	fs.BoolVar(&o.json, "json", false, "print each message's id, state and latency as a JSON line")
	fs.Var(&o.to, "to", "send to `CONTACT`; repeat for several (then every argument is TEXT)")
	fs.Var(&o.ttl, "ttl", "the message is worth delivering for `D` (10m, 1h): undelivered by then it expires, never delivered late")
	fs.Var(&o.at, "at", "send at `TIME`: 2026-12-01T09:00 (local time) or RFC 3339")
	fs.Var(&o.in, "in", "send after `D` (30m, 2h)")
	fs.StringVar(&o.key, "idempotency-key", "", "`KEY` that makes the send safe to repeat: a second send with the same key to the same contact sends nothing and reports the first")
	// Files (issue 15)
	fs.Var(&o.files, "file", "send the file at `PATH` (repeat for several; TEXT or --caption is the caption)")
	fs.StringVar(&o.caption, "caption", "", "with --file: the caption `TEXT`")
	return &command{
		name:       "send",
		shortUsage: "chive send CONTACT|GROUP [TEXT...] | --to CONTACT... [TEXT...] [--file PATH... [--caption TEXT]] [--wait delivered|stored|sent|completed] [--timeout D] [--ttl D] [--at TIME | --in D] [--idempotency-key K] [--json]",
		shortHelp:  "send a message (TEXT or stdin) or files (--file); --wait delivered|stored|sent to wait for it",
		longHelp: `Encrypts TEXT (the rest of the arguments, or stdin when there are none) for
CONTACT (a nickname, matched whole, or an address) and queues it: it is
stored, and the daemon delivers it in the background. To a contact you asked
who has not accepted yet it is sent once they accept. To a GROUP (its name or
id) it goes to every member; --wait delivered then waits until all have it.
--to CONTACT (repeat it) sends the same text to several contacts, queued
together: all or none.
--wait sent waits until it was written to the contact's link, --wait delivered
until their node acknowledged it, --wait stored until a mailbox (yours or
theirs) keeps it for them while they are offline, or it was delivered;
without a daemon, send then starts Tor itself for as long as it waits.
With several contacts it waits for all.

With --file PATH (repeatable) it sends files instead: each is copied into the
profile, sealed, and offered to CONTACT; TEXT or --caption is the caption of
the first. --wait completed waits until the contact has each whole file (it
may wait for them to accept a large one); --wait delivered and sent wait for
the offers. --json prints one object per file, with its "file".

--ttl D: a message not delivered within D expires: it is never delivered late
(a one-time code an hour late is worse than none); the contact's node refuses
it after that time too. --at TIME or --in D schedules it: it is sent then
(later, if no daemon runs then), and "chive scheduled" lists it; --ttl then
counts from that time. --idempotency-key K: a script that retries after a
crash never sends twice: a second send with the same K to the same contact
reports the first message instead.

Exit status: 0 queued (no --wait), or sent, delivered (or completed, for
files) as --wait asked;
4 --wait timed out (the message stays queued and is delivered later);
7 --wait: the message expired before it was delivered; 1 --wait: it failed
(the contact's node refused it, or the contact was removed: see the reason;
"chive retry ID" sends it again), or any other error (e.g. the contact asked
you and you have not accepted); 5 unknown contact; 2 usage.
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
	timeout durationFlag
	json    bool
	to      stringsFlag
	ttl     durationFlag
	at      timeFlag
	in      durationFlag
	key     string
	files   fileList
	caption string
}

// sendResult is send's --json output: one line per message.
type sendResult struct {
	ID        string            `json:"id"`
	Contact   string            `json:"contact"`
	Address   string            `json:"address"`
	State     node.MessageState `json:"state"`
	LatencyMS int64             `json:"latency_ms,omitempty"` // from queued to the state waited for
	TimedOut  bool              `json:"timed_out,omitempty"`
	Error     string            `json:"error,omitempty"`     // failed or expired: why
	SendAt    time.Time         `json:"send_at,omitzero"`    // scheduled for
	ExpiresAt time.Time         `json:"expires_at,omitzero"` // --ttl: never delivered after

	// A group's message (issue 18): the group's id, and how many members
	// it is for and have it.
	Group       string `json:"group,omitempty"`
	Recipients  int    `json:"recipients,omitempty"`
	DeliveredTo int    `json:"delivered_to,omitempty"`
}

func send(ctx context.Context, e *env, c *common, u *unlock, o sendOpts, pos []string) error {
	if o.wait == "completed" && len(o.files) > 0 {
		// waits for the files (below)
	} else if o.wait != "" && o.wait != "delivered" && o.wait != "sent" && o.wait != "stored" {
		return usagef("--wait %q: want delivered, stored or sent (or completed, with --file)", o.wait)
	}
	if !o.at.t.IsZero() && o.in.set {
		return usagef("give --at or --in, not both")
	}
	if len(o.key) > node.MaxIdempotencyKey {
		return usagef("--idempotency-key is longer than %d bytes", node.MaxIdempotencyKey)
	}
	if len(o.files) > 0 {
		return sendFiles(ctx, e, c, u, o, pos)
	}
	if o.caption != "" {
		return usagef("--caption goes with --file")
	}
	refs, text, err := sendArgs(e, o.to, pos)
	if err != nil {
		return err
	}
	req := node.SendRequest{To: refs, Text: text, IdempotencyKey: o.key}
	if o.ttl.set {
		req.TTL = o.ttl.d
	}
	switch {
	case !o.at.t.IsZero():
		if !o.at.t.After(time.Now()) {
			return usagef("--at %s is in the past", o.at.t.Local().Format(time.DateTime))
		}
		req.At = o.at.t
	case o.in.set:
		req.At = time.Now().Add(o.in.d)
	}
	if req.IdempotencyKey == "" {
		// Our own key makes resending safe when the daemon goes away
		// mid-request (it is stopping): the resend finds the first.
		var b [12]byte
		rand.Read(b[:])
		req.IdempotencyKey = "chive-send-" + hex.EncodeToString(b[:])
	}

	var (
		s      *session
		events <-chan node.Event
		ms     []node.Message
	)
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	var stops []context.CancelFunc
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		if s, err = attach(ctx, e, c, u); err != nil {
			return err
		}
		if o.wait != "" {
			// Subscribe before sending so no state change can be missed.
			subCtx, stop := context.WithCancel(ctx)
			stops = append(stops, stop)
			events, err = s.api.Subscribe(subCtx)
		}
		if err == nil {
			ms, err = s.api.SendMany(ctx, req)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, node.ErrClosed) || ctx.Err() != nil || attempt == 3 {
			if errors.Is(err, node.ErrNotAccepted) {
				return fmt.Errorf("%w (they asked you: accept them first, see: chive contacts)", err)
			}
			return err
		}
		// The daemon is stopping: send again, to the next daemon or the
		// profile opened here (attach waits for it to be free).
		fmt.Fprintln(e.stderr, "chive send: the daemon stopped during the request; sending again")
		s.Close()
		s = nil
	}
	queued := time.Now()
	res := make([]sendResult, len(ms))
	for i, m := range ms {
		res[i] = resultOf(m)
	}
	if o.wait == "" {
		for i, m := range ms {
			if err := o.print(e, res[i], queuedLine(ctx, s, m)); err != nil {
				return err
			}
		}
		return nil
	}
	if !s.daemon() {
		fmt.Fprintln(e.stderr, "chive send: no daemon running; starting Tor to deliver (this can take a while)")
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("start tor: %w", err)
		}
	}
	return awaitStates(ctx, e, o, ms, res, queued, events)
}

func resultOf(m node.Message) sendResult {
	return sendResult{ID: m.ID, Contact: m.Contact, Address: m.Address, State: m.State, Error: m.Error, SendAt: m.SendAt, ExpiresAt: m.ExpiresAt,
		Group: m.Group, Recipients: m.Recipients}
}

// queuedLine is what send says for a message it queued (no --wait).
func queuedLine(ctx context.Context, s *session, m node.Message) string {
	who := sender(m)
	switch {
	case m.State != node.Queued:
		return fmt.Sprintf("already sent as %s to %s (%s; same idempotency key)", m.ID, who, m.State)
	case !m.SendAt.IsZero():
		line := fmt.Sprintf("scheduled %s for %s at %s", m.ID, who, m.SendAt.Local().Format(time.DateTime))
		if !s.daemon() {
			line += " (no daemon runs: it is sent when chive runs then, e.g. chive daemon)"
		}
		return line
	}
	if c, err := s.api.Contact(ctx, m.Address); err == nil && c.State == node.StateRequested {
		return fmt.Sprintf("queued %s for %s; it is sent when they accept your contact request", m.ID, who)
	}
	if !s.daemon() {
		return fmt.Sprintf("queued %s for %s; no daemon runs, so it is sent when chive next runs (e.g. chive daemon), or use --wait", m.ID, who)
	}
	return fmt.Sprintf("queued %s for %s; the daemon delivers it (--wait delivered to wait)", m.ID, who)
}

// sendArgs is whom to send to and the text: the rest of the arguments, or
// stdin when there are none.
func sendArgs(e *env, to []string, pos []string) (refs []string, text string, err error) {
	refs = to
	if len(refs) == 0 {
		if len(pos) == 0 {
			return nil, "", usagef("whom to send to? chive send CONTACT TEXT")
		}
		refs, pos = pos[:1], pos[1:]
	}
	if len(pos) > 0 {
		text = strings.Join(pos, " ")
	} else if text, err = readText(e.stdin, maxStdinText); err != nil {
		return nil, "", err
	}
	if strings.TrimSpace(text) == "" {
		return nil, "", usagef("nothing to send: give TEXT or pipe it on stdin")
	}
	return refs, text, nil
}

// final reports whether st ends a message's delivery, and the exit status
// it means for --wait.
func final(st node.MessageState, wait string) (done bool, code int) {
	switch st {
	case node.Delivered, node.Read:
		return true, exitOK
	case node.Sent:
		return wait == "sent", exitOK
	case node.Stored:
		return wait == "stored" || wait == "sent", exitOK
	case node.Failed, node.Cancelled:
		return true, exitError
	case node.Expired:
		return true, exitExpired
	}
	return false, exitOK
}

// awaitStates waits until every message, queued at start, reaches the
// state --wait asks for or ends, or the timeout passes, then reports each:
// exit status 1 if one failed, else 7 if one expired, else 4 if one is
// still on its way, else 0.
func awaitStates(ctx context.Context, e *env, o sendOpts, ms []node.Message, res []sendResult, start time.Time, events <-chan node.Event) error {
	pending := map[string]int{}
	for i, m := range ms {
		if done, _ := final(m.State, o.wait); !done {
			pending[m.ID] = i
		}
	}
	timer := time.NewTimer(o.timeout.d)
	defer timer.Stop()
	timedOut := false
wait:
	for len(pending) > 0 {
		select {
		case ev, open := <-events:
			if !open {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errors.New("lost the connection to the daemon while waiting; the message stays queued")
			}
			st, ok := ev.(node.MessageStateEvent)
			if gr, isGroup := ev.(node.GroupReceiptEvent); isGroup {
				// A group's message is delivered once every member has it.
				st, ok = node.MessageStateEvent{ID: gr.ID, State: gr.State}, true
				if i, found := pending[gr.ID]; found {
					res[i].DeliveredTo = gr.DeliveredTo
				}
			}
			if !ok {
				continue
			}
			i, ok := pending[st.ID]
			if !ok {
				continue
			}
			res[i].State, res[i].Error = st.State, st.Error
			if done, _ := final(st.State, o.wait); done {
				res[i].LatencyMS = time.Since(start).Milliseconds()
				delete(pending, st.ID)
			}
		case <-timer.C:
			timedOut = true
			break wait
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	code := exitOK
	worse := func(c int) {
		rank := map[int]int{exitOK: 0, exitTimeout: 1, exitExpired: 2, exitError: 3}
		if rank[c] > rank[code] {
			code = c
		}
	}
	for i, m := range ms {
		r := &res[i]
		if _, still := pending[m.ID]; still && timedOut {
			r.TimedOut = true
			worse(exitTimeout)
			fmt.Fprintf(e.stderr, "chive send: timed out after %s waiting for %s of %s to %s; the message stays queued (%s) and is delivered later\n",
				o.timeout.d, o.wait, m.ID, sender(m), r.State)
			if o.json {
				writeJSON(e.stdout, *r)
			}
			continue
		}
		_, c := final(r.State, o.wait)
		worse(c)
		switch r.State {
		case node.Failed, node.Cancelled:
			fmt.Fprintf(e.stderr, "chive send: message %s to %s %s: %s (chive retry %s sends it again: the message is kept)\n",
				m.ID, sender(m), r.State, r.Error, m.ID)
		case node.Expired:
			fmt.Fprintf(e.stderr, "chive send: message %s to %s expired: %s\n", m.ID, sender(m), r.Error)
		}
		if o.json {
			writeJSON(e.stdout, *r)
		} else if c == exitOK {
			verb := "delivered"
			switch r.State {
			case node.Sent:
				verb = "sent"
			case node.Stored:
				verb = "stored in a mailbox for" // they are offline; delivered when they collect it
			}
			fmt.Fprintf(e.stdout, "%s %s to %s in %s\n", verb, m.ID, sender(m), (time.Duration(r.LatencyMS) * time.Millisecond).Round(time.Millisecond))
		}
	}
	if code == exitOK {
		return nil
	}
	return exitStatus(code)
}

// print reports the outcome: res with --json, else the human line.
func (o sendOpts) print(e *env, res sendResult, human string) error {
	if o.json {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintln(e.stdout, human)
	return nil
}
