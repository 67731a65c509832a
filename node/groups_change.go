package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/groups"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// groupKicks collects the members a transaction queued something for, and
// the groups it changed, for after the commit.
type groupKicks struct {
	peers   map[onion.Address]bool
	reset   map[onion.Address]bool // a session became usable: start over
	changed map[int64]bool         // groups whose members, name or status changed
	msgs    []groupMsgEvent        // messages to publish
	states  []int64                // our messages whose receipts changed (seqs)
	gid     map[int64]storage.Group
}

type groupMsgEvent struct {
	g storage.Group
	m storage.GroupMessage
}

func newKicks() *groupKicks {
	return &groupKicks{peers: map[onion.Address]bool{}, reset: map[onion.Address]bool{}, changed: map[int64]bool{}, gid: map[int64]storage.Group{}}
}

// queueTx adds an item to a member's group outbox and remembers to wake
// their writer. A duplicate is not an error.
func (k *groupKicks) queueTx(tx *storage.Tx, it storage.GroupOutboxItem) error {
	_, err := tx.QueueGroup(it)
	if errors.Is(err, storage.ErrDuplicate) {
		return nil
	}
	if err != nil {
		return err
	}
	k.peers[onion.Address(it.Address)] = true
	return nil
}

// flush wakes the writers of the members with new items, after the commit,
// and publishes what changed. n.grp.mu must not be held.
func (n *Node) flush(ctx context.Context, k *groupKicks) {
	for a := range k.peers {
		n.kickGroup(a, k.reset[a])
	}
	for a := range k.reset {
		if !k.peers[a] {
			n.kickGroup(a, true)
		}
	}
	for id := range k.changed {
		g, err := n.db.Group(ctx, id)
		if err != nil {
			continue
		}
		if ag, err := n.apiGroup(ctx, g); err == nil {
			n.events.publish(GroupEvent{Group: ag})
		}
	}
	names := map[int64]*memberNames{}
	for _, e := range k.msgs {
		mn := names[e.g.ID]
		if mn == nil {
			mn = n.namesOf(ctx, e.g.ID)
			names[e.g.ID] = mn
		}
		n.events.publish(MessageEvent{Message: n.apiGroupMessage(ctx, e.m, e.g, mn)})
	}
	seen := map[int64]bool{}
	for _, seq := range k.states {
		if seen[seq] {
			continue
		}
		seen[seq] = true
		n.publishReceipt(ctx, seq)
	}
}

// publishReceipt publishes where one of our group messages stands.
func (n *Node) publishReceipt(ctx context.Context, seq int64) {
	m, err := n.db.GroupMessageBySeq(ctx, seq)
	if err != nil {
		return
	}
	g, err := n.db.Group(ctx, m.GroupID)
	if err != nil {
		return
	}
	r, d, rd, err := n.db.GroupReceiptCounts(ctx, seq)
	if err != nil {
		return
	}
	n.events.publish(GroupReceiptEvent{
		Group: groups.ID(g.GID).String(), ID: m.ID.String(), State: groupMessageState(m, r, d, rd),
		Recipients: r, DeliveredTo: d, ReadBy: rd,
	})
}

// queueRequestTx queues our request for a session with a member and
// records it. row is updated, not stored.
func (n *Node) queueRequestTx(tx *storage.Tx, k *groupKicks, g storage.Group, row *storage.GroupPeer) error {
	id := wire.NewID()
	frame, err := wire.Marshal(&wire.GroupRequest{ID: id, Group: wire.ID(g.GID), Bundle: n.identity().bundle, Name: n.displayName()})
	if err != nil {
		return err
	}
	if err := k.queueTx(tx, storage.GroupOutboxItem{ID: storage.MessageID(id), GroupID: g.ID, Address: row.Address, Kind: storage.GroupKindRequest, Data: frame}); err != nil {
		return err
	}
	rid := storage.MessageID(id)
	row.RequestID = &rid
	return nil
}

