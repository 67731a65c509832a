package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/groups"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// isGroupFrame reports whether m is one of the group frames (0x40–0x4f),
// which handleGroup takes whoever the peer is in the contact book.
func isGroupFrame(m wire.Msg) bool {
	switch m.(type) {
	case *wire.GroupRequest, *wire.GroupAccept, *wire.GroupMessage, *wire.GroupAck, *wire.GroupTyping:
		return true
	}
	return false
}

// handleGroup takes a group frame from p on l. Group frames need no
// contact: a member's link may be a stranger's to the book. What each may
// carry is checked against the group's log. An error ends the link.
func (n *Node) handleGroup(p *peer, l *wire.Link, c contacts.Contact, known bool, m wire.Msg) error {
	switch m := m.(type) {
	case *wire.GroupAck:
		return n.onGroupAck(p, m.ID)
	case *wire.GroupTyping:
		return n.onGroupTyping(p, m)
	case *wire.GroupRequest:
		return n.onGroupRequest(p, l, c, known, m)
	case *wire.GroupAccept:
		return n.onGroupAccept(p, l, m)
	case *wire.GroupMessage:
		return n.onGroupMessage(p, l, m)
	}
	return errDrop
}

func groupAck(l *wire.Link, id wire.ID) error { return l.Post(&wire.GroupAck{ID: id}) }

// verdict is what to do with a session request.
type verdict int

const (
	reqAccept  verdict = iota // make the session
	reqAckOnly                // acknowledge, change nothing
	reqHold                   // hold it unacknowledged until what lets it in arrives
	reqLater                  // leave it unacknowledged: it comes again later
	reqDrop                   // not anyone's business here: end the link
)

// judgeRequestLocked decides on a session request from p. n.grp.mu is held.
func (n *Node) judgeRequestLocked(ctx context.Context, p *peer, m *wire.GroupRequest) (verdict, storage.Group, storage.GroupPeer, error) {
	g, err := n.db.GroupByGID(ctx, m.Group)
	if errors.Is(err, storage.ErrNotFound) {
		// Only a contact's invitation makes a group known, and it may be
		// a moment behind their request.
		if c, err := n.book.Lookup(ctx, p.addr); err == nil && !c.Removed && c.State == contacts.Accepted {
			return reqHold, g, storage.GroupPeer{}, nil
		}
		return reqDrop, g, storage.GroupPeer{}, nil
	}
	if err != nil {
		return 0, g, storage.GroupPeer{}, err
	}
	x := groups.KeyOf(p.pub)
	switch g.Status {
	case storage.GroupRemoved, storage.GroupLeft:
		return reqAckOnly, g, storage.GroupPeer{}, nil
	case storage.GroupInvited:
		if onion.Address(g.Inviter) != p.addr {
			return reqHold, g, storage.GroupPeer{}, nil
		}
	default:
		l, err := n.logLocked(ctx, g)
		if err != nil {
			return 0, g, storage.GroupPeer{}, err
		}
		s := l.State()
		if !s.IsMember(x) {
			if _, gone := s.Gone[x]; gone {
				return reqAckOnly, g, storage.GroupPeer{}, nil
			}
			return reqHold, g, storage.GroupPeer{}, nil // their invitation is on its way to us
		}
	}
	row, err := n.db.GroupPeer(ctx, g.ID, string(p.addr))
	if errors.Is(err, storage.ErrNotFound) {
		return reqAccept, g, storage.GroupPeer{GroupID: g.ID, Address: string(p.addr)}, nil
	}
	if err != nil {
		return 0, g, row, err
	}
	switch {
	case row.AcceptedID != nil && *row.AcceptedID == storage.MessageID(m.ID):
		return reqAckOnly, g, row, nil // a resend: our acceptance is queued
	case row.RequestID != nil:
		// Both asked at once: the smaller address accepts, as with contacts.
		if n.addr < p.addr {
			return reqAccept, g, row, nil
		}
		return reqAckOnly, g, row, nil
	case row.Session != nil:
		// They lost their session (or never got our acceptance and made a
		// new request): a new one, at most one a minute.
		key := pendingKey{groups.ID(g.GID), p.addr}
		if last := n.grp.resets[key]; !last.IsZero() && time.Since(last) < n.tune.resetEvery {
			return reqLater, g, row, nil
		}
		n.grp.resets[key] = time.Now()
	}
	return reqAccept, g, row, nil
}

