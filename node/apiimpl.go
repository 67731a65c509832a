package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
)

// Settings keys. Read receipts use storage's well-known key.
const settingTyping = "typing"

// find resolves a contact reference, mapping "not found" to ErrUnknownContact.
func (n *Node) find(ctx context.Context, ref string) (contacts.Contact, error) {
	if err := n.checkOpen(); err != nil {
		return contacts.Contact{}, err
	}
	c, err := n.book.Find(ctx, ref)
	if errors.Is(err, contacts.ErrNotFound) {
		var nf *contacts.NotFoundError
		if errors.As(err, &nf) && len(nf.Suggestions) > 0 {
			return contacts.Contact{}, fmt.Errorf("%w: %q (did you mean %s?)", ErrUnknownContact, ref, orList(nf.Suggestions))
		}
		return contacts.Contact{}, fmt.Errorf("%w: %q", ErrUnknownContact, ref)
	}
	if err != nil {
		return contacts.Contact{}, err
	}
	return c, nil
}

// orList is "a", "a or b", "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
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

// apiContact is c as the API shows it, with its draft.
func (n *Node) apiContact(c contacts.Contact) Contact {
	d, err := n.db.Draft(n.ctx, c.ID)
	if err != nil {
		n.log.Warn("reading a draft", "err", err)
	}
	out := n.apiContactDraft(c, d)
	if out.Timer, err = n.contactTimer(c.ID); err != nil {
		n.log.Warn("reading a conversation's timer", "err", err)
	}
	return out
}

func (n *Node) apiContactDraft(c contacts.Contact, draft string) Contact {
	out := Contact{
		Address:  string(c.Address),
		Name:     c.Name,
		State:    ContactState(c.State),
		Verified: c.Verified,
		Presence: n.presence(c.Address),
		LastSeen: c.LastSeen,
		Unread:   c.Unread,
		Created:  c.Created,
		Draft:    draft,
		PeerName: c.PeerName,

		ID:      c.ID,
		Invited: c.Invited && c.State == contacts.PendingIncoming,
	}
	if c.State == contacts.PendingIncoming {
		out.Greeting = c.Greeting
	}
	if c.LastMessage != nil {
		out.LastMessage = c.Preview(80)
		if f := n.messageFile(*c.LastMessage); f != nil {
			out.LastMessage = strings.TrimSpace("[" + f.Name + "] " + out.LastMessage)
		}
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
		Error:     m.Error,
		SentAt:    m.Sent,
		ReadAt:    m.Read,
		ExpiresAt: m.Expires,
		SendAt:    m.SendAt,
	}
	if m.Direction == storage.Outgoing {
		out.DeliveredAt = m.Delivered
	}
	if m.Unreadable {
		out.Text, out.Unreadable = UnreadableText, true
	}
	out.File = n.messageFile(m)
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
	outbox, scheduled, err := n.db.PendingCounts(ctx, time.Now())
	if err != nil {
		return Status{}, err
	}
	n.mu.Lock()
	s := Status{Address: string(n.addr), Name: n.name, Tor: n.tor, Reachable: n.reachable, Defences: n.defences,
		NetworkProblem: n.net.problem, ReachableChecked: n.net.checked}
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
	s.Outbox, s.Scheduled = outbox, scheduled
	if gw, err := n.db.CountGroupOutbox(ctx); err == nil {
		s.Outbox += gw // group items: messages and changes members are still to get
	}
	s.Unreadable = n.unreadable(ctx)
	s.StorageError = n.storageError()
	return s, nil
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
	if err := n.fileSettings(ctx, &s); err != nil {
		return Settings{}, err
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
	if err := n.setFileSettings(ctx, s); err != nil {
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
