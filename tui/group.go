package tui

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

// Groups in the UI (issue 18). A group is a row of the contact list keyed
// by its id (32 hex digits, never an onion address), which the node takes
// wherever a contact ref goes: Send, History, MarkRead, Typing and SetDraft
// need nothing new. The row is a node.Contact made from the group
// (groupRow); the group itself is kept beside the list (contactList.groups)
// for its members. Group messages are routed by their group, and show
// their author's name in a colour of its own.

// isGroupAddr says whether a list key is a group's id.
func isGroupAddr(a string) bool {
	if len(a) != 32 {
		return false
	}
	for _, r := range a {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

type groupsMsg struct {
	gs  []node.Group
	err error
}

func loadGroups(ctx context.Context, api node.API) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		gs, err := api.Groups(ctx)
		return groupsMsg{gs, err}
	})
}

// groupRow is g as a row of the contact list: accepted while we are in
// it (the composer takes text), requested otherwise.
func groupRow(g node.Group) node.Contact {
	ct := node.Contact{Address: g.ID, Name: g.Name, State: node.StateAccepted, Presence: node.Offline, Unread: g.Unread,
		LastMessage: g.LastMessage, LastAt: g.LastAt, Created: g.Created, Draft: g.Draft}
	if g.State != node.GroupActive {
		ct.State = node.StateRequested
	}
	for _, m := range g.Members {
		if !m.Self && m.Presence == node.Online {
			ct.Presence = node.Online
		}
	}
	return ct
}

// groupItems are the rows of every known group.
func (l *contactList) groupItems() []node.Contact {
	out := make([]node.Contact, 0, len(l.groups))
	for _, g := range l.groups {
		out = append(out, groupRow(g))
	}
	return out
}

// upsertGroup adds or replaces a group and its row.
func (l *contactList) upsertGroup(g node.Group) {
	if l.groups == nil {
		l.groups = map[string]node.Group{}
	}
	old, had := l.groups[g.ID]
	l.groups[g.ID] = g
	row := groupRow(g)
	if i := l.index(g.ID); i >= 0 {
		if had && row.LastMessage == "" && row.LastAt.IsZero() {
			row.LastMessage, row.LastAt = l.items[i].LastMessage, l.items[i].LastAt
		}
		if had && g.Unread == 0 && old.Unread == 0 {
			row.Unread = l.items[i].Unread
		}
		l.items[i] = row
	} else {
		l.items = append(l.items, row)
	}
	l.sort()
}

// memberPresence records a member's presence in every group it is in,
// and the group rows' (online while any other member is).
func (l *contactList) memberPresence(addr string, p node.Presence) {
	for id, g := range l.groups {
		changed := false
		for i := range g.Members {
			if g.Members[i].Address == addr && !g.Members[i].Self {
				g.Members[i].Presence, changed = p, true
			}
		}
		if !changed {
			continue
		}
		l.groups[id] = g
		if i := l.index(id); i >= 0 {
			l.items[i].Presence = groupRow(g).Presence
		}
	}
}

// memberName is how a group shows a member: our nickname, their own name,
// or the start of their address.
func memberName(m node.GroupMember) string {
	if n := safetext.Line(strings.TrimSpace(m.Name)); n != "" {
		return n
	}
	return onion.Address(m.Address).Short()
}

// authorName is how a group message names its author.
func authorName(m *node.Message) string {
	if n := safetext.Line(strings.TrimSpace(m.AuthorName)); n != "" {
		return n
	}
	return onion.Address(m.Author).Short()
}

// authorStyle picks an author's colour by their address, the same on every
// screen and in every group.
func authorStyle(st *Styles, author string) int {
	if len(st.Authors) == 0 {
		return -1
	}
	h := fnv.New32a()
	h.Write([]byte(author))
	return int(h.Sum32() % uint32(len(st.Authors)))
}

