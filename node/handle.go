package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// errDrop ends a link whose peer sent something it may not send. Nothing is
// said to the peer: it just loses the link.
var errDrop = errors.New("frame not allowed from this peer")

// errUndecryptable: a message that does not decrypt with our session.
var errUndecryptable = errors.New("message does not decrypt")

// handle processes one frame from p on l. An error closes the link. Every
// reliable frame is acknowledged only after what it carries is durably
// stored, so a crash before the ack makes the peer resend it.
func (n *Node) handle(p *peer, l *wire.Link, m wire.Msg) error {
	// Lookup, not the book's summary: this runs for every frame.
	c, err := n.book.Lookup(n.ctx, p.addr)
	if err != nil && !errors.Is(err, contacts.ErrNotFound) {
		return err
	}
	known := err == nil && !c.Removed
	if isGroupFrame(m) {
		return n.handleGroup(p, l, c, known, m) // groups_link.go
	}
	switch m := m.(type) {
	case *wire.Request:
		return n.onRequest(p, l, c, known, m)
	case *wire.Accept:
		if !known {
			return errDrop
		}
		return n.onAccept(p, l, c, m)
	case *wire.Ack:
		if !known {
			return errDrop
		}
		return n.onAck(p, c, m)
	}
	// Everything else needs an accepted contact.
	switch {
	case !known:
		return errDrop
	case c.State == contacts.Requested:
		// They may have accepted a request we sent again after losing our
		// session, and send what they had queued: it waits, unacknowledged,
		// and comes again behind their acceptance.
		return nil
	case c.State != contacts.Accepted:
		return errDrop
	}
	switch m := m.(type) {
	case *wire.Message:
		return n.onMessage(p, l, c, m)
	case *wire.Receipt:
		return n.onReceipt(p, l, c, m)
	case *wire.Typing:
		now := time.Now()
		n.mu.Lock()
		ok := now.Sub(p.typingIn) >= time.Second
		if ok {
			p.typingIn = now
		}
		n.mu.Unlock()
		if ok {
			n.events.publish(TypingEvent{Address: string(p.addr)})
		}
		return nil
	}
	return fmt.Errorf("%s: %w", m.Type(), errDrop)
}

func ack(l *wire.Link, id wire.ID) error { return l.Post(&wire.Ack{ID: id}) }

func (n *Node) onRequest(p *peer, l *wire.Link, c contacts.Contact, known bool, m *wire.Request) error {
	// The bundle must be the dialer's own, signed by the key that just
	// authenticated the link.
	b, err := ratchet.ParseBundle(m.Bundle, p.pub)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if known {
		if seen, err := n.db.Seen(n.ctx, c.ID, storage.MessageID(m.ID)); err == nil && seen {
			return ack(l, m.ID) // a resend of a request we stored
		}
		switch c.State {
		case contacts.Accepted:
			// A request we have not seen from someone we accepted: they lost
			// their session and ask for a new one. (A resend of the first
			// request has the same id: acknowledged above, nothing reset.)
			return n.onPeerReset(p, l, c, b, m)
		case contacts.Requested:
			return n.mutualRequest(p, l, c, b, m)
		}
	}
	// An invite or proof of work, then the book's limits (invite.go).
	stored, err := n.receiveRequest(p, c, known, m)
	switch {
	case errors.Is(err, contacts.ErrBlocked):
		// Silence, indistinguishable from pending; the request is kept (if
		// within the limits) for an unblock to show.
		return ack(l, m.ID)
	case errors.Is(err, contacts.ErrRateLimited):
		// Not acknowledged: the requester retries later, with backoff.
		return fmt.Errorf("request: %w", err)
	case err != nil:
		return fmt.Errorf("request: %w", err)
	}
	if full, err := n.book.LookupID(n.ctx, stored.ID); err == nil {
		stored = full // with the name SetPeerName gave it
	}
	n.events.publish(ContactRequestEvent{Contact: n.apiContact(stored)})
	return ack(l, m.ID)
}

