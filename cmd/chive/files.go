package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chive-im/chive/node"
)

// File transfer on the command line (issue 15): "chive files" and its
// subcommands, and "chive send --file".

type filesCmd struct {
	e       *env
	c       common
	u       unlock
	json    bool
	contact string
	active  bool
	follow  bool
	out     string
}

func newFiles(e *env) *command {
	fc := &filesCmd{e: e}
	flags := func(name string, own ...func(*flag.FlagSet)) *flag.FlagSet {
		fs := newFlagSet(name)
		fc.c.register(fs, e)
		fc.u.register(fs, e)
		for _, f := range own {
			f(fs)
		}
		return fs
	}
	listFlags := func(fs *flag.FlagSet) {
		fs.BoolVar(&fc.json, "json", false, "print JSON (with --follow: one event per line)")
		fs.StringVar(&fc.contact, "contact", "", "only files of `CONTACT`")
		fs.BoolVar(&fc.active, "active", false, "only transfers not ended")
		fs.BoolVar(&fc.follow, "follow", false, "keep printing state changes and progress")
	}
	oneFile := func(name, help string, do func(context.Context, *session, string) error) *command {
		return &command{
			name:       name,
			shortUsage: "chive files " + name + " ID",
			shortHelp:  help,
			flags:      flags(name, func(fs *flag.FlagSet) { fs.BoolVar(&fc.json, "json", false, "print the transfer as JSON") }),
			exec: func(ctx context.Context, args []string) error {
				if err := exactArgs(args, 1); err != nil {
					return err
				}
				return fc.withSession(ctx, func(s *session) error {
					id, err := resolveFileID(ctx, s.api, args[0])
					if err != nil {
						return err
					}
					return do(ctx, s, id)
				})
			},
		}
	}
	change := func(verb string, f func(node.API) func(context.Context, string) (node.Transfer, error)) func(context.Context, *session, string) error {
		return func(ctx context.Context, s *session, id string) error {
			t, err := f(s.api)(ctx, id)
			if err != nil {
				return err
			}
			if fc.json {
				return writeJSON(fc.e.stdout, t)
			}
			fmt.Fprintf(fc.e.stdout, "%s %s (%s, %s)%s.\n", verb, oneLine(t.Name), humanSize(t.Size), t.State, later(s))
			return nil
		}
	}
	return &command{
		name:       "files",
		shortUsage: "chive files [SUBCOMMAND] [--json] [--contact C] [--active] [--follow]",
		shortHelp:  "list file transfers; get, accept, cancel, pause or resume one",
		longHelp: `Lists file transfers, newest first: id, direction, state, progress, name and
contact. ID is the file's id (its message's id) or a unique prefix of it.
--follow keeps running and prints each change of state, and progress about
once a second (JSON lines with --json: {"kind":"file.state"|"file.progress","data":…}).

Files are sent with "chive send CONTACT --file PATH". Images and voice notes up
to the auto-download size (10 MiB) from accepted contacts are fetched at once;
other files wait for "chive files accept ID". Received files stay sealed in the
profile until "chive files get ID --out PATH" decrypts one.
`,
		flags: flags("files", listFlags),
		exec:  fc.list,
		children: []*command{
			{
				name:       "list",
				shortUsage: "chive files [list] [--json] [--contact C] [--active] [--follow]",
				shortHelp:  "list file transfers",
				flags:      flags("list", listFlags),
				exec:       fc.list,
			},
			{
				name:       "get",
				shortUsage: "chive files get ID [--out PATH]",
				shortHelp:  "save a received (or sent) file, decrypted, to PATH",
				longHelp: `Decrypts the file to PATH (mode 0600): a file that must not exist yet, or a
directory (default: the current one) to put it in under its name. It prints
the path written.
`,
				flags: flags("get", func(fs *flag.FlagSet) {
					fs.StringVar(&fc.out, "out", ".", "where to save it: a new file, or a `directory`")
				}),
				exec: fc.get,
			},
			oneFile("accept", "fetch an offered file", change("Accepted", func(a node.API) func(context.Context, string) (node.Transfer, error) { return a.AcceptFile })),
			oneFile("cancel", "stop a transfer on both sides (or decline an offer)", change("Cancelled", func(a node.API) func(context.Context, string) (node.Transfer, error) { return a.CancelFile })),
			oneFile("pause", "pause a transfer", change("Paused", func(a node.API) func(context.Context, string) (node.Transfer, error) { return a.PauseFile })),
			oneFile("resume", "resume a paused transfer", change("Resumed", func(a node.API) func(context.Context, string) (node.Transfer, error) { return a.ResumeFile })),
		},
	}
}