// acceptRequestTx makes the session a request asks for and queues our
// acceptance. n.grp.mu is held.
func (n *Node) acceptRequestTx(tx *storage.Tx, k *groupKicks, p *peer, g storage.Group, row storage.GroupPeer, m *wire.GroupRequest) error {
	b, err := ratchet.ParseBundle(m.Bundle, p.pub)
	if err != nil {
		return fmt.Errorf("group request: %w", err)
	}
	now := time.Now()
	st, hs, err := ratchet.Accept(n.identity().rid, b, now)
	if err != nil {
		return fmt.Errorf("group request: %w", err)
	}
	stBytes, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	id := wire.NewID()
	frame, err := wire.Marshal(&wire.GroupAccept{ID: id, Group: m.Group, Handshake: hs, Name: n.displayName()})
	if err != nil {
		return err
	}
	if _, err := tx.DropGroupOutbox(g.ID, row.Address, storage.GroupKindRequest, storage.GroupKindAccept); err != nil {
		return err
	}
	acc := storage.MessageID(m.ID)
	row.Session, row.AcceptedID, row.RequestID, row.Name = stBytes, &acc, nil, m.Name
	if err := tx.PutGroupPeer(row); err != nil {
		return err
	}
	if err := k.queueTx(tx, storage.GroupOutboxItem{ID: storage.MessageID(id), GroupID: g.ID, Address: row.Address, Kind: storage.GroupKindAccept, Data: frame}); err != nil {
		return err
	}
	k.reset[p.addr] = true
	return nil
}

// takeRequestLocked judges a request and acts on it; it reports whether
// it is to be acknowledged (false: held or left for later). n.grp.mu held.
func (n *Node) takeRequestLocked(ctx context.Context, k *groupKicks, p *peer, l *wire.Link, m *wire.GroupRequest) (ack bool, err error) {
	v, g, row, err := n.judgeRequestLocked(ctx, p, m)
	if err != nil {
		return false, err
	}
	switch v {
	case reqDrop:
		return false, fmt.Errorf("group request for an unknown group: %w", errDrop)
	case reqHold:
		n.holdLocked(p, l, m)
		return false, nil
	case reqLater:
		return false, nil
	case reqAckOnly:
		return true, nil
	}
	err = n.db.Update(ctx, func(tx *storage.Tx) error { return n.acceptRequestTx(tx, k, p, g, row, m) })
	return err == nil, err
}

func (n *Node) onGroupRequest(p *peer, l *wire.Link, c contacts.Contact, known bool, m *wire.GroupRequest) error {
	k := newKicks()
	n.grp.mu.Lock()
	ok, err := n.takeRequestLocked(n.ctx, k, p, l, m)
	n.grp.mu.Unlock()
	if err != nil {
		return err
	}
	n.flush(n.ctx, k)
	if ok {
		return groupAck(l, m.ID)
	}
	return nil
}

// holdLocked keeps a request until what lets it in arrives (bounded: the
// oldest goes first). n.grp.mu is held.
func (n *Node) holdLocked(p *peer, l *wire.Link, m *wire.GroupRequest) {
	key := pendingKey{groups.ID(m.Group), p.addr}
	n.grp.pending[key] = &pendingRequest{p: p, l: l, m: m, at: time.Now()}
	perPeer, oldest, oldestPeer := 0, pendingKey{}, pendingKey{}
	var oldestAt, oldestPeerAt time.Time
	for k, r := range n.grp.pending {
		if oldestAt.IsZero() || r.at.Before(oldestAt) {
			oldest, oldestAt = k, r.at
		}
		if k.addr == p.addr {
			perPeer++
			if oldestPeerAt.IsZero() || r.at.Before(oldestPeerAt) {
				oldestPeer, oldestPeerAt = k, r.at
			}
		}
	}
	switch {
	case perPeer > maxPendingPerPeer:
		delete(n.grp.pending, oldestPeer)
	case len(n.grp.pending) > maxPending:
		delete(n.grp.pending, oldest)
	}
}

// retryPendingLocked takes the held requests of a group again (after an
// invitation or a change): those now let in are answered on their link if
// it is still up (otherwise the peer sends them again). n.grp.mu is held.
func (n *Node) retryPendingLocked(ctx context.Context, k *groupKicks, gid groups.ID) {
	var take []pendingKey
	for key, r := range n.grp.pending {
		if key.gid == gid || time.Since(r.at) >= 10*time.Minute {
			take = append(take, key)
		}
	}
	for _, key := range take {
		r := n.grp.pending[key]
		delete(n.grp.pending, key)
		if key.gid != gid || !n.isCurrent(r.p, r.l) {
			continue
		}
		ok, err := n.takeRequestLocked(ctx, k, r.p, r.l, r.m)
		if err != nil {
			n.log.Debug("held group request", "peer", key.addr.Short(), "err", err)
			continue
		}
		if ok {
			groupAck(r.l, r.m.ID)
		}
	}
}

func (n *Node) onGroupAccept(p *peer, l *wire.Link, m *wire.GroupAccept) error {
	ctx := n.ctx
	k := newKicks()
	n.grp.mu.Lock()
	err := func() error {
		g, err := n.db.GroupByGID(ctx, m.Group)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("group acceptance for an unknown group: %w", errDrop)
		}
		if err != nil {
			return err
		}
		row, err := n.db.GroupPeer(ctx, g.ID, string(p.addr))
		if errors.Is(err, storage.ErrNotFound) || (err == nil && row.RequestID == nil) {
			return nil // stale: we asked nothing (or crossed, and accepted theirs)
		}
		if err != nil {
			return err
		}
		st, err := ratchet.Complete(n.identity().rid, l.Peer(), m.Handshake, time.Now())
		if err != nil {
			n.log.Warn("invalid group acceptance", "peer", p.addr.Short(), "err", err)
			return nil // it never will verify
		}
		stBytes, err := st.MarshalBinary()
		if err != nil {
			return err
		}
		return n.db.Update(ctx, func(tx *storage.Tx) error {
			row.Session, row.RequestID, row.Name = stBytes, nil, m.Name
			if err := tx.PutGroupPeer(row); err != nil {
				return err
			}
			_, err := tx.DropGroupOutbox(g.ID, row.Address, storage.GroupKindRequest)
			k.reset[p.addr] = true
			k.changed[g.ID] = true
			return err
		})
	}()
	n.grp.mu.Unlock()
	if err != nil {
		return err
	}
	n.flush(ctx, k)
	return groupAck(l, m.ID)
}

