package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/groups"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// checkGroupName validates a group name of ours and returns it trimmed.
func checkGroupName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", errors.New("node: a group needs a name")
	case len(name) > groups.MaxName || utf8.RuneCountInString(name) > MaxName:
		return "", fmt.Errorf("node: group name: %w (at most %d characters)", ErrTooLong, MaxName)
	case safetext.Line(name) != name:
		return "", errors.New("node: group name: control or invisible characters")
	}
	return name, nil
}

// CreateGroup implements API.
func (n *Node) CreateGroup(ctx context.Context, name string, members []string) (Group, error) {
	if err := n.checkOpen(); err != nil {
		return Group{}, err
	}
	name, err := checkGroupName(name)
	if err != nil {
		return Group{}, err
	}
	var cs []contacts.Contact
	seen := map[onion.Address]bool{}
	for _, ref := range members {
		c, err := n.invitable(ctx, ref)
		if err != nil {
			return Group{}, fmt.Errorf("node: create group: %w", err)
		}
		if !seen[c.Address] {
			seen[c.Address] = true
			cs = append(cs, c)
		}
	}
	if len(cs)+1 > MaxGroupMembers {
		return Group{}, fmt.Errorf("node: create group: %w (%d members, at most %d)", ErrGroupFull, len(cs)+1, MaxGroupMembers)
	}
	now := time.Now()
	lg, err := groups.NewLog(n.key, name, now)
	if err != nil {
		return Group{}, err
	}
	for _, c := range cs {
		k, err := keyOf(c.Address)
		if err != nil {
			return Group{}, err
		}
		if _, err := lg.Sign(n.key, groups.KindInvite, k, "", now); err != nil {
			return Group{}, fmt.Errorf("node: create group: %w", groupErr(err))
		}
	}
	k := newKicks()
	var g storage.Group
	n.grp.mu.Lock()
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		var err error
		g, err = tx.InsertGroup(storage.Group{GID: lg.ID(), Name: name, Status: storage.GroupActive, Created: now})
		if err != nil {
			return err
		}
		for _, o := range lg.Ops() {
			if err := tx.AddGroupOp(g.ID, o.Hash(), o.Bytes()); err != nil {
				return err
			}
		}
		for _, c := range cs {
			// The log first, so it is there when their session is; the
			// invitation goes inside our 1:1 session at once.
			if err := k.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: string(c.Address), Kind: storage.GroupKindOps}); err != nil {
				return err
			}
			if err := k.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: string(c.Address), Kind: storage.GroupKindInvite}); err != nil {
				return err
			}
		}
		return n.reconcileTx(tx, k, &g, lg)
	})
	if err == nil {
		n.grp.logs[lg.ID()] = lg
		n.afterChangeLocked(ctx, k, lg.ID())
	}
	n.grp.mu.Unlock()
	if err != nil {
		return Group{}, fmt.Errorf("node: create group: %w", err)
	}
	k.changed[g.ID] = true
	n.flush(ctx, k)
	n.log.Info("group created", "members", len(cs)+1)
	return n.apiGroup(ctx, g)
}

// invitable resolves a contact we may invite: accepted, not ourselves.
func (n *Node) invitable(ctx context.Context, ref string) (contacts.Contact, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return contacts.Contact{}, err
	}
	if c.State != contacts.Accepted {
		return contacts.Contact{}, fmt.Errorf("%s: %w (only contacts can be invited: they learn of the group inside your session)", c.Display(), ErrNotAccepted)
	}
	return c, nil
}

// Groups implements API.
func (n *Node) Groups(ctx context.Context) ([]Group, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	gs, err := n.db.Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(gs))
	for _, g := range gs {
		ag, err := n.apiGroup(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, ag)
	}
	sortGroups(out)
	return out, nil
}

// Group implements API.
func (n *Node) Group(ctx context.Context, ref string) (Group, error) {
	g, err := n.findGroup(ctx, ref)
	if err != nil {
		return Group{}, err
	}
	return n.apiGroup(ctx, g)
}

// InviteToGroup implements API.
func (n *Node) InviteToGroup(ctx context.Context, group, member string) (Group, error) {
	if err := n.checkOpen(); err != nil {
		return Group{}, err
	}
	c, err := n.invitable(ctx, member)
	if err != nil {
		return Group{}, fmt.Errorf("node: invite: %w", err)
	}
	k, err := keyOf(c.Address)
	if err != nil {
		return Group{}, err
	}
	return n.changeGroup(ctx, group, groups.KindInvite, k, "", func(tx *storage.Tx, kk *groupKicks, g storage.Group) error {
		return kk.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: string(c.Address), Kind: storage.GroupKindInvite})
	})
}

