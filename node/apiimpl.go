package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Settings keys. Read receipts use storage's well-known key.
const settingTyping = "typing"

// MaxText is the longest message Send accepts, in bytes of UTF-8.
const MaxText = wire.MaxText

// MaxGreeting is the longest contact-request greeting, in bytes of UTF-8.
const MaxGreeting = wire.MaxGreeting

// find resolves a contact reference, mapping "not found" to ErrUnknownContact.
func (n *Node) find(ctx context.Context, ref string) (contacts.Contact, error) {
	if err := n.checkOpen(); err != nil {
		return contacts.Contact{}, err
	}
	c, err := n.book.Find(ctx, ref)
	if errors.Is(err, contacts.ErrNotFound) {
		return contacts.Contact{}, fmt.Errorf("%w: %q", ErrUnknownContact, ref)
	}
	if err != nil {
		return contacts.Contact{}, err
	}
	return c, nil
}

func (n *Node) presence(addr onion.Address) Presence {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[addr]
	switch {
	case p == nil:
		return Offline
	case p.link != nil:
		return Online
	case p.dialing && !time.Now().Before(p.nextDial):
		return Connecting
	}
	return Offline
}

func (n *Node) apiContact(c contacts.Contact) Contact {
	out := Contact{
		Address:  string(c.Address),
		Name:     c.Name,
		State:    ContactState(c.State),
		Verified: c.Verified,
		Presence: n.presence(c.Address),
		LastSeen: c.LastSeen,
		Unread:   c.Unread,
		Created:  c.Created,
	}
	if c.State == contacts.PendingIncoming {
		out.Greeting = c.Greeting
	}
	if c.LastMessage != nil {
		out.LastMessage = c.Preview(80)
		out.LastAt = messageTime(*c.LastMessage)
	}
	return out
}

// messageTime is when a message was written (ours) or received (theirs).
func messageTime(m storage.Message) time.Time {
	if m.Direction == storage.Incoming && !m.Delivered.IsZero() {
		return m.Delivered
	}
	return m.Created
}

func (n *Node) apiMessage(m storage.Message, c contacts.Contact) Message {
	out := Message{
		ID:        m.ID.String(),
		Seq:       m.Seq,
		Contact:   c.Display(),
		Address:   string(c.Address),
		Direction: Direction(m.Direction),
		Text:      m.Body,
		Time:      messageTime(m),
		State:     MessageState(m.Status),
		SentAt:    m.Sent,
		ReadAt:    m.Read,
	}
	if m.Direction == storage.Outgoing {
		out.DeliveredAt = m.Delivered
	}
	return out
}

// Status implements API.
func (n *Node) Status(ctx context.Context) (Status, error) {
	if err := n.checkOpen(); err != nil {
		return Status{}, err
	}
	cs, err := n.book.List(ctx)
	if err != nil {
		return Status{}, err
	}
	work, err := n.db.PendingContacts(ctx)
	if err != nil {
		return Status{}, err
	}
	n.mu.Lock()
	s := Status{Address: string(n.addr), Name: n.name, Tor: n.tor, Reachable: n.reachable}
	for _, c := range cs {
		switch c.State {
		case contacts.Accepted:
			s.Contacts++
			if p := n.peers[c.Address]; p != nil && p.link != nil {
				s.ContactsOnline++
			}
		case contacts.PendingIncoming:
			s.PendingRequests++
		case contacts.Requested:
			s.Contacts++
		}
	}
	n.mu.Unlock()
	for _, w := range work {
		s.Outbox += w.Items
	}
	return s, nil
}

// Contacts implements API: pending requests first, then by last activity.
func (n *Node) Contacts(ctx context.Context) ([]Contact, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	cs, err := n.book.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(cs))
	for _, c := range cs {
		out = append(out, n.apiContact(c))
	}
	slices.SortStableFunc(out, func(a, b Contact) int {
		ap, bp := a.State == StatePendingIncoming, b.State == StatePendingIncoming
		if ap != bp {
			if ap {
				return -1
			}
			return 1
		}
		return cmp.Compare(activity(b).UnixNano(), activity(a).UnixNano())
	})
	return out, nil
}