// groupInviteAckedTx takes a contact's Ack of an invitation we sent inside
// the 1:1 session (a group outbox item); other unknown acks are ignored.
// It runs in the transaction of the batch the Ack came in (receive.go).
func groupInviteAckedTx(tx *storage.Tx, p *peer, id wire.ID) error {
	it, err := tx.GroupOutboxByID(string(p.addr), storage.MessageID(id))
	if err != nil || it.Kind != storage.GroupKindInvite {
		return nil
	}
	_, err = tx.DeleteGroupOutbox([]int64{it.Seq})
	return err
}

func (n *Node) onGroupAck(p *peer, id wire.ID) error {
	n.grp.wmu.Lock()
	var seqs []int64
	tracked := false
	if w := n.grp.writers[p]; w != nil {
		seqs, tracked = w.inflight[id]
		delete(w.inflight, id)
		for _, s := range seqs {
			delete(w.sent, s)
		}
	}
	n.grp.wmu.Unlock()
	k := newKicks()
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		if !tracked {
			// A request or acceptance, by its frame id.
			it, err := tx.GroupOutboxByID(string(p.addr), storage.MessageID(id))
			if err != nil {
				return nil
			}
			seqs = []int64{it.Seq}
		}
		gone, err := tx.DeleteGroupOutbox(seqs)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, it := range gone {
			if it.Kind != storage.GroupKindMessage {
				continue
			}
			m, err := tx.GroupMessageBySeq(it.MessageSeq)
			if err != nil || m.Direction != storage.Outgoing {
				continue
			}
			if ch, err := tx.MarkGroupDelivered(it.MessageSeq, string(p.addr), false, now); err != nil {
				return err
			} else if ch {
				k.states = append(k.states, it.MessageSeq)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	n.flush(n.ctx, k)
	return nil
}

func (n *Node) onGroupTyping(p *peer, m *wire.GroupTyping) error {
	g, err := n.db.GroupByGID(n.ctx, m.Group)
	if err != nil || g.Status != storage.GroupActive {
		return nil // typing is never worth a link
	}
	s, err := n.groupState(n.ctx, g)
	if err != nil || !s.IsMember(groups.KeyOf(p.pub)) {
		return nil
	}
	key := pendingKey{groups.ID(m.Group), p.addr}
	now := time.Now()
	n.grp.tmu.Lock()
	ok := now.Sub(n.grp.typingIn[key]) >= time.Second
	if ok {
		n.grp.typingIn[key] = now
	}
	n.grp.tmu.Unlock()
	if ok {
		n.events.publish(TypingEvent{Address: string(p.addr), Group: groups.ID(m.Group).String()})
	}
	return nil
}

// errDefer: a frame that cannot be taken yet (its authors' membership has
// not reached us): nothing of it is stored and it is not acknowledged; the
// peer sends it again.
var errDefer = errors.New("group frame deferred")

func (n *Node) onGroupMessage(p *peer, l *wire.Link, m *wire.GroupMessage) error {
	ctx := n.ctx
	k := newKicks()
	ack, err := n.groupMessageLocked(ctx, k, p, l, m)
	if err != nil {
		return err
	}
	n.flush(ctx, k)
	if ack {
		return groupAck(l, m.ID)
	}
	return nil
}

func (n *Node) groupMessageLocked(ctx context.Context, k *groupKicks, p *peer, l *wire.Link, m *wire.GroupMessage) (ack bool, err error) {
	n.grp.mu.Lock()
	defer n.grp.mu.Unlock()
	g, err := n.db.GroupByGID(ctx, m.Group)
	if errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("group message for an unknown group: %w", errDrop)
	}
	if err != nil {
		return false, err
	}
	row, err := n.db.GroupPeer(ctx, g.ID, string(p.addr))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, err
	}
	if row.Session == nil {
		// They have a session we do not (ours was lost): ask for a new one.
		// The frame waits in their outbox and goes out under it.
		n.resessionLocked(ctx, k, g, p)
		return false, nil
	}
	st, err := ratchet.UnmarshalState(row.Session)
	if err != nil {
		return false, err
	}
	if !ratchetPeerIs(st, p) {
		n.log.Warn("group session with another key: not used", "peer", p.addr.Short())
		return false, nil
	}
	next, pl, err := groups.Open(st, groups.ID(m.Group), m.ID, m.Ciphertext, time.Now())
	if errors.Is(err, groups.ErrDecrypt) {
		// Not acknowledged: it stays in their outbox. A new session (at
		// most one a minute) re-seals whatever is still there.
		n.log.Warn("undecryptable group message", "peer", p.addr.Short())
		n.resessionLocked(ctx, k, g, p)
		return false, nil
	}
	nextBytes, merr := next.MarshalBinary()
	if merr != nil {
		return false, merr
	}
	if err != nil {
		// Theirs, but not a payload we can read: keep the step, drop it.
		n.log.Debug("malformed group payload", "peer", p.addr.Short(), "err", err)
		return true, n.db.Update(ctx, func(tx *storage.Tx) error { return tx.PutGroupSession(g.ID, row.Address, nextBytes, time.Now()) })
	}
	lg, err := n.logLocked(ctx, g)
	if err != nil {
		return false, err
	}
	changed := false
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		g, err := tx.Group(g.ID)
		if err != nil {
			return err
		}
		if err := tx.PutGroupSession(g.ID, row.Address, nextBytes, time.Now()); err != nil {
			return err
		}
		if len(pl.Ops) > 0 {
			if changed, err = n.mergeOpsTx(tx, g, lg, pl.Ops); err != nil {
				return err
			}
			if changed {
				k.changed[g.ID] = true
				if err := n.reconcileTx(tx, k, &g, lg); err != nil {
					return err
				}
			}
		}
		if len(pl.Messages) > 0 {
			if err := n.storeEnvelopesTx(tx, k, &g, lg.State(), p, pl.Messages); err != nil {
				return err
			}
		}
		if pl.Sync != nil {
			if err := n.onSyncTx(ctx, tx, k, g, lg, p, pl.Sync); err != nil {
				return err
			}
		}
		if pl.Receipt != nil {
			if err := n.onReceiptTx(tx, k, g, p, pl.Receipt); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errDefer) {
		n.forgetLogLocked(lg.ID())
		return false, nil
	}
	if err != nil {
		n.forgetLogLocked(lg.ID())
		return false, err
	}
	if changed {
		n.afterChangeLocked(ctx, k, lg.ID())
	}
	return true, nil
}