// mutualRequest handles a request from someone we asked too. The side with
// the smaller address accepts, the other waits for that acceptance, so
// exactly one session is made. p.mu is held.
func (n *Node) mutualRequest(p *peer, l *wire.Link, c contacts.Contact, b *ratchet.Bundle, m *wire.Request) error {
	if n.addr > p.addr {
		return ack(l, m.ID)
	}
	accepted, it, err := n.acceptLocked(c, b, m.Bundle, func(tx *storage.Tx) error {
		if _, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), time.Now()); err != nil {
			return err
		}
		_, err := n.book.SetPeerName(tx, c.ID, m.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("request: accept mutual request: %w", err)
	}
	p.enqueueLocked(it)
	n.events.publish(ContactEvent{Contact: n.apiContact(accepted)})
	n.startDelivery(p, c.ID)
	return ack(l, m.ID)
}

// acceptLocked runs the accepter's side of the key agreement and, in one
// transaction, stores the session, marks the contact accepted (with the
// peer's fresh bundle, if not nil) and queues the acceptance frame. p.mu
// must be held.
func (n *Node) acceptLocked(c contacts.Contact, b *ratchet.Bundle, bundleBytes []byte, extra func(*storage.Tx) error) (contacts.Contact, storage.OutboxItem, error) {
	now := time.Now()
	st, hs, err := ratchet.Accept(n.identity().rid, b, now)
	if err != nil {
		return contacts.Contact{}, storage.OutboxItem{}, err
	}
	stBytes, err := st.MarshalBinary()
	if err != nil {
		return contacts.Contact{}, storage.OutboxItem{}, err
	}
	id := wire.NewID()
	name := n.displayName()
	frame, err := wire.Marshal(&wire.Accept{ID: id, Handshake: hs, Name: name})
	if err != nil {
		return contacts.Contact{}, storage.OutboxItem{}, err
	}
	var it storage.OutboxItem
	out, err := n.book.AcceptBundle(n.ctx, c.ID, bundleBytes, func(tx *storage.Tx, c contacts.Contact) error {
		if err := tx.PutSession(c.ID, stBytes, now); err != nil {
			return err
		}
		if err := tx.SetNameSent(c.ID, name); err != nil {
			return err
		}
		var err error
		it, err = tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(id), ContactID: c.ID, Kind: storage.KindAccept, Frame: frame, Created: now})
		if err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		return contacts.Contact{}, storage.OutboxItem{}, err
	}
	if full, err := n.book.LookupID(n.ctx, out.ID); err == nil {
		out = full // with what extra changed (a peer name)
	}
	return out, it, nil
}

