package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// This file is about sessions as a whole: our rotating keys, checking that
// a stored session belongs to the contact it is used for, and resetting a
// session when a contact lost theirs.

// ownIdentity is our ratchet identity with its marshaled bundle, replaced
// as a whole when the keys rotate.
type ownIdentity struct {
	rid    *ratchet.Identity
	bundle []byte
}

func newOwnIdentity(rid *ratchet.Identity) (*ownIdentity, error) {
	b, err := rid.Bundle().MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &ownIdentity{rid: rid, bundle: b}, nil
}

func (n *Node) identity() *ownIdentity { return n.ident.Load() }

// rotateLoop replaces the signed prekey and ML-KEM key when they are due,
// checking at start and every rotateCheck.
func (n *Node) rotateLoop() {
	t := time.NewTicker(n.tune.rotateCheck)
	defer t.Stop()
	for {
		if _, err := n.rotateIfDue(time.Now()); err != nil && n.ctx.Err() == nil {
			n.log.Warn("rotating keys", "err", err)
		}
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

// rotateIfDue rotates our keys if the current bundle is older than
// rotateEvery, and stores the new identity (sealed, like the old one)
// before using it. It reports whether it rotated.
func (n *Node) rotateIfDue(now time.Time) (bool, error) {
	n.rotMu.Lock()
	defer n.rotMu.Unlock()
	cur := n.identity()
	if now.Sub(cur.rid.Created()) < n.tune.rotateEvery {
		return false, nil
	}
	next, err := cur.rid.Rotate(n.key, now, n.tune.rotateKeep)
	if err != nil {
		return false, err
	}
	own, err := newOwnIdentity(next)
	if err != nil {
		return false, err
	}
	b, err := next.MarshalBinary()
	if err != nil {
		return false, err
	}
	id, err := n.db.Identity(n.ctx)
	if err != nil {
		return false, err
	}
	id.Ratchet = b
	if err := n.db.UpdateIdentity(n.ctx, id); err != nil {
		return false, err
	}
	n.ident.Store(own)
	n.log.Info("rotated the signed prekey and ML-KEM key", "retired_sets", next.Retired())
	return true, nil
}

// loadSession loads the session with c and checks that it was made between
// our onion key and peer's. A session made with any other key is refused:
// a profile someone tampered with while chive was closed could otherwise
// attach a stranger's session to a contact.
func (n *Node) loadSession(ctx context.Context, c contacts.Contact, peer ed25519.PublicKey) (*ratchet.State, error) {
	sess, err := n.db.Session(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	st, err := ratchet.UnmarshalState(sess)
	if err != nil {
		return nil, err
	}
	if !st.PeerOnionKey().Equal(peer) || !st.SelfOnionKey().Equal(n.pub) {
		return nil, fmt.Errorf("%w (%s)", ErrSessionMismatch, c.Display())
	}
	return st, nil
}

// sessionKeys are the onion keys the safety number of c is made of: those
// of the session, if there is one (what messages are actually encrypted
// to), else ours and the contact's address.
func (n *Node) sessionKeys(ctx context.Context, c contacts.Contact) (self, peer ed25519.PublicKey, err error) {
	sess, err := n.db.Session(ctx, c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		pub, err := c.Address.PublicKey()
		return n.pub, pub, err
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := ratchet.UnmarshalState(sess)
	if err != nil {
		return nil, nil, err
	}
	return st.SelfOnionKey(), st.PeerOnionKey(), nil
}

func (n *Node) safetyNumber(ctx context.Context, c contacts.Contact) (string, error) {
	self, peer, err := n.sessionKeys(ctx, c)
	if err != nil {
		// A number computed from no key would look valid and match nothing.
		return "", fmt.Errorf("node: safety number of %s: %w", c.Display(), err)
	}
	return ratchet.SafetyNumber(self, peer), nil
}

// warnMismatch tells the user, once per contact and run, that the stored
// session with c is not theirs.
func (n *Node) warnMismatch(p *peer, c contacts.Contact) {
	n.log.Warn("stored session belongs to another key", "peer", c.Address.Short())
	n.warnOnce(p, &p.mismatchWarned, fmt.Sprintf("the stored session with %s belongs to another key (was the profile tampered with?): "+
		"their messages wait; start a new session with: chive contacts reset %s", c.Display(), c.Address))
}

// warnOnce publishes msg unless *flag (a field of p, under n.mu) says it
// was, and sets it.
func (n *Node) warnOnce(p *peer, flag *bool, msg string) {
	n.mu.Lock()
	first := !*flag
	*flag = true
	n.mu.Unlock()
	if first {
		n.events.publish(ErrorEvent{Message: msg})
	}
}

// resetting reports whether c is an accepted contact without a session:
// we asked for a new session and wait for their acceptance.
func (n *Node) resetting(ctx context.Context, c contacts.Contact) (bool, error) {
	if c.State != contacts.Accepted {
		return false, nil
	}
	_, err := n.db.Session(ctx, c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// ResetSession implements API: our session with the contact is dropped and
// a new contact request (our current bundle) is sent; the contact answers
// with an acceptance, which makes the new session. Messages queued for them
// wait and are re-encrypted under it. For a contact we asked (requested),
// the request is sent again with a new id.
func (n *Node) ResetSession(ctx context.Context, ref string) (Contact, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return Contact{}, err
	}
	switch c.State {
	case contacts.Accepted, contacts.Requested:
	case contacts.Blocked:
		return Contact{}, fmt.Errorf("node: reset session with %s: %w", c.Display(), ErrBlocked)
	default:
		return Contact{}, fmt.Errorf("node: reset session with %s: %w (accept their request instead)", c.Display(), ErrNotAccepted)
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	items, err := n.db.Outbox(ctx, c.ID)
	if err != nil {
		p.mu.Unlock()
		return Contact{}, fmt.Errorf("node: reset session with %s: %w", c.Display(), err)
	}
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.DeleteSession(c.ID); err != nil {
			return err
		}
		if err := dropSuperseded(tx, items); err != nil {
			return err
		}
		_, err := n.queueRequest(tx, c.ID, "", nil)
		return err
	})
	if err == nil {
		p.rearrangedLocked()
	}
	p.mu.Unlock()
	if err != nil {
		return Contact{}, fmt.Errorf("node: reset session with %s: %w", c.Display(), err)
	}
	n.log.Info("asked for a new session", "peer", p.addr.Short())
	n.startDelivery(p, c.ID)
	ac := n.apiContact(c)
	n.events.publish(ContactEvent{Contact: ac})
	return ac, nil
}

// dropSuperseded drops our queued requests and acceptances: a new session
// replaces whatever they would have made.
func dropSuperseded(tx *storage.Tx, items []storage.OutboxItem) error {
	for _, it := range items {
		// A reaction, edit or deletion (issue 17) is dropped too: only its
		// ciphertext was kept, which the new session cannot open.
		if it.Kind != storage.KindRequest && it.Kind != storage.KindAccept && it.Kind != kindConvo {
			continue
		}
		if err := tx.DropOutbox(it.ID, false); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// reencrypted is an outbox item moved behind a new session's start, with
// its frame re-encrypted if it carries a message (nil: unchanged).
type reencrypted struct {
	id    storage.MessageID
	frame []byte
}

// sealedKind reports whether outbox items of kind carry ratchet
// ciphertext, made for one session.
func sealedKind(kind storage.OutboxKind) bool {
	return kind == storage.KindMessage || kind == kindProfile || kind == kindConvo
}

// reencrypt encrypts every message of items under st, in order, and
// returns the state after them and the moves to make. Other items keep
// their frames; requests and acceptances are not moved (dropSuperseded).
func (n *Node) reencrypt(ctx context.Context, c contacts.Contact, st *ratchet.State, items []storage.OutboxItem, now time.Time) (*ratchet.State, []reencrypted, error) {
	var moves []reencrypted
	for _, it := range items {
		switch it.Kind {
		case storage.KindRequest, storage.KindAccept, kindConvo:
			continue
		case storage.KindMessage, kindProfile:
			var content wire.Content
			if it.Kind == kindProfile {
				// The name it carried is the name sent: ours now.
				content = wire.Content{Time: now.UnixMilli(), Profile: &wire.Profile{Name: n.displayName()}}
			} else {
				m, err := n.db.Message(ctx, c.ID, storage.Outgoing, it.ID)
				if err != nil {
					return nil, nil, err
				}
				// With what it answers, its timer (issue 17), its deadline
				// (issue 12).
				if content, err = n.chatContent(ctx, m); err != nil {
					return nil, nil, err
				}
				if !m.Expires.IsZero() {
					content.Expires = m.Expires.UnixMilli()
				}
			}
			pt, err := wire.MarshalContent(content)
			if err != nil {
				return nil, nil, err
			}
			next, ct, err := st.Encrypt(pt, it.ID[:], now)
			if err != nil {
				return nil, nil, err
			}
			frame, err := wire.Marshal(&wire.Message{ID: wire.ID(it.ID), Ciphertext: ct})
			if err != nil {
				return nil, nil, err
			}
			st = next
			moves = append(moves, reencrypted{it.ID, frame})
		default:
			moves = append(moves, reencrypted{it.ID, nil})
		}
	}
	return st, moves, nil
}

// requeue applies moves in order; items acknowledged meanwhile are skipped.
func requeue(tx *storage.Tx, moves []reencrypted) error {
	for _, mv := range moves {
		if _, err := tx.RequeueOutbox(mv.id, mv.frame); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// onPeerReset handles a contact request from an accepted contact with an
// id we have not seen: they lost their session (restored an old backup,
// reinstalled, or reset it on purpose) and ask for a new one. We accept it
// at once, as we accepted them before: in one transaction the new session
// replaces ours, the acceptance is queued first, and what was queued for
// them is re-encrypted under the new session behind it. The contact and the
// conversation stay. p.mu is held.
func (n *Node) onPeerReset(p *peer, l *wire.Link, c contacts.Contact, b *ratchet.Bundle, m *wire.Request) error {
	ctx := n.ctx
	waiting, err := n.resetting(ctx, c)
	if err != nil {
		return err
	}
	if waiting && n.addr > p.addr {
		// Both asked for a new session at once: as with crossing
		// requests, the smaller address accepts, we wait for it. Marked
		// seen, so a resend of it cannot reset the session made meanwhile.
		if _, err := n.db.MarkSeen(ctx, c.ID, storage.MessageID(m.ID), time.Now()); err != nil {
			return err
		}
		return ack(l, m.ID)
	}
	// Each new session costs us a key agreement, re-encrypting the queue
	// and a notice the user must see: a contact gets one a minute. A
	// request over that is not acknowledged; it comes again later.
	now := time.Now()
	n.mu.Lock()
	tooSoon := !p.peerResetAt.IsZero() && now.Sub(p.peerResetAt) < n.tune.resetEvery
	if !tooSoon {
		p.peerResetAt = now
	}
	n.mu.Unlock()
	if tooSoon {
		return nil
	}
	before, err := n.safetyNumber(ctx, c)
	if err != nil {
		return err
	}
	items, err := n.db.Outbox(ctx, c.ID)
	if err != nil {
		return err
	}
	st, hs, err := ratchet.Accept(n.identity().rid, b, now)
	if err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	st, moves, err := n.reencrypt(ctx, c, st, items, now)
	if err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	stBytes, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	id := wire.NewID()
	name := n.displayName()
	frame, err := wire.Marshal(&wire.Accept{ID: id, Handshake: hs, Name: name})
	if err != nil {
		return err
	}
	after := ratchet.SafetyNumber(st.SelfOnionKey(), st.PeerOnionKey())
	out, err := n.book.AcceptBundle(ctx, c.ID, m.Bundle, func(tx *storage.Tx, c contacts.Contact) error {
		if err := tx.PutSession(c.ID, stBytes, now); err != nil {
			return err
		}
		if _, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), now); err != nil {
			return err
		}
		if err := dropSuperseded(tx, items); err != nil {
			return err
		}
		if _, err := tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(id), ContactID: c.ID, Kind: storage.KindAccept, Frame: frame, Created: now}); err != nil {
			return err
		}
		if err := tx.SetNameSent(c.ID, name); err != nil {
			return err
		}
		if _, err := n.book.SetPeerName(tx, c.ID, m.Name); err != nil {
			return err
		}
		if err := requeue(tx, moves); err != nil {
			return err
		}
		return clearVerifiedIf(tx, c.ID, before != after)
	})
	if err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	p.rearrangedLocked()
	n.log.Info("contact started a new session", "peer", p.addr.Short(), "safety_number_changed", before != after)
	n.publishSession(out, true, before != after)
	n.startDelivery(p, c.ID)
	return ack(l, m.ID)
}

// clearVerifiedIf clears the contact's verified mark when its safety
// number changed: what was compared is no longer what protects them.
func clearVerifiedIf(tx *storage.Tx, id int64, changed bool) error {
	if !changed {
		return nil
	}
	sc, err := tx.Contact(id)
	if err != nil {
		return err
	}
	if !sc.Verified {
		return nil
	}
	sc.Verified = false
	return tx.UpdateContact(sc)
}

// publishSession tells the user a new session replaced the old one.
func (n *Node) publishSession(c contacts.Contact, byPeer, changed bool) {
	if full, err := n.book.Get(n.ctx, c.ID); err == nil {
		c = full
	}
	sn := "the safety number is unchanged"
	if changed {
		sn = "the safety number changed: compare it with them again"
	}
	notice := fmt.Sprintf("%s started a new session: %s", c.Display(), sn)
	if !byPeer {
		notice = fmt.Sprintf("new session with %s: %s", c.Display(), sn)
	}
	n.events.publish(SessionEvent{Contact: n.apiContact(c), ByPeer: byPeer, SafetyNumberChanged: changed, Notice: notice})
}

// rearrangedLocked tells p's writer that the outbox was rearranged (a
// session reset): it starts over from the stored outbox. p.mu is held.
func (p *peer) rearrangedLocked() {
	p.outboxGen++
	if p.wake != nil {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}
