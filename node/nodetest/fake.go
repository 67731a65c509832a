// Package nodetest provides Fake, an in-memory node.API for unit tests of the
// UI and the JSON-RPC layer. It has no Tor, no crypto and no disk: tests that
// claim to test those use the real node.
package nodetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chive-im/chive/contacts"
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
	idem     map[string]string // contact address + "\x00" + key → message id
	subs     map[chan node.Event]*fakeSub
	invites  []node.Invite
	inviteID int64
	lastID   int64    // contact ids, as the node numbers them
	Calls    []string // method names in call order, for assertions

	// blockedFrom is the state each blocked contact had when blocked
	// (UnblockContact returns it there); absent: removed on unblock.
	blockedFrom map[string]node.ContactState

	mailbox node.MailboxStatus // issue 16

	files  map[string]*fakeFile      // by id (files.go)
	edits  map[string][]node.Version // issue 17: versions of edited messages, by id
	groups map[string]*fakeGroup     // by id (groups.go, issue 18)
}

// New returns a Fake for a user with the given name and address.
func New(name, address string) *Fake {
	return &Fake{
		Now:      time.Now,
		status:   node.Status{Name: name, Address: address, Tor: node.TorStatus{State: node.TorStarting}},
		settings: node.Settings{ReadReceipts: true, Typing: true, MaxFileSize: 1 << 30, AutoDownload: 10 << 20, FileQuota: 4 << 30},
		contacts: map[string]*node.Contact{},
		messages: map[string][]node.Message{},
		idem:     map[string]string{},
		subs:     map[chan node.Event]*fakeSub{},

		blockedFrom: map[string]node.ContactState{},
		files:       map[string]*fakeFile{},
		groups:      map[string]*fakeGroup{},
	}
}

var _ node.API = (*Fake)(nil)

func (f *Fake) call(name string) { f.Calls = append(f.Calls, name) }

// Called reports how many times method name was called. Unlike reading
// Calls, it is safe while a server goroutine may be calling the fake.
func (f *Fake) Called(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.Calls {
		if c == name {
			n++
		}
	}
	return n
}

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

// fakeSub is one subscription: senders of events that did not fit in its
// buffer, which end when it does.
type fakeSub struct {
	done    chan struct{}
	senders sync.WaitGroup
}

func (f *Fake) publishLocked(e node.Event) {
	for ch, sub := range f.subs {
		select {
		case ch <- e:
		default:
			if !node.Droppable(e) {
				// A fake may block briefly rather than drop what must be delivered.
				sub.senders.Add(1)
				go func() {
					defer sub.senders.Done()
					select {
					case ch <- e:
					case <-sub.done:
					}
				}()
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
	address, invite, _ := strings.Cut(address, "?") // an invite link's token
	addr := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(address)), ".onion")
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "chive://"), "chive:")
	if len(addr) != 56 {
		return node.Contact{}, fmt.Errorf("that is not a chive address: it has %d characters; an address has 56", len(addr))
	}
	if addr == f.status.Address {
		return node.Contact{}, fmt.Errorf("add contact: %w", node.ErrSelf)
	}
	name, err := contacts.ValidName(name)
	if err != nil {
		return node.Contact{}, err
	}
	if c, ok := f.contacts[addr]; ok {
		if c.State == node.StateBlocked {
			// As the node: adding a blocked address unblocks it first; back
			// to accepted or requested, that was the add.
			f.unblockLocked(c)
			if c, ok = f.contacts[addr]; !ok {
				return f.addLocked(addr, name, greeting), nil
			}
			if c.State == node.StateAccepted || c.State == node.StateRequested {
				return *c, nil
			}
		}
		switch c.State {
		case node.StatePendingIncoming:
			if name != "" {
				c.Name = name
			}
			c.State, c.Greeting = node.StateAccepted, ""
			f.publishLocked(node.ContactEvent{Contact: *c})
			return *c, nil
		case node.StateRequested:
			if invite != "" {
				return *c, nil // as the node: the queued request takes the token
			}
			return *c, fmt.Errorf("add contact: %w (you asked %s; waiting for them to accept)", node.ErrAlreadyContact, c.Name)
		default:
			return *c, fmt.Errorf("add contact: %s is %w", c.Name, node.ErrAlreadyContact)
		}
	}
	return f.addLocked(addr, name, greeting), nil
}

