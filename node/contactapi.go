package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// MaxGreeting is the longest contact-request greeting, in bytes of UTF-8.
const MaxGreeting = wire.MaxGreeting

// Contacts implements API: pending requests first, then by last activity.
func (n *Node) Contacts(ctx context.Context) ([]Contact, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	cs, err := n.book.List(ctx)
	if err != nil {
		return nil, err
	}
	drafts, err := n.db.Drafts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(cs))
	for _, c := range cs {
		out = append(out, n.apiContactDraft(c, drafts[c.ID]))
	}
	if err := n.withTimers(ctx, out); err != nil {
		return nil, err
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
// their request; adding a blocked address unblocks it first (see
// UnblockContact), then goes on as for its new state. Adding an accepted or
// requested contact changes nothing (the session is never reset): it
// returns the contact and an error wrapping ErrAlreadyContact. address may
// be an invite link (see ParseLink): the request then carries its token,
// and so does our request to them still queued (then no error: the add
// did something).
func (n *Node) AddContact(ctx context.Context, address, name, greeting string) (Contact, error) {
	if err := n.checkOpen(); err != nil {
		return Contact{}, err
	}
	addr, token, err := ParseLink(address)
	if err != nil {
		return Contact{}, fmt.Errorf("node: add contact: %w", err)
	}
	if addr == n.addr {
		return Contact{}, fmt.Errorf("node: add contact: %w", ErrSelf)
	}
	if len(greeting) > MaxGreeting {
		return Contact{}, fmt.Errorf("node: add contact: greeting: %w (%d bytes, at most %d)", ErrTooLong, len(greeting), MaxGreeting)
	}
	if !utf8.ValidString(greeting) {
		return Contact{}, errors.New("node: add contact: greeting is not UTF-8")
	}
	if c, err := n.book.ByAddress(ctx, addr); err == nil && c.State == contacts.Blocked {
		u, err := n.unblock(ctx, c)
		if err != nil {
			return Contact{}, fmt.Errorf("node: add contact: %w", err)
		}
		if u.State == contacts.Accepted || u.State == contacts.Requested {
			// Back as they were (our request sent again): that was the add.
			full, err := n.book.Get(ctx, u.ID)
			if err != nil {
				return Contact{}, err
			}
			return n.apiContact(full), nil
		}
	}
	p := n.peer(addr)
	p.mu.Lock()
	var it storage.OutboxItem
	c, err := n.book.Add(ctx, string(addr), name, greeting, func(tx *storage.Tx, c contacts.Contact) error {
		var err error
		it, err = n.queueRequest(tx, c.ID, greeting, token)
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
			if full.State == contacts.Requested && token != nil {
				// Their invite link: our request (maybe refused by their
				// flood limits) goes again with its token.
				if err := n.inviteRequest(ctx, p, full, token); err != nil {
					return Contact{}, err
				}
				n.redialNow(p)
				n.startDelivery(p, full.ID)
				return n.apiContact(full), nil
			}
			if full.State == contacts.Requested {
				return n.apiContact(full), fmt.Errorf("node: add contact: %w: you asked %s already; they show as accepted once they accept", ErrAlreadyContact, full.Display())
			}
			return n.apiContact(full), fmt.Errorf("node: add contact: %s is %w", full.Display(), ErrAlreadyContact)
		}
	}
	if errors.Is(err, contacts.ErrSelf) {
		err = ErrSelf
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

// queueRequest queues our contact request (with our display name, which it
// records as sent, and their invite token if we have one) in tx.
func (n *Node) queueRequest(tx *storage.Tx, contactID int64, greeting string, invite []byte) (storage.OutboxItem, error) {
	name := n.displayName()
	id := wire.NewID()
	frame, err := wire.Marshal(&wire.Request{ID: id, Bundle: n.identity().bundle, Greeting: greeting, Name: name, Invite: invite})
	if err != nil {
		return storage.OutboxItem{}, err
	}
	if err := tx.SetNameSent(contactID, name); err != nil {
		return storage.OutboxItem{}, err
	}
	return tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(id), ContactID: contactID, Kind: storage.KindRequest, Frame: frame})
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
	out, its, err := n.acceptLocked(c, b, nil, nil)
	for _, it := range its {
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

// BlockContact implements API: the contact's outbox is dropped (its queued
// messages fail), its links closed, and its requests and messages silently
// ignored from now on. The session is kept for UnblockContact.
func (n *Node) BlockContact(ctx context.Context, ref string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	var c contacts.Contact
	var failed []storage.MessageID
	var err error
	if addr, perr := onion.ParseAddress(ref); perr == nil {
		// An address not in the book can be blocked too.
		// Under the peer's lock: a send cannot slip in between.
		p := n.peer(addr)
		p.mu.Lock()
		c, failed, err = n.book.BlockAddress(ctx, string(addr))
		p.mu.Unlock()
	} else {
		c, err = n.find(ctx, ref)
		if err == nil {
			p := n.peer(c.Address)
			p.mu.Lock()
			c, failed, err = n.book.Block(ctx, c.ID)
			p.mu.Unlock()
		}
	}
	if err != nil {
		return fmt.Errorf("node: block: %w", err)
	}
	n.dropLink(c.Address)
	n.events.publish(ContactEvent{Contact: n.apiContact(c)})
	n.publishFailed(c.Address, failed, contacts.ReasonBlocked)
	return nil
}

// undelivered lists our messages to c still waiting, before a change that
// fails them (block, remove); the caller holds c's peer mu across both.
func (n *Node) undelivered(ctx context.Context, c contacts.Contact) []storage.MessageID {
	ids, err := n.db.UndeliveredIDs(ctx, c.ID)
	if err != nil {
		n.log.Warn("listing undelivered messages", "err", err)
	}
	return ids
}

// publishFailed tells subscribers that ids to addr failed with reason.
func (n *Node) publishFailed(addr onion.Address, ids []storage.MessageID, reason string) {
	now := time.Now()
	for _, id := range ids {
		n.events.publish(MessageStateEvent{ID: id.String(), Address: string(addr), State: Failed, At: now, Error: reason})
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
	p := n.peer(c.Address)
	p.mu.Lock()
	var failed []storage.MessageID
	if keepHistory { // else the messages go with the contact
		failed = n.undelivered(ctx, c)
	}
	err = n.book.Remove(ctx, c.ID, keepHistory)
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: remove: %w", err)
	}
	n.filesRemoved()
	n.dropLink(c.Address)
	n.publishFailed(c.Address, failed, contacts.ReasonRemoved)
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

// SafetyNumber implements API. It is made of the keys of the stored
// session, what messages are actually encrypted to: a session that is not
// the contact's shows as a different number.
func (n *Node) SafetyNumber(ctx context.Context, ref string) (string, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return "", err
	}
	return n.safetyNumber(ctx, c)
}
