package nodetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/chive-im/chive/node"
)

// Groups (issue 18): the Fake keeps groups in memory with the node's rules
// that a UI can see (refs, ambiguity, admins, states, events). Members
// other than contacts come from SimGroup; what the network would do comes
// from SimGroupMessage, SimGroupReceipt, SimGroupTyping, SimMemberPresence.

type fakeGroup struct {
	g    node.Group
	msgs []node.Message
	// presence of members who are not contacts
	presence map[string]node.Presence
}

// groupRefLocked resolves a ref to a group as the node does: nil if it
// names none; ErrAmbiguous if it names two, or a group and a contact.
func (f *Fake) groupRefLocked(ref string) (*fakeGroup, error) {
	r := strings.TrimSpace(ref)
	var match []*fakeGroup
	if g, ok := f.groups[strings.ToLower(r)]; ok {
		match = append(match, g)
	} else {
		for _, g := range f.groups {
			if strings.EqualFold(g.g.Name, r) {
				match = append(match, g)
			}
		}
	}
	switch len(match) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("%w: %q names %d groups", node.ErrAmbiguous, ref, len(match))
	}
	if c, err := f.findLocked(ref); err == nil {
		return nil, fmt.Errorf("%w: %q is a group and a contact; use the group's id %s or the contact's address %s", node.ErrAmbiguous, ref, match[0].g.ID, c.Address)
	}
	return match[0], nil
}

func (f *Fake) findGroupLocked(ref string) (*fakeGroup, error) {
	g, err := f.groupRefLocked(ref)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("%w: %q", node.ErrUnknownGroup, ref)
	}
	return g, nil
}

// viewLocked is the group as Group returns it: members' names and
// presence from the contacts, unread and last message from its messages.
func (f *Fake) viewLocked(fg *fakeGroup) node.Group {
	g := fg.g
	g.Members = append([]node.GroupMember{}, fg.g.Members...)
	g.Admin = false
	for i := range g.Members {
		m := &g.Members[i]
		if m.Self {
			m.Presence = node.Online
			g.Admin = m.Admin
			continue
		}
		if c, ok := f.contacts[m.Address]; ok && c.State == node.StateAccepted {
			m.Contact, m.Name, m.Presence = true, c.Name, c.Presence
		} else if p, ok := fg.presence[m.Address]; ok {
			m.Presence = p
		} else if m.Presence == "" {
			m.Presence = node.Offline
		}
	}
	g.Unread, g.LastMessage = 0, ""
	for _, m := range fg.msgs {
		if m.Direction == node.Incoming && m.State == node.Received {
			g.Unread++
		}
	}
	if n := len(fg.msgs); n > 0 {
		g.LastMessage, g.LastAt = fg.msgs[n-1].Text, fg.msgs[n-1].Time
	}
	return g
}

func (f *Fake) publishGroupLocked(fg *fakeGroup) {
	f.publishLocked(node.GroupEvent{Group: f.viewLocked(fg)})
}

func (fg *fakeGroup) member(addr string) int {
	for i, m := range fg.g.Members {
		if m.Address == addr {
			return i
		}
	}
	return -1
}

func (fg *fakeGroup) self() *node.GroupMember {
	for i := range fg.g.Members {
		if fg.g.Members[i].Self {
			return &fg.g.Members[i]
		}
	}
	return nil
}

func (f *Fake) CreateGroup(ctx context.Context, name string, members []string) (node.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("CreateGroup")
	name = strings.TrimSpace(name)
	if name == "" {
		return node.Group{}, errors.New("a group needs a name")
	}
	fg := &fakeGroup{g: node.Group{ID: newID(), Name: name, State: node.GroupActive, Admin: true, Created: f.Now()}, presence: map[string]node.Presence{}}
	fg.g.Members = []node.GroupMember{{Address: f.status.Address, Name: f.status.Name, Admin: true, Creator: true, Self: true, Session: true}}
	for _, ref := range members {
		c, err := f.findLocked(ref)
		if err != nil {
			return node.Group{}, err
		}
		if c.State != node.StateAccepted {
			return node.Group{}, fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
		}
		if fg.member(c.Address) < 0 {
			fg.g.Members = append(fg.g.Members, node.GroupMember{Address: c.Address, Session: true})
		}
	}
	if len(fg.g.Members) > node.MaxGroupMembers {
		return node.Group{}, node.ErrGroupFull
	}
	f.groups[fg.g.ID] = fg
	f.publishGroupLocked(fg)
	return f.viewLocked(fg), nil
}

