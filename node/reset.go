package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// A minimal session reset (issue 17), for a profile restored from a
// backup: its ratchet states are as old as the backup, and the contacts'
// have moved on. Issue 13 builds the full reset (key checks, notices, held
// messages); until it lands, this one reuses Request and Accept:
//
//   - the side that lost its sessions (I) drops them and its outbox of frames
//     sealed under them (its queued messages become failed: resend them),
//     and sends a Request with its bundle to each accepted contact;
//   - the contact (R), on a Request from an accepted contact with an id it
//     has not seen, accepts anew: one transaction stores the new session,
//     queues the Accept and moves its queued messages, encrypted again under
//     the new session with the same ids, behind it; at most one reset per
//     contact per minute;
//   - I, accepted but without a session, completes the Accept; until then
//     it leaves R's messages unacknowledged (R resends them after the Accept).

// resetEvery: a contact may start at most one new session this often.
const resetEvery = time.Minute

// errNoSession: a message from an accepted contact we have no session with
// (we asked for a new one; it follows their Accept).
var errNoSession = errors.New("no session: a new one was asked for")

// resetSession drops our session with accepted contact id and asks them for
// a new one.
func (n *Node) resetSession(ctx context.Context, id int64) error {
	c, err := n.book.LookupID(ctx, id)
	if err != nil {
		return err
	}
	if c.State != contacts.Accepted {
		return nil
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	var it storage.OutboxItem
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.DropSessionFrames(id); err != nil {
			return err
		}
		var err error
		it, err = n.queueRequest(tx, id, "", nil)
		return err
	})
	if err == nil {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("reset session: %w", err)
	}
	n.log.Info("asked for a new session", "peer", c.Address.Short())
	n.startDelivery(p, id)
	return nil
}

// resetByPeer handles a Request with an unseen id from accepted contact c:
// they lost their session. p.mu is held.
func (n *Node) resetByPeer(p *peer, l *wire.Link, c contacts.Contact, b *ratchet.Bundle, m *wire.Request) error {
	now := time.Now()
	n.mu.Lock()
	limited := !p.lastReset.IsZero() && now.Sub(p.lastReset) < resetEvery
	if !limited {
		p.lastReset = now
	}
	n.mu.Unlock()
	if limited {
		return fmt.Errorf("request: a new session within %v of the last one", resetEvery)
	}
	st, hs, err := ratchet.Accept(n.rid, b, now)
	if err != nil {
		return fmt.Errorf("request: new session: %w", err)
	}
	stBytes, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	aid := wire.NewID()
	name := n.displayName()
	frame, err := wire.Marshal(&wire.Accept{ID: aid, Handshake: hs, Name: name})
	if err != nil {
		return err
	}
	err = n.db.Update(n.ctx, func(tx *storage.Tx) error {
		if _, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), now); err != nil {
			return err
		}
		if err := tx.PutSession(c.ID, stBytes, now); err != nil {
			return err
		}
		if err := tx.SetNameSent(c.ID, name); err != nil {
			return err
		}
		if _, err := n.book.SetPeerName(tx, c.ID, m.Name); err != nil {
			return err
		}
		if _, err := tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(aid), ContactID: c.ID, Kind: storage.KindAccept, Frame: frame, Created: now}); err != nil {
			return err
		}
		// Our queued messages, encrypted again under the new session and
		// moved behind the Accept; other frames sealed under the old one go.
		cur := st
		if _, err := tx.RequeueMessages(c.ID, func(msg storage.Message) ([]byte, error) {
			return n.reencrypt(tx, msg, now, &cur)
		}); err != nil {
			return err
		}
		b, err := cur.MarshalBinary()
		if err != nil {
			return err
		}
		return tx.PutSession(c.ID, b, now)
	})
	if err != nil {
		return fmt.Errorf("request: new session: %w", err)
	}
	n.log.Info("the contact started a new session", "peer", p.addr.Short())
	n.events.publish(ErrorEvent{Message: fmt.Sprintf("%s started a new session (restored from a backup?)", c.Display())})
	// The outbox changed order: the writer reloads it on the next link. If
	// the ack is lost with this one, the request comes again and is seen.
	ack(l, m.ID)
	l.Close()
	n.startDelivery(p, c.ID)
	return nil
}

// reencrypt encrypts msg again (same id) under *st, advancing it.
func (n *Node) reencrypt(tx *storage.Tx, msg storage.Message, now time.Time, st **ratchet.State) ([]byte, error) {
	content := wire.Content{Text: msg.Body, Time: msg.Created.UnixMilli()}
	cvs, err := tx.ConvoOf(msg.Seq)
	if err != nil {
		return nil, err
	}
	if cvs.Kind == storage.KindTimer {
		content.Text = ""
		content.Timer = &wire.Timer{Seconds: uint32(cvs.Timer / time.Second)}
	} else {
		content.Disappear = uint32(cvs.Timer / time.Second)
		if r := cvs.Reply; r != nil {
			content.ReplyTo = &wire.Ref{ID: wire.ID(r.ID), Mine: r.Direction == storage.Outgoing}
			content.Quote = r.Quote
		}
	}
	if msg.Body == "" && content.Timer == nil {
		return nil, nil // a tombstone: nothing to send
	}
	pt, err := wire.MarshalContent(content)
	if err != nil {
		return nil, err
	}
	next, ct, err := (*st).Encrypt(pt, msg.ID[:], now)
	if err != nil {
		return nil, err
	}
	*st = next
	return wire.Marshal(&wire.Message{ID: wire.ID(msg.ID), Ciphertext: ct})
}

// completeReset handles the Accept of the new session we asked for
// (accepted contact, no session). p.mu is held.
func (n *Node) completeReset(p *peer, l *wire.Link, c contacts.Contact, m *wire.Accept) error {
	now := time.Now()
	st, err := ratchet.Complete(n.rid, p.pub, m.Handshake, now)
	if err != nil {
		n.log.Warn("invalid acceptance of a new session", "peer", p.addr.Short(), "err", err)
		return ack(l, m.ID)
	}
	stBytes, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	err = n.db.Update(n.ctx, func(tx *storage.Tx) error {
		if err := tx.PutSession(c.ID, stBytes, now); err != nil {
			return err
		}
		if _, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), now); err != nil {
			return err
		}
		_, err := n.book.SetPeerName(tx, c.ID, m.Name)
		return err
	})
	if err != nil {
		return err
	}
	n.log.Info("new session", "peer", p.addr.Short())
	n.publishContact(c.ID)
	n.startDelivery(p, c.ID)
	return ack(l, m.ID)
}

// hasSession reports whether we have a session with contact id.
func (n *Node) hasSession(id int64) (bool, error) {
	_, err := n.db.Session(n.ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
