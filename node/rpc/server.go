package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

const (
	// maxInflight bounds the requests one connection runs at once; the
	// connection stops reading until one finishes.
	maxInflight = 16
	// writeTimeout bounds one write to a client. A client that does not read
	// its responses or events for this long is disconnected rather than
	// holding the node's event queue.
	writeTimeout = time.Minute
)

// maxSocketPath is the longest Unix socket path that works everywhere
// (sun_path is 104 bytes on macOS and BSD, 108 on Linux, NUL included).
const maxSocketPath = 103

// ErrDaemonRunning is returned by Listen when another process already serves
// the socket.
var ErrDaemonRunning = errors.New("a daemon is already serving this profile")

// Listen creates the control socket at path, readable and writable only by
// the owner. A stale socket (a file nobody answers on, left by a daemon that
// was killed) is removed first; a live one is an error wrapping
// ErrDaemonRunning. The socket file is removed when the listener is closed.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("rpc: listen: %s exists and is not a socket; remove it if it is not needed", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("rpc: listen %s: %w", path, ErrDaemonRunning)
		}
		if !isConnRefused(err) {
			return nil, fmt.Errorf("rpc: listen: probe existing socket: %w", err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("rpc: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		if len(path) > maxSocketPath {
			return nil, fmt.Errorf("rpc: listen: socket path %s is %d bytes, longer than Unix sockets allow (%d); use a profile directory with a shorter path: %w",
				path, len(path), maxSocketPath, err)
		}
		return nil, fmt.Errorf("rpc: listen: %w", err)
	}
	// Connecting needs write permission on the socket, which the default
	// umask already denies to others; chmod makes 0600 explicit without
	// changing the process-wide umask under other goroutines.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("rpc: listen: %w", err)
	}
	return ln, nil
}

// Server serves a node.API to JSON-RPC clients. Create it with NewServer,
// call Serve with a listener, and Close to stop.
type Server struct {
	api node.API
	log *slog.Logger

	ctx    context.Context // cancelled by Close; parent of every request
	cancel context.CancelFunc
	wg     sync.WaitGroup // Serve loops and connections

	buffered *budget // request bytes held (limits.go)

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	done      sync.WaitGroup // connections, for Shutdown
}

// NewServer returns a server for api. log may be nil. The server logs method
// names, durations and error codes at debug level, never parameters or results
// (they hold message text).
func NewServer(api node.API, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		api: api, log: log, ctx: ctx, cancel: cancel,
		buffered:  newBudget(maxBuffered),
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}
}

// Serve accepts connections on ln until Close. It returns an error wrapping
// net.ErrClosed after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return fmt.Errorf("rpc: serve: %w", net.ErrClosed)
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("rpc: serve: %w", net.ErrClosed)
			}
			// Out of file descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("rpc: accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		if len(s.conns) >= maxConns {
			s.wg.Add(1)
			s.mu.Unlock()
			go s.refuse(nc)
			continue
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.done.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer s.done.Done()
			s.serveConn(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops gracefully: it stops accepting, reads no further requests,
// ends subscriptions, and lets the requests already read finish and write
// their answers, until ctx is done; then it closes as Close does. A client
// whose request was not read sees its connection close and can retry
// elsewhere (the CLI opens the profile itself once the daemon is gone).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	for ln := range s.listeners {
		ln.Close()
	}
	for nc := range s.conns {
		nc.SetReadDeadline(time.Now()) // the read loop ends; answers still go out
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() {
		s.done.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
	}
	return s.Close()
}

// Close stops accepting, cancels running requests and subscriptions, closes
// every connection and waits for them. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// conn is one client connection; writes of responses and events are
// serialized by mu.
type conn struct {
	nc     net.Conn
	broken func() // cancels the connection's requests
	mu     sync.Mutex
}