func ratchetPeerIs(st *ratchet.State, p *peer) bool {
	return string(st.PeerOnionKey()) == string(p.pub)
}

// resessionLocked asks a member for a new session when ours is missing or
// does not open their frames, unless we asked already (or lately).
// n.grp.mu is held.
func (n *Node) resessionLocked(ctx context.Context, k *groupKicks, g storage.Group, p *peer) {
	if g.Status != storage.GroupActive {
		return
	}
	lg, err := n.logLocked(ctx, g)
	if err != nil || !lg.State().IsMember(groups.KeyOf(p.pub)) {
		return
	}
	key := pendingKey{groups.ID(g.GID), p.addr}
	if last := n.grp.resets[key]; !last.IsZero() && time.Since(last) < n.tune.resetEvery {
		return
	}
	n.grp.resets[key] = time.Now()
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		row, err := tx.GroupPeer(g.ID, string(p.addr))
		if errors.Is(err, storage.ErrNotFound) {
			row = storage.GroupPeer{GroupID: g.ID, Address: string(p.addr)}
		} else if err != nil {
			return err
		}
		if row.RequestID != nil {
			return nil
		}
		if err := n.queueRequestTx(tx, k, g, &row); err != nil {
			return err
		}
		return tx.PutGroupPeer(row)
	})
	if err != nil {
		n.log.Warn("asking for a new group session", "err", err)
	}
}

// storeEnvelopesTx stores the messages of a payload from p: each must be
// its author's (signature), of a member of the group (the log), within the
// author's quota, and new. A message whose author our log does not know
// yet defers the whole frame. g's clock is updated. n.grp.mu is held.
func (n *Node) storeEnvelopesTx(tx *storage.Tx, k *groupKicks, g *storage.Group, s *groups.State, p *peer, raw [][]byte) error {
	self := n.selfKey()
	x := groups.KeyOf(p.pub)
	now := time.Now()
	lamport := g.Lamport
	for _, b := range raw {
		e, err := groups.ParseEnvelope(b, groups.ID(g.GID))
		if err != nil {
			n.log.Debug("group message skipped", "peer", p.addr.Short(), "err", err)
			continue
		}
		if e.Author == self || e.Text == "" {
			continue
		}
		switch {
		case g.Status == storage.GroupInvited:
			return errDefer // the log that says who writes here is on its way
		case g.Status != storage.GroupActive:
			continue // we are out: nothing more is ours to read
		case !s.IsMember(e.Author):
			if _, gone := s.Gone[e.Author]; gone {
				continue // written by someone removed (or gone) before it reached us
			}
			return errDefer // their invitation is on its way to us
		}
		author := string(addrOf(e.Author))
		if cnt, size, err := tx.GroupUnreadFrom(g.ID, author); err != nil {
			return err
		} else if cnt >= groupUnreadQuota || size >= groupUnreadBytesQuota {
			if e.Author == x {
				return errDefer // the author waits until we read, as a contact does
			}
			continue // a forwarded copy: the author's own comes later
		}
		m := storage.GroupMessage{
			GroupID: g.ID, ID: storage.MessageID(e.ID), Author: author, AuthorSeq: e.Seq, Lamport: e.Lamport, Epoch: e.Epoch,
			Direction: storage.Incoming, Envelope: b, Body: e.Text, Created: e.Time, Received: now,
		}
		if e.Author != x {
			m.Via = string(p.addr)
		}
		stored, err := tx.InsertGroupMessage(m)
		if errors.Is(err, storage.ErrDuplicate) {
			continue
		}
		if err != nil {
			return err
		}
		lamport = max(lamport, e.Lamport)
		k.msgs = append(k.msgs, groupMsgEvent{g: *g, m: stored})
	}
	if lamport != g.Lamport {
		g.Lamport = lamport
		return tx.UpdateGroup(*g)
	}
	return nil
}

