package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/groups"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Groups (issue 18). The groups package is the logic (membership log,
// signed messages, payloads under pairwise sessions); these files wire it
// to storage, links and events:
//
//   - groups.go: runtime state, refs, the API's view of groups;
//   - groups_api.go: the API's group methods and group sends;
//   - groups_change.go: membership changes, applied and reconciled (who
//     opens which session, what a removed member still gets);
//   - groups_link.go: the group frames a peer sends, the per-link group
//     writer, sync and forwarding, dialing members.
//
// docs/protocol.md, "Groups", is the specification.

// nodeGroups is the node's runtime state for groups.
type nodeGroups struct {
	// mu serializes every change to groups: logs, sessions, messages and
	// group outboxes. It is taken after a peer's mu, never before, and
	// never held across network I/O.
	mu      sync.Mutex
	logs    map[groups.ID]*groups.Log
	pending map[pendingKey]*pendingRequest
	resets  map[pendingKey]time.Time // new sessions a member made us accept
	peers   map[onion.Address]bool   // share an active group with us
	peersOK bool                     // peers is loaded

	// wmu guards writers and what each writer has in flight.
	wmu     sync.Mutex
	writers map[*peer]*groupWriter

	tmu       sync.Mutex
	typingOut map[groups.ID]time.Time
	typingIn  map[pendingKey]time.Time
	arrived   []groups.ID // invitations stored, for groupAfterMessage
}

func newNodeGroups() *nodeGroups {
	return &nodeGroups{
		logs:      map[groups.ID]*groups.Log{},
		pending:   map[pendingKey]*pendingRequest{},
		resets:    map[pendingKey]time.Time{},
		peers:     map[onion.Address]bool{},
		writers:   map[*peer]*groupWriter{},
		typingOut: map[groups.ID]time.Time{},
		typingIn:  map[pendingKey]time.Time{},
	}
}

// pendingKey names a member of a group.
type pendingKey struct {
	gid  groups.ID
	addr onion.Address
}

// pendingRequest is a session request that arrived before what lets us
// take it (the invitation, or the change making its sender a member). It
// is held unacknowledged, on its link, and taken when that arrives; if
// the link goes meanwhile, the peer sends it again on the next one.
type pendingRequest struct {
	p  *peer
	l  *wire.Link
	m  *wire.GroupRequest
	at time.Time
}

// Bounds on pending requests: per peer and in all.
const (
	maxPendingPerPeer = 8
	maxPending        = 256
)

// Group quotas: a member cannot fill our disk (as a contact cannot, §5).
const (
	groupUnreadQuota      = 10000    // unread messages per author per group
	groupUnreadBytesQuota = 64 << 20 // and their bytes at rest
	forwardPerSync        = 1000     // messages forwarded per sync per group
)

func (n *Node) selfKey() groups.Key { return groups.KeyOf(n.pub) }

func addrOf(k groups.Key) onion.Address { return onion.AddressFromPublicKey(k.Public()) }

func keyOf(a onion.Address) (groups.Key, error) {
	pub, err := a.PublicKey()
	if err != nil {
		return groups.Key{}, err
	}
	return groups.KeyOf(pub), nil
}