func (c *conn) writeLine(b []byte) error {
	// Escape what a terminal would act on or hide (a script may print a
	// line as it is): the decoded values do not change.
	b = safetext.JSON(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(append(b, '\n'))
	if err != nil {
		// A peer that cannot take what we write is gone or stuck: its
		// requests are cancelled, and closing ends the read loop too.
		c.broken()
		c.nc.Close()
	}
	return err
}

// serveConn reads requests from nc and runs them concurrently. When the
// client closes its side (EOF: "echo REQUEST | socat - UNIX-CONNECT:…"
// closes its write side first), every request already read still runs and
// its answer is written; only then is the connection closed. Requests are
// cancelled only when writing to the client fails or the server closes.
// Subscriptions end at EOF: nobody may be left to read them.
func (s *Server) serveConn(nc net.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)   // requests
	subCtx, endSubs := context.WithCancel(ctx) // subscriptions
	c := &conn{nc: nc, broken: cancel}
	var inflight sync.WaitGroup
	defer func() {
		endSubs()
		inflight.Wait() // the requests read finish and answer
		cancel()
		nc.Close()
	}()
	r := bufio.NewReaderSize(nc, readBufSize)
	sem := make(chan struct{}, maxInflight)
	for {
		line, held, err := readRequest(r, MaxLine, s.buffered)
		if errors.Is(err, errLineTooLong) {
			s.log.Debug("rpc: request too large", "limit", MaxLine)
			c.writeLine(mustMarshal(response{JSONRPC: "2.0", ID: nullID,
				Error: &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("request too large (limit %d bytes)", MaxLine)}}))
			return
		}
		if errors.Is(err, errBusy) {
			s.log.Warn("rpc: too many request bytes held; closing a connection", "limit", maxBuffered)
			c.writeLine(mustMarshal(response{JSONRPC: "2.0", ID: nullID,
				Error: &Error{Code: CodeError, Message: fmt.Sprintf("%v (%d bytes across connections); try again", errBusy, maxBuffered)}}))
			return
		}
		if len(bytes.TrimSpace(line)) == 0 || (err != nil && !errors.Is(err, io.EOF)) {
			s.buffered.release(held)
		} else {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				s.buffered.release(held)
				return
			}
			inflight.Add(1)
			go func() {
				defer func() { <-sem; s.buffered.release(held); inflight.Done() }()
				resp, then := s.handle(ctx, subCtx, line)
				if resp != nil {
					if c.writeLine(resp) != nil {
						return
					}
				}
				if then != nil {
					then(c)
				}
			}()
		}
		if err != nil {
			return // EOF (the client is done sending), Shutdown, or a broken connection
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline. At EOF it returns
// what is left (maybe a final line without newline) with io.EOF. A line
// longer than limit is errLineTooLong.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > limit+1 { // +1: the newline itself
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return line, io.EOF
			}
			return nil, err
		}
		return line[:len(line)-1], nil
	}
}

var nullID = json.RawMessage("null")

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own response types are marshalled here
	}
	return b
}