// onSyncTx answers a member's Sync: our log if theirs differs; what they
// hold, forgotten from what we were to send them (ours counted delivered);
// what they lack and may read, forwarded. n.grp.mu is held.
func (n *Node) onSyncTx(ctx context.Context, tx *storage.Tx, k *groupKicks, g storage.Group, lg *groups.Log, p *peer, sy *groups.Sync) error {
	addr := string(p.addr)
	if lg.Len() > 0 && (sy.OpCount != lg.Len() || sy.OpDigest != lg.Digest()) {
		if err := k.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: addr, Kind: storage.GroupKindOps}); err != nil {
			return err
		}
	}
	s := lg.State()
	x := groups.KeyOf(p.pub)
	xm, member := s.Member(x)
	if g.Status != storage.GroupActive || !member {
		return nil
	}
	self := n.selfKey()
	held := map[string]groups.Have{}
	now := time.Now()
	for _, h := range sy.Have {
		if h.Last == 0 || h.First == 0 || h.First > h.Last {
			continue
		}
		a := string(addrOf(h.Author))
		held[a] = h
		if h.Author == self {
			seqs, err := tx.OurGroupMessagesIn(g.ID, h.First, h.Last)
			if err != nil {
				return err
			}
			for _, seq := range seqs {
				if ch, err := tx.MarkGroupDelivered(seq, addr, false, now); err != nil {
					return err
				} else if ch {
					k.states = append(k.states, seq)
				}
			}
		}
		if _, err := tx.DropGroupMessagesHeld(g.ID, addr, a, h.First, h.Last); err != nil {
			return err
		}
	}
	authors, err := n.db.GroupAuthors(ctx, g.ID)
	if err != nil {
		return err
	}
	budget := forwardPerSync
	for _, a := range authors {
		if a == addr || budget <= 0 {
			continue
		}
		h := held[a]
		ms, err := n.db.GroupMessagesFrom(ctx, g.ID, a, h.Last, 0, budget)
		if err != nil {
			return err
		}
		if h.First > 1 {
			early, err := n.db.GroupMessagesFrom(ctx, g.ID, a, 0, h.First, budget)
			if err != nil {
				return err
			}
			ms = append(early, ms...)
		}
		for _, m := range ms {
			if m.Epoch < xm.Since || budget <= 0 {
				continue // sent before they joined: not theirs to read
			}
			if err := k.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: addr, Kind: storage.GroupKindMessage, MessageSeq: m.Seq}); err != nil {
				return err
			}
			budget--
		}
	}
	return nil
}

// onReceiptTx records a member's receipt for our messages.
func (n *Node) onReceiptTx(tx *storage.Tx, k *groupKicks, g storage.Group, p *peer, r *groups.Receipt) error {
	ids := make([]storage.MessageID, len(r.IDs))
	for i, id := range r.IDs {
		ids[i] = storage.MessageID(id)
	}
	seqs, err := tx.GroupMessageSeqs(g.ID, ids, true)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, seq := range seqs {
		if ch, err := tx.MarkGroupDelivered(seq, string(p.addr), r.Read, now); err != nil {
			return err
		} else if ch {
			k.states = append(k.states, seq)
		}
	}
	return nil
}

// groupWriter is the group writer of one link: it sends the peer's group
// outbox, sealing payloads as they leave.
type groupWriter struct {
	l    *wire.Link
	wake chan struct{}
	// guarded by n.grp.wmu
	reset    bool                // start over from the first item, and send syncs
	inflight map[wire.ID][]int64 // frame id → the items it carries
	sent     map[int64]bool      // items written on this link, not yet acknowledged
}

// startGroupWriterLocked starts l's group writer. n.mu is held.
func (n *Node) startGroupWriterLocked(p *peer, l *wire.Link) {
	w := &groupWriter{l: l, wake: make(chan struct{}, 1), reset: true, inflight: map[wire.ID][]int64{}, sent: map[int64]bool{}}
	n.spawnLocked(func() { n.groupWriteLoop(p, w) })
}