func (f *Fake) Groups(ctx context.Context) ([]node.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Groups")
	out := make([]node.Group, 0, len(f.groups))
	for _, fg := range f.groups {
		out = append(out, f.viewLocked(fg))
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := out[i].LastAt, out[j].LastAt
		if ti.IsZero() {
			ti = out[i].Created
		}
		if tj.IsZero() {
			tj = out[j].Created
		}
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (f *Fake) Group(ctx context.Context, ref string) (node.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Group")
	fg, err := f.findGroupLocked(ref)
	if err != nil {
		return node.Group{}, err
	}
	return f.viewLocked(fg), nil
}

// changeLocked checks that we may change fg (an active admin).
func (f *Fake) changeLocked(ref string) (*fakeGroup, error) {
	fg, err := f.findGroupLocked(ref)
	if err != nil {
		return nil, err
	}
	if fg.g.State != node.GroupActive {
		return nil, node.ErrNotMember
	}
	if s := fg.self(); s == nil || !s.Admin {
		return nil, node.ErrNotAdmin
	}
	return fg, nil
}

// memberAddr resolves a member ref: a contact's name or address, or an
// address.
func (f *Fake) memberAddr(ref string) string {
	if c, err := f.findLocked(ref); err == nil {
		return c.Address
	}
	r := strings.ToLower(strings.TrimSpace(ref))
	return strings.TrimSuffix(strings.TrimPrefix(r, "chive:"), ".onion")
}

func (f *Fake) InviteToGroup(ctx context.Context, group, member string) (node.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("InviteToGroup")
	fg, err := f.changeLocked(group)
	if err != nil {
		return node.Group{}, err
	}
	c, err := f.findLocked(member)
	if err != nil {
		return node.Group{}, err
	}
	if c.State != node.StateAccepted {
		return node.Group{}, fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
	}
	if fg.member(c.Address) >= 0 {
		return node.Group{}, fmt.Errorf("%s: already a member", c.Name)
	}
	if len(fg.g.Members) >= node.MaxGroupMembers {
		return node.Group{}, node.ErrGroupFull
	}
	fg.g.Members = append(fg.g.Members, node.GroupMember{Address: c.Address})
	f.publishGroupLocked(fg)
	return f.viewLocked(fg), nil
}

func (f *Fake) RemoveFromGroup(ctx context.Context, group, member string) (node.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("RemoveFromGroup")
	fg, err := f.changeLocked(group)
	if err != nil {
		return node.Group{}, err
	}
	i := fg.member(f.memberAddr(member))
	if i < 0 || fg.g.Members[i].Self || fg.g.Members[i].Creator {
		return node.Group{}, node.ErrNotMember
	}
	fg.g.Members = append(fg.g.Members[:i], fg.g.Members[i+1:]...)
	f.publishGroupLocked(fg)
	return f.viewLocked(fg), nil
}

func (f *Fake) PromoteInGroup(ctx context.Context, group, member string) (node.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("PromoteInGroup")
	fg, err := f.changeLocked(group)
	if err != nil {
		return node.Group{}, err
	}
	i := fg.member(f.memberAddr(member))
	if i < 0 {
		return node.Group{}, node.ErrNotMember
	}
	fg.g.Members[i].Admin = true
	f.publishGroupLocked(fg)
	return f.viewLocked(fg), nil
}

func (f *Fake) LeaveGroup(ctx context.Context, group string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("LeaveGroup")
	fg, err := f.findGroupLocked(group)
	if err != nil {
		return err
	}
	if fg.g.State != node.GroupActive {
		return node.ErrNotMember
	}
	for i, m := range fg.g.Members {
		if m.Self {
			fg.g.Members = append(fg.g.Members[:i], fg.g.Members[i+1:]...)
			break
		}
	}
	fg.g.State = node.GroupLeft
	f.publishGroupLocked(fg)
	return nil
}

func (f *Fake) RenameGroup(ctx context.Context, group, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("RenameGroup")
	fg, err := f.changeLocked(group)
	if err != nil {
		return err
	}
	if name = strings.TrimSpace(name); name == "" {
		return errors.New("a group needs a name")
	}
	fg.g.Name = name
	for i := range fg.msgs {
		fg.msgs[i].Contact = name
	}
	f.publishGroupLocked(fg)
	return nil
}

// sendGroupLocked is Send to a group.
func (f *Fake) sendGroupLocked(fg *fakeGroup, text string) (node.Message, error) {
	if fg.g.State != node.GroupActive {
		return node.Message{}, node.ErrNotMember
	}
	f.seq++
	m := node.Message{ID: newID(), Seq: f.seq, Contact: fg.g.Name, Direction: node.Outgoing, Text: text, Time: f.Now(),
		State: node.Queued, Group: fg.g.ID, Author: f.status.Address, AuthorName: f.status.Name, Recipients: len(fg.g.Members) - 1}
	fg.msgs = append(fg.msgs, m)
	f.publishLocked(node.MessageEvent{Message: m})
	return m, nil
}

func (fg *fakeGroup) history(before string, limit int) ([]node.Message, error) {
	end := len(fg.msgs)
	if before != "" {
		end = -1
		for i := range fg.msgs {
			if fg.msgs[i].ID == before {
				end = i
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("history: no message %s", before)
		}
	}
	if limit <= 0 {
		limit = 50
	}
	var out []node.Message
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, fg.msgs[i])
	}
	return out, nil
}

// groupInboxLocked is the group half of Inbox (fg nil: every group).
func (f *Fake) groupInboxLocked(q node.InboxQuery, fg *fakeGroup) []node.Message {
	var out []node.Message
	for _, g := range f.groups {
		if fg != nil && g != fg {
			continue
		}
		for _, m := range g.msgs {
			if (m.Direction == node.Incoming || q.Outgoing) && m.Seq > q.After {
				out = append(out, m)
			}
		}
	}
	return out
}

// SimGroup adds a group as if a contact had invited us and its log had
// come: g's members as given (one Self), messages none. It publishes a
// GroupEvent.
func (f *Fake) SimGroup(g node.Group) node.Group {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g.ID == "" {
		g.ID = newID()
	}
	if g.State == "" {
		g.State = node.GroupActive
	}
	if g.Created.IsZero() {
		g.Created = f.Now()
	}
	fg := &fakeGroup{g: g, presence: map[string]node.Presence{}}
	f.groups[g.ID] = fg
	f.publishGroupLocked(fg)
	return f.viewLocked(fg)
}

// SimGroupMessage simulates a member's message arriving in a group and
// publishes it. author is the member's address.
func (f *Fake) SimGroupMessage(group, author, text string) node.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	fg, err := f.findGroupLocked(group)
	if err != nil {
		panic(err)
	}
	name := ""
	if c, ok := f.contacts[author]; ok {
		name = c.Name
	} else if i := fg.member(author); i >= 0 {
		name = fg.g.Members[i].Name
	}
	f.seq++
	m := node.Message{ID: newID(), Seq: f.seq, Contact: fg.g.Name, Address: author, Direction: node.Incoming, Text: text, Time: f.Now(),
		State: node.Received, Group: fg.g.ID, Author: author, AuthorName: name}
	fg.msgs = append(fg.msgs, m)
	f.publishLocked(node.MessageEvent{Message: m})
	return m
}

