package node

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Receiving in batches: readLoop hands over every frame that has arrived,
// and the acknowledgements, messages and receipts among them are stored in
// one transaction, then acknowledged together. An Ack still means the
// frame is durably stored: it is written only after the commit.

// batchable reports whether m is handled by handleRun (stored in a shared
// transaction) rather than on its own.
func batchable(m wire.Msg) bool {
	switch m.(type) {
	case *wire.Message, *wire.Ack, *wire.Refuse, *wire.Receipt:
		return true
	}
	return false
}

// handleBatch handles frames that arrived together on l, in order.
func (n *Node) handleBatch(p *peer, l *wire.Link, ms []wire.Msg) error {
	for i := 0; i < len(ms); {
		if !batchable(ms[i]) {
			if err := n.handle(p, l, ms[i]); err != nil {
				return err
			}
			i++
			continue
		}
		j := i + 1
		for j < len(ms) && batchable(ms[j]) {
			j++
		}
		if err := n.handleRun(p, l, ms[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// refused remembers, per peer, messages we refused lately and why, so a
// resend that crossed our answer gets the same one without a decryption
// (which would fail: the message key is spent). A retry of the message is
// encrypted afresh under the same id: its ciphertext differs, and it is
// decrypted.
const maxRefused = 1024

type refusal struct {
	reason wire.Reason
	sum    [32]byte // of the ciphertext refused
}

// handleRun stores a run of messages, acks, refusals and receipts from p in
// one transaction, then answers each message and receipt (Ack, or Refuse)
// and publishes what changed. A message that cannot be read now (no
// session: a new one was asked for; a session of another key; it does not
// decrypt) is not answered: it waits in the peer's outbox for a new
// session (session.go).
func (n *Node) handleRun(p *peer, l *wire.Link, ms []wire.Msg) error {
	c, err := n.book.Lookup(n.ctx, p.addr)
	if err != nil && !errors.Is(err, contacts.ErrNotFound) {
		return err
	}
	known := err == nil && !c.Removed
	// waiting: a contact we asked again after losing our session may have
	// accepted, and sends what it had queued: it waits, unacknowledged,
	// and comes again behind their acceptance.
	waiting := known && c.State == contacts.Requested
	for _, m := range ms {
		switch m.(type) {
		case *wire.Ack, *wire.Refuse:
			if !known {
				return errDrop
			}
		default:
			if !known || (c.State != contacts.Accepted && !waiting) {
				return fmt.Errorf("%s: %w", m.Type(), errDrop)
			}
		}
	}

	// What conversation features changed is finished out of p.mu, after
	// the commit (afterConvo): deferred before p.mu's unlock, it runs after.
	var convs []convoReceived
	defer func() {
		for _, cv := range convs {
			n.afterConvo(c, cv)
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var (
		replies    []wire.Msg
		tell       []func() // after the commit, in stored order: events, files
		stored     []convoReceived
		refusals   map[wire.ID]refusal
		undecrypt  []error // decryption failures, told after the commit (decryptFailed coalesces)
		mismatched bool
		renamed    bool // a Profile content changed the contact
		invited    bool // a group invitation came (groupAfterMessage)
	)
	err = n.db.Update(n.ctx, func(tx *storage.Tx) error {
		replies, tell, stored, refusals, undecrypt, mismatched, renamed, invited = nil, nil, nil, map[wire.ID]refusal{}, nil, false, false, false
		emit := func(e Event) { tell = append(tell, func() { n.events.publish(e) }) }
		var ch *chain
		var noChain bool // no usable session: messages wait
		refuse := func(m *wire.Message, r wire.Reason) {
			replies = append(replies, &wire.Refuse{ID: m.ID, Reason: r})
			refusals[m.ID] = refusal{r, sha256.Sum256(m.Ciphertext)}
		}
		for _, m := range ms {
			switch m := m.(type) {
			case *wire.Ack:
				it, err := tx.Acknowledge(c.ID, storage.MessageID(m.ID), now)
				if errors.Is(err, storage.ErrNotFound) {
					// A group invitation's (issue 18), a repeated ack, or one
					// for a message that ended meanwhile.
					if err := groupInviteAckedTx(tx, p, m.ID); err != nil {
						return err
					}
					continue
				}
				if err != nil {
					return err
				}
				if it.Kind == storage.KindMessage {
					emit(MessageStateEvent{ID: it.ID.String(), Address: string(p.addr), State: Delivered, At: now})
				}
			case *wire.Refuse:
				st, reason := refusalEnd(m.Reason)
				err := tx.EndMessage(c.ID, storage.MessageID(m.ID), st, reason)
				if errors.Is(err, storage.ErrNotFound) {
					// A frame without a message (our Profile), or one that
					// ended meanwhile: not resent, nothing to show.
					if _, err := tx.DropFrame(c.ID, storage.MessageID(m.ID)); err != nil {
						return err
					}
					continue
				}
				if err != nil {
					return err
				}
				emit(MessageStateEvent{ID: m.ID.String(), Address: string(p.addr), State: MessageState(st), At: now, Error: reason})
				n.log.Info("message refused by the peer", "peer", p.addr.Short(), "id", m.ID.String(), "reason", m.Reason.String())
			case *wire.Receipt:
				if waiting {
					continue
				}
				ids := make([]storage.MessageID, len(m.IDs))
				for i, id := range m.IDs {
					ids[i] = storage.MessageID(id)
				}
				status, state := storage.StatusDelivered, Delivered
				if m.Read {
					status, state = storage.StatusRead, Read
				}
				dup, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), now)
				if err != nil {
					return err
				}
				if !dup {
					changed, err := tx.ApplyReceipt(c.ID, ids, status, now)
					if err != nil {
						return err
					}
					for _, id := range changed {
						emit(MessageStateEvent{ID: id.String(), Address: string(p.addr), State: state, At: now})
					}
				}
				replies = append(replies, &wire.Ack{ID: m.ID})
			case *wire.Message:
				if waiting {
					continue
				}
				id := storage.MessageID(m.ID)
				seen, err := tx.Seen(c.ID, id)
				if err != nil {
					return err
				}
				if seen {
					replies = append(replies, &wire.Ack{ID: m.ID}) // a resend of one we stored
					continue
				}
				if r, ok := p.refused[m.ID]; ok && r.sum == sha256.Sum256(m.Ciphertext) {
					refuse(m, r.reason)
					continue
				}
				if ch == nil && !noChain {
					ch, err = loadChainFor(tx, c, l.Peer(), n.pub)
					switch {
					case errors.Is(err, storage.ErrNotFound):
						noChain = true // we asked for a new session: it waits
					case errors.Is(err, ErrSessionMismatch):
						noChain, mismatched = true, true
					case err != nil:
						return fmt.Errorf("message: %w", err)
					}
				}
				if noChain {
					continue
				}
				n.decrypts.Add(1)
				next, pt, err := ch.st.Decrypt(m.Ciphertext, m.ID[:], now)
				var content wire.Content
				if err == nil {
					content, err = wire.UnmarshalContent(pt)
				}
				if err != nil {
					// Not acknowledged, not marked seen: it stays in the
					// peer's outbox, and a new session (either side's)
					// re-encrypts it. Told once per window (decryptFailed).
					undecrypt = append(undecrypt, err)
					continue
				}
				// The key is spent whatever we do with the message.
				ch.st, ch.dirty = next, true
				switch {
				case content.Text == "" && content.File == nil:
					// Not a chat message (Send refuses empty text; a file
					// may have no caption): the step
					// and the id are stored, the content applied (a newer
					// kind this version does not know: nothing to do).
					if _, err := tx.MarkSeen(c.ID, id, now); err != nil {
						return err
					}
					if content.Mailbox != nil { // issue 16
						if err := n.applyMailboxInfo(tx, c, content.Mailbox); err != nil {
							return err
						}
					}
					switch {
					case content.Profile != nil:
						changed, err := n.book.SetPeerName(tx, c.ID, content.Profile.Name)
						if err != nil {
							return err
						}
						renamed = renamed || changed
					case content.GroupInvite != nil: // issue 18
						if err := n.groupInvitedTx(tx, c, content.GroupInvite); err != nil {
							return err
						}
						invited = true
					case content.Mailbox == nil:
						// A reaction, an edit, a deletion, a timer (issue
						// 17), or a newer kind (nothing to do).
						var cv convoReceived
						if err := n.convoApply(tx, c, id, content, &cv); err != nil {
							return err
						}
						tell = append(tell, func() { n.receivedLocked(c, nil, cv) })
						stored = append(stored, cv)
					}
					replies = append(replies, &wire.Ack{ID: m.ID})
					continue
				case content.Expires != 0 && now.UnixMilli() >= content.Expires:
					// Past the sender's deadline: never shown late.
					refuse(m, wire.ReasonExpired)
					continue
				}
				msg, rf, err := n.storeContent(tx, c, storage.IncomingMessage{
					ContactID: c.ID,
					ID:        id,
					Body:      content.Text,
					Created:   time.UnixMilli(content.Time),
					Received:  now,
				}, content, tx.StoreIncoming)
				if errors.Is(err, storage.ErrDuplicate) {
					replies = append(replies, &wire.Ack{ID: m.ID})
					continue
				}
				if err != nil {
					return fmt.Errorf("message: store: %w", err)
				}
				var cv convoReceived // what it answers, its timer, changes that came first
				if err := n.convoStored(tx, c, content, msg, &cv); err != nil {
					return err
				}
				stored = append(stored, cv)
				// Its event is made after the commit: a file's transfer is
				// not visible to other reads before, nor live.
				tell = append(tell, func() {
					n.fileReceivedLocked(c, rf)
					n.receivedLocked(c, &msg, cv)
					if rf != nil {
						n.afterReceive(c, &msg)
					}
				})
				replies = append(replies, &wire.Ack{ID: m.ID})
			}
		}
		if ch != nil {
			return ch.save(tx, c.ID, now)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(refusals) > 0 {
		if p.refused == nil || len(p.refused)+len(refusals) > maxRefused {
			p.refused = map[wire.ID]refusal{}
		}
		for id, r := range refusals {
			p.refused[id] = r
		}
	}
	convs = stored
	// What the commit stored is told before the replies go out, and
	// whatever becomes of them: l may have closed meanwhile (it lost to
	// another link to p, or dropped), and the peer then resends what it
	// has no Ack for, which is acknowledged as seen and not told again.
	for _, f := range tell {
		f()
	}
	if invited {
		n.groupAfterMessage(n.ctx) // groups_change.go
	}
	if renamed {
		if full, err := n.book.LookupID(n.ctx, c.ID); err == nil {
			n.events.publish(ContactEvent{Contact: n.apiContact(full)})
		}
	}
	if mismatched {
		n.warnMismatch(p, c)
	}
	for _, err := range undecrypt {
		n.decryptFailed(p, c, err)
	}
	for _, r := range replies {
		if err := l.Post(r); err != nil {
			return err
		}
	}
	return nil
}