// decodeRequest parses one request line. It returns a JSON-RPC error for
// anything that is not a single valid request object.
func decodeRequest(line []byte) (request, *Error) {
	var req request
	line = bytes.TrimSpace(line)
	if !json.Valid(line) {
		return req, &Error{Code: CodeParseError, Message: "parse error: not valid JSON"}
	}
	if line[0] != '{' {
		if line[0] == '[' {
			return req, &Error{Code: CodeInvalidRequest, Message: "invalid request: batch requests are not supported"}
		}
		return req, &Error{Code: CodeInvalidRequest, Message: "invalid request: not a JSON object"}
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return request{}, &Error{Code: CodeInvalidRequest, Message: "invalid request: " + err.Error()}
	}
	if req.ID != nil {
		switch bytes.TrimSpace(req.ID)[0] {
		case '{', '[', 't', 'f':
			id := req.ID
			req.ID = nil
			return req, &Error{Code: CodeInvalidRequest, Message: "invalid request: id must be a string, a number or null: " + truncate(string(id), 64)}
		}
	}
	if req.JSONRPC != "2.0" {
		return req, &Error{Code: CodeInvalidRequest, Message: `invalid request: "jsonrpc" must be "2.0"`}
	}
	if req.Method == "" {
		return req, &Error{Code: CodeInvalidRequest, Message: `invalid request: "method" missing`}
	}
	return req, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// handle runs one request line and returns the response line (nil for a
// notification) and, for "subscribe", a function that streams events on the
// connection after the response is written (until subCtx ends).
func (s *Server) handle(ctx, subCtx context.Context, line []byte) (resp []byte, then func(*conn)) {
	start := time.Now()
	req, rerr := decodeRequest(line)
	var result any
	if rerr == nil {
		result, then, rerr = s.dispatch(ctx, subCtx, req)
	}
	code := 0
	if rerr != nil {
		code = rerr.Code
	}
	s.log.Debug("rpc", "method", truncate(req.Method, 40), "code", code, "took", time.Since(start))
	if req.ID == nil && (rerr == nil || (rerr.Code != CodeParseError && rerr.Code != CodeInvalidRequest)) {
		return nil, then // a notification: no response, even on error
	}
	id := req.ID
	if id == nil {
		id = nullID
	}
	r := response{JSONRPC: "2.0", ID: id}
	if rerr != nil {
		r.Error = rerr
		return mustMarshal(r), nil
	}
	b, err := json.Marshal(result)
	if err != nil {
		r.Error = &Error{Code: CodeInternal, Message: "internal error: encode result: " + err.Error()}
		return mustMarshal(r), nil
	}
	r.Result = b
	return mustMarshal(r), then
}

// decodeParams decodes a params object into T, rejecting unknown fields,
// wrong types and anything but an object (absent or null params are the
// zero T; required fields are checked by the caller).
func decodeParams[T any](raw json.RawMessage) (T, *Error) {
	var v T
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, nullID) {
		return v, nil
	}
	if raw[0] != '{' {
		return v, invalidParams("params must be an object")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return v, invalidParams("%v", err)
	}
	return v, nil
}

func required(name, v string) *Error {
	if v == "" {
		return invalidParams("%q is required", name)
	}
	return nil
}

// method is one API method: it decodes its params and calls the node.
type method func(s *Server, ctx context.Context, params json.RawMessage) (any, *Error)

// call adapts a node call's (result, error) to a method's.
func call[R any](r R, err error) (any, *Error) {
	if err != nil {
		return nil, errorFor(err)
	}
	return r, nil
}

func ok(err error) (any, *Error) { return call(empty{}, err) }

// withContact is a method taking {"contact": ref}.
func withContact(f func(s *Server, ctx context.Context, ref string) (any, *Error)) method {
	return func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[contactParams](raw)
		if e != nil {
			return nil, e
		}
		if e := required("contact", p.Contact); e != nil {
			return nil, e
		}
		return f(s, ctx, p.Contact)
	}
}

// noParams is a method without params; it still rejects unknown ones.
func noParams(f func(s *Server, ctx context.Context) (any, *Error)) method {
	return func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		if _, e := decodeParams[struct{}](raw); e != nil {
			return nil, e
		}
		return f(s, ctx)
	}
}

