package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chive-im/chive/node"
)

// ErrNoDaemon is wrapped by Dial's error when nothing listens on the socket
// (no daemon runs for the profile, or it was killed and left a stale socket).
var ErrNoDaemon = errors.New("no daemon running")

// ErrDisconnected is returned by calls in flight or made after the
// connection to the daemon was lost (it stopped, or Close was called). It
// wraps node.ErrClosed.
var ErrDisconnected = fmt.Errorf("connection to the daemon lost: %w", node.ErrClosed)

// maxResponse caps one response line the client accepts; history pages can
// be larger than a request.
const maxResponse = 64 << 20

// Client is a node.API served by a daemon over its control socket. It is
// safe for concurrent use: calls are multiplexed on one connection, and each
// Subscribe opens a connection of its own.
type Client struct {
	path string
	opts Options

	ctx    context.Context // cancelled by Close: ends subscriptions
	cancel context.CancelFunc
	dialMu sync.Mutex // one redial at a time
	nextID atomic.Uint64

	mu     sync.Mutex
	cc     *callConn // the connection calls use
	closed bool
}

// callConn is one connection for calls, with its read loop.
type callConn struct {
	nc   net.Conn
	done chan struct{} // closed when the read loop ends
	wmu  sync.Mutex    // serializes writes

	mu      sync.Mutex
	pending map[uint64]chan response
	err     error // why the read loop ended
}

var _ node.API = (*Client)(nil)

// Dial connects to the daemon serving the socket at path (see SocketPath).
// When no daemon runs, the error wraps ErrNoDaemon.
func Dial(ctx context.Context, path string) (*Client, error) {
	return DialWith(ctx, path, Options{})
}

// Options configure DialWith. The zero value is Dial's behaviour.
type Options struct {
	// Reconnect makes the client outlive a daemon restart: a call made
	// while the socket is down redials it once (failing with
	// ErrDisconnected if nobody answers), and Subscribe's channel stays
	// open, carrying node.ConnectionEvent{Connected: false} when its
	// connection drops and node.ConnectionEvent{Connected: true} once it
	// is subscribed again: then reload, the events in between were missed.
	Reconnect bool
	// MinBackoff and MaxBackoff bound the delay between redials of a
	// dropped subscription: it starts at MinBackoff and doubles up to
	// MaxBackoff. Zero: 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

// DialWith is Dial with options.
func DialWith(ctx context.Context, path string, o Options) (*Client, error) {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	nc, err := dial(ctx, path)
	if err != nil {
		return nil, err
	}
	c := &Client{path: path, opts: o}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.cc = c.start(nc)
	return c, nil
}

func (c *Client) start(nc net.Conn) *callConn {
	cc := &callConn{nc: nc, done: make(chan struct{}), pending: map[uint64]chan response{}}
	go cc.readLoop()
	return cc
}

func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if isConnRefused(err) {
			return nil, fmt.Errorf("rpc: dial %s: %w", path, ErrNoDaemon)
		}
		return nil, fmt.Errorf("rpc: dial: %w", err)
	}
	return nc, nil
}

// Close closes the connection and ends the client's subscriptions; calls
// in flight return ErrDisconnected. Idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cc := c.cc
	c.mu.Unlock()
	c.cancel()
	err := cc.nc.Close()
	<-cc.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Done is closed when the client is closed and, without Options.Reconnect,
// when the connection to the daemon is lost.
func (c *Client) Done() <-chan struct{} {
	if c.opts.Reconnect {
		return c.ctx.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cc.done
}

func (cc *callConn) readLoop() {
	r := bufio.NewReaderSize(cc.nc, 64<<10)
	var err error
	for {
		var line []byte
		line, err = readLine(r, maxResponse)
		if len(line) > 0 {
			var resp response
			if json.Unmarshal(line, &resp) == nil && resp.ID != nil {
				if id, perr := strconv.ParseUint(string(resp.ID), 10, 64); perr == nil {
					cc.mu.Lock()
					ch := cc.pending[id]
					delete(cc.pending, id)
					cc.mu.Unlock()
					if ch != nil {
						ch <- resp // buffered
					}
				}
			}
		}
		if err != nil {
			break
		}
	}
	cc.mu.Lock()
	cc.err = err
	for id, ch := range cc.pending {
		delete(cc.pending, id)
		close(ch)
	}
	cc.mu.Unlock()
	cc.nc.Close()
	close(cc.done)
}

// conn returns the connection for a call: the current one, or, once it is
// lost and the client reconnects, a new one.
func (c *Client) conn(ctx context.Context) (*callConn, error) {
	c.mu.Lock()
	cc, closed := c.cc, c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrDisconnected
	}
	select {
	case <-cc.done:
	default:
		return cc, nil
	}
	if !c.opts.Reconnect {
		return nil, ErrDisconnected
	}
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	c.mu.Lock()
	cc = c.cc
	c.mu.Unlock()
	select {
	case <-cc.done:
	default:
		return cc, nil // another call redialed meanwhile
	}
	nc, err := dial(ctx, c.path)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrDisconnected, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		nc.Close()
		return nil, ErrDisconnected
	}
	c.cc = c.start(nc)
	return c.cc, nil
}