// logLocked returns the group's log, loading it from storage once.
// n.grp.mu is held.
func (n *Node) logLocked(ctx context.Context, g storage.Group) (*groups.Log, error) {
	gid := groups.ID(g.GID)
	if l := n.grp.logs[gid]; l != nil {
		return l, nil
	}
	ops, err := n.db.GroupOps(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	l := groups.NewLogOf(gid)
	if _, err := l.Merge(ops); err != nil {
		// What we stored we verified when it came: a change that no longer
		// verifies is a damaged profile. Keep what does.
		n.log.Warn("group log: a stored change does not verify", "err", err)
	}
	n.grp.logs[gid] = l
	return l, nil
}

// forgetLogLocked drops the cached log (after a failed transaction).
func (n *Node) forgetLogLocked(gid groups.ID) { delete(n.grp.logs, gid) }

// groupState is the group's state now. The State is never modified once
// made (a change makes a new one), so it may be read without the lock.
func (n *Node) groupState(ctx context.Context, g storage.Group) (*groups.State, error) {
	n.grp.mu.Lock()
	defer n.grp.mu.Unlock()
	l, err := n.logLocked(ctx, g)
	if err != nil {
		return nil, err
	}
	return l.State(), nil
}

// isGroupPeer reports whether addr shares an active group with us: its
// link is not a stranger's and may carry group frames.
func (n *Node) isGroupPeer(addr onion.Address) bool {
	n.grp.mu.Lock()
	defer n.grp.mu.Unlock()
	if !n.grp.peersOK {
		n.refreshGroupPeersLocked(n.ctx)
	}
	return n.grp.peers[addr]
}

// refreshGroupPeersLocked recomputes who shares an active group with us.
// n.grp.mu is held.
func (n *Node) refreshGroupPeersLocked(ctx context.Context) {
	gs, err := n.db.Groups(ctx)
	if err != nil {
		return
	}
	peers := map[onion.Address]bool{}
	for _, g := range gs {
		if g.Status != storage.GroupActive && g.Status != storage.GroupInvited {
			continue
		}
		if g.Inviter != "" {
			peers[onion.Address(g.Inviter)] = true
		}
		l, err := n.logLocked(ctx, g)
		if err != nil {
			continue
		}
		for _, m := range l.State().Members {
			peers[addrOf(m.Key)] = true
		}
	}
	delete(peers, n.addr)
	n.grp.peers, n.grp.peersOK = peers, true
}

// groupRef resolves ref to a group if it names one, or returns nil. A ref
// naming two groups, or a group and a contact, is ErrAmbiguous.
func (n *Node) groupRef(ctx context.Context, ref string) (*storage.Group, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	gs, err := n.db.Groups(ctx)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	r := strings.TrimSpace(ref)
	var match []storage.Group
	if id, err := groups.ParseID(r); err == nil {
		for _, g := range gs {
			if g.GID == id {
				match = append(match, g)
			}
		}
	}
	if len(match) == 0 {
		for _, g := range gs {
			if strings.EqualFold(g.Name, r) {
				match = append(match, g)
			}
		}
	}
	switch len(match) {
	case 0:
		return nil, nil
	case 1:
	default:
		ids := make([]string, len(match))
		for i, g := range match {
			ids[i] = groups.ID(g.GID).String()
		}
		return nil, fmt.Errorf("%w: %q names %d groups; use an id: %s", ErrAmbiguous, ref, len(match), strings.Join(ids, ", "))
	}
	if c, err := n.book.Find(ctx, ref); err == nil && !c.Removed {
		return nil, fmt.Errorf("%w: %q is a group and a contact; use the group's id %s or the contact's address %s",
			ErrAmbiguous, ref, groups.ID(match[0].GID), c.Address)
	}
	return &match[0], nil
}

// findGroup resolves a ref that must name a group.
func (n *Node) findGroup(ctx context.Context, ref string) (storage.Group, error) {
	g, err := n.groupRef(ctx, ref)
	if err != nil {
		return storage.Group{}, err
	}
	if g == nil {
		return storage.Group{}, fmt.Errorf("%w: %q", ErrUnknownGroup, ref)
	}
	return *g, nil
}

// memberNames names the people of a group for the API: our nickname for
// a contact, else the display name they gave the group, else "".
type memberNames struct {
	n     *Node
	ctx   context.Context
	peers map[string]storage.GroupPeer
	names map[string]string
	cts   map[string]bool
}

func (n *Node) namesOf(ctx context.Context, groupID int64) *memberNames {
	mn := &memberNames{n: n, ctx: ctx, peers: map[string]storage.GroupPeer{}, names: map[string]string{}, cts: map[string]bool{}}
	if ps, err := n.db.GroupPeers(ctx, groupID); err == nil {
		for _, p := range ps {
			mn.peers[p.Address] = p
		}
	}
	return mn
}

func (mn *memberNames) name(addr string) string {
	if addr == string(mn.n.addr) {
		return mn.n.displayName()
	}
	if s, ok := mn.names[addr]; ok {
		return s
	}
	name := ""
	if c, err := mn.n.book.Lookup(mn.ctx, onion.Address(addr)); err == nil && !c.Removed && c.State == contacts.Accepted {
		name = c.Display()
		mn.cts[addr] = true
	} else if p, ok := mn.peers[addr]; ok {
		name = safetext.Line(p.Name)
	}
	mn.names[addr] = name
	return name
}

func (mn *memberNames) contact(addr string) bool {
	mn.name(addr)
	return mn.cts[addr]
}

// apiGroup is g as the API shows it.
func (n *Node) apiGroup(ctx context.Context, g storage.Group) (Group, error) {
	out := Group{
		ID: groups.ID(g.GID).String(), Name: safetext.Line(g.Name), State: GroupState(g.Status),
		Created: g.Created, Draft: g.Draft, InvitedBy: g.Inviter, Members: []GroupMember{},
	}
	s, err := n.groupState(ctx, g)
	if err != nil {
		return Group{}, err
	}
	if s.Name != "" {
		out.Name = safetext.Line(s.Name)
	}
	self := n.selfKey()
	out.Admin = s.IsAdmin(self)
	mn := n.namesOf(ctx, g.ID)
	for _, m := range s.Members {
		a := string(addrOf(m.Key))
		gm := GroupMember{Address: a, Admin: m.Admin, Creator: m.Key == s.Creator, Self: m.Key == self, Name: mn.name(a)}
		if gm.Self {
			gm.Presence, gm.Session = Offline, true
			if n.isReachable() {
				gm.Presence = Online
			}
		} else {
			gm.Contact = mn.contact(a)
			gm.Presence = n.presence(onion.Address(a))
			gm.Session = mn.peers[a].Session != nil
		}
		out.Members = append(out.Members, gm)
	}
	sum, err := n.db.GroupSummary(ctx, g.ID)
	if err != nil {
		return Group{}, err
	}
	out.Unread = sum.Unread
	if sum.Last != nil {
		out.LastMessage = preview(sum.Last.Body, 80)
		out.LastAt = groupMessageTime(*sum.Last)
	}
	return out, nil
}

func (n *Node) isReachable() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reachable
}