// kickGroup wakes the group writer of the member's link (reset: start over,
// a session became usable), or dials them.
func (n *Node) kickGroup(addr onion.Address, reset bool) {
	if addr == n.addr {
		return
	}
	p := n.peer(addr)
	n.grp.wmu.Lock()
	w := n.grp.writers[p]
	if w != nil {
		if reset {
			w.reset = true
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	n.grp.wmu.Unlock()
	if w == nil || n.currentLink(p) != w.l {
		n.startDelivery(p, n.contactID(addr))
	}
}

// contactID is the id of addr's contact, or 0.
func (n *Node) contactID(addr onion.Address) int64 {
	if c, err := n.book.Lookup(n.ctx, addr); err == nil && !c.Removed {
		return c.ID
	}
	return 0
}

// hasGroupWork reports whether p has items in a group outbox.
func (n *Node) hasGroupWork(p *peer) bool {
	ok, err := n.db.HasGroupOutbox(n.ctx, string(p.addr))
	return err == nil && ok
}

// dialGroupPending dials every member with something in a group outbox.
func (n *Node) dialGroupPending() {
	addrs, err := n.db.GroupOutboxPeers(n.ctx)
	if err != nil {
		n.log.Warn("listing group work", "err", err)
		return
	}
	for _, a := range addrs {
		n.startDelivery(n.peer(onion.Address(a)), n.contactID(onion.Address(a)))
	}
}

// announceGroups dials, up to twice even with nothing to send, every
// member we share a session with, so that what they hold for us (theirs
// and others' messages) comes from whoever answers first.
func (n *Node) announceGroups(since time.Time) {
	peers, err := n.db.GroupPeers(n.ctx, 0)
	if err != nil {
		return
	}
	seen := map[onion.Address]bool{}
	for _, r := range peers {
		a := onion.Address(r.Address)
		if r.Session == nil || seen[a] || !n.isGroupPeer(a) {
			continue
		}
		seen[a] = true
		p := n.peer(a)
		n.mu.Lock()
		if p.link != nil && !p.linkUp.Before(since) {
			n.mu.Unlock()
			continue
		}
		p.reconnect = max(p.reconnect, 2)
		n.mu.Unlock()
		n.startDelivery(p, n.contactID(a))
	}
}

// groupLinkUp and groupLinkDown report a member's presence when they are
// not a contact (contacts' is reported already), and keep their group
// outbox moving.
func (n *Node) groupLinkUp(addr onion.Address) {
	n.events.publish(PresenceEvent{Address: string(addr), Presence: Online, LastSeen: time.Now()})
}

func (n *Node) groupLinkDown(p *peer) {
	c, err := n.book.Lookup(n.ctx, p.addr)
	contact := err == nil && !c.Removed
	if !contact && n.isGroupPeer(p.addr) {
		n.events.publish(PresenceEvent{Address: string(p.addr), Presence: Offline, LastSeen: time.Now()})
	}
	if !contact && n.hasGroupWork(p) {
		n.startDelivery(p, 0)
	}
}

var errNoSession = errors.New("no group session yet")

func (n *Node) groupWriteLoop(p *peer, w *groupWriter) {
	l := w.l
	n.grp.wmu.Lock()
	n.grp.writers[p] = w
	n.grp.wmu.Unlock()
	defer func() {
		n.grp.wmu.Lock()
		if n.grp.writers[p] == w {
			delete(n.grp.writers, p)
		}
		n.grp.wmu.Unlock()
	}()
	var cursor int64
	for {
		n.grp.wmu.Lock()
		reset := w.reset
		w.reset = false
		n.grp.wmu.Unlock()
		if reset {
			cursor = 0
			if err := n.sendSyncs(p, w); err != nil {
				return
			}
		}
		items, err := n.db.GroupOutbox(n.ctx, string(p.addr), cursor, 64)
		if err != nil {
			return
		}
		if len(items) == 0 {
			select {
			case <-w.wake:
				continue
			case <-l.Done():
				return
			case <-n.ctx.Done():
				return
			}
		}
		blocked := map[int64]bool{}
		for i := 0; i < len(items); {
			it := items[i]
			n.grp.wmu.Lock()
			inFlight := w.sent[it.Seq]
			n.grp.wmu.Unlock()
			if inFlight || blocked[it.GroupID] && payloadKind(it.Kind) {
				cursor = it.Seq
				i++
				continue
			}
			var used int
			var err error
			switch it.Kind {
			case storage.GroupKindRequest, storage.GroupKindAccept:
				used, err = 1, n.sendGroupFrame(w, it)
			case storage.GroupKindInvite:
				used, err = 1, n.sendInvite(p, w, it)
			default:
				used, err = n.sealAndSend(p, w, items[i:])
				if errors.Is(err, errNoSession) {
					blocked[it.GroupID], used, err = true, 1, nil
				}
			}
			if err != nil {
				if l.Err() == nil && n.ctx.Err() == nil {
					n.log.Debug("group writer", "peer", p.addr.Short(), "err", err)
				}
				return
			}
			cursor = items[i+used-1].Seq
			i += used
		}
	}
}

func payloadKind(k storage.GroupOutboxKind) bool {
	return k == storage.GroupKindMessage || k == storage.GroupKindOps || k == storage.GroupKindReceipt
}

// track records a frame in flight before it is written (its ack may come
// back at once).
func (n *Node) track(w *groupWriter, id wire.ID, seqs []int64) {
	n.grp.wmu.Lock()
	w.inflight[id] = seqs
	for _, s := range seqs {
		w.sent[s] = true
	}
	n.grp.wmu.Unlock()
}

func (n *Node) sendGroupFrame(w *groupWriter, it storage.GroupOutboxItem) error {
	n.track(w, wire.ID(it.ID), []int64{it.Seq})
	if err := w.l.SendFrame(it.Data); err != nil {
		return err
	}
	return n.db.Update(n.ctx, func(tx *storage.Tx) error {
		_, err := tx.MarkGroupSent([]int64{it.Seq}, time.Now())
		return err
	})
}

// sendInvite seals a group invitation under our 1:1 session with the
// contact and sends it as a Message; their Ack (groupInviteAcked) removes
// it. A contact without a usable session (a reset under way) waits.
func (n *Node) sendInvite(p *peer, w *groupWriter, it storage.GroupOutboxItem) error {
	ctx := n.ctx
	c, err := n.book.Lookup(ctx, p.addr)
	if err != nil || c.Removed || c.State != contacts.Accepted {
		// No longer a contact: the invitation cannot go; the group's
		// members still list them, and an admin may remove them.
		return n.db.Update(ctx, func(tx *storage.Tx) error { _, err := tx.DeleteGroupOutbox([]int64{it.Seq}); return err })
	}
	g, err := n.db.Group(ctx, it.GroupID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	st, err := n.loadSession(ctx, c, p.pub)
	if err != nil {
		p.mu.Unlock()
		return nil // no session now: it waits for the next link
	}
	now := time.Now()
	var frame []byte
	err = func() error {
		pt, err := wire.MarshalContent(groupInviteContent(g, now))
		if err != nil {
			return err
		}
		next, ct, err := st.Encrypt(pt, it.ID[:], now)
		if err != nil {
			return err
		}
		nb, err := next.MarshalBinary()
		if err != nil {
			return err
		}
		if frame, err = wire.Marshal(&wire.Message{ID: wire.ID(it.ID), Ciphertext: ct}); err != nil {
			return err
		}
		return n.db.Update(ctx, func(tx *storage.Tx) error {
			if err := tx.PutSession(c.ID, nb, now); err != nil {
				return err
			}
			_, err := tx.MarkGroupSent([]int64{it.Seq}, now)
			return err
		})
	}()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	n.track(w, wire.ID(it.ID), []int64{it.Seq})
	return w.l.SendFrame(frame)
}

// payloadBudget keeps a payload's envelopes within MaxPayload with room
// for CBOR and padding.
const payloadBudget = groups.MaxPayload - 4<<10

// sealAndSend seals the payload items at the head of items (consecutive
// messages of one group, or one log or receipt item) under the group
// session with p, stores the session's step, and sends the frames. It
// returns how many items it used; errNoSession if there is no session yet.
func (n *Node) sealAndSend(p *peer, w *groupWriter, items []storage.GroupOutboxItem) (int, error) {
	ctx := n.ctx
	type frame struct {
		id   wire.ID
		seqs []int64
		b    []byte
	}
	var frames []frame
	var first []int64
	used := 1
	err := func() error {
		n.grp.mu.Lock()
		defer n.grp.mu.Unlock()
		it := items[0]
		g, err := n.db.Group(ctx, it.GroupID)
		if err != nil {
			return err
		}
		row, err := n.db.GroupPeer(ctx, g.ID, string(p.addr))
		if errors.Is(err, storage.ErrNotFound) || (err == nil && row.Session == nil) {
			return errNoSession
		}
		if err != nil {
			return err
		}
		st, err := ratchet.UnmarshalState(row.Session)
		if err != nil {
			return err
		}
		lg, err := n.logLocked(ctx, g)
		if err != nil {
			return err
		}
		s := lg.State()
		var payloads []groups.Payload
		var seqs [][]int64
		switch it.Kind {
		case storage.GroupKindMessage:
			// Only for a member, from a member: a removed member's node
			// gets no ciphertext made after we knew.
			if g.Status != storage.GroupActive || !s.IsMember(groups.KeyOf(p.pub)) {
				var drop []int64
				for _, x := range items {
					if x.GroupID != it.GroupID || x.Kind != storage.GroupKindMessage {
						break
					}
					drop = append(drop, x.Seq)
				}
				used = len(drop)
				return n.db.Update(ctx, func(tx *storage.Tx) error { _, err := tx.DeleteGroupOutbox(drop); return err })
			}
			var pl groups.Payload
			var ss []int64
			size := 0
			used = 0
			for _, x := range items {
				if x.GroupID != it.GroupID || x.Kind != storage.GroupKindMessage || len(pl.Messages) == groups.MaxMessagesPerPayload {
					break
				}
				m, err := n.db.GroupMessageBySeq(ctx, x.MessageSeq)
				if err != nil {
					return err
				}
				if len(pl.Messages) > 0 && size+len(m.Envelope) > payloadBudget {
					break
				}
				pl.Messages = append(pl.Messages, m.Envelope)
				ss = append(ss, x.Seq)
				size += len(m.Envelope)
				used++
			}
			payloads, seqs = []groups.Payload{pl}, [][]int64{ss}
		case storage.GroupKindOps:
			var pl groups.Payload
			size := 0
			for _, o := range lg.Ops() {
				if len(pl.Ops) == groups.MaxOpsPerPayload || size+len(o.Bytes()) > payloadBudget {
					payloads, seqs = append(payloads, pl), append(seqs, []int64{it.Seq})
					pl, size = groups.Payload{}, 0
				}
				pl.Ops = append(pl.Ops, o.Bytes())
				size += len(o.Bytes())
			}
			if len(pl.Ops) > 0 {
				payloads, seqs = append(payloads, pl), append(seqs, []int64{it.Seq})
			}
		case storage.GroupKindReceipt:
			pl, err := groups.UnmarshalPayload(it.Data)
			if err != nil {
				return err
			}
			payloads, seqs = []groups.Payload{pl}, [][]int64{{it.Seq}}
		}
		if len(payloads) == 0 {
			return n.db.Update(ctx, func(tx *storage.Tx) error { _, err := tx.DeleteGroupOutbox([]int64{it.Seq}); return err })
		}
		now := time.Now()
		var all []int64
		for i, pl := range payloads {
			id := wire.NewID()
			next, ct, err := groups.Seal(st, groups.ID(g.GID), id, pl, now)
			if err != nil {
				return err
			}
			st = next
			b, err := wire.Marshal(&wire.GroupMessage{ID: id, Group: wire.ID(g.GID), Ciphertext: ct})
			if err != nil {
				return err
			}
			frames = append(frames, frame{id, seqs[i], b})
			all = append(all, seqs[i]...)
		}
		stBytes, err := st.MarshalBinary()
		if err != nil {
			return err
		}
		// The step is stored before anything leaves: a crash after it only
		// skips a message key, never reuses one.
		return n.db.Update(ctx, func(tx *storage.Tx) error {
			if err := tx.PutGroupSession(g.ID, row.Address, stBytes, now); err != nil {
				return err
			}
			first, err = tx.MarkGroupSent(all, now)
			return err
		})
	}()
	if err != nil {
		return used, err
	}
	for _, f := range frames {
		n.track(w, f.id, f.seqs)
		if err := w.l.SendFrame(f.b); err != nil {
			return used, err
		}
		n.countGroupBytes(len(f.b))
	}
	for _, seq := range first {
		n.publishReceipt(ctx, seq)
	}
	return used, nil
}

// sendSyncs tells the peer, for every group we share a session with,
// what we hold: they answer with what we lack.
func (n *Node) sendSyncs(p *peer, w *groupWriter) error {
	ctx := n.ctx
	gs, err := n.db.Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.Status != storage.GroupActive && g.Status != storage.GroupInvited {
			continue
		}
		var b []byte
		var id wire.ID
		err := func() error {
			n.grp.mu.Lock()
			defer n.grp.mu.Unlock()
			row, err := n.db.GroupPeer(ctx, g.ID, string(p.addr))
			if err != nil || row.Session == nil {
				return nil
			}
			lg, err := n.logLocked(ctx, g)
			if err != nil {
				return err
			}
			s := lg.State()
			if g.Status == storage.GroupActive && !s.IsMember(groups.KeyOf(p.pub)) {
				return nil
			}
			sy := &groups.Sync{OpCount: lg.Len(), OpDigest: lg.Digest()}
			if g.NextSeq > 1 {
				sy.Have = append(sy.Have, groups.Have{Author: n.selfKey(), First: 1, Last: g.NextSeq - 1})
			}
			peers, err := n.db.GroupPeers(ctx, g.ID)
			if err != nil {
				return err
			}
			for _, r := range peers {
				if r.Have == 0 || len(sy.Have) >= 256 {
					continue
				}
				k, err := keyOf(onion.Address(r.Address))
				if err != nil {
					continue
				}
				sy.Have = append(sy.Have, groups.Have{Author: k, First: r.First, Last: r.Have})
			}
			st, err := ratchet.UnmarshalState(row.Session)
			if err != nil {
				return err
			}
			id = wire.NewID()
			now := time.Now()
			next, ct, err := groups.Seal(st, groups.ID(g.GID), id, groups.Payload{Sync: sy}, now)
			if err != nil {
				return err
			}
			nb, err := next.MarshalBinary()
			if err != nil {
				return err
			}
			if b, err = wire.Marshal(&wire.GroupMessage{ID: id, Group: wire.ID(g.GID), Ciphertext: ct}); err != nil {
				return err
			}
			return n.db.Update(ctx, func(tx *storage.Tx) error { return tx.PutGroupSession(g.ID, row.Address, nb, now) })
		}()
		if err != nil {
			return err
		}
		if b != nil {
			n.track(w, id, nil)
			if err := w.l.SendFrame(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// countGroupBytes counts the bytes of group frames written (tests and
// benchmarks read them): the frame and the seal of the link.
func (n *Node) countGroupBytes(frameLen int) {
	n.grpBytes.Add(int64(frameLen + wire.SealOverhead))
	n.grpFrames.Add(1)
}