var methods = map[string]method{
	"status": noParams(func(s *Server, ctx context.Context) (any, *Error) {
		st, err := s.api.Status(ctx)
		st.Daemon = true
		return call(st, err)
	}),
	"address": noParams(func(s *Server, ctx context.Context) (any, *Error) {
		st, err := s.api.Status(ctx)
		return call(AddressInfo{Address: st.Address, URI: "chive:" + st.Address, Name: st.Name}, err)
	}),
	"contacts.list": noParams(func(s *Server, ctx context.Context) (any, *Error) {
		cs, err := s.api.Contacts(ctx)
		if cs == nil {
			cs = []node.Contact{} // [] rather than null for scripts
		}
		return call(cs, err)
	}),
	"contacts.get": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return call(s.api.Contact(ctx, ref))
	}),
	"contacts.add": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[addParams](raw)
		if e == nil {
			e = required("address", p.Address)
		}
		if e == nil {
			e = required("name", p.Name)
		}
		if e != nil {
			return nil, e
		}
		return call(s.api.AddContact(ctx, p.Address, p.Name, p.Greeting))
	},
	"contacts.accept": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return call(s.api.AcceptContact(ctx, ref))
	}),
	"contacts.decline": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return ok(s.api.DeclineContact(ctx, ref))
	}),
	"contacts.block": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return ok(s.api.BlockContact(ctx, ref))
	}),
	"contacts.rename": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[renameParams](raw)
		if e == nil {
			e = required("contact", p.Contact)
		}
		if e == nil {
			e = required("name", p.Name)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.RenameContact(ctx, p.Contact, p.Name))
	},
	"contacts.remove": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[removeParams](raw)
		if e == nil {
			e = required("contact", p.Contact)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.RemoveContact(ctx, p.Contact, p.KeepHistory))
	},
	"contacts.verify": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[verifyParams](raw)
		if e == nil {
			e = required("contact", p.Contact)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.SetVerified(ctx, p.Contact, p.Verified))
	},
	"contacts.safety_number": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		n, err := s.api.SafetyNumber(ctx, ref)
		return call(safetyResult{SafetyNumber: n}, err)
	}),
	"send": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[sendParams](raw)
		if e == nil {
			e = required("contact", p.Contact)
		}
		if e == nil {
			e = required("text", p.Text)
		}
		if e == nil {
			e = p.TTL.check()
		}
		if e != nil {
			return nil, e
		}
		if p.TTL == 0 && p.SendAt.IsZero() && p.IdempotencyKey == "" {
			return call(s.api.Send(ctx, p.Contact, p.Text))
		}
		ms, err := s.api.SendMany(ctx, node.SendRequest{To: []string{p.Contact}, Text: p.Text, TTL: time.Duration(p.TTL),
			At: p.SendAt, IdempotencyKey: p.IdempotencyKey})
		if err != nil {
			return nil, errorFor(err)
		}
		return ms[0], nil
	},
	"retry": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[retryParams](raw)
		if e == nil {
			e = required("id", p.ID)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.Retry(ctx, p.ID))
	},
	"history": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[historyParams](raw)
		if e == nil {
			e = required("contact", p.Contact)
		}
		if e == nil && p.Limit < 0 {
			e = invalidParams(`"limit" must not be negative`)
		}
		if e != nil {
			return nil, e
		}
		ms, err := s.api.History(ctx, p.Contact, p.Before, p.Limit)
		if ms == nil {
			ms = []node.Message{}
		}
		return call(ms, err)
	},
	"inbox": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		q, e := decodeParams[node.InboxQuery](raw)
		if e == nil && (q.After < 0 || q.Limit < 0) {
			e = invalidParams(`"after" and "limit" must not be negative`)
		}
		if e != nil {
			return nil, e
		}
		ms, err := s.api.Inbox(ctx, q)
		if ms == nil {
			ms = []node.Message{}
		}
		return call(ms, err)
	},
	"mark_read": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return ok(s.api.MarkRead(ctx, ref))
	}),
	"typing": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return ok(s.api.Typing(ctx, ref))
	}),
	"settings.get": noParams(func(s *Server, ctx context.Context) (any, *Error) {
		return call(s.api.Settings(ctx))
	}),
	"settings.set": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), nullID) {
			return nil, invalidParams("settings object required")
		}
		// Fields left out keep their current value.
		cur, err := s.api.Settings(ctx)
		if err != nil {
			return nil, errorFor(err)
		}
		p, e := decodeParams[settingsPatch](raw)
		if e != nil {
			return nil, e
		}
		if p.ReadReceipts != nil {
			cur.ReadReceipts = *p.ReadReceipts
		}
		if p.Typing != nil {
			cur.Typing = *p.Typing
		}
		// Files (issue 15)
		if p.MaxFileSize != nil {
			cur.MaxFileSize = *p.MaxFileSize
		}
		if p.AutoDownload != nil {
			cur.AutoDownload = *p.AutoDownload
		}
		if p.FileQuota != nil {
			cur.FileQuota = *p.FileQuota
		}
		return call(cur, s.api.SetSettings(ctx, cur))
	},

	// --- Drafts, display names, unblock (issue 11) ---
	"drafts.set": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[draftParams](raw)
		if e == nil {
			e = required("contact", p.Contact)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.SetDraft(ctx, p.Contact, p.Text)) // "" clears
	},
	"profile.set_name": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[nameParams](raw)
		if e == nil {
			e = required("name", p.Name)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.SetName(ctx, p.Name))
	},
	"contacts.unblock": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return ok(s.api.UnblockContact(ctx, ref))
	}),

	// Invite links (issue 13).
	"invites.create": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[node.InviteOptions](raw)
		if e != nil {
			return nil, e
		}
		return call(s.api.CreateInvite(ctx, p))
	},
	"invites.list": noParams(func(s *Server, ctx context.Context) (any, *Error) {
		ivs, err := s.api.Invites(ctx)
		if ivs == nil {
			ivs = []node.Invite{}
		}
		return call(ivs, err)
	}),
	"invites.revoke": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[inviteParams](raw)
		if e != nil {
			return nil, e
		}
		if p.ID <= 0 {
			return nil, invalidParams("id required")
		}
		return ok(s.api.RevokeInvite(ctx, p.ID))
	},

	// Session reset (issue 13).
	"contacts.reset_session": withContact(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return call(s.api.ResetSession(ctx, ref))
	}),

	// --- Mailbox (issue 16) ---
	"mailbox.link": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[mailboxLinkParams](raw)
		if e == nil {
			e = required("uri", p.URI)
		}
		if e != nil {
			return nil, e
		}
		return call(s.api.MailboxLink(ctx, p.URI))
	},
	"mailbox.unlink": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[mailboxUnlinkParams](raw)
		if e != nil {
			return nil, e
		}
		return ok(s.api.MailboxUnlink(ctx, p.Force))
	},
	"mailbox.status": noParams(func(s *Server, ctx context.Context) (any, *Error) {
		return call(s.api.MailboxStatus(ctx))
	}),

	// Groups (issue 18).
	"groups.list": noParams(func(s *Server, ctx context.Context) (any, *Error) {
		gs, err := s.api.Groups(ctx)
		if gs == nil {
			gs = []node.Group{}
		}
		return call(gs, err)
	}),
	"groups.get": withGroup(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return call(s.api.Group(ctx, ref))
	}),
	"groups.create": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[groupCreateParams](raw)
		if e == nil {
			e = required("name", p.Name)
		}
		if e != nil {
			return nil, e
		}
		return call(s.api.CreateGroup(ctx, p.Name, p.Members))
	},
	"groups.invite": groupMember(func(api node.API) func(context.Context, string, string) (node.Group, error) { return api.InviteToGroup }),
	"groups.remove": groupMember(func(api node.API) func(context.Context, string, string) (node.Group, error) {
		return api.RemoveFromGroup
	}),
	"groups.promote": groupMember(func(api node.API) func(context.Context, string, string) (node.Group, error) {
		return api.PromoteInGroup
	}),
	"groups.leave": withGroup(func(s *Server, ctx context.Context, ref string) (any, *Error) {
		return ok(s.api.LeaveGroup(ctx, ref))
	}),
	"groups.rename": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[groupRenameParams](raw)
		if e == nil {
			e = required("group", p.Group)
		}
		if e == nil {
			e = required("name", p.Name)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.RenameGroup(ctx, p.Group, p.Name))
	},
}

