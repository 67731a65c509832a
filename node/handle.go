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
	case *wire.Ack, *wire.Refuse, *wire.Message, *wire.Receipt:
		return n.handleRun(p, l, []wire.Msg{m})
	}
	// Everything else needs an accepted contact.
	switch {
	case !known:
		return errDrop
	case c.State == contacts.Requested:
		return nil // see handleRun
	case c.State != contacts.Accepted:
		return errDrop
	}
	switch m := m.(type) {
	case *wire.FileChunk, *wire.FileRequest, *wire.FileStop, *wire.FileEnd:
		return n.onFileFrame(p, l, c, m)
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
		// Seen, so that a resend once we are accepted is not taken for a
		// request for a new session (session.go).
		if _, err := n.db.MarkSeen(n.ctx, c.ID, storage.MessageID(m.ID), time.Now()); err != nil {
			return err
		}
		return ack(l, m.ID)
	}
	accepted, its, err := n.acceptLocked(c, b, m.Bundle, func(tx *storage.Tx) error {
		if _, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), time.Now()); err != nil {
			return err
		}
		_, err := n.book.SetPeerName(tx, c.ID, m.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("request: accept mutual request: %w", err)
	}
	for _, it := range its {
		p.enqueueLocked(it)
	}
	n.events.publish(ContactEvent{Contact: n.apiContact(accepted)})
	n.startDelivery(p, c.ID)
	return ack(l, m.ID)
}

// acceptLocked runs the accepter's side of the key agreement and, in one
// transaction, stores the session, marks the contact accepted (with the
// peer's fresh bundle, if not nil) and queues the acceptance frame, then
// the messages that waited for the session (we had asked them too). p.mu
// must be held; the items come in outbox order.
func (n *Node) acceptLocked(c contacts.Contact, b *ratchet.Bundle, bundleBytes []byte, extra func(*storage.Tx) error) (contacts.Contact, []storage.OutboxItem, error) {
	now := time.Now()
	st, hs, err := ratchet.Accept(n.identity().rid, b, now)
	if err != nil {
		return contacts.Contact{}, nil, err
	}
	id := wire.NewID()
	name := n.displayName()
	frame, err := wire.Marshal(&wire.Accept{ID: id, Handshake: hs, Name: name})
	if err != nil {
		return contacts.Contact{}, nil, err
	}
	var its []storage.OutboxItem
	out, err := n.book.AcceptBundle(n.ctx, c.ID, bundleBytes, func(tx *storage.Tx, c contacts.Contact) error {
		if err := tx.SetNameSent(c.ID, name); err != nil {
			return err
		}
		it, err := tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(id), ContactID: c.ID, Kind: storage.KindAccept, Frame: frame, Created: now})
		if err != nil {
			return err
		}
		ch := &chain{st: st, dirty: true}
		waited, err := n.promoteDue(tx, ch, c.ID, now)
		if err != nil {
			return err
		}
		its = append([]storage.OutboxItem{it}, waited...)
		if err := ch.save(tx, c.ID, now); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		return contacts.Contact{}, nil, err
	}
	if full, err := n.book.LookupID(n.ctx, out.ID); err == nil {
		out = full // with what extra changed (a peer name)
	}
	n.wakeScheduler() // messages scheduled for them can be sent now
	return out, its, nil
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
	after := ratchet.SafetyNumber(st.SelfOnionKey(), st.PeerOnionKey())
	out, err := n.book.Accept(n.ctx, c.ID, func(tx *storage.Tx, c contacts.Contact) error {
		if _, err := tx.MarkSeen(c.ID, id, now); err != nil {
			return err
		}
		if _, err := n.book.SetPeerName(tx, c.ID, m.Name); err != nil {
			return err
		}
		if err := requeue(tx, moves); err != nil {
			return err
		}
		// Behind them, the messages that waited unencrypted for this
		// session (sent while they had not accepted, or during a reset):
		// one sent just before this is encrypted here, one sent just after
		// finds the session (both hold p.mu).
		ch := &chain{st: st, dirty: true}
		if _, err := n.promoteDue(tx, ch, c.ID, now); err != nil {
			return err
		}
		if err := ch.save(tx, c.ID, now); err != nil {
			return err
		}
		return clearVerifiedIf(tx, c.ID, reset && before != after)
	})
	if err != nil {
		return err
	}
	p.rearrangedLocked() // the writer reloads the outbox, promoted messages included
	n.wakeScheduler()    // messages scheduled for them can be sent now
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

