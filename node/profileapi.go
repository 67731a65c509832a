package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// This file is issue 11's part of the API: drafts, our display name and
// how it reaches contacts, and unblocking.

// SetDraft implements API.
func (n *Node) SetDraft(ctx context.Context, ref, text string) error {
	if g, err := n.groupRef(ctx, ref); err != nil || g != nil {
		if err != nil {
			return err
		}
		return n.groupSetDraft(ctx, *g, text)
	}
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	if len(text) > MaxText {
		return fmt.Errorf("node: set draft: %w (%d bytes, at most %d)", ErrTooLong, len(text), MaxText)
	}
	if !utf8.ValidString(text) {
		return errors.New("node: set draft: text is not UTF-8")
	}
	if err := n.db.SetDraft(ctx, c.ID, text); err != nil {
		return fmt.Errorf("node: set draft: %w", err)
	}
	return nil
}

// displayName is our display name.
func (n *Node) displayName() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.name
}

// checkName validates a display name of ours and returns it cleaned
// (trimmed, spaces collapsed). Control characters are refused rather than
// dropped: the user typed something they cannot see.
func checkName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", errors.New("the name is not UTF-8")
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return "", errors.New("the name has control characters (a newline or a tab?)")
	}
	// Our name is shown to contacts as theirs are to us: no character that
	// hides or reorders text (bidi overrides, zero-width ones).
	if r, bad := safetext.Unsafe(strings.TrimSpace(name)); bad {
		return "", fmt.Errorf("the name has U+%04X, an invisible or bidi control character", r)
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n > MaxName {
		return "", fmt.Errorf("the name is %d characters long, at most %d", n, MaxName)
	}
	return contacts.CleanName(name), nil
}

// SetName implements API: the identity's name changes, then every accepted
// contact is told inside its session (syncNames).
func (n *Node) SetName(ctx context.Context, name string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	name, err := checkName(name)
	if err != nil {
		return fmt.Errorf("node: set name: %w", err)
	}
	if name == "" {
		return errors.New("node: set name: the name is empty")
	}
	n.nameMu.Lock()
	id, err := n.db.Identity(ctx)
	if err == nil {
		id.Name = name
		err = n.db.UpdateIdentity(ctx, id)
	}
	if err == nil {
		n.mu.Lock()
		n.name = name
		n.mu.Unlock()
	}
	n.nameMu.Unlock()
	if err != nil {
		return fmt.Errorf("node: set name: %w", err)
	}
	n.syncNames(ctx)
	return nil
}

// syncNames sends our display name, inside the session, to every accepted
// contact that has not got the current one: after SetName, and at Start (a
// change made while we crashed, or before the contact accepted).
func (n *Node) syncNames(ctx context.Context) {
	cs, err := n.book.List(ctx)
	if err != nil {
		n.log.Warn("listing contacts to send our name", "err", err)
		return
	}
	for _, c := range cs {
		if c.State != contacts.Accepted {
			continue
		}
		p := n.peer(c.Address)
		p.mu.Lock()
		queued, err := n.sendNameLocked(ctx, c.ID)
		p.mu.Unlock()
		if err != nil {
			n.log.Warn("sending our name", "peer", c.Address.Short(), "err", err)
			continue
		}
		if queued {
			n.startDelivery(p, c.ID)
		}
	}
}

// sendNameLocked queues a Profile message with our display name for the
// accepted contact id unless it has the current one, and reports whether
// it queued one. The contact's peer mu must be held (a ratchet step).
func (n *Node) sendNameLocked(ctx context.Context, id int64) (bool, error) {
	n.nameMu.Lock() // the name sent is the name stored
	defer n.nameMu.Unlock()
	name := n.displayName()
	c, err := n.book.LookupID(ctx, id)
	if err != nil || c.Removed || c.State != contacts.Accepted || c.NameSent == name || name == "" {
		return false, err
	}
	pub, err := c.Address.PublicKey()
	if err != nil {
		return false, err
	}
	// Only under a session that is theirs (issue 13). While we wait for a
	// new one, nothing: the request and acceptance that make it carry the
	// name.
	st, err := n.loadSession(ctx, c, pub)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("session: %w", err)
	}
	now := time.Now()
	pt, err := wire.MarshalContent(wire.Content{Time: now.UnixMilli(), Profile: &wire.Profile{Name: name}})
	if err != nil {
		return false, err
	}
	mid := wire.NewID()
	next, ct, err := st.Encrypt(pt, mid[:], now)
	if err != nil {
		return false, err
	}
	nextBytes, err := next.MarshalBinary()
	if err != nil {
		return false, err
	}
	frame, err := wire.Marshal(&wire.Message{ID: mid, Ciphertext: ct})
	if err != nil {
		return false, err
	}
	var it storage.OutboxItem
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutSession(id, nextBytes, now); err != nil {
			return err
		}
		if err := tx.SetNameSent(id, name); err != nil {
			return err
		}
		it, err = tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(mid), ContactID: id, Kind: kindProfile, Frame: frame, Created: now})
		return err
	})
	if err != nil {
		return false, err
	}
	n.peer(c.Address).enqueueLocked(it)
	return true, nil
}

// kindProfile is the outbox kind of a Profile message: a Message frame
// with no message row.
const kindProfile storage.OutboxKind = "profile"

// UnblockContact implements API.
func (n *Node) UnblockContact(ctx context.Context, ref string) error {
	c, err := n.find(ctx, ref)
	if err != nil {
		return err
	}
	if _, err := n.unblock(ctx, c); err != nil {
		return fmt.Errorf("node: unblock %s: %w", c.Display(), err)
	}
	return nil
}

// unblock returns a blocked contact to the state it had (contacts.Book.
// Unblock), re-sends our request if it was one, reconnects to an accepted
// contact, and publishes the change. It returns the contact's new state.
func (n *Node) unblock(ctx context.Context, c contacts.Contact) (contacts.Contact, error) {
	if c.State != contacts.Blocked {
		return c, nil
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	var it storage.OutboxItem
	out, err := n.book.Unblock(ctx, c.ID, func(tx *storage.Tx, c contacts.Contact) error {
		var err error
		it, err = n.queueRequest(tx, c.ID, c.Greeting, nil)
		return err
	})
	if err == nil && out.State == contacts.Requested {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		return contacts.Contact{}, err
	}
	if out.Removed {
		n.events.publish(ContactEvent{Contact: n.apiContact(out), Removed: true})
		return out, nil
	}
	switch out.State {
	case contacts.Accepted:
		// They may hold messages for us, retrying with a long backoff:
		// dial them now, as after a restart (announce).
		n.mu.Lock()
		p.reconnect = max(p.reconnect, 2)
		n.mu.Unlock()
		n.redialNow(p)
		n.startDelivery(p, out.ID)
		// A name change made while they were blocked.
		p.mu.Lock()
		queued, err := n.sendNameLocked(ctx, out.ID)
		p.mu.Unlock()
		if err != nil {
			n.log.Warn("sending our name", "peer", out.Address.Short(), "err", err)
		} else if queued {
			n.startDelivery(p, out.ID)
		}
	case contacts.Requested:
		n.startDelivery(p, out.ID)
	}
	full, err := n.book.Get(ctx, out.ID)
	if err != nil {
		full = out
	}
	n.events.publish(ContactEvent{Contact: n.apiContact(full)})
	return out, nil
}