func (f *Fake) addLocked(addr, name, greeting string) node.Contact {
	f.lastID++
	c := &node.Contact{Address: addr, Name: name, State: node.StateRequested, Presence: node.Offline, Created: f.Now(), ID: f.lastID}
	f.contacts[addr] = c
	f.publishLocked(node.ContactEvent{Contact: *c})
	return *c
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
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("BlockContact")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	if c.State != node.StateBlocked {
		f.blockedFrom[c.Address] = c.State
	}
	c.State = node.StateBlocked
	f.publishLocked(node.ContactEvent{Contact: *c})
	return nil
}

func (f *Fake) RenameContact(ctx context.Context, ref, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("RenameContact")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	if name, err = contacts.ValidName(name); err != nil {
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

// Send is SendMany to one contact, publishing a MessageEvent as node.Send
// does.
func (f *Fake) Send(ctx context.Context, ref, text string) (node.Message, error) {
	ms, err := f.sendMany("Send", node.SendRequest{To: []string{ref}, Text: text})
	if err != nil {
		return node.Message{}, err
	}
	return ms[0], nil
}

// SendMany queues like the node: all recipients or none; a contact we
// asked ("requested") gets it later; an idempotency key already used
// returns the first message.
func (f *Fake) SendMany(ctx context.Context, req node.SendRequest) ([]node.Message, error) {
	return f.sendMany("SendMany", req)
}

func (f *Fake) sendMany(name string, req node.SendRequest) ([]node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call(name)
	if len(req.To) == 0 {
		return nil, fmt.Errorf("send: no recipient")
	}
	if len(req.To) == 1 { // a group, as the node does (issue 18)
		if g, err := f.groupRefLocked(req.To[0]); err != nil || g != nil {
			if err != nil {
				return nil, err
			}
			m, err := f.sendGroupLocked(g, req.Text)
			if err != nil {
				return nil, err
			}
			return []node.Message{m}, nil
		}
	}
	if strings.TrimSpace(req.Text) == "" {
		return nil, fmt.Errorf("send: empty message")
	}
	if len(req.Text) > node.MaxText {
		return nil, fmt.Errorf("send: %w", node.ErrTooLong)
	}
	var cs []*node.Contact
	seen := map[string]bool{}
	for _, ref := range req.To {
		c, err := f.findLocked(ref)
		if err != nil {
			return nil, err
		}
		switch c.State {
		case node.StateAccepted, node.StateRequested:
		case node.StateBlocked:
			return nil, fmt.Errorf("%s: %w", c.Name, node.ErrBlocked)
		default:
			return nil, fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
		}
		if !seen[c.Address] {
			seen[c.Address] = true
			cs = append(cs, c)
		}
	}
	now := f.Now()
	var out []node.Message
	for _, c := range cs {
		if req.IdempotencyKey != "" {
			if id, ok := f.idem[c.Address+"\x00"+req.IdempotencyKey]; ok {
				out = append(out, f.messageByIDLocked(id))
				continue
			}
		}
		f.seq++
		m := node.Message{ID: newID(), Seq: f.seq, Contact: c.Name, Address: c.Address, Direction: node.Outgoing,
			Text: req.Text, Time: now, State: node.Queued, Timer: c.Timer}
		due := now
		if req.At.After(now) {
			m.SendAt, due = req.At, req.At
		}
		if req.TTL > 0 {
			m.ExpiresAt = due.Add(req.TTL)
		}
		if req.IdempotencyKey != "" {
			f.idem[c.Address+"\x00"+req.IdempotencyKey] = m.ID
		}
		f.messages[c.Address] = append(f.messages[c.Address], m)
		c.LastMessage, c.LastAt = req.Text, m.Time
		f.publishLocked(node.MessageEvent{Message: m})
		out = append(out, m)
	}
	return out, nil
}

// messageByIDLocked finds a message of any conversation.
func (f *Fake) messageByIDLocked(id string) node.Message {
	for _, ms := range f.messages {
		for _, m := range ms {
			if m.ID == id {
				return m
			}
		}
	}
	panic("nodetest: no message " + id)
}

// Retry re-queues a failed message, as the node does; a message still
// waiting is left as it is; an ended one is an error.
func (f *Fake) Retry(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Retry")
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		return fmt.Errorf("retry: bad message id %q", id)
	}
	for addr, ms := range f.messages {
		for i := range ms {
			if ms[i].ID != id || ms[i].Direction != node.Outgoing {
				continue
			}
			switch ms[i].State {
			case node.Queued, node.Sent:
				return nil
			case node.Failed:
			default:
				return fmt.Errorf("retry %s: it is %s", id, ms[i].State)
			}
			ms[i].State, ms[i].Error = node.Queued, ""
			f.publishLocked(node.MessageStateEvent{ID: id, Address: addr, State: node.Queued, At: f.Now()})
			return nil
		}
	}
	return fmt.Errorf("retry %s: %w", id, node.ErrUnknownMessage)
}

// Scheduled lists queued messages with a SendAt still ahead, earliest first.
func (f *Fake) Scheduled(ctx context.Context) ([]node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Scheduled")
	var out []node.Message
	for _, ms := range f.messages {
		for _, m := range ms {
			if m.State == node.Queued && m.SendAt.After(f.Now()) {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SendAt.Before(out[j].SendAt) })
	return out, nil
}

// CancelScheduled cancels a scheduled message not yet due.
func (f *Fake) CancelScheduled(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("CancelScheduled")
	for addr, ms := range f.messages {
		for i := range ms {
			if ms[i].ID != id || ms[i].Direction != node.Outgoing {
				continue
			}
			if ms[i].State != node.Queued || !ms[i].SendAt.After(f.Now()) {
				return fmt.Errorf("cancel %s: it was sent already", id)
			}
			ms[i].State = node.Cancelled
			f.publishLocked(node.MessageStateEvent{ID: id, Address: addr, State: node.Cancelled, At: f.Now()})
			return nil
		}
	}
	return fmt.Errorf("cancel %s: %w", id, node.ErrUnknownMessage)
}

func (f *Fake) History(ctx context.Context, ref, before string, limit int) ([]node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("History")
	if g, err := f.groupRefLocked(ref); err != nil || g != nil {
		if err != nil {
			return nil, err
		}
		return g.history(before, limit)
	}
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
	limit = min(limit, node.MaxPage)
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
	var out []node.Message
	if g, err := f.groupRefLocked(q.Contact); err != nil {
		return nil, err
	} else if g != nil {
		out = f.groupInboxLocked(q, g)
		sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		return out, nil
	}
	if q.Contact == "" {
		out = f.groupInboxLocked(q, nil)
	}
	if q.Contact != "" {
		c, err := f.findLocked(q.Contact)
		if err != nil {
			return nil, err
		}
		addr = c.Address
	}
	for a, ms := range f.messages {
		if addr != "" && a != addr {
			continue
		}
		for _, m := range ms {
			if (m.Direction == node.Incoming || q.Outgoing) && m.Seq > q.After {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit = min(limit, node.MaxPage); len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *Fake) MarkRead(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("MarkRead")
	if g, err := f.groupRefLocked(ref); err != nil || g != nil {
		if err != nil {
			return err
		}
		for i := range g.msgs {
			if g.msgs[i].Direction == node.Incoming && g.msgs[i].State == node.Received {
				g.msgs[i].State, g.msgs[i].ReadAt = node.Read, f.Now()
			}
		}
		return nil
	}
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
	if g, err := f.groupRefLocked(ref); err != nil || g != nil {
		return err
	}
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
	sub := &fakeSub{done: make(chan struct{})}
	f.subs[ch] = sub
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
		// Closed as the node closes it, once no sender is left.
		close(sub.done)
		sub.senders.Wait()
		close(ch)
	}()
	return ch, nil
}

// --- Drafts, display names, unblock (issue 11) ---

// SetDraft keeps the draft in the contact, as the node does; no event.
func (f *Fake) SetDraft(ctx context.Context, ref, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SetDraft")
	if g, err := f.groupRefLocked(ref); err != nil || g != nil {
		if err == nil {
			g.g.Draft = text
		}
		return err
	}
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	if len(text) > node.MaxText {
		return fmt.Errorf("set draft: %w", node.ErrTooLong)
	}
	c.Draft = text
	return nil
}

// SetName changes Status.Name; no event, as the node.
func (f *Fake) SetName(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SetName")
	name = strings.TrimSpace(name)
	if name == "" {
		return fmt.Errorf("set name: the name is empty")
	}
	if len([]rune(name)) > node.MaxName {
		return fmt.Errorf("set name: longer than %d characters", node.MaxName)
	}
	f.status.Name = name
	return nil
}

// UnblockContact returns the contact to the state it had when blocked, or
// removes it when that is unknown (SimContact made it blocked), as the node.
func (f *Fake) UnblockContact(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("UnblockContact")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	f.unblockLocked(c)
	return nil
}

func (f *Fake) unblockLocked(c *node.Contact) {
	if c.State != node.StateBlocked {
		return
	}
	prev, ok := f.blockedFrom[c.Address]
	delete(f.blockedFrom, c.Address)
	if !ok {
		delete(f.contacts, c.Address)
		f.publishLocked(node.ContactEvent{Contact: *c, Removed: true})
		return
	}
	c.State = prev
	f.publishLocked(node.ContactEvent{Contact: *c})
}

// SimPeerName simulates the contact telling us its display name (with its
// request, its acceptance, or a later change): PeerName is set and, while
// we have not named the contact, Name too; a ContactEvent is published.
func (f *Fake) SimPeerName(ref, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	if c.Name == "" || c.Name == c.PeerName {
		c.Name = name
	}
	c.PeerName = name
	f.publishLocked(node.ContactEvent{Contact: *c})
}

// SimConnection publishes what rpc.Client does when its connection to the
// daemon drops (false, with why) or comes back (true).
func (f *Fake) SimConnection(connected bool, errText string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publishLocked(node.ConnectionEvent{Connected: connected, Error: errText})
}

// SimContact adds a contact in the given state, as if it happened earlier.
func (f *Fake) SimContact(c node.Contact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Presence == "" {
		c.Presence = node.Offline
	}
	if c.ID == 0 {
		f.lastID++
		c.ID = f.lastID
	}
	cc := c
	f.contacts[c.Address] = &cc
}

// SimRequest simulates an incoming contact request.
func (f *Fake) SimRequest(address, name, greeting string) node.Contact {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastID++
	c := &node.Contact{Address: address, Name: name, State: node.StatePendingIncoming, Greeting: greeting,
		Presence: node.Online, Created: f.Now(), ID: f.lastID}
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

// SimStorageFull makes the disk full (or, with "", writable again) as the
// node reports it: Status.StorageError, and an ErrorEvent when it fills.
func (f *Fake) SimStorageFull(storageError string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.StorageError = storageError
	if storageError != "" {
		f.publishLocked(node.ErrorEvent{Message: "The disk is full: incoming messages wait with their senders until you free some space."})
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

// Invite links (issue 13).

func (f *Fake) CreateInvite(ctx context.Context, o node.InviteOptions) (node.Invite, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("CreateInvite")
	now := f.Now()
	if o.Uses == 0 {
		o.Uses = 1
	}
	if o.Expires.IsZero() {
		o.Expires = now.Add(7 * 24 * time.Hour)
	}
	if o.Uses < 0 || !o.Expires.After(now) {
		return node.Invite{}, fmt.Errorf("invalid invite options %+v", o)
	}
	f.inviteID++
	// Derived, not random: golden screens show the link.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", f.status.Address, f.inviteID))
	tok := sum[:16]
	iv := node.Invite{ID: f.inviteID, Link: "chive:" + f.status.Address + "?invite=" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(tok)),
		MaxUses: o.Uses, Expires: o.Expires, Created: now}
	f.invites = append(f.invites, iv)
	return iv, nil
}

func (f *Fake) Invites(ctx context.Context) ([]node.Invite, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Invites")
	out := []node.Invite{}
	for _, iv := range f.invites {
		if iv.Uses < iv.MaxUses && f.Now().Before(iv.Expires) {
			out = append(out, iv)
		}
	}
	return out, nil
}

func (f *Fake) RevokeInvite(ctx context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("RevokeInvite")
	for i, iv := range f.invites {
		if iv.ID == id {
			f.invites = append(f.invites[:i:i], f.invites[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %d", node.ErrUnknownInvite, id)
}

// SimDefences sets what Status reports of tor's defences (nil: unknown).
func (f *Fake) SimDefences(d *node.Defences) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Defences = d
}

// SimInviteUsed counts one use of the invite with id, as a request with its
// token arriving would.
func (f *Fake) SimInviteUsed(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.invites {
		if f.invites[i].ID == id {
			f.invites[i].Uses++
		}
	}
}

// Session reset (issue 13).

// ResetSession implements node.API: the contact stays as it is (accepted,
// waiting for their answer); SimSession plays the answer.
func (f *Fake) ResetSession(ctx context.Context, ref string) (node.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("ResetSession")
	c, err := f.findLocked(ref)
	if err != nil {
		return node.Contact{}, err
	}
	switch c.State {
	case node.StateAccepted, node.StateRequested:
	case node.StateBlocked:
		return node.Contact{}, fmt.Errorf("%s: %w", c.Name, node.ErrBlocked)
	default:
		return node.Contact{}, fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
	}
	f.publishLocked(node.ContactEvent{Contact: *c})
	return *c, nil
}

// SimSession publishes the SessionEvent a node publishes when a new session
// with the contact replaced the old one, started by them (byPeer) or the
// answer to our ResetSession. A changed safety number clears Verified.
func (f *Fake) SimSession(ref string, byPeer, changed bool) node.SessionEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	c.State = node.StateAccepted
	if changed {
		c.Verified = false
	}
	sn := "the safety number is unchanged"
	if changed {
		sn = "the safety number changed: compare it with them again"
	}
	name := c.Name
	if name == "" {
		name = c.Address[:16]
	}
	notice := name + " started a new session: " + sn
	if !byPeer {
		notice = "new session with " + name + ": " + sn
	}
	e := node.SessionEvent{Contact: *c, ByPeer: byPeer, SafetyNumberChanged: changed, Notice: notice}
	f.publishLocked(e)
	return e
}

// --- Mailbox (issue 16) ---

// MailboxLink pairs with the mailbox of a pairing link
// (chive:ADDRESS?pair=SECRET; any 56-character address and a non-empty
// secret will do): it is linked and connected at once, and every accepted
// contact counts as told.
func (f *Fake) MailboxLink(ctx context.Context, uri string) (node.MailboxStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("MailboxLink")
	if f.mailbox.Linked {
		return node.MailboxStatus{}, fmt.Errorf("fake: %w", node.ErrMailboxLinked)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(strings.ToLower(uri)), "chive:")
	addr, secret, ok2 := strings.Cut(rest, "?pair=")
	if !ok || !ok2 || len(addr) != 56 || secret == "" {
		return node.MailboxStatus{}, fmt.Errorf("fake: %w", node.ErrNotPairingLink)
	}
	f.mailbox = node.MailboxStatus{Linked: true, Address: addr, LinkedAt: f.Now(), Connected: true, LastSeen: f.Now()}
	st := f.mailboxStatusLocked()
	f.publishLocked(node.MailboxEvent{Mailbox: st})
	return st, nil
}

// MailboxUnlink forgets the fake's mailbox (force is not needed: the fake
// always reaches it).
func (f *Fake) MailboxUnlink(ctx context.Context, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("MailboxUnlink")
	if !f.mailbox.Linked {
		return fmt.Errorf("fake: %w", node.ErrNoMailbox)
	}
	f.mailbox = node.MailboxStatus{}
	f.publishLocked(node.MailboxEvent{Mailbox: f.mailboxStatusLocked()})
	return nil
}

func (f *Fake) MailboxStatus(ctx context.Context) (node.MailboxStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("MailboxStatus")
	return f.mailboxStatusLocked(), nil
}

func (f *Fake) mailboxStatusLocked() node.MailboxStatus {
	st := f.mailbox
	st.Contacts = nil
	for _, c := range f.contacts {
		if c.State != node.StateAccepted {
			continue
		}
		mc := node.MailboxContact{Contact: c.Name, Address: c.Address, Told: st.Linked}
		for _, m := range f.messages[c.Address] {
			if m.State == node.Stored {
				mc.Stored++
			}
		}
		st.Contacts = append(st.Contacts, mc)
	}
	sort.Slice(st.Contacts, func(i, j int) bool { return st.Contacts[i].Address < st.Contacts[j].Address })
	return st
}

// SimMailbox sets whether the fake's linked mailbox is connected, and why
// not, publishing the MailboxEvent a node would.
func (f *Fake) SimMailbox(connected bool, errText string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mailbox.Connected, f.mailbox.Error = connected, errText
	f.publishLocked(node.MailboxEvent{Mailbox: f.mailboxStatusLocked()})
}