func (fc *filesCmd) withSession(ctx context.Context, f func(*session) error) error {
	s, err := attach(ctx, fc.e, &fc.c, &fc.u)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

// resolveFileID expands a unique prefix of a file id.
func resolveFileID(ctx context.Context, api node.API, id string) (string, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) == 32 || id == "" {
		return id, nil
	}
	ts, err := api.Files(ctx, node.FileQuery{Limit: 1 << 20})
	if err != nil {
		return "", err
	}
	var found []string
	for _, t := range ts {
		if strings.HasPrefix(t.ID, id) {
			found = append(found, t.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no file with an id starting %q: %w", id, node.ErrUnknownFile)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%d files have an id starting %q; give more of it", len(found), id)
}

func (fc *filesCmd) list(ctx context.Context, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	err := fc.withSession(ctx, func(s *session) error {
		var events <-chan node.Event
		if fc.follow {
			var err error
			if events, err = s.api.Subscribe(ctx); err != nil {
				return err
			}
		}
		only := ""
		if fc.contact != "" {
			ct, err := s.api.Contact(ctx, fc.contact)
			if err != nil {
				return err
			}
			only = ct.Address
		}
		ts, err := s.api.Files(ctx, node.FileQuery{Contact: fc.contact, Active: fc.active, Limit: 1 << 20})
		if err != nil {
			return err
		}
		if !fc.follow {
			if fc.json {
				if ts == nil {
					ts = []node.Transfer{}
				}
				return writeJSON(fc.e.stdout, ts)
			}
			printTransfers(fc.e, ts)
			return nil
		}
		if !s.daemon() {
			fmt.Fprintln(fc.e.stderr, "chive files: no daemon running; starting Tor to move files")
			if err := s.start(ctx); err != nil {
				return fmt.Errorf("start tor: %w", err)
			}
		}
		return fc.followEvents(ctx, events, only, ts)
	})
	if fc.follow && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// followEvents prints the current transfers, then every state change and
// progress at most once a second per file.
func (fc *filesCmd) followEvents(ctx context.Context, events <-chan node.Event, only string, ts []node.Transfer) error {
	w := fc.e.stdout
	for i := len(ts) - 1; i >= 0; i-- { // oldest first, as the changes follow
		if fc.json {
			writeJSON(w, map[string]any{"kind": node.FileStateEvent{}.Kind(), "data": node.FileStateEvent{Transfer: ts[i]}})
		} else {
			fmt.Fprintln(w, transferLine(ts[i]))
		}
	}
	last := map[string]time.Time{}
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
			switch e := ev.(type) {
			case node.FileStateEvent:
				if only != "" && e.Transfer.Address != only {
					continue
				}
				if fc.json {
					writeJSON(w, map[string]any{"kind": e.Kind(), "data": e})
				} else {
					fmt.Fprintln(w, transferLine(e.Transfer))
				}
			case node.FileProgressEvent:
				if (only != "" && e.Address != only) || time.Since(last[e.ID]) < time.Second {
					continue
				}
				last[e.ID] = time.Now()
				if fc.json {
					writeJSON(w, map[string]any{"kind": e.Kind(), "data": e})
				} else {
					fmt.Fprintf(w, "%s  %-3s %s of %s (%s/s)\n", e.ID[:8], e.Direction, humanSize(e.Bytes), humanSize(e.Size), humanSize(int64(e.Rate)))
				}
			}
		}
	}
}

func transferLine(t node.Transfer) string {
	s := fmt.Sprintf("%s  %-3s %-9s %s of %s  %s  %s", t.ID[:8], t.Direction, t.State, humanSize(t.Bytes), humanSize(t.Size), oneLine(t.Name), oneLine(t.Contact))
	if t.Error != "" {
		s += "  (" + oneLine(t.Error) + ")"
	}
	return s
}

func printTransfers(e *env, ts []node.Transfer) {
	if len(ts) == 0 {
		fmt.Fprintln(e.stdout, "No files. Send one with: chive send CONTACT --file PATH")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDIR\tSTATE\tPROGRESS\tNAME\tCONTACT\tNOTE")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID[:8], t.Direction, t.State,
			humanSize(t.Bytes)+" / "+humanSize(t.Size), oneLine(t.Name), oneLine(t.Contact), oneLine(t.Error))
	}
	tw.Flush()
	for _, t := range ts {
		if t.Direction == node.Incoming && t.State == node.FileOffered {
			fmt.Fprintf(e.stdout, "%s offers %s (%s): chive files accept %s\n", oneLine(t.Contact), oneLine(t.Name), humanSize(t.Size), t.ID[:8])
		}
	}
}