func (n *Node) onAccept(p *peer, l *wire.Link, c contacts.Contact, m *wire.Accept) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := storage.MessageID(m.ID)
	if seen, err := n.db.Seen(n.ctx, c.ID, id); err == nil && seen {
		return ack(l, m.ID)
	}
	if c.Address != onion.AddressFromPublicKey(l.Peer()) {
		return errDrop // a contact row that is not this link's peer's
	}
	reset := false
	switch c.State {
	case contacts.Requested:
	case contacts.Accepted:
		waiting, err := n.resetting(n.ctx, c)
		if err != nil {
			return err
		}
		if !waiting {
			// A stale acceptance (both accepted at once, impossible with
			// mutualRequest's rule): keep the session we have.
			return ack(l, m.ID)
		}
		reset = true // the answer to our ResetSession
	default:
		return errDrop
	}
	before, err := n.safetyNumber(n.ctx, c)
	if err != nil {
		return err
	}
	items, err := n.db.Outbox(n.ctx, c.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	// The handshake carries the peer's bundle, which must be signed by the
	// key that authenticated this link.
	st, err := ratchet.Complete(n.identity().rid, l.Peer(), m.Handshake, now)
	if err != nil {
		// A handshake that does not verify never will: acknowledge it so it
		// is not resent forever, and tell the user.
		n.log.Warn("invalid acceptance", "peer", p.addr.Short(), "err", err)
		n.events.publish(ErrorEvent{Message: fmt.Sprintf("%s sent an invalid acceptance; ask them to accept again", c.Display())})
		return ack(l, m.ID)
	}
	// Messages queued while we waited (a reset) go out under the new session.
	st, moves, err := n.reencrypt(n.ctx, c, st, items, now)
	if err != nil {
		return err
	}
	stBytes, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	after := ratchet.SafetyNumber(st.SelfOnionKey(), st.PeerOnionKey())
	out, err := n.book.Accept(n.ctx, c.ID, func(tx *storage.Tx, c contacts.Contact) error {
		if err := tx.PutSession(c.ID, stBytes, now); err != nil {
			return err
		}
		if _, err := tx.MarkSeen(c.ID, id, now); err != nil {
			return err
		}
		if _, err := n.book.SetPeerName(tx, c.ID, m.Name); err != nil {
			return err
		}
		if err := requeue(tx, moves); err != nil {
			return err
		}
		return clearVerifiedIf(tx, c.ID, reset && before != after)
	})
	if err != nil {
		return err
	}
	p.rearrangedLocked()
	// Our name changed since the request went out: tell them now.
	if _, err := n.sendNameLocked(n.ctx, c.ID); err != nil {
		n.log.Warn("sending our name", "peer", p.addr.Short(), "err", err)
	}
	if reset {
		n.publishSession(out, false, before != after)
	} else {
		if full, err := n.book.LookupID(n.ctx, out.ID); err == nil {
			out = full
		}
		n.events.publish(ContactEvent{Contact: n.apiContact(out)})
	}
	n.startDelivery(p, c.ID)
	return ack(l, m.ID)
}

func (n *Node) onAck(p *peer, c contacts.Contact, m *wire.Ack) error {
	now := time.Now()
	it, err := n.db.Acknowledge(n.ctx, c.ID, storage.MessageID(m.ID), now)
	if errors.Is(err, storage.ErrNotFound) {
		return n.groupInviteAcked(p, m.ID) // a group invitation's, or a repeated ack
	}
	if err != nil {
		return err
	}
	if it.Kind == storage.KindMessage {
		n.events.publish(MessageStateEvent{ID: it.ID.String(), Address: string(p.addr), State: Delivered, At: now})
	}
	return nil
}

func (n *Node) onMessage(p *peer, l *wire.Link, c contacts.Contact, m *wire.Message) error {
	p.mu.Lock()
	msg, changed, err := n.receiveLocked(c, l.Peer(), m)
	if err == nil && msg != nil {
		// Under p.mu: a mailbox may deliver this contact's messages at the
		// same time (mailbox.go), and events must come in stored order.
		n.events.publish(MessageEvent{Message: n.apiMessage(*msg, c)})
	}
	p.mu.Unlock()
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// No session: we asked for a new one (ResetSession). The message
		// waits, unacknowledged; it comes again under the new session.
		return nil
	case errors.Is(err, errUndecryptable):
		return nil // told by decryptFailed; it waits in the peer's outbox
	case errors.Is(err, ErrSessionMismatch):
		// Our stored session is not with this key: never decrypt with it,
		// and never acknowledge what we cannot read. The message waits in
		// the peer's outbox until a new session is made.
		n.warnMismatch(p, c)
		return nil
	case err != nil:
		return err
	}
	n.groupAfterMessage(n.ctx) // an invitation it carried (groups_change.go)
	if changed {
		if full, err := n.book.LookupID(n.ctx, c.ID); err == nil {
			n.events.publish(ContactEvent{Contact: n.apiContact(full)})
		}
	}
	return ack(l, m.ID)
}

