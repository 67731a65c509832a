package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

// A hook is a command run for every incoming message ("chive daemon
// --on-message CMD", "chive inbox --follow --exec CMD"): the message as one
// JSON object on stdin (the line "chive inbox --json" prints), the contact
// in the environment, and what it prints on stdout, if anything but
// whitespace, sent back to the contact as the reply. Hooks run one at a
// time, in order, each bounded by a timeout; a slow or failing hook never
// holds up receiving (messages are stored before the hook sees them): the
// queue is bounded, and a message that finds it full is logged and not
// passed to the hook.

// hookQueue is how many messages may wait for the hook.
const hookQueue = 256

// maxHookOutput bounds what is read of a hook's stdout.
const maxHookOutput = node.MaxText + 1

type hookRunner struct {
	cmd     string
	timeout time.Duration
	dir     string   // the profile, CHIVE_HOME for a hook that runs chive
	api     node.API // replies are sent through it
	log     *slog.Logger
	queue   chan node.Message
}

func newHookRunner(cmd string, timeout time.Duration, dir string, api node.API, log *slog.Logger) *hookRunner {
	return &hookRunner{cmd: cmd, timeout: timeout, dir: dir, api: api, log: log, queue: make(chan node.Message, hookQueue)}
}

// offer queues m for the hook without blocking; a full queue drops it
// (logged): the message itself is stored whatever the hook does.
func (h *hookRunner) offer(m node.Message) {
	select {
	case h.queue <- m:
	default:
		h.log.Warn("hook queue full: message not passed to the hook", "id", m.ID, "seq", m.Seq,
			"contact", onion.Address(m.Address).Short(), "queue", hookQueue)
	}
}

// push queues m, waiting for room (the inbox backlog: nothing else waits).
func (h *hookRunner) push(ctx context.Context, m node.Message) error {
	select {
	case h.queue <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run runs the hook for each queued message until ctx ends or the queue
// is closed.
func (h *hookRunner) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-h.queue:
			if !ok {
				return
			}
			h.runOne(ctx, m)
		}
	}
}

// hookEnv is the environment of a hook: ours, the profile and the message.
func (h *hookRunner) hookEnv(m node.Message) []string {
	env := os.Environ()
	if h.dir != "" {
		env = append(env, "CHIVE_HOME="+h.dir)
	}
	return append(env,
		"CHIVE_CONTACT="+oneLine(m.Contact),
		"CHIVE_CONTACT_ADDRESS="+m.Address,
		"CHIVE_MESSAGE_ID="+m.ID,
		"CHIVE_MESSAGE_SEQ="+strconv.FormatInt(m.Seq, 10),
	)
}

func (h *hookRunner) runOne(ctx context.Context, m node.Message) {
	start := time.Now()
	line, err := json.Marshal(inboxLineOf(m))
	if err != nil {
		h.log.Error("hook: encode message", "err", err)
		return
	}
	hctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	cmd := shellCommand(hctx, h.cmd)
	cmd.Stdin = bytes.NewReader(append(line, '\n'))
	cmd.Env = h.hookEnv(m)
	cmd.Stderr = os.Stderr // the hook's own diagnostics, not our log
	var out limitedBuffer
	out.max = maxHookOutput
	cmd.Stdout = &out
	cmd.WaitDelay = 2 * time.Second // a child holding stdout open does not hold us
	err = cmd.Run()
	attrs := []any{"id", m.ID, "contact", onion.Address(m.Address).Short(), "took", time.Since(start).Round(time.Millisecond)}
	switch {
	case hctx.Err() == context.DeadlineExceeded:
		h.log.Warn("hook timed out; killed", append(attrs, "timeout", h.timeout)...)
		return
	case ctx.Err() != nil:
		return // shutting down
	case err != nil:
		h.log.Warn("hook failed", append(attrs, "err", err)...)
		return
	}
	reply := strings.TrimRight(out.String(), "\r\n")
	if strings.TrimSpace(reply) == "" {
		h.log.Debug("hook done", attrs...)
		return
	}
	if out.over {
		h.log.Warn("hook reply too long; not sent", append(attrs, "limit", node.MaxText)...)
		return
	}
	// The key makes the reply once-only, whatever retries a caller adds.
	_, err = h.api.SendMany(ctx, node.SendRequest{To: []string{m.Address}, Text: reply, IdempotencyKey: "hook-reply-" + m.ID})
	if err != nil {
		h.log.Warn("hook reply not sent", append(attrs, "err", err)...)
		return
	}
	h.log.Info("hook replied", attrs...)
}

// limitedBuffer keeps the first max bytes written and notes the rest.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)

// defaultHookTimeout bounds one run of a hook.
const defaultHookTimeout = 30 * time.Second

// checkHook says what is wrong with a hook command line, early.
func checkHook(cmd string) error {
	if strings.TrimSpace(cmd) == "" {
		return errors.New("the hook command is empty")
	}
	return nil
}

// inboxLineOf is the JSON a script sees for a message: "inbox --json"'s
// line, which is also a hook's stdin.
func inboxLineOf(m node.Message) inboxLine {
	return inboxLine{ID: m.ID, Seq: m.Seq, Contact: m.Contact, Address: m.Address, Time: m.Time, Text: m.Text, File: m.File,
		Group: m.Group, Author: m.Author, AuthorName: m.AuthorName, Via: m.Via}
}