func activity(c Contact) time.Time {
	if c.LastAt.After(c.Created) {
		return c.LastAt
	}
	return c.Created
}

// Contact implements API.
func (n *Node) Contact(ctx context.Context, ref string) (Contact, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return Contact{}, err
	}
	return n.apiContact(c), nil
}

// AddContact implements API. Adding someone who already asked us accepts
// their request; adding an accepted contact changes nothing (the session is
// never reset).
func (n *Node) AddContact(ctx context.Context, address, name, greeting string) (Contact, error) {
	if err := n.checkOpen(); err != nil {
		return Contact{}, err
	}
	addr, err := onion.ParseAddress(address)
	if err != nil {
		return Contact{}, fmt.Errorf("node: add contact: %w", err)
	}
	if len(greeting) > MaxGreeting {
		return Contact{}, fmt.Errorf("node: add contact: greeting: %w (%d bytes, at most %d)", ErrTooLong, len(greeting), MaxGreeting)
	}
	if !utf8.ValidString(greeting) {
		return Contact{}, errors.New("node: add contact: greeting is not UTF-8")
	}
	p := n.peer(addr)
	p.mu.Lock()
	var it storage.OutboxItem
	c, err := n.book.Add(ctx, string(addr), name, greeting, func(tx *storage.Tx, c contacts.Contact) error {
		id := wire.NewID()
		frame, err := wire.Marshal(&wire.Request{ID: id, Bundle: n.bundle, Greeting: greeting})
		if err != nil {
			return err
		}
		it, err = tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(id), ContactID: c.ID, Kind: storage.KindRequest, Frame: frame})
		return err
	})
	if errors.Is(err, contacts.ErrExists) {
		p.mu.Unlock()
		switch c.State {
		case contacts.PendingIncoming:
			if name != "" {
				if _, err := n.book.Rename(ctx, c.ID, name); err != nil {
					return Contact{}, fmt.Errorf("node: add contact: %w", err)
				}
			}
			return n.AcceptContact(ctx, string(addr))
		default: // requested or accepted: nothing to redo
			full, err := n.book.Get(ctx, c.ID)
			if err != nil {
				return Contact{}, err
			}
			return n.apiContact(full), nil
		}
	}
	if err != nil {
		p.mu.Unlock()
		return Contact{}, fmt.Errorf("node: add contact: %w", err)
	}
	p.enqueueLocked(it)
	p.mu.Unlock()
	n.startDelivery(p, c.ID)
	out := n.apiContact(c)
	n.events.publish(ContactEvent{Contact: out})
	return out, nil
}

// AcceptContact implements API.
func (n *Node) AcceptContact(ctx context.Context, ref string) (Contact, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return Contact{}, err
	}
	switch c.State {
	case contacts.Accepted:
		return n.apiContact(c), nil
	case contacts.Blocked:
		return Contact{}, fmt.Errorf("node: accept %s: %w", c.Display(), ErrBlocked)
	case contacts.Requested:
		return Contact{}, fmt.Errorf("node: accept %s: %w (we asked them; they must accept)", c.Display(), ErrNotAccepted)
	}
	pub, err := c.Address.PublicKey()
	if err != nil {
		return Contact{}, fmt.Errorf("node: accept %s: %w", c.Display(), err)
	}
	b, err := ratchet.ParseBundle(c.PeerBundle, pub)
	if err != nil {
		return Contact{}, fmt.Errorf("node: accept %s: %w", c.Display(), err)
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	out, it, err := n.acceptLocked(c, b, nil, nil)
	if err == nil {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		return Contact{}, fmt.Errorf("node: accept %s: %w", c.Display(), err)
	}
	n.startDelivery(p, c.ID)
	ac := n.apiContact(out)
	n.events.publish(ContactEvent{Contact: ac})
	return ac, nil
}