func (fc *filesCmd) get(ctx context.Context, args []string) error {
	if err := exactArgs(args, 1); err != nil {
		return err
	}
	out, err := filepath.Abs(fc.out)
	if err != nil {
		return err
	}
	return fc.withSession(ctx, func(s *session) error {
		id, err := resolveFileID(ctx, s.api, args[0])
		if err != nil {
			return err
		}
		p, err := s.api.SaveFile(ctx, id, out)
		if err != nil {
			if errors.Is(err, node.ErrFileNotReady) {
				return fmt.Errorf("%w (see: chive files)", err)
			}
			return err
		}
		if fc.json {
			return writeJSON(fc.e.stdout, map[string]string{"path": p})
		}
		fmt.Fprintln(fc.e.stdout, p)
		return nil
	})
}

// humanSize is n bytes for people.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n), "B"
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, u = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, u)
}

// fileList is a repeatable --file flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// sendFileResult is one file of "send --file --json".
type sendFileResult struct {
	sendResult
	File *node.File `json:"file"`
}

// sendFiles offers each file to ref (the caption goes with the first) and,
// with --wait, waits for each: "sent" or "delivered" (the offer), or
// "completed" (the whole file is with the contact).
func sendFiles(ctx context.Context, e *env, c *common, u *unlock, o sendOpts, pos []string) error {
	if len(o.to) > 0 || o.ttl.set || !o.at.t.IsZero() || o.in.set || o.key != "" {
		return usagef("--file sends to one CONTACT, now: --to, --ttl, --at, --in and --idempotency-key are for text messages")
	}
	if len(pos) == 0 {
		return usagef("whom to send to? chive send CONTACT --file PATH")
	}
	caption := o.caption
	if len(pos) > 1 {
		if caption != "" {
			return usagef("give the caption either as TEXT or with --caption, not both")
		}
		caption = strings.Join(pos[1:], " ")
	}
	paths := make([]string, len(o.files))
	for i, p := range o.files {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("--file %s: %w", p, err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("--file %s: not a regular file", p)
		}
		paths[i] = abs
	}
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	var events <-chan node.Event
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	if o.wait != "" {
		if events, err = s.api.Subscribe(subCtx); err != nil {
			return err
		}
	}
	var sent []node.Message
	for i, p := range paths {
		capt := ""
		if i == 0 {
			capt = caption
		}
		m, err := s.api.SendFile(ctx, pos[0], p, capt)
		if err != nil {
			if errors.Is(err, node.ErrNotAccepted) {
				return fmt.Errorf("%w (they must accept your request first; see: chive contacts)", err)
			}
			return fmt.Errorf("send %s: %w", filepath.Base(p), err)
		}
		sent = append(sent, m)
	}
	start := time.Now()
	res := func(m node.Message) sendFileResult {
		return sendFileResult{sendResult{ID: m.ID, Contact: m.Contact, Address: m.Address, State: m.State}, m.File}
	}
	if o.wait == "" {
		for _, m := range sent {
			human := fmt.Sprintf("queued %s (%s, %s) for %s; the daemon delivers it (--wait completed to wait)", m.ID, oneLine(m.File.Name), humanSize(m.File.Size), sender(m))
			if !s.daemon() {
				human = fmt.Sprintf("queued %s (%s) for %s; no daemon runs, so it is sent when chive next runs (e.g. chive daemon), or use --wait", m.ID, oneLine(m.File.Name), sender(m))
			}
			if err := o.printAny(e, res(m), human); err != nil {
				return err
			}
		}
		return nil // queued is a success (issue 12)
	}
	if !s.daemon() {
		fmt.Fprintln(e.stderr, "chive send: no daemon running; starting Tor to deliver (this can take a while)")
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("start tor: %w", err)
		}
	}
	return awaitFiles(ctx, e, o, sent, res, start, events)
}

