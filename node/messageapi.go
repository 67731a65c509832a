package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// MaxText is the longest message Send accepts, in bytes of UTF-8.
const MaxText = wire.MaxText

// History implements API.
func (n *Node) History(ctx context.Context, ref string, before string, limit int) ([]Message, error) {
	if g, err := n.groupRef(ctx, ref); err != nil || g != nil {
		if err != nil {
			return nil, err
		}
		return n.groupHistory(ctx, *g, before, limit)
	}
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
	limit = min(limit, MaxPage)
	ms, err := n.db.History(ctx, c.ID, cursor, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = n.apiMessage(m, c)
	}
	return n.withConvo(ctx, out), nil
}

// Inbox implements API.
func (n *Node) Inbox(ctx context.Context, q InboxQuery) ([]Message, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	sq := storage.InboxQuery{After: q.After, Limit: min(q.Limit, MaxPage), IncludeOutgoing: q.Outgoing}
	var one *contacts.Contact
	if g, err := n.groupRef(ctx, q.Contact); err != nil || g != nil {
		if err != nil {
			return nil, err
		}
		return n.groupInbox(ctx, q, g)
	}
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
			if unknownContact(err) {
				// The contact's row is damaged; its messages are not.
				c, err = contacts.Contact{ID: m.ContactID, Name: fmt.Sprintf("unreadable contact #%d", m.ContactID)}, nil
			}
			if err != nil {
				return nil, err
			}
			byID[m.ContactID] = c
		}
		out = append(out, n.apiMessage(m, c))
	}
	if one == nil {
		gms, err := n.groupInbox(ctx, q, nil)
		if err != nil {
			return nil, err
		}
		out = mergeInbox(out, gms, q.Limit)
	}
	return n.withConvo(ctx, out), nil
}

// MarkRead implements API.
func (n *Node) MarkRead(ctx context.Context, ref string) error {
	if g, err := n.groupRef(ctx, ref); err != nil || g != nil {
		if err != nil {
			return err
		}
		return n.groupMarkRead(ctx, *g)
	}
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
		if err == nil {
			_, err = tx.StartVanish(c.ID) // disappearing messages (convo.go)
		}
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
	n.conversationRead(p) // frees the contact's unread quota (guard.go)
	n.wakeVanish()
	if len(items) > 0 {
		n.startDelivery(p, c.ID)
	}
	return nil
}

// Typing implements API: sent only over a link that is already up, at most
// once per few seconds per contact, and never stored.
func (n *Node) Typing(ctx context.Context, ref string) error {
	if g, err := n.groupRef(ctx, ref); err != nil || g != nil {
		if err != nil {
			return err
		}
		return n.groupTyping(ctx, *g)
	}
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