// DeclineContact implements API. The requester is told nothing.
func (n *Node) DeclineContact(ctx context.Context, ref string) error {
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	if err := n.book.Decline(ctx, c.ID); err != nil {
		return fmt.Errorf("node: decline %s: %w", c.Display(), err)
	}
	n.dropLink(c.Address)
	ac := n.apiContact(c)
	n.events.publish(ContactEvent{Contact: ac, Removed: true})
	return nil
}

// BlockContact implements API: the contact's session and outbox are
// dropped, its links closed, and its requests silently ignored from now on.
func (n *Node) BlockContact(ctx context.Context, ref string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	var c contacts.Contact
	var err error
	if addr, perr := onion.ParseAddress(ref); perr == nil {
		// An address not in the book can be blocked too.
		c, err = n.book.BlockAddress(ctx, string(addr))
	} else {
		c, err = n.find(ctx, ref)
		if err == nil {
			c, err = n.book.Block(ctx, c.ID)
		}
	}
	if err != nil {
		return fmt.Errorf("node: block: %w", err)
	}
	n.dropLink(c.Address)
	n.events.publish(ContactEvent{Contact: n.apiContact(c)})
	return nil
}

// dropLink closes the link to addr, if any.
func (n *Node) dropLink(addr onion.Address) {
	if l := n.currentLink(n.peer(addr)); l != nil {
		l.Close()
	}
}

// RenameContact implements API.
func (n *Node) RenameContact(ctx context.Context, ref, name string) error {
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	c, err = n.book.Rename(ctx, c.ID, name)
	if err != nil {
		return fmt.Errorf("node: rename: %w", err)
	}
	n.events.publish(ContactEvent{Contact: n.apiContact(c)})
	return nil
}

// RemoveContact implements API.
func (n *Node) RemoveContact(ctx context.Context, ref string, keepHistory bool) error {
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	if err := n.book.Remove(ctx, c.ID, keepHistory); err != nil {
		return fmt.Errorf("node: remove: %w", err)
	}
	n.dropLink(c.Address)
	n.events.publish(ContactEvent{Contact: n.apiContact(c), Removed: true})
	return nil
}

// SetVerified implements API.
func (n *Node) SetVerified(ctx context.Context, ref string, verified bool) error {
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	c, err = n.book.SetVerified(ctx, c.ID, verified)
	if err != nil {
		return fmt.Errorf("node: set verified: %w", err)
	}
	n.events.publish(ContactEvent{Contact: n.apiContact(c)})
	return nil
}

// SafetyNumber implements API.
func (n *Node) SafetyNumber(ctx context.Context, ref string) (string, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return "", err
	}
	pub, err := c.Address.PublicKey()
	if err != nil {
		// A number computed from no key would look valid and match nothing.
		return "", fmt.Errorf("node: safety number of %s: %w", c.Display(), err)
	}
	return ratchet.SafetyNumber(n.pub, pub), nil
}

// Send implements API: one transaction stores the ratchet step, the message
// and its outbox frame; delivery follows in the background.
func (n *Node) Send(ctx context.Context, ref, text string) (Message, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return Message{}, err
	}
	switch c.State {
	case contacts.Accepted:
	case contacts.Blocked:
		return Message{}, fmt.Errorf("node: send to %s: %w", c.Display(), ErrBlocked)
	default:
		return Message{}, fmt.Errorf("node: send to %s: %w", c.Display(), ErrNotAccepted)
	}
	if len(text) > MaxText {
		return Message{}, fmt.Errorf("node: send: %w (%d bytes, at most %d)", ErrTooLong, len(text), MaxText)
	}
	if strings.TrimSpace(text) == "" {
		return Message{}, errors.New("node: send: empty message")
	}
	if !utf8.ValidString(text) {
		return Message{}, errors.New("node: send: text is not UTF-8")
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	m, it, err := n.queueMessageLocked(ctx, c, text)
	if err == nil {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		return Message{}, fmt.Errorf("node: send to %s: %w", c.Display(), err)
	}
	n.startDelivery(p, c.ID)
	am := n.apiMessage(m, c)
	n.events.publish(MessageEvent{Message: am})
	return am, nil
}