// RemoveFromGroup implements API.
func (n *Node) RemoveFromGroup(ctx context.Context, group, member string) (Group, error) {
	if err := n.checkOpen(); err != nil {
		return Group{}, err
	}
	k, _, err := n.memberKey(ctx, member)
	if err != nil {
		return Group{}, fmt.Errorf("node: remove: %w", err)
	}
	return n.changeGroup(ctx, group, groups.KindRemove, k, "", nil)
}

// PromoteInGroup implements API.
func (n *Node) PromoteInGroup(ctx context.Context, group, member string) (Group, error) {
	if err := n.checkOpen(); err != nil {
		return Group{}, err
	}
	k, _, err := n.memberKey(ctx, member)
	if err != nil {
		return Group{}, fmt.Errorf("node: promote: %w", err)
	}
	return n.changeGroup(ctx, group, groups.KindPromote, k, "", nil)
}

// LeaveGroup implements API.
func (n *Node) LeaveGroup(ctx context.Context, group string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	_, err := n.changeGroup(ctx, group, groups.KindLeave, groups.Key{}, "", nil)
	return err
}

// RenameGroup implements API.
func (n *Node) RenameGroup(ctx context.Context, group, name string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	name, err := checkGroupName(name)
	if err != nil {
		return err
	}
	_, err = n.changeGroup(ctx, group, groups.KindRename, groups.Key{}, name, nil)
	return err
}

// sendGroup signs text as our next message in g and queues it for every
// member, in one transaction; delivery follows in the background.
func (n *Node) sendGroup(ctx context.Context, g storage.Group, text string) (Message, error) {
	if err := checkText(text); err != nil {
		return Message{}, fmt.Errorf("node: send: %w", err)
	}
	if g.Status != storage.GroupActive {
		return Message{}, fmt.Errorf("node: send to %s: %w (the group is %s)", safetext.Line(g.Name), ErrNotMember, g.Status)
	}
	k := newKicks()
	var m storage.GroupMessage
	n.grp.mu.Lock()
	err := func() error {
		lg, err := n.logLocked(ctx, g)
		if err != nil {
			return err
		}
		s := lg.State()
		if !s.IsMember(n.selfKey()) {
			return fmt.Errorf("%w: our membership has not arrived yet", ErrNotMember)
		}
		return n.db.Update(ctx, func(tx *storage.Tx) error {
			g, err := tx.Group(g.ID)
			if err != nil {
				return err
			}
			now := time.Now()
			e, err := groups.SignEnvelope(n.key, groups.Envelope{
				Group: groups.ID(g.GID), ID: wire.NewID(), Seq: g.NextSeq, Lamport: g.Lamport + 1,
				Epoch: s.Epoch, Time: now, Text: text,
			})
			if err != nil {
				return err
			}
			m, err = tx.InsertGroupMessage(storage.GroupMessage{
				GroupID: g.ID, ID: storage.MessageID(e.ID), Author: string(n.addr), AuthorSeq: e.Seq, Lamport: e.Lamport, Epoch: e.Epoch,
				Direction: storage.Outgoing, Envelope: e.Bytes(), Body: text, Created: now, Received: now,
			})
			if err != nil {
				return err
			}
			g.NextSeq, g.Lamport = g.NextSeq+1, e.Lamport
			if err := tx.UpdateGroup(g); err != nil {
				return err
			}
			var to []string
			for _, r := range s.Recipients(n.selfKey()) {
				to = append(to, string(addrOf(r)))
			}
			if err := tx.AddGroupReceipts(m.Seq, to); err != nil {
				return err
			}
			for _, a := range to {
				if err := k.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: a, Kind: storage.GroupKindMessage, MessageSeq: m.Seq, Created: now}); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	n.grp.mu.Unlock()
	if err != nil {
		return Message{}, fmt.Errorf("node: send to %s: %w", safetext.Line(g.Name), err)
	}
	n.flush(ctx, k)
	am := n.apiGroupMessage(ctx, m, g, n.namesOf(ctx, g.ID))
	n.events.publish(MessageEvent{Message: am})
	return am, nil
}

// groupHistory is History for a group, in the order every member sees.
func (n *Node) groupHistory(ctx context.Context, g storage.Group, before string, limit int) ([]Message, error) {
	var cursor *storage.MessageID
	if before != "" {
		id, err := storage.ParseMessageID(before)
		if err != nil {
			return nil, fmt.Errorf("node: history: %w", err)
		}
		cursor = &id
	}
	ms, err := n.db.GroupHistory(ctx, g.ID, cursor, limit)
	if err != nil {
		return nil, err
	}
	mn := n.namesOf(ctx, g.ID)
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = n.apiGroupMessage(ctx, m, g, mn)
	}
	return out, nil
}

// groupInbox is Inbox's group half: received group messages after q.After,
// of one group (g) or all (nil).
func (n *Node) groupInbox(ctx context.Context, q InboxQuery, g *storage.Group) ([]Message, error) {
	sq := storage.GroupInboxQuery{After: q.After, Limit: q.Limit, IncludeOutgoing: q.Outgoing}
	if g != nil {
		sq.GroupID = g.ID
	}
	ms, err := n.db.GroupInbox(ctx, sq)
	if err != nil {
		return nil, err
	}
	gs := map[int64]storage.Group{}
	names := map[int64]*memberNames{}
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		gg, ok := gs[m.GroupID]
		if !ok {
			if gg, err = n.db.Group(ctx, m.GroupID); err != nil {
				return nil, err
			}
			gs[m.GroupID] = gg
			names[m.GroupID] = n.namesOf(ctx, m.GroupID)
		}
		out = append(out, n.apiGroupMessage(ctx, m, gg, names[m.GroupID]))
	}
	return out, nil
}

