// Package nodetest provides Fake, an in-memory node.API for unit tests of the
// UI and the JSON-RPC layer. It has no Tor, no crypto and no disk: tests that
// claim to test those use the real node.
package nodetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chive-im/chive/node"
)

// Fake is an in-memory node.API. The zero value is not usable; call New.
// Methods named Sim* simulate what the network would do.
type Fake struct {
	// Now is the clock; tests set it for stable output.
	Now func() time.Time

	mu       sync.Mutex
	status   node.Status
	settings node.Settings
	contacts map[string]*node.Contact // by address
	messages map[string][]node.Message
	seq      int64
	subs     map[chan node.Event]struct{}
	Calls    []string // method names in call order, for assertions

	files map[string]*fakeFile // by id (files.go)
}

// New returns a Fake for a user with the given name and address.
func New(name, address string) *Fake {
	return &Fake{
		Now:      time.Now,
		status:   node.Status{Name: name, Address: address, Tor: node.TorStatus{State: node.TorStarting}},
		settings: node.Settings{ReadReceipts: true, Typing: true, MaxFileSize: 1 << 30, AutoDownload: 10 << 20, FileQuota: 4 << 30},
		contacts: map[string]*node.Contact{},
		messages: map[string][]node.Message{},
		subs:     map[chan node.Event]struct{}{},
		files:    map[string]*fakeFile{},
	}
}

var _ node.API = (*Fake)(nil)

func (f *Fake) call(name string) { f.Calls = append(f.Calls, name) }