// queueMessageLocked encrypts text for c and stores session, message and
// outbox frame in one transaction. The peer's mu must be held: it orders
// the ratchet steps and the outbox.
func (n *Node) queueMessageLocked(ctx context.Context, c contacts.Contact, text string) (storage.Message, storage.OutboxItem, error) {
	sess, err := n.db.Session(ctx, c.ID)
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, fmt.Errorf("session: %w", err)
	}
	st, err := ratchet.UnmarshalState(sess)
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	now := time.Now()
	pt, err := wire.MarshalContent(wire.Content{Text: text, Time: now.UnixMilli()})
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	id := wire.NewID()
	next, ct, err := st.Encrypt(pt, id[:], now)
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	nextBytes, err := next.MarshalBinary()
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	frame, err := wire.Marshal(&wire.Message{ID: id, Ciphertext: ct})
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	m, err := n.db.QueueMessage(ctx, storage.OutgoingMessage{
		ContactID: c.ID,
		ID:        storage.MessageID(id),
		Body:      text,
		Created:   now,
		Session:   nextBytes,
		Frame:     frame,
	})
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	it := storage.OutboxItem{
		Seq: 0, ID: m.ID, ContactID: c.ID, Kind: storage.KindMessage, Message: &m.ID,
		Frame: frame, NextAttempt: now, Created: now,
	}
	return m, it, nil
}

// Retry implements API: the message's contact is redialed at once. A
// message is never given up on automatically, so there is nothing else to
// re-queue.
func (n *Node) Retry(ctx context.Context, messageID string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	id, err := storage.ParseMessageID(messageID)
	if err != nil {
		return fmt.Errorf("node: retry: %w", err)
	}
	it, err := n.db.OutboxItem(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("node: retry %s: not waiting for delivery", messageID)
	}
	if err != nil {
		return fmt.Errorf("node: retry: %w", err)
	}
	c, err := n.book.Get(ctx, it.ContactID)
	if err != nil {
		return fmt.Errorf("node: retry: %w", err)
	}
	p := n.peer(c.Address)
	n.redialNow(p)
	n.startDelivery(p, c.ID)
	return nil
}

// History implements API.
func (n *Node) History(ctx context.Context, ref string, before string, limit int) ([]Message, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	var cursor int64
	if before != "" {
		id, err := storage.ParseMessageID(before)
		if err != nil {
			return nil, fmt.Errorf("node: history: %w", err)
		}
		m, err := n.db.Message(ctx, c.ID, storage.Outgoing, id)
		if errors.Is(err, storage.ErrNotFound) {
			m, err = n.db.Message(ctx, c.ID, storage.Incoming, id)
		}
		if err != nil {
			return nil, fmt.Errorf("node: history: message %s: %w", before, err)
		}
		cursor = m.Seq
	}
	if limit <= 0 {
		limit = 50
	}
	ms, err := n.db.History(ctx, c.ID, cursor, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = n.apiMessage(m, c)
	}
	return out, nil
}

// Inbox implements API.
func (n *Node) Inbox(ctx context.Context, q InboxQuery) ([]Message, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	sq := storage.InboxQuery{After: q.After, Limit: q.Limit}
	var one *contacts.Contact
	if q.Contact != "" {
		c, err := n.find(ctx, q.Contact)
		if err != nil {
			return nil, err
		}
		sq.ContactID, one = c.ID, &c
	}
	ms, err := n.db.Inbox(ctx, sq)
	if err != nil {
		return nil, err
	}
	byID := map[int64]contacts.Contact{}
	if one != nil {
		byID[one.ID] = *one
	}
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		c, ok := byID[m.ContactID]
		if !ok {
			// LookupID: a removed contact's kept history is in the inbox too.
			var err error
			c, err = n.book.LookupID(ctx, m.ContactID)
			if err != nil {
				return nil, err
			}
			byID[m.ContactID] = c
		}
		out = append(out, n.apiMessage(m, c))
	}
	return out, nil
}

