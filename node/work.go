package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// The requester's side of the request guard: every contact request leaves
// with a fresh proof of work (even one with an invite: if the invite is
// used up or expired, the request still counts as a stranger's instead of
// being refused forever).

// errGone: the outbox item was acknowledged while we worked on it.
var errGone = errors.New("outbox item acknowledged meanwhile")

// decodeRequest decodes a stored request frame.
func decodeRequest(frame []byte) (*wire.Request, error) {
	t, body, err := wire.ReadFrame(bytes.NewReader(frame))
	if err != nil {
		return nil, err
	}
	m, err := wire.Unmarshal(t, body)
	if err != nil {
		return nil, err
	}
	req, ok := m.(*wire.Request)
	if !ok {
		return nil, fmt.Errorf("outbox request holds a %s frame", t)
	}
	return req, nil
}

// freshRequest makes sure the request in it carries proof of work that
// stays valid long enough to arrive (made within the last half of
// wire.WorkMaxAge), solving anew if not and storing the restamped frame. It
// runs in the writer, before the frame goes out: the work is made when the
// request is sent, not when it was queued, possibly days ago. l closing
// stops the work.
func (n *Node) freshRequest(p *peer, l *wire.Link, contactID int64, it *storage.OutboxItem) error {
	req, err := decodeRequest(it.Frame)
	if err != nil {
		return err
	}
	now := time.Now()
	if w := req.Work; w != nil {
		if made := time.Unix(w.Time, 0); now.Sub(made) < wire.WorkMaxAge/2 && !made.After(now) {
			return nil
		}
	}
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	go func() {
		select {
		case <-l.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	w, err := wire.SolveWork(ctx, n.pub, p.pub, now, n.tune.workBits)
	if err != nil {
		return err
	}
	n.log.Debug("request stamped with proof of work", "peer", p.addr.Short(), "took", time.Since(start))
	req.Work = &w
	frame, err := wire.Marshal(req)
	if err != nil {
		return err
	}
	if err := n.db.ReplaceFrame(n.ctx, contactID, it.ID, frame); errors.Is(err, storage.ErrNotFound) {
		return errGone
	} else if err != nil {
		return err
	}
	it.Frame = frame
	return nil
}

// inviteRequest gives our pending request to c the invite token the user
// got from them: the queued request frames get it (a request refused by
// their flood limits must not stay ahead of it in the outbox), or a new
// request is queued if none is left. p is c's peer.
func (n *Node) inviteRequest(ctx context.Context, p *peer, c contacts.Contact, token []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	items, err := n.db.Outbox(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("node: add contact: invite: %w", err)
	}
	var queued []storage.OutboxItem
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		queued = nil
		replaced := false
		for _, it := range items {
			if it.Kind != storage.KindRequest {
				continue
			}
			req, err := decodeRequest(it.Frame)
			if err != nil {
				return err
			}
			req.Invite = token
			frame, err := wire.Marshal(req)
			if err != nil {
				return err
			}
			if err := tx.ReplaceFrame(c.ID, it.ID, frame); errors.Is(err, storage.ErrNotFound) {
				continue // acknowledged meanwhile
			} else if err != nil {
				return err
			}
			replaced = true
		}
		if replaced {
			return nil
		}
		it, err := n.queueRequest(tx, c.ID, c.Greeting, token)
		queued = append(queued, it)
		return err
	})
	if err != nil {
		return fmt.Errorf("node: add contact: invite: %w", err)
	}
	for _, it := range queued {
		p.enqueueLocked(it)
	}
	return nil
}
