package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

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
	nc   net.Conn
	done chan struct{} // closed when the read loop ends

	wmu sync.Mutex // serializes writes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan response
	err     error // why the read loop ended
}

var _ node.API = (*Client)(nil)

// Dial connects to the daemon serving the socket at path (see SocketPath).
// When no daemon runs, the error wraps ErrNoDaemon.
func Dial(ctx context.Context, path string) (*Client, error) {
	nc, err := dial(ctx, path)
	if err != nil {
		return nil, err
	}
	c := &Client{path: path, nc: nc, done: make(chan struct{}), pending: map[uint64]chan response{}}
	go c.readLoop()
	return c, nil
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

// Close closes the connection; calls in flight return ErrDisconnected.
// Subscriptions end with their own contexts.
func (c *Client) Close() error {
	err := c.nc.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Done is closed when the connection to the daemon is lost or closed.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) readLoop() {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	var err error
	for {
		var line []byte
		line, err = readLine(r, maxResponse)
		if len(line) > 0 {
			var resp response
			if json.Unmarshal(line, &resp) == nil && resp.ID != nil {
				if id, perr := strconv.ParseUint(string(resp.ID), 10, 64); perr == nil {
					c.mu.Lock()
					ch := c.pending[id]
					delete(c.pending, id)
					c.mu.Unlock()
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
	c.mu.Lock()
	c.err = err
	for id, ch := range c.pending {
		delete(c.pending, id)
		close(ch)
	}
	c.mu.Unlock()
	c.nc.Close()
	close(c.done)
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
	ch := make(chan response, 1)
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return ErrDisconnected
	default:
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	req.ID = json.RawMessage(strconv.FormatUint(id, 10))

	line := append(mustMarshal(req), '\n')
	c.wmu.Lock()
	_, err := c.nc.Write(line)
	c.wmu.Unlock()
	if err != nil {
		c.forget(id)
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
		c.forget(id)
		return ctx.Err()
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
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
// until ctx is done or the connection is lost; the channel is closed then
// (check ctx.Err() to tell the two apart). Events of kinds this client does
// not know (a newer daemon) are skipped.
func (c *Client) Subscribe(ctx context.Context) (<-chan node.Event, error) {
	nc, err := dial(ctx, c.path)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	fail := func(err error) (<-chan node.Event, error) {
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
	ch := make(chan node.Event, 64)
	go func() {
		defer close(ch)
		defer stop()
		defer nc.Close()
		for {
			line, err := readLine(r, maxResponse)
			if len(line) > 0 {
				var n notification
				if json.Unmarshal(line, &n) == nil && n.Method == EventMethod {
					if ev, err := UnmarshalEvent(n.Params); err == nil {
						select {
						case ch <- ev:
						case <-ctx.Done():
							return
						}
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return ch, nil
}