// receiveLocked is the path of a message a mailbox carried (handleRelayed;
// a link's frames go through handleRun, in batches): it decrypts and
// stores a message from the peer with onion
// key peer (the one that authenticated its link, or the contact's own for
// a frame a mailbox carried), or reports a duplicate (nil message, nil
// error) without decrypting it again. The session must be the one with
// that key. A content that is not a chat message (a Profile, or a kind
// this version does not know) is applied instead: no message, and changed
// reports whether the contact changed. conv is what a conversation feature
// (convo.go) changed, for receivedLocked and afterConvo. p.mu is held.
func (n *Node) receiveLocked(c contacts.Contact, peer ed25519.PublicKey, m *wire.Message) (msg *storage.Message, changed bool, conv convoReceived, err error) {
	msg, err = n.receiveMessageLocked(c, peer, m, func(tx *storage.Tx, content wire.Content) error {
		conv = convoReceived{} // a retried transaction starts afresh
		if content.Mailbox != nil {
			return n.applyMailboxInfo(tx, c, content.Mailbox) // issue 16
		}
		if content.GroupInvite != nil {
			return n.groupInvitedTx(tx, c, content.GroupInvite) // issue 18
		}
		if content.Profile == nil {
			// A reply's reaction, an edit, a deletion, a timer, or a newer
			// kind of content (nothing for us to do).
			return n.convoApply(tx, c, storage.MessageID(m.ID), content, &conv)
		}
		var err error
		changed, err = n.book.SetPeerName(tx, c.ID, content.Profile.Name)
		return err
	}, func(tx *storage.Tx, content wire.Content, stored storage.Message) error {
		conv = convoReceived{}
		return n.convoStored(tx, c, content, stored, &conv)
	})
	return msg, changed, conv, err
}

// receiveMessageLocked is receiveLocked; apply runs, in the transaction
// that stores the ratchet step, for a content without text, and stored in
// the one that stores a chat message.
func (n *Node) receiveMessageLocked(c contacts.Contact, peer ed25519.PublicKey, m *wire.Message, apply func(*storage.Tx, wire.Content) error,
	stored func(*storage.Tx, wire.Content, storage.Message) error) (*storage.Message, error) {
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
	if (content.Text == "" && content.File == nil) || (content.Expires != 0 && now.UnixMilli() >= content.Expires) {
		// Not a chat message (Send refuses empty text; a file may have no
		// caption), or one past the sender's deadline (never shown late):
		// store the step and the id, apply it, show nothing.
		err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
			if dup, err := tx.MarkSeen(c.ID, id, now); err != nil || dup {
				return err
			}
			if err := tx.PutSession(c.ID, nextBytes, now); err != nil {
				return err
			}
			if content.Text != "" || content.File != nil {
				return nil // expired: nothing to apply
			}
			return apply(tx, content)
		})
		if err != nil {
			return nil, fmt.Errorf("message: store: %w", err)
		}
		return nil, nil
	}
	var msg storage.Message
	var rf *receivedFile
	err = n.db.Update(n.ctx, func(tx *storage.Tx) error {
		var err error
		msg, rf, err = n.storeContent(tx, c, storage.IncomingMessage{
			ContactID: c.ID,
			ID:        id,
			Body:      content.Text,
			Created:   time.UnixMilli(content.Time),
			Received:  now,
			Session:   nextBytes,
		}, content, tx.ReceiveMessage)
		if err != nil {
			return err
		}
		return stored(tx, content, msg)
	})
	if errors.Is(err, storage.ErrDuplicate) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("message: store: %w", err)
	}
	n.fileReceivedLocked(c, rf)
	return &msg, nil
}