// Call invokes a method by name: params is marshalled as the params object
// (nil for none) and the result unmarshalled into result (nil to discard).
// A JSON-RPC error is returned as *Error, which unwraps to node's sentinel
// errors (errors.Is(err, node.ErrUnknownContact)).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := request{JSONRPC: "2.0", Method: method}
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("rpc: %s: encode params: %w", method, err)
		}
		req.Params = b
	}
	cc, err := c.conn(ctx)
	if err != nil {
		return err
	}
	ch := make(chan response, 1)
	id := c.nextID.Add(1)
	cc.mu.Lock()
	select {
	case <-cc.done:
		cc.mu.Unlock()
		return ErrDisconnected
	default:
	}
	cc.pending[id] = ch
	cc.mu.Unlock()
	req.ID = json.RawMessage(strconv.FormatUint(id, 10))

	line := append(mustMarshal(req), '\n')
	cc.wmu.Lock()
	_, err = cc.nc.Write(line)
	cc.wmu.Unlock()
	if err != nil {
		cc.forget(id)
		return ErrDisconnected
	}
	select {
	case resp, open := <-ch:
		if !open {
			return ErrDisconnected
		}
		if resp.Error != nil {
			return resp.Error
		}
		if result != nil {
			if err := json.Unmarshal(resp.Result, result); err != nil {
				return fmt.Errorf("rpc: %s: decode result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		// The daemon finishes the request anyway; its answer is dropped.
		cc.forget(id)
		return ctx.Err()
	}
}

func (cc *callConn) forget(id uint64) {
	cc.mu.Lock()
	delete(cc.pending, id)
	cc.mu.Unlock()
}

func (c *Client) Status(ctx context.Context) (node.Status, error) {
	var st node.Status
	return st, c.Call(ctx, "status", nil, &st)
}

// Address returns our onion address and chive: link.
func (c *Client) Address(ctx context.Context) (AddressInfo, error) {
	var a AddressInfo
	return a, c.Call(ctx, "address", nil, &a)
}

func (c *Client) Contacts(ctx context.Context) ([]node.Contact, error) {
	var cs []node.Contact
	return cs, c.Call(ctx, "contacts.list", nil, &cs)
}

func (c *Client) Contact(ctx context.Context, ref string) (node.Contact, error) {
	var ct node.Contact
	return ct, c.Call(ctx, "contacts.get", contactParams{Contact: ref}, &ct)
}

func (c *Client) AddContact(ctx context.Context, address, name, greeting string) (node.Contact, error) {
	var ct node.Contact
	return ct, c.Call(ctx, "contacts.add", addParams{Address: address, Name: name, Greeting: greeting}, &ct)
}

func (c *Client) AcceptContact(ctx context.Context, ref string) (node.Contact, error) {
	var ct node.Contact
	return ct, c.Call(ctx, "contacts.accept", contactParams{Contact: ref}, &ct)
}

func (c *Client) DeclineContact(ctx context.Context, ref string) error {
	return c.Call(ctx, "contacts.decline", contactParams{Contact: ref}, nil)
}

func (c *Client) BlockContact(ctx context.Context, ref string) error {
	return c.Call(ctx, "contacts.block", contactParams{Contact: ref}, nil)
}

func (c *Client) RenameContact(ctx context.Context, ref, name string) error {
	return c.Call(ctx, "contacts.rename", renameParams{Contact: ref, Name: name}, nil)
}

func (c *Client) RemoveContact(ctx context.Context, ref string, keepHistory bool) error {
	return c.Call(ctx, "contacts.remove", removeParams{Contact: ref, KeepHistory: keepHistory}, nil)
}

func (c *Client) SetVerified(ctx context.Context, ref string, verified bool) error {
	return c.Call(ctx, "contacts.verify", verifyParams{Contact: ref, Verified: verified}, nil)
}

func (c *Client) SafetyNumber(ctx context.Context, ref string) (string, error) {
	var r safetyResult
	err := c.Call(ctx, "contacts.safety_number", contactParams{Contact: ref}, &r)
	return r.SafetyNumber, err
}

func (c *Client) Send(ctx context.Context, ref, text string) (node.Message, error) {
	var m node.Message
	return m, c.Call(ctx, "send", sendParams{Contact: ref, Text: text}, &m)
}

func (c *Client) Retry(ctx context.Context, messageID string) error {
	return c.Call(ctx, "retry", retryParams{ID: messageID}, nil)
}

func (c *Client) History(ctx context.Context, ref, before string, limit int) ([]node.Message, error) {
	var ms []node.Message
	return ms, c.Call(ctx, "history", historyParams{Contact: ref, Before: before, Limit: limit}, &ms)
}

func (c *Client) Inbox(ctx context.Context, q node.InboxQuery) ([]node.Message, error) {
	var ms []node.Message
	return ms, c.Call(ctx, "inbox", q, &ms)
}

func (c *Client) MarkRead(ctx context.Context, ref string) error {
	return c.Call(ctx, "mark_read", contactParams{Contact: ref}, nil)
}

func (c *Client) Typing(ctx context.Context, ref string) error {
	return c.Call(ctx, "typing", contactParams{Contact: ref}, nil)
}

func (c *Client) Settings(ctx context.Context) (node.Settings, error) {
	var s node.Settings
	return s, c.Call(ctx, "settings.get", nil, &s)
}

func (c *Client) SetSettings(ctx context.Context, s node.Settings) error {
	return c.Call(ctx, "settings.set", s, nil)
}

// --- Drafts, display names, unblock (issue 11) ---

func (c *Client) SetDraft(ctx context.Context, ref, text string) error {
	return c.Call(ctx, "drafts.set", draftParams{Contact: ref, Text: text}, nil)
}

func (c *Client) SetName(ctx context.Context, name string) error {
	return c.Call(ctx, "profile.set_name", nameParams{Name: name}, nil)
}

func (c *Client) UnblockContact(ctx context.Context, ref string) error {
	return c.Call(ctx, "contacts.unblock", contactParams{Contact: ref}, nil)
}

// Invite links (issue 13).

func (c *Client) CreateInvite(ctx context.Context, o node.InviteOptions) (node.Invite, error) {
	var iv node.Invite
	return iv, c.Call(ctx, "invites.create", o, &iv)
}

func (c *Client) Invites(ctx context.Context) ([]node.Invite, error) {
	var ivs []node.Invite
	return ivs, c.Call(ctx, "invites.list", nil, &ivs)
}

func (c *Client) RevokeInvite(ctx context.Context, id int64) error {
	return c.Call(ctx, "invites.revoke", inviteParams{ID: id}, nil)
}

// --- Mailbox (issue 16) ---

func (c *Client) MailboxLink(ctx context.Context, uri string) (node.MailboxStatus, error) {
	var st node.MailboxStatus
	return st, c.Call(ctx, "mailbox.link", mailboxLinkParams{URI: uri}, &st)
}

func (c *Client) MailboxUnlink(ctx context.Context, force bool) error {
	return c.Call(ctx, "mailbox.unlink", mailboxUnlinkParams{Force: force}, nil)
}

func (c *Client) MailboxStatus(ctx context.Context) (node.MailboxStatus, error) {
	var st node.MailboxStatus
	return st, c.Call(ctx, "mailbox.status", nil, &st)
}

// Delivery for scripts and bots (issue 12).

func (c *Client) SendMany(ctx context.Context, req node.SendRequest) ([]node.Message, error) {
	var ms []node.Message
	return ms, c.Call(ctx, "send_many", sendManyParams{To: req.To, Text: req.Text, TTL: Duration(req.TTL), SendAt: req.At,
		IdempotencyKey: req.IdempotencyKey}, &ms)
}

func (c *Client) Scheduled(ctx context.Context) ([]node.Message, error) {
	var ms []node.Message
	return ms, c.Call(ctx, "scheduled.list", nil, &ms)
}

func (c *Client) CancelScheduled(ctx context.Context, messageID string) error {
	return c.Call(ctx, "scheduled.cancel", retryParams{ID: messageID}, nil)
}

// Subscribe opens a connection of its own and streams the daemon's events
// until ctx is done, the client is closed or, without Options.Reconnect,
// the connection is lost; the channel is closed then (check ctx.Err() to
// tell them apart). With Reconnect a lost connection is redialed with
// backoff, announced by node.ConnectionEvent (see Options). Events of kinds
// this client does not know (a newer daemon) are skipped.
func (c *Client) Subscribe(ctx context.Context) (<-chan node.Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(c.ctx, cancel)
	s, err := c.subscribe(ctx)
	if err != nil {
		stopOnClose()
		cancel()
		return nil, err
	}
	ch := make(chan node.Event, 64)
	go func() {
		defer close(ch)
		defer cancel()
		defer stopOnClose()
		send := func(ev node.Event) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			why := s.pump(send)
			if ctx.Err() != nil || !c.opts.Reconnect {
				return
			}
			if !send(node.ConnectionEvent{Connected: false, Error: why}) {
				return
			}
			delay := c.opts.MinBackoff
			for {
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
				if s, err = c.subscribe(ctx); err == nil {
					break
				}
				delay = min(2*delay, c.opts.MaxBackoff)
			}
			if !send(node.ConnectionEvent{Connected: true}) {
				return
			}
		}
	}()
	return ch, nil
}

// subscription is one subscribed connection.
type subscription struct {
	nc   net.Conn
	r    *bufio.Reader
	stop func() bool // undoes the AfterFunc closing nc when ctx ends
}

// subscribe dials a connection of its own and subscribes on it.
func (c *Client) subscribe(ctx context.Context) (*subscription, error) {
	nc, err := dial(ctx, c.path)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	fail := func(err error) (*subscription, error) {
		stop()
		nc.Close()
		return nil, err
	}
	req := append(mustMarshal(request{JSONRPC: "2.0", ID: json.RawMessage("1"), Method: "subscribe"}), '\n')
	if _, err := nc.Write(req); err != nil {
		return fail(fmt.Errorf("rpc: subscribe: %w", err))
	}
	r := bufio.NewReaderSize(nc, 64<<10)
	line, err := readLine(r, maxResponse)
	if err != nil && len(line) == 0 {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(fmt.Errorf("rpc: subscribe: %w", ErrDisconnected))
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fail(fmt.Errorf("rpc: subscribe: bad response: %w", err))
	}
	if resp.Error != nil {
		return fail(resp.Error)
	}
	return &subscription{nc: nc, r: r, stop: stop}, nil
}

// pump delivers the subscription's events through send until the
// connection ends (or send fails) and says why it ended.
func (s *subscription) pump(send func(node.Event) bool) string {
	defer s.stop()
	defer s.nc.Close()
	for {
		line, err := readLine(s.r, maxResponse)
		if len(line) > 0 {
			var n notification
			if json.Unmarshal(line, &n) == nil && n.Method == EventMethod {
				if ev, err := UnmarshalEvent(n.Params); err == nil && !send(ev) {
					return "stopped"
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "the daemon closed the connection (it stopped, or restarts)"
			}
			return "connection to the daemon lost: " + err.Error()
		}
	}
}

// Session reset (issue 13).

func (c *Client) ResetSession(ctx context.Context, ref string) (node.Contact, error) {
	var ct node.Contact
	return ct, c.Call(ctx, "contacts.reset_session", contactParams{Contact: ref}, &ct)
}

// Groups (issue 18).

func (c *Client) CreateGroup(ctx context.Context, name string, members []string) (node.Group, error) {
	var g node.Group
	return g, c.Call(ctx, "groups.create", groupCreateParams{Name: name, Members: members}, &g)
}

func (c *Client) Groups(ctx context.Context) ([]node.Group, error) {
	var gs []node.Group
	return gs, c.Call(ctx, "groups.list", nil, &gs)
}

func (c *Client) Group(ctx context.Context, ref string) (node.Group, error) {
	var g node.Group
	return g, c.Call(ctx, "groups.get", groupParams{Group: ref}, &g)
}

func (c *Client) InviteToGroup(ctx context.Context, group, member string) (node.Group, error) {
	var g node.Group
	return g, c.Call(ctx, "groups.invite", groupMemberParams{Group: group, Member: member}, &g)
}

func (c *Client) RemoveFromGroup(ctx context.Context, group, member string) (node.Group, error) {
	var g node.Group
	return g, c.Call(ctx, "groups.remove", groupMemberParams{Group: group, Member: member}, &g)
}

func (c *Client) PromoteInGroup(ctx context.Context, group, member string) (node.Group, error) {
	var g node.Group
	return g, c.Call(ctx, "groups.promote", groupMemberParams{Group: group, Member: member}, &g)
}

func (c *Client) LeaveGroup(ctx context.Context, group string) error {
	return c.Call(ctx, "groups.leave", groupParams{Group: group}, nil)
}

func (c *Client) RenameGroup(ctx context.Context, group, name string) error {
	return c.Call(ctx, "groups.rename", groupRenameParams{Group: group, Name: name}, nil)
}