// withGroup is a method taking {"group": ref}.
func withGroup(f func(s *Server, ctx context.Context, ref string) (any, *Error)) method {
	return func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[groupParams](raw)
		if e == nil {
			e = required("group", p.Group)
		}
		if e != nil {
			return nil, e
		}
		return f(s, ctx, p.Group)
	}
}

// groupMember is a method taking {"group": ref, "member": ref} that
// returns the group.
func groupMember(op func(node.API) func(context.Context, string, string) (node.Group, error)) method {
	return func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[groupMemberParams](raw)
		if e == nil {
			e = required("group", p.Group)
		}
		if e == nil {
			e = required("member", p.Member)
		}
		if e != nil {
			return nil, e
		}
		return call(op(s.api)(ctx, p.Group, p.Member))
	}
}

func init() {
	// Delivery for scripts and bots (issue 12).
	methods["send_many"] = func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[sendManyParams](raw)
		if e == nil && len(p.To) == 0 {
			e = invalidParams(`"to" is required: a list of contacts`)
		}
		if e == nil {
			e = required("text", p.Text)
		}
		if e == nil {
			e = p.TTL.check()
		}
		for _, ref := range p.To {
			if e == nil && ref == "" {
				e = invalidParams(`"to" has an empty contact`)
			}
		}
		if e != nil {
			return nil, e
		}
		return call(s.api.SendMany(ctx, node.SendRequest{To: p.To, Text: p.Text, TTL: time.Duration(p.TTL),
			At: p.SendAt, IdempotencyKey: p.IdempotencyKey}))
	}
	methods["scheduled.list"] = noParams(func(s *Server, ctx context.Context) (any, *Error) {
		ms, err := s.api.Scheduled(ctx)
		if ms == nil {
			ms = []node.Message{}
		}
		return call(ms, err)
	})
	methods["scheduled.cancel"] = func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[retryParams](raw)
		if e == nil {
			e = required("id", p.ID)
		}
		if e != nil {
			return nil, e
		}
		return ok(s.api.CancelScheduled(ctx, p.ID))
	}
}