// findLocked resolves a ref (name or address, any case) to a contact.
func (f *Fake) findLocked(ref string) (*node.Contact, error) {
	r := strings.ToLower(strings.TrimSpace(ref))
	r = strings.TrimPrefix(strings.TrimPrefix(r, "chive://"), "chive:")
	r = strings.TrimSuffix(r, ".onion")
	if c, ok := f.contacts[r]; ok {
		return c, nil
	}
	for _, c := range f.contacts {
		if strings.EqualFold(c.Name, strings.TrimSpace(ref)) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%q: %w", ref, node.ErrUnknownContact)
}

func (f *Fake) publishLocked(e node.Event) {
	for ch := range f.subs {
		select {
		case ch <- e:
		default:
			if !node.Droppable(e) {
				// A fake may block briefly rather than drop what must be delivered.
				go func() { ch <- e }()
			}
		}
	}
}

func (f *Fake) Status(ctx context.Context) (node.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Status")
	s := f.status
	s.Contacts, s.ContactsOnline, s.PendingRequests, s.Outbox = len(f.contacts), 0, 0, 0
	for _, c := range f.contacts {
		if c.Presence == node.Online {
			s.ContactsOnline++
		}
		if c.State == node.StatePendingIncoming {
			s.PendingRequests++
		}
	}
	for _, ms := range f.messages {
		for _, m := range ms {
			if m.State == node.Queued {
				s.Outbox++
			}
		}
	}
	return s, nil
}

func (f *Fake) Contacts(ctx context.Context) ([]node.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Contacts")
	out := make([]node.Contact, 0, len(f.contacts))
	for _, c := range f.contacts {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		pi, pj := out[i].State == node.StatePendingIncoming, out[j].State == node.StatePendingIncoming
		if pi != pj {
			return pi
		}
		if !out[i].LastAt.Equal(out[j].LastAt) {
			return out[i].LastAt.After(out[j].LastAt)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (f *Fake) Contact(ctx context.Context, ref string) (node.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Contact")
	c, err := f.findLocked(ref)
	if err != nil {
		return node.Contact{}, err
	}
	return *c, nil
}

func (f *Fake) AddContact(ctx context.Context, address, name, greeting string) (node.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("AddContact")
	addr := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(address)), ".onion")
	if len(addr) != 56 {
		return node.Contact{}, fmt.Errorf("invalid address %q: want 56 characters, got %d", address, len(addr))
	}
	if c, ok := f.contacts[addr]; ok {
		return *c, nil
	}
	c := &node.Contact{Address: addr, Name: name, State: node.StateRequested, Presence: node.Offline, Created: f.Now()}
	f.contacts[addr] = c
	f.publishLocked(node.ContactEvent{Contact: *c})
	return *c, nil
}

func (f *Fake) setState(name, ref string, st node.ContactState) (node.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call(name)
	c, err := f.findLocked(ref)
	if err != nil {
		return node.Contact{}, err
	}
	c.State = st
	f.publishLocked(node.ContactEvent{Contact: *c})
	return *c, nil
}

func (f *Fake) AcceptContact(ctx context.Context, ref string) (node.Contact, error) {
	return f.setState("AcceptContact", ref, node.StateAccepted)
}

func (f *Fake) DeclineContact(ctx context.Context, ref string) error {
	return f.RemoveContact(ctx, ref, false)
}

func (f *Fake) BlockContact(ctx context.Context, ref string) error {
	_, err := f.setState("BlockContact", ref, node.StateBlocked)
	return err
}

func (f *Fake) RenameContact(ctx context.Context, ref, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("RenameContact")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	c.Name = name
	f.publishLocked(node.ContactEvent{Contact: *c})
	return nil
}

func (f *Fake) RemoveContact(ctx context.Context, ref string, keepHistory bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("RemoveContact")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	delete(f.contacts, c.Address)
	if !keepHistory {
		delete(f.messages, c.Address)
	}
	f.publishLocked(node.ContactEvent{Contact: *c, Removed: true})
	return nil
}

func (f *Fake) SetVerified(ctx context.Context, ref string, verified bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SetVerified")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	c.Verified = verified
	f.publishLocked(node.ContactEvent{Contact: *c})
	return nil
}

func (f *Fake) SafetyNumber(ctx context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SafetyNumber")
	if _, err := f.findLocked(ref); err != nil {
		return "", err
	}
	return "12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890", nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (f *Fake) Send(ctx context.Context, ref, text string) (node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Send")
	c, err := f.findLocked(ref)
	if err != nil {
		return node.Message{}, err
	}
	if c.State != node.StateAccepted {
		return node.Message{}, fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
	}
	f.seq++
	m := node.Message{ID: newID(), Seq: f.seq, Contact: c.Name, Address: c.Address, Direction: node.Outgoing,
		Text: text, Time: f.Now(), State: node.Queued}
	f.messages[c.Address] = append(f.messages[c.Address], m)
	c.LastMessage, c.LastAt = text, m.Time
	return m, nil
}

func (f *Fake) Retry(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Retry")
	for addr, ms := range f.messages {
		for i := range ms {
			if ms[i].ID == id {
				ms[i].State, ms[i].Error = node.Queued, ""
				f.publishLocked(node.MessageStateEvent{ID: id, Address: addr, State: node.Queued, At: f.Now()})
				return nil
			}
		}
	}
	return fmt.Errorf("no message %s", id)
}

func (f *Fake) History(ctx context.Context, ref, before string, limit int) ([]node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("History")
	c, err := f.findLocked(ref)
	if err != nil {
		return nil, err
	}
	ms := f.messages[c.Address]
	end := len(ms)
	if before != "" {
		end = -1
		for i := range ms {
			if ms[i].ID == before {
				end = i
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("history: no message %s", before)
		}
	}
	if limit <= 0 {
		limit = 50
	}
	var out []node.Message
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, ms[i])
	}
	return out, nil
}

func (f *Fake) Inbox(ctx context.Context, q node.InboxQuery) ([]node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Inbox")
	var addr string
	if q.Contact != "" {
		c, err := f.findLocked(q.Contact)
		if err != nil {
			return nil, err
		}
		addr = c.Address
	}
	var out []node.Message
	for a, ms := range f.messages {
		if addr != "" && a != addr {
			continue
		}
		for _, m := range ms {
			if m.Direction == node.Incoming && m.Seq > q.After {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (f *Fake) MarkRead(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("MarkRead")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	ms := f.messages[c.Address]
	for i := range ms {
		if ms[i].Direction == node.Incoming && ms[i].State == node.Received {
			ms[i].State, ms[i].ReadAt = node.Read, f.Now()
		}
	}
	c.Unread = 0
	return nil
}

func (f *Fake) Typing(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Typing")
	_, err := f.findLocked(ref)
	return err
}

func (f *Fake) Settings(ctx context.Context) (node.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Settings")
	return f.settings, nil
}

func (f *Fake) SetSettings(ctx context.Context, s node.Settings) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SetSettings")
	f.settings = withFileDefaults(s)
	return nil
}

func (f *Fake) Subscribe(ctx context.Context) (<-chan node.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Subscribe")
	ch := make(chan node.Event, 64)
	f.subs[ch] = struct{}{}
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
		// Not closed: a pending must-deliver goroutine might still send.
	}()
	return ch, nil
}

// SimContact adds a contact in the given state, as if it happened earlier.
func (f *Fake) SimContact(c node.Contact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Presence == "" {
		c.Presence = node.Offline
	}
	cc := c
	f.contacts[c.Address] = &cc
}

// SimRequest simulates an incoming contact request.
func (f *Fake) SimRequest(address, name, greeting string) node.Contact {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &node.Contact{Address: address, Name: name, State: node.StatePendingIncoming, Greeting: greeting,
		Presence: node.Online, Created: f.Now()}
	f.contacts[address] = c
	f.publishLocked(node.ContactRequestEvent{Contact: *c})
	return *c
}

// SimMessage records a message (either direction) as if it had been sent or
// received at m.Time, without publishing an event. Useful to fill history.
func (f *Fake) SimMessage(ref string, m node.Message) node.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	f.seq++
	m.Seq, m.Contact, m.Address = f.seq, c.Name, c.Address
	if m.ID == "" {
		m.ID = fmt.Sprintf("%032x", f.seq)
	}
	if m.State == "" {
		if m.Direction == node.Incoming {
			m.State = node.Received
		} else {
			m.State = node.Delivered
		}
	}
	f.messages[c.Address] = append(f.messages[c.Address], m)
	c.LastMessage, c.LastAt = m.Text, m.Time
	if m.Direction == node.Incoming && m.State == node.Received {
		c.Unread++
	}
	return m
}

// SimReceive simulates a message arriving from a contact and publishes it.
func (f *Fake) SimReceive(ref, text string) node.Message {
	m := f.SimMessage(ref, node.Message{Direction: node.Incoming, Text: text, Time: f.Now()})
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publishLocked(node.MessageEvent{Message: m})
	return m
}

// SimState changes an outgoing message's state and publishes it.
func (f *Fake) SimState(id string, st node.MessageState, errText string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, ms := range f.messages {
		for i := range ms {
			if ms[i].ID == id {
				ms[i].State, ms[i].Error = st, errText
				f.publishLocked(node.MessageStateEvent{ID: id, Address: addr, State: st, At: f.Now(), Error: errText})
				return
			}
		}
	}
}

// SimTor sets Tor's status and publishes it.
func (f *Fake) SimTor(t node.TorStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Tor = t
	f.status.Reachable = t.State == node.TorReady
	f.publishLocked(node.TorProgressEvent{Tor: t})
}

// SimPresence sets a contact's presence and publishes it.
func (f *Fake) SimPresence(ref string, p node.Presence) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	c.Presence = p
	if p != node.Online {
		c.LastSeen = f.Now()
	}
	f.publishLocked(node.PresenceEvent{Address: c.Address, Presence: p, LastSeen: c.LastSeen})
}

// SimTyping publishes a typing event from a contact.
func (f *Fake) SimTyping(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	f.publishLocked(node.TypingEvent{Address: c.Address})
}