// senderLabel is the name line above a run of messages: "You", the
// contact, or in a group the author in their colour.
func senderLabel(m *node.Message, peer string, st *Styles, cs cells, w int) string {
	switch {
	case m.Direction == node.Outgoing:
		return st.SenderMe.Render("You")
	case m.Group != "":
		name := cs.truncate(authorName(m), w-8)
		if i := authorStyle(st, m.Author); i >= 0 {
			return st.Authors[i].Render(name)
		}
		return st.SenderThem.Render(name)
	}
	return st.SenderThem.Render(cs.truncate(peer, w-8))
}

// groupMark is what our group message says of its receipts.
func groupMark(st *Styles, m *node.Message) string {
	if m.Group == "" || m.Direction != node.Outgoing || m.Recipients == 0 {
		return ""
	}
	s := fmt.Sprintf("delivered to %d/%d", m.DeliveredTo, m.Recipients)
	if m.ReadBy > 0 {
		s += fmt.Sprintf(", read by %d", m.ReadBy)
	}
	return st.Time.Render(s)
}

// groupView routes a group message by its group: the list and the
// conversation key it by the group's id.
func groupView(m node.Message) node.Message {
	if m.Group != "" {
		m.Address = m.Group
	}
	return m
}

func groupViews(ms []node.Message) {
	for i := range ms {
		ms[i] = groupView(ms[i])
	}
}

// gotGroups takes a Groups reply: every group's row, and its draft.
func (c *chatModel) gotGroups(msg groupsMsg) tea.Cmd {
	if msg.err != nil {
		return c.bar.setFlash("groups: "+msg.err.Error(), true)
	}
	drafts := map[string]string{}
	for _, g := range msg.gs {
		c.list.upsertGroup(g)
		drafts[g.ID] = g.Draft
	}
	c.draftsLoaded(drafts)
	c.recount()
	c.dirty = true
	if c.list.selected == "" && len(c.list.items) > 0 {
		return c.open(c.list.items[0].Address)
	}
	return c.openPending()
}

// groupChanged takes a GroupEvent.
func (c *chatModel) groupChanged(g node.Group) tea.Cmd {
	_, known := c.list.groups[g.ID]
	c.list.upsertGroup(g)
	c.recount()
	c.dirty = true
	if cmd := c.openPending(); cmd != nil {
		return cmd
	}
	if !known && g.InvitedBy != "" {
		return c.bar.setFlash("you were added to the group "+safetext.Line(g.Name), false)
	}
	if g.State == node.GroupRemoved {
		return c.bar.setFlash("you were removed from "+safetext.Line(g.Name), true)
	}
	return nil
}

// groupReceipt takes a GroupReceiptEvent: the counts beside our message.
func (c *chatModel) groupReceipt(e node.GroupReceiptEvent) {
	if e.Group != c.conv.address {
		return
	}
	if i := c.conv.index(e.ID); i >= 0 {
		m := &c.conv.msgs[i]
		m.DeliveredTo, m.ReadBy, m.Recipients = e.DeliveredTo, e.ReadBy, e.Recipients
		if rank(e.State) > rank(m.State) {
			m.State = e.State
		}
		delete(c.conv.cache, e.ID)
		c.dirty = true
	}
}

// groupTyping takes a TypingEvent of a group member.
func (c *chatModel) groupTyping(e node.TypingEvent) tea.Cmd {
	name := onion.Address(e.Address).Short()
	if g, ok := c.list.groups[e.Group]; ok {
		for _, m := range g.Members {
			if m.Address == e.Address {
				name = memberName(m)
			}
		}
	}
	if c.list.typers == nil {
		c.list.typers = map[string]string{}
	}
	c.list.typers[e.Group] = name
	c.list.startTyping(e.Group)
	return c.after(typingFor, typingExpiredMsg{e.Group})
}

// typingName is who the rule says is typing in ct's conversation.
func (l *contactList) typingName(ct node.Contact) string {
	if n, ok := l.typers[ct.Address]; ok && isGroupAddr(ct.Address) {
		return n
	}
	return displayName(ct)
}