// mergeInbox merges 1:1 and group messages by seq, at most limit.
func mergeInbox(a, b []Message, limit int) []Message {
	out := append(a, b...)
	slices.SortFunc(out, func(x, y Message) int { return cmp.Compare(x.Seq, y.Seq) })
	if limit <= 0 {
		limit = 100
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// groupMarkRead marks g read and tells each author which of theirs we read
// (when read receipts are on).
func (n *Node) groupMarkRead(ctx context.Context, g storage.Group) error {
	s, err := n.Settings(ctx)
	if err != nil {
		return err
	}
	k := newKicks()
	var read []storage.GroupMessage
	n.grp.mu.Lock()
	err = func() error {
		lg, err := n.logLocked(ctx, g)
		if err != nil {
			return err
		}
		st := lg.State()
		return n.db.Update(ctx, func(tx *storage.Tx) error {
			read, err = tx.MarkGroupRead(g.ID, time.Now())
			if err != nil || !s.ReadReceipts || g.Status != storage.GroupActive {
				return err
			}
			byAuthor := map[string][][16]byte{}
			for _, m := range read {
				if ak, err := keyOf(onion.Address(m.Author)); err == nil && st.IsMember(ak) {
					byAuthor[m.Author] = append(byAuthor[m.Author], m.ID)
				}
			}
			for a, ids := range byAuthor {
				for chunk := range slices.Chunk(ids, groups.MaxReceiptIDs) {
					pl, err := groups.MarshalPayload(groups.Payload{Receipt: &groups.Receipt{IDs: chunk, Read: true}})
					if err != nil {
						return err
					}
					if err := k.queueTx(tx, storage.GroupOutboxItem{GroupID: g.ID, Address: a, Kind: storage.GroupKindReceipt, Data: pl}); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}()
	n.grp.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: mark read: %w", err)
	}
	n.flush(ctx, k)
	return nil
}

// groupTyping tells the members with a link up that we are typing in g,
// at most once per typingEvery per group.
func (n *Node) groupTyping(ctx context.Context, g storage.Group) error {
	if g.Status != storage.GroupActive {
		return nil
	}
	s, err := n.Settings(ctx)
	if err != nil || !s.Typing {
		return err
	}
	gid := groups.ID(g.GID)
	now := time.Now()
	n.grp.tmu.Lock()
	if now.Sub(n.grp.typingOut[gid]) < n.tune.typingEvery {
		n.grp.tmu.Unlock()
		return nil
	}
	n.grp.typingOut[gid] = now
	n.grp.tmu.Unlock()
	st, err := n.groupState(ctx, g)
	if err != nil {
		return err
	}
	for _, k := range st.Recipients(n.selfKey()) {
		if l := n.currentLink(n.peer(addrOf(k))); l != nil {
			l.Post(&wire.GroupTyping{Group: wire.ID(gid)}) // best effort
		}
	}
	return nil
}

// groupSetDraft keeps a group's unsent text.
func (n *Node) groupSetDraft(ctx context.Context, g storage.Group, text string) error {
	if len(text) > MaxText {
		return fmt.Errorf("node: draft: %w", ErrTooLong)
	}
	return n.db.Update(ctx, func(tx *storage.Tx) error {
		g, err := tx.Group(g.ID)
		if err != nil {
			return err
		}
		g.Draft = text
		return tx.UpdateGroup(g)
	})
}