// reconcileTx brings what we keep of a group in line with its log: our
// status and its name, a row per member, the session requests that are
// ours to make (groups.State.Initiator), and nothing queued for anyone who
// is not a member but the log itself (so a removed member learns of it,
// and gets nothing else). g is updated. n.grp.mu is held.
func (n *Node) reconcileTx(tx *storage.Tx, k *groupKicks, g *storage.Group, l *groups.Log) error {
	s := l.State()
	self := n.selfKey()
	before := g.Status
	switch {
	case s.IsMember(self):
		g.Status = storage.GroupActive
	case g.Status == storage.GroupInvited:
		// Invited (again): the log that says so is on its way.
	case s.Gone[self] == groups.KindRemove:
		g.Status = storage.GroupRemoved
	case s.Gone[self] == groups.KindLeave:
		g.Status = storage.GroupLeft
	}
	if s.Name != "" {
		g.Name = s.Name
	}
	g.Updated = time.Now()
	if err := tx.UpdateGroup(*g); err != nil {
		return err
	}
	if before != g.Status {
		k.changed[g.ID] = true
	}
	rows, err := tx.GroupPeers(g.ID)
	if err != nil {
		return err
	}
	byAddr := map[onion.Address]storage.GroupPeer{}
	for _, r := range rows {
		byAddr[onion.Address(r.Address)] = r
	}
	active := g.Status == storage.GroupActive
	for _, m := range s.Members {
		if m.Key == self {
			continue
		}
		a := addrOf(m.Key)
		row, ok := byAddr[a]
		if !ok {
			row = storage.GroupPeer{GroupID: g.ID, Address: string(a)}
		}
		delete(byAddr, a)
		dirty := !ok
		if active && row.Session == nil && row.RequestID == nil && s.Initiator(self, m.Key) == self {
			if err := n.queueRequestTx(tx, k, *g, &row); err != nil {
				return err
			}
			dirty = true
		}
		if dirty {
			if err := tx.PutGroupPeer(row); err != nil {
				return err
			}
		}
	}
	// Former members, and everyone once we are out: nothing but our log,
	// and that only over a session that exists.
	drop := []storage.GroupOutboxKind{storage.GroupKindMessage, storage.GroupKindReceipt, storage.GroupKindRequest, storage.GroupKindAccept, storage.GroupKindInvite}
	clear := func(r storage.GroupPeer) error {
		kinds := drop
		if r.Session == nil {
			kinds = nil // all
		}
		if _, err := tx.DropGroupOutbox(g.ID, r.Address, kinds...); err != nil {
			return err
		}
		if r.RequestID != nil {
			r.RequestID = nil
			return tx.PutGroupPeer(r)
		}
		return nil
	}
	for _, r := range byAddr {
		if err := clear(r); err != nil {
			return err
		}
	}
	if !active && g.Status != storage.GroupInvited {
		for _, m := range s.Members {
			if r, err := tx.GroupPeer(g.ID, string(addrOf(m.Key))); err == nil {
				if err := clear(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// afterChangeLocked updates what depends on a group's members once a
// change is committed: who may link to us as a group peer, and session
// requests held until the change. n.grp.mu is held.
func (n *Node) afterChangeLocked(ctx context.Context, k *groupKicks, gid groups.ID) {
	n.refreshGroupPeersLocked(ctx)
	n.retryPendingLocked(ctx, k, gid)
}

// changeGroup signs a change of ours and applies it: stored, with our log
// queued for every member before and after it (so whoever it removes
// learns of it), and reconciled, in one transaction. extra runs in that
// transaction.
func (n *Node) changeGroup(ctx context.Context, ref string, kind groups.Kind, target groups.Key, name string,
	extra func(tx *storage.Tx, k *groupKicks, g storage.Group) error) (Group, error) {
	g, err := n.findGroup(ctx, ref)
	if err != nil {
		return Group{}, err
	}
	k := newKicks()
	if err := n.changeGroupLocked(ctx, k, g, kind, target, name, extra); err != nil {
		return Group{}, err
	}
	k.changed[g.ID] = true
	n.flush(ctx, k)
	g, err = n.db.Group(ctx, g.ID)
	if err != nil {
		return Group{}, err
	}
	return n.apiGroup(ctx, g)
}

func (n *Node) changeGroupLocked(ctx context.Context, k *groupKicks, g storage.Group, kind groups.Kind, target groups.Key, name string,
	extra func(tx *storage.Tx, k *groupKicks, g storage.Group) error) error {
	n.grp.mu.Lock()
	defer n.grp.mu.Unlock()
	if g.Status != storage.GroupActive {
		return fmt.Errorf("node: %s: %w (the group is %s)", kind, ErrNotMember, g.Status)
	}
	l, err := n.logLocked(ctx, g)
	if err != nil {
		return err
	}
	before := l.State()
	op, err := l.Sign(n.key, kind, target, name, time.Now())
	if err != nil {
		return fmt.Errorf("node: %s: %w", kind, groupErr(err))
	}
	after := l.State()
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		g, err := tx.Group(g.ID)
		if err != nil {
			return err
		}
		if err := tx.AddGroupOp(g.ID, op.Hash(), op.Bytes()); err != nil {
			return err
		}
		tell := map[groups.Key]bool{}
		for _, m := range before.Members {
			tell[m.Key] = true
		}
		for _, m := range after.Members {
			tell[m.Key] = true
		}
		delete(tell, n.selfKey())
		for key := range tell {
			if err := k.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: string(addrOf(key)), Kind: storage.GroupKindOps}); err != nil {
				return err
			}
		}
		if extra != nil {
			if err := extra(tx, k, g); err != nil {
				return err
			}
		}
		return n.reconcileTx(tx, k, &g, l)
	})
	if err != nil {
		n.forgetLogLocked(l.ID())
		return fmt.Errorf("node: %s: %w", kind, err)
	}
	n.afterChangeLocked(ctx, k, l.ID())
	return nil
}

// mergeOpsTx merges changes a member sent into a group's log and stores
// the new ones; it reports whether any were new. A hostile member's
// changes that do not verify are skipped (and logged); the log is
// reloaded if the transaction fails (the caller forgets it). n.grp.mu
// is held.
func (n *Node) mergeOpsTx(tx *storage.Tx, g storage.Group, l *groups.Log, raw [][]byte) (bool, error) {
	added, err := l.Merge(raw)
	if err != nil {
		n.log.Debug("group changes skipped", "err", err)
	}
	for _, o := range added {
		if err := tx.AddGroupOp(g.ID, o.Hash(), o.Bytes()); err != nil {
			return false, err
		}
	}
	return len(added) > 0, nil
}

// groupInvitedTx takes an invitation a contact sent inside our 1:1
// session, in the transaction storing that message: the group is noted as
// invited by them, and their session request (held meanwhile) is taken
// after the commit (groupAfterMessage).
func (n *Node) groupInvitedTx(tx *storage.Tx, c contacts.Contact, inv *wire.GroupInvite) error {
	name := safetext.Line(inv.Name)
	if name == "" {
		name = "group"
	}
	g, err := tx.GroupByGID(inv.Group)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		_, err = tx.InsertGroup(storage.Group{GID: inv.Group, Name: name, Status: storage.GroupInvited, Inviter: string(c.Address)})
	case err != nil:
	case g.Status == storage.GroupActive || g.Status == storage.GroupInvited:
		return nil // an admin invited us again: nothing new
	default:
		g.Status, g.Inviter, g.Updated = storage.GroupInvited, string(c.Address), time.Now()
		err = tx.UpdateGroup(g)
	}
	if err != nil {
		return err
	}
	n.grp.tmu.Lock()
	n.grp.arrived = append(n.grp.arrived, groups.ID(inv.Group))
	n.grp.tmu.Unlock()
	return nil
}