// groupHeader is a group conversation's title line: name, members, who
// is online.
func (c *chatModel) groupHeader(ct *node.Contact, w int) string {
	s := c.styles
	g := c.list.groups[ct.Address]
	online := 0
	for _, m := range g.Members {
		if !m.Self && m.Presence == node.Online {
			online++
		}
	}
	h := " " + s.Accent.Render("#") + " " + s.Header.Render(c.truncate(displayName(*ct), max(4, w/3))) + "  " +
		s.Muted.Render(fmt.Sprintf("%d members, %d online", len(g.Members), online))
	switch g.State {
	case node.GroupRemoved:
		h += "  " + s.Warning.Render("removed")
	case node.GroupLeft:
		h += "  " + s.Muted.Render("left")
	}
	return h + s.Hint.Render("  · "+firstKey(c.keys.Details)+" members")
}

// groupNote is the composer's note in a group we cannot write to.
func groupNote(ct *node.Contact, g node.Group) string {
	switch g.State {
	case node.GroupRemoved:
		return "you were removed from this group"
	case node.GroupLeft:
		return "you left this group"
	case node.GroupInvited:
		return "joining: the member list is on its way from " + onion.Address(g.InvitedBy).Short()
	}
	return ""
}

// groupRows is a group's two lines in the contact list.
func (l *contactList) groupRows(g node.Group, ct node.Contact, w int, focused bool) (string, string) {
	s := l.styles
	sel := ct.Address == l.selected
	right := ""
	if ct.Unread > 0 {
		right = s.Unread.Render(fmt.Sprintf("%d", ct.Unread))
	}
	marker := " "
	if sel {
		marker = s.Accent.Render("▌")
	}
	nameW := w - 3 - l.textWidth(right) - 1
	nameStyle := s.ContactName
	if sel || ct.Unread > 0 {
		nameStyle = nameStyle.Bold(true)
	}
	line1 := marker + presenceDot(s, ct) + " " + l.pad(nameStyle.Render(l.truncate(displayName(ct), nameW)), nameW) + " " + right
	var sub string
	switch {
	case g.State == node.GroupRemoved:
		sub = "you were removed"
	case g.State == node.GroupLeft:
		sub = "you left"
	case g.State == node.GroupInvited:
		sub = "joining…"
	case l.isTyping(ct.Address):
		sub = s.Typing.Render(l.typingName(ct) + " typing…")
	case ct.LastMessage != "":
		sub = safetext.Line(ct.LastMessage)
	default:
		sub = fmt.Sprintf("group of %d", len(g.Members))
	}
	line2 := marker + "  " + s.Preview.Render(l.truncate(sub, w-3))
	line1, line2 = l.fit(line1, w), l.fit(line2, w)
	if sel && focused {
		line1, line2 = s.Selected.Render(line1), s.Selected.Render(line2)
	}
	return line1, line2
}

// showGroup opens a group's members panel.
func (c *chatModel) showGroup(id string) tea.Cmd {
	g, ok := c.list.groups[id]
	if !ok {
		return nil
	}
	var contacts []node.Contact
	for _, ct := range c.list.items {
		if !isGroupAddr(ct.Address) {
			contacts = append(contacts, ct)
		}
	}
	return c.apply(showDialog{d: newGroupDialog(c.env, c.connection(), g, contacts, c.width)})
}

// newGroup opens the dialog that makes a group of contacts.
func (c *chatModel) newGroup() tea.Cmd {
	var contacts []node.Contact
	for _, ct := range c.list.items {
		if !isGroupAddr(ct.Address) && ct.State == node.StateAccepted {
			contacts = append(contacts, ct)
		}
	}
	d := newGroupCreateDialog(c.env, c.connection(), contacts, c.width)
	return c.apply(showDialog{d: d, init: d.name.Focus()})
}
