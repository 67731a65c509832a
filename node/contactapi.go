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
	n.filesRemoved()
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