// groupAfterMessage runs after a contact's message was stored: an
// invitation it carried lets their held session request in.
func (n *Node) groupAfterMessage(ctx context.Context) {
	n.grp.tmu.Lock()
	arrived := n.grp.arrived
	n.grp.arrived = nil
	n.grp.tmu.Unlock()
	if len(arrived) == 0 {
		return
	}
	k := newKicks()
	n.grp.mu.Lock()
	for _, gid := range arrived {
		if g, err := n.db.GroupByGID(ctx, gid); err == nil {
			k.changed[g.ID] = true
		}
		n.afterChangeLocked(ctx, k, gid)
	}
	n.grp.mu.Unlock()
	n.flush(ctx, k)
}

// groupInviteContent is the invitation to g, sealed for a contact when
// its outbox item leaves.
func groupInviteContent(g storage.Group, now time.Time) wire.Content {
	return wire.Content{Time: now.UnixMilli(), GroupInvite: &wire.GroupInvite{Group: wire.ID(g.GID), Name: g.Name}}
}

// memberKey resolves a member ref: a contact's name or address, or the
// address of a member who is not a contact.
func (n *Node) memberKey(ctx context.Context, ref string) (groups.Key, contacts.Contact, error) {
	if c, err := n.book.Find(ctx, ref); err == nil && !c.Removed {
		k, err := keyOf(c.Address)
		return k, c, err
	}
	a, err := onion.ParseAddress(ref)
	if err != nil {
		return groups.Key{}, contacts.Contact{}, fmt.Errorf("%w: %q", ErrUnknownContact, ref)
	}
	k, err := keyOf(a)
	return k, contacts.Contact{}, err
}