// awaitFiles waits until every file reached the state --wait asks for.
func awaitFiles(ctx context.Context, e *env, o sendOpts, sent []node.Message, res func(node.Message) sendFileResult, start time.Time, events <-chan node.Event) error {
	waiting := map[string]*node.Message{}
	for i := range sent {
		waiting[sent[i].ID] = &sent[i]
	}
	done := func(m *node.Message, verb string) error {
		delete(waiting, m.ID)
		r := res(*m)
		r.LatencyMS = time.Since(start).Milliseconds()
		return o.printAny(e, r, fmt.Sprintf("%s %s (%s) to %s in %s", verb, m.ID, oneLine(m.File.Name), sender(*m), time.Since(start).Round(time.Millisecond)))
	}
	timer := time.NewTimer(o.timeout.d)
	defer timer.Stop()
	for len(waiting) > 0 {
		select {
		case ev, open := <-events:
			if !open {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errors.New("lost the connection to the daemon while waiting; the files stay queued")
			}
			switch ev := ev.(type) {
			case node.MessageStateEvent:
				m := waiting[ev.ID]
				if m == nil {
					continue
				}
				m.State = ev.State
				switch {
				case ev.State == node.Failed:
					return fmt.Errorf("message %s failed: %s", m.ID, ev.Error)
				case o.wait == "sent" && ev.State == node.Sent,
					o.wait == "delivered" && (ev.State == node.Delivered || ev.State == node.Read):
					if err := done(m, string(ev.State)); err != nil {
						return err
					}
				}
			case node.FileStateEvent:
				m := waiting[ev.Transfer.ID]
				if m == nil {
					continue
				}
				f := ev.Transfer.File
				m.File = &f
				switch f.State {
				case node.FileFailed, node.FileCancelled:
					return fmt.Errorf("%s: %s %s", oneLine(f.Name), f.State, oneLine(f.Error))
				case node.FileCompleted:
					if o.wait == "completed" {
						if err := done(m, "completed"); err != nil {
							return err
						}
					}
				}
			}
		case <-timer.C:
			fmt.Fprintf(e.stderr, "chive send: timed out after %s waiting for %s; %d file(s) stay queued and are delivered later\n", o.timeout.d, o.wait, len(waiting))
			return exitStatus(exitTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// printAny is sendOpts.print for any JSON value.
func (o sendOpts) printAny(e *env, v any, human string) error {
	if o.json {
		return writeJSON(e.stdout, v)
	}
	fmt.Fprintln(e.stdout, human)
	return nil
}