// preview is the first line of text, at most max characters, cleaned.
func preview(text string, max int) string {
	t := safetext.Line(text)
	if r := []rune(t); len(r) > max {
		t = string(r[:max-1]) + "…"
	}
	return t
}

func groupMessageTime(m storage.GroupMessage) time.Time {
	if m.Direction == storage.Incoming {
		return m.Received
	}
	return m.Created
}

// apiGroupMessage is m as the API shows it.
func (n *Node) apiGroupMessage(ctx context.Context, m storage.GroupMessage, g storage.Group, mn *memberNames) Message {
	out := Message{
		ID: m.ID.String(), Seq: m.Seq, Contact: safetext.Line(g.Name), Direction: Direction(m.Direction),
		Text: m.Body, Time: groupMessageTime(m), SentAt: m.Sent, ReadAt: m.Read,
		Group: groups.ID(g.GID).String(), Author: m.Author, AuthorName: mn.name(m.Author), Via: m.Via,
	}
	if m.Direction == storage.Incoming {
		out.Address = m.Author
		out.State = Received
		if !m.Read.IsZero() {
			out.State = Read
		}
		return out
	}
	r, d, rd, err := n.db.GroupReceiptCounts(ctx, m.Seq)
	if err != nil {
		n.log.Warn("group receipts", "err", err)
	}
	out.Recipients, out.DeliveredTo, out.ReadBy = r, d, rd
	out.State = groupMessageState(m, r, d, rd)
	return out
}

// groupMessageState is our message's state from its receipts.
func groupMessageState(m storage.GroupMessage, recipients, delivered, read int) MessageState {
	switch {
	case recipients > 0 && read == recipients:
		return Read
	case recipients > 0 && delivered == recipients:
		return Delivered
	case !m.Sent.IsZero() || recipients == 0:
		return Sent
	}
	return Queued
}

// groupErr maps the groups package's refusals to the API's errors.
func groupErr(err error) error {
	switch {
	case errors.Is(err, groups.ErrNotAdmin):
		return fmt.Errorf("%w: %w", ErrNotAdmin, err)
	case errors.Is(err, groups.ErrNotMember), errors.Is(err, groups.ErrCreator):
		return fmt.Errorf("%w: %w", ErrNotMember, err)
	case errors.Is(err, groups.ErrFull):
		return fmt.Errorf("%w: %w", ErrGroupFull, err)
	}
	return err
}

// sortGroups orders groups by last activity, newest first.
func sortGroups(gs []Group) {
	slices.SortStableFunc(gs, func(a, b Group) int {
		ta, tb := a.LastAt, b.LastAt
		if ta.IsZero() {
			ta = a.Created
		}
		if tb.IsZero() {
			tb = b.Created
		}
		return tb.Compare(ta)
	})
}