// receiveLocked decrypts and stores a message from the peer with onion
// key peer (the one that authenticated its link, or the contact's own for
// a frame a mailbox carried), or reports a duplicate (nil message, nil
// error) without decrypting it again. The session must be the one with
// that key. A content that is not a chat message (a Profile, or a kind
// this version does not know) is applied instead: no message, and changed
// reports whether the contact changed. p.mu is held.
func (n *Node) receiveLocked(c contacts.Contact, peer ed25519.PublicKey, m *wire.Message) (msg *storage.Message, changed bool, err error) {
	msg, err = n.receiveMessageLocked(c, peer, m, func(tx *storage.Tx, content wire.Content) error {
		if content.Mailbox != nil {
			return n.applyMailboxInfo(tx, c, content.Mailbox) // issue 16
		}
		if content.GroupInvite != nil {
			return n.groupInvitedTx(tx, c, content.GroupInvite) // issue 18
		}
		if content.Profile == nil {
			return nil // a newer kind of content: nothing for us to do
		}
		var err error
		changed, err = n.book.SetPeerName(tx, c.ID, content.Profile.Name)
		return err
	})
	return msg, changed, err
}

// receiveMessageLocked is receiveLocked; apply runs, in the transaction
// that stores the ratchet step, for a content without text.
func (n *Node) receiveMessageLocked(c contacts.Contact, peer ed25519.PublicKey, m *wire.Message, apply func(*storage.Tx, wire.Content) error) (*storage.Message, error) {
	id := storage.MessageID(m.ID)
	if seen, err := n.db.Seen(n.ctx, c.ID, id); err != nil {
		return nil, err
	} else if seen {
		return nil, nil
	}
	st, err := n.loadSession(n.ctx, c, peer)
	if err != nil {
		return nil, fmt.Errorf("message: session: %w", err)
	}
	now := time.Now()
	n.decrypts.Add(1)
	next, pt, err := st.Decrypt(m.Ciphertext, m.ID[:], now)
	var content wire.Content
	if err == nil {
		content, err = wire.UnmarshalContent(pt)
	}
	if err != nil {
		// Not acknowledged, not marked seen: it stays in the peer's outbox,
		// and a new session (ResetSession, by either side) re-encrypts it.
		// (Before session resets it was acknowledged, and lost.) Repeated
		// failures make one notice per window (guard.go); a resend on a
		// new link counts again.
		n.decryptFailed(n.peer(c.Address), c, err)
		return nil, errUndecryptable
	}
	nextBytes, err := next.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if content.Text == "" {
		// Not a chat message (Send refuses empty text): store the step and
		// the id, apply it, show nothing.
		err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
			if dup, err := tx.MarkSeen(c.ID, id, now); err != nil || dup {
				return err
			}
			if err := tx.PutSession(c.ID, nextBytes, now); err != nil {
				return err
			}
			return apply(tx, content)
		})
		if err != nil {
			return nil, fmt.Errorf("message: store: %w", err)
		}
		return nil, nil
	}
	stored, err := n.db.ReceiveMessage(n.ctx, storage.IncomingMessage{
		ContactID: c.ID,
		ID:        id,
		Body:      content.Text,
		Created:   time.UnixMilli(content.Time),
		Received:  now,
		Session:   nextBytes,
	})
	if errors.Is(err, storage.ErrDuplicate) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("message: store: %w", err)
	}
	return &stored, nil
}

func (n *Node) onReceipt(p *peer, l *wire.Link, c contacts.Contact, m *wire.Receipt) error {
	ids := make([]storage.MessageID, len(m.IDs))
	for i, id := range m.IDs {
		ids[i] = storage.MessageID(id)
	}
	status := storage.StatusDelivered
	if m.Read {
		status = storage.StatusRead
	}
	now := time.Now()
	var changed []storage.MessageID
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		dup, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), now)
		if err != nil || dup {
			return err
		}
		changed, err = tx.ApplyReceipt(c.ID, ids, status, now)
		return err
	})
	if err != nil {
		return err
	}
	state := Delivered
	if m.Read {
		state = Read
	}
	for _, id := range changed {
		n.events.publish(MessageStateEvent{ID: id.String(), Address: string(p.addr), State: state, At: now})
	}
	return ack(l, m.ID)
}