// MarkRead implements API.
func (n *Node) MarkRead(ctx context.Context, ref string) error {
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	s, err := n.Settings(ctx)
	if err != nil {
		return err
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	now := time.Now()
	var items []storage.OutboxItem
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		ids, err := tx.MarkRead(c.ID, now)
		if err != nil || len(ids) == 0 || !s.ReadReceipts || c.State != contacts.Accepted {
			return err
		}
		for chunk := range slices.Chunk(ids, wire.MaxReceiptIDs) {
			wids := make([]wire.ID, len(chunk))
			for i, id := range chunk {
				wids[i] = wire.ID(id)
			}
			rid := wire.NewID()
			frame, err := wire.Marshal(&wire.Receipt{ID: rid, IDs: wids, Read: true})
			if err != nil {
				return err
			}
			it, err := tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(rid), ContactID: c.ID, Kind: storage.KindReceipt, Frame: frame, Created: now})
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		return nil
	})
	for _, it := range items {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: mark read: %w", err)
	}
	if len(items) > 0 {
		n.startDelivery(p, c.ID)
	}
	return nil
}

// Typing implements API: sent only over a link that is already up, at most
// once per few seconds per contact, and never stored.
func (n *Node) Typing(ctx context.Context, ref string) error {
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	if c.State != contacts.Accepted {
		return nil
	}
	s, err := n.Settings(ctx)
	if err != nil || !s.Typing {
		return err
	}
	p := n.peer(c.Address)
	now := time.Now()
	n.mu.Lock()
	l := p.link
	if l == nil || now.Sub(p.typingOut) < n.tune.typingEvery {
		n.mu.Unlock()
		return nil
	}
	p.typingOut = now
	n.mu.Unlock()
	l.Post(&wire.Typing{}) // best effort
	return nil
}

// Settings implements API.
func (n *Node) Settings(ctx context.Context) (Settings, error) {
	if err := n.checkOpen(); err != nil {
		return Settings{}, err
	}
	s := Settings{ReadReceipts: true, Typing: true}
	if v, ok, err := n.db.Setting(ctx, storage.SettingReadReceipts); err != nil {
		return Settings{}, err
	} else if ok {
		s.ReadReceipts = v != "off"
	}
	if v, ok, err := n.db.Setting(ctx, settingTyping); err != nil {
		return Settings{}, err
	} else if ok {
		s.Typing = v != "off"
	}
	return s, nil
}

// SetSettings implements API.
func (n *Node) SetSettings(ctx context.Context, s Settings) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	if err := n.db.SetSetting(ctx, storage.SettingReadReceipts, onOff(s.ReadReceipts)); err != nil {
		return err
	}
	return n.db.SetSetting(ctx, settingTyping, onOff(s.Typing))
}

// Subscribe implements API. Messages, message states, contact requests and
// contact changes are queued without bound for each subscriber, so they are
// never dropped; Tor progress, reachability, presence, typing and error
// events are coalesced per kind (and contact): a slow reader sees the latest
// one, not every one. The first events are the current Tor status and
// reachability. The channel closes when ctx ends or the node closes.
func (n *Node) Subscribe(ctx context.Context) (<-chan Event, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.ctx, cancel)
	n.mu.Lock()
	initial := []Event{TorProgressEvent{Tor: n.tor}, ReachableEvent{Reachable: n.reachable}}
	n.mu.Unlock()
	ch, err := n.events.subscribe(ctx, initial...)
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ch, nil
}