// SimGroupReceipt sets how many members have and read one of our group
// messages, and publishes it.
func (f *Fake) SimGroupReceipt(id string, delivered, read int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fg := range f.groups {
		for i := range fg.msgs {
			m := &fg.msgs[i]
			if m.ID != id {
				continue
			}
			m.DeliveredTo, m.ReadBy = delivered, read
			switch {
			case m.Recipients > 0 && read == m.Recipients:
				m.State = node.Read
			case m.Recipients > 0 && delivered == m.Recipients:
				m.State = node.Delivered
			default:
				m.State = node.Sent
			}
			f.publishLocked(node.GroupReceiptEvent{Group: fg.g.ID, ID: id, State: m.State, Recipients: m.Recipients, DeliveredTo: delivered, ReadBy: read})
			return
		}
	}
}

// SimGroupTyping publishes that a member is typing in a group.
func (f *Fake) SimGroupTyping(group, author string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fg, err := f.findGroupLocked(group)
	if err != nil {
		panic(err)
	}
	f.publishLocked(node.TypingEvent{Address: author, Group: fg.g.ID})
}

// SimMemberPresence sets the presence of a member who is not a contact,
// and publishes it.
func (f *Fake) SimMemberPresence(address string, p node.Presence) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fg := range f.groups {
		if fg.member(address) >= 0 {
			fg.presence[address] = p
		}
	}
	f.publishLocked(node.PresenceEvent{Address: address, Presence: p, LastSeen: f.Now()})
}

// SimGroupChange replaces a group's members, name or state as a member's
// change would, and publishes it.
func (f *Fake) SimGroupChange(g node.Group) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fg, ok := f.groups[g.ID]
	if !ok {
		panic("no group " + g.ID)
	}
	fg.g.Name, fg.g.Members, fg.g.State = g.Name, g.Members, g.State
	f.publishGroupLocked(fg)
}