// settingsPatch is settings.set's params: absent fields are unchanged.
type settingsPatch struct {
	ReadReceipts *bool `json:"read_receipts"`
	Typing       *bool `json:"typing"`
	// Files (issue 15)
	MaxFileSize  *int64 `json:"max_file_size"`
	AutoDownload *int64 `json:"auto_download"`
	FileQuota    *int64 `json:"file_quota"`
}

// dispatch runs a decoded request; panics in the node become internal errors
// so one bad request cannot take the daemon down.
func (s *Server) dispatch(ctx, subCtx context.Context, req request) (result any, then func(*conn), rerr *Error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("rpc: panic in handler", "method", truncate(req.Method, 40), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, then, rerr = nil, nil, &Error{Code: CodeInternal, Message: "internal error"}
		}
	}()
	if req.Method == "subscribe" {
		return s.subscribe(subCtx, req.Params)
	}
	m, found := methods[req.Method]
	if !found {
		return nil, nil, &Error{Code: CodeMethodNotFound, Message: "method not found: " + truncate(req.Method, 64)}
	}
	result, rerr = m(s, ctx, req.Params)
	return result, nil, rerr
}

// subscribe starts a subscription bound to the connection's context; the
// returned function streams the events as "event" notifications until the
// connection ends.
func (s *Server) subscribe(ctx context.Context, raw json.RawMessage) (any, func(*conn), *Error) {
	if _, e := decodeParams[struct{}](raw); e != nil {
		return nil, nil, e
	}
	ch, err := s.api.Subscribe(ctx)
	if err != nil {
		return nil, nil, errorFor(err)
	}
	pump := func(c *conn) {
		for {
			select {
			case <-ctx.Done():
				return
			case ev, open := <-ch:
				if !open {
					if ctx.Err() != nil {
						return // the subscription ended (EOF): answers may still be written
					}
					// The node closed the stream (shutting down): end the
					// connection so the client sees it.
					c.nc.Close()
					return
				}
				data, err := MarshalEvent(ev)
				if err != nil {
					s.log.Error("rpc: encode event", "kind", ev.Kind(), "err", err)
					continue
				}
				if c.writeLine(mustMarshal(notification{JSONRPC: "2.0", Method: EventMethod, Params: data})) != nil {
					return
				}
			}
		}
	}
	return subscribeResult{Subscribed: true}, pump, nil
}

// isConnRefused reports whether a dial failed because nobody listens.
func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}
