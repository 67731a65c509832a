package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

const typingFor = 6 * time.Second

// contactList is the sidebar: every contact, two rows each, pending
// requests first and then by latest activity, with the selection and who
// is typing. It changes only through its methods, called by the chat on
// the node's replies and events.
type contactList struct {
	*env
	items    []node.Contact
	loaded   bool   // the first Contacts reply arrived
	selected string // address of the selected contact
	top      int    // first contact shown
	height   int    // lines the list has on screen

	typing map[string]time.Time // contact address → typing until

	groups map[string]node.Group // group id → the group of a row (group.go)
	typers map[string]string     // group id → who types there
}

func newContactList(e *env) contactList {
	return contactList{env: e, typing: map[string]time.Time{}}
}

// SetSize sets the height of the list (its width is chosen at Render).
func (l *contactList) SetSize(height int) { l.height = height }

func (l *contactList) index(addr string) int {
	for i := range l.items {
		if l.items[i].Address == addr {
			return i
		}
	}
	return -1
}

// current is the selected contact, nil if none.
func (l *contactList) current() *node.Contact {
	if i := l.index(l.selected); i >= 0 {
		return &l.items[i]
	}
	return nil
}

// set replaces the list with a Contacts reply.
func (l *contactList) set(cs []node.Contact) {
	l.items, l.loaded = append(cs, l.groupItems()...), true
	l.sort()
}

// sort keeps pending requests first, then the most recent activity.
func (l *contactList) sort() {
	sort.SliceStable(l.items, func(i, j int) bool {
		a, b := l.items[i], l.items[j]
		pa, pb := a.State == node.StatePendingIncoming, b.State == node.StatePendingIncoming
		if pa != pb {
			return pa
		}
		la, lb := a.LastAt, b.LastAt
		if la.IsZero() {
			la = a.Created
		}
		if lb.IsZero() {
			lb = b.Created
		}
		if !la.Equal(lb) {
			return la.After(lb)
		}
		return strings.ToLower(a.Name) < strings.ToLower(b.Name)
	})
}

// mergeContact is ct from a ContactEvent, with what the event does not
// carry (presence, last message) kept from old.
func mergeContact(old, ct node.Contact) node.Contact {
	if ct.Presence == "" {
		ct.Presence, ct.LastSeen = old.Presence, old.LastSeen
	}
	if ct.LastMessage == "" && ct.LastAt.IsZero() {
		ct.LastMessage, ct.LastAt = old.LastMessage, old.LastAt
	}
	return ct
}

// upsert adds or replaces a contact from a ContactEvent.
func (l *contactList) upsert(ct node.Contact) {
	if i := l.index(ct.Address); i >= 0 {
		l.items[i] = mergeContact(l.items[i], ct)
	} else {
		if ct.Presence == "" {
			ct.Presence = node.Offline
		}
		l.items = append(l.items, ct)
	}
	l.sort()
}

// remove drops a contact; false if it was not in the list.
func (l *contactList) remove(addr string) bool {
	i := l.index(addr)
	if i < 0 {
		return false
	}
	l.items = append(l.items[:i], l.items[i+1:]...)
	return true
}

// setPresence records a PresenceEvent.
func (l *contactList) setPresence(addr string, p node.Presence, lastSeen time.Time) {
	if i := l.index(addr); i >= 0 {
		l.items[i].Presence = p
		if !lastSeen.IsZero() {
			l.items[i].LastSeen = lastSeen
		}
	}
	if p != node.Online {
		delete(l.typing, addr)
	}
}

// allOffline marks every contact offline: while the node is out of
// reach, nobody is known to be online.
func (l *contactList) allOffline() {
	for i := range l.items {
		l.items[i].Presence = node.Offline
	}
	clear(l.typing)
}

// counts are the status bar's counters.
func (l *contactList) counts() (contacts, online, pending int) {
	for _, ct := range l.items {
		if isGroupAddr(ct.Address) {
			contacts-- // a group is no contact
			continue
		}
		if ct.Presence == node.Online {
			online++
		}
		if ct.State == node.StatePendingIncoming {
			pending++
		}
	}
	return contacts + len(l.items), online, pending
}

// unread is the number of unread messages over all contacts.
func (l *contactList) unread() int {
	n := 0
	for _, ct := range l.items {
		n += ct.Unread
	}
	return n
}

// moved is the address d rows from the selection, clamped to the list; ""
// when the list is empty.
func (l *contactList) moved(d int) string {
	if len(l.items) == 0 {
		return ""
	}
	i := min(max(l.index(l.selected)+d, 0), len(l.items)-1)
	return l.items[i].Address
}

// rows is the number of contacts the list shows.
func (l *contactList) rows() int { return max(1, (l.height-1)/2) }

// ensureVisible scrolls the list so the selection shows.
func (l *contactList) ensureVisible() {
	i := l.index(l.selected)
	if i < 0 {
		return
	}
	if i < l.top {
		l.top = i
	}
	if i >= l.top+l.rows() {
		l.top = i - l.rows() + 1
	}
}

// at is the contact on screen line y of the list, nil if none.
func (l *contactList) at(y int) *node.Contact {
	if y < 1 {
		return nil
	}
	i := l.top + (y-1)/2
	if i >= len(l.items) {
		return nil
	}
	return &l.items[i]
}

// startTyping shows that addr is typing, for typingFor.
func (l *contactList) startTyping(addr string) {
	l.typing[addr] = l.now().Add(typingFor)
}

// typingExpired ends addr's typing indicator unless it was renewed.
func (l *contactList) typingExpired(addr string) {
	if until, ok := l.typing[addr]; ok && !l.now().Before(until) {
		delete(l.typing, addr)
	}
}

func (l *contactList) isTyping(addr string) bool { return l.typing[addr].After(l.now()) }

// Render draws the list: h lines of w cells; focused highlights the selection.
func (l *contactList) Render(w, h int, focused bool) []string {
	s := l.styles
	lines := make([]string, 0, h)
	title := "Contacts"
	if focused {
		title = s.Title.Render(title)
	} else {
		title = s.Header.Render(title)
	}
	lines = append(lines, l.fit(" "+title, w))
	if len(l.items) == 0 {
		lines = append(lines, l.fit(s.Muted.Render(" none yet"), w), l.fit(s.Hint.Render(" "+firstKey(l.keys.AddContact)+" add one"), w))
	}
	rows := max(1, (h-1)/2)
	if l.top > max(0, len(l.items)-rows) {
		l.top = max(0, len(l.items)-rows)
	}
	for i := l.top; i < len(l.items) && len(lines)+2 <= h; i++ {
		a, b := l.contactRows(l.items[i], w, focused)
		lines = append(lines, a, b)
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return lines[:h]
}

// contactRows is a contact's two lines in the list: presence, name and
// unread count; then the last message, request or last seen.
func (l *contactList) contactRows(ct node.Contact, w int, focused bool) (string, string) {
	if g, ok := l.groups[ct.Address]; ok {
		return l.groupRows(g, ct, w, focused)
	}
	s := l.styles
	sel := ct.Address == l.selected
	right := ""
	switch {
	case ct.State == node.StatePendingIncoming:
		right = s.Request.Render("request")
	case ct.Unread > 0:
		right = s.Unread.Render(fmt.Sprintf("%d", ct.Unread))
	case ct.State == node.StateRequested:
		right = s.Muted.Render("waiting")
	case ct.State == node.StateBlocked:
		right = s.Muted.Render("blocked")
	case ct.Presence != node.Online && !ct.LastSeen.IsZero():
		right = s.Muted.Render(ago(l.now(), ct.LastSeen))
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
	case ct.State == node.StatePendingIncoming:
		sub = "wants to chat: " + safetext.Line(ct.Greeting)
	case ct.State == node.StateRequested:
		sub = "request sent"
	case ct.State == node.StateBlocked:
		sub = "blocked: nothing comes through"
	case l.isTyping(ct.Address):
		sub = s.Typing.Render("typing…")
	case ct.LastMessage != "":
		sub = safetext.Line(ct.LastMessage)
	case ct.Presence == node.Online:
		sub = "online"
	case !ct.LastSeen.IsZero():
		sub = "seen " + ago(l.now(), ct.LastSeen)
	default:
		sub = "offline"
	}
	line2 := marker + "  " + s.Preview.Render(l.truncate(sub, w-3))
	line1, line2 = l.fit(line1, w), l.fit(line2, w)
	if sel && focused {
		line1, line2 = s.Selected.Render(line1), s.Selected.Render(line2)
	}
	return line1, line2
}

// displayName is what the UI calls a contact: our nickname for them (which
// the node fills from the name they give themselves until we choose one),
// else their own name, else the start of their address.
func displayName(ct node.Contact) string {
	if n := safetext.Line(strings.TrimSpace(ct.Name)); n != "" {
		return n
	}
	if n := safetext.Line(strings.TrimSpace(ct.PeerName)); n != "" {
		return n
	}
	if len(ct.Address) > 8 {
		return ct.Address[:8] + "…"
	}
	return ct.Address
}

func presenceDot(s *Styles, ct node.Contact) string {
	switch {
	case isGroupAddr(ct.Address): // a group: its mark, bright while a member is online
		if ct.Presence == node.Online {
			return s.Online.Render("#")
		}
		return s.Offline.Render("#")
	case ct.State == node.StatePendingIncoming:
		return s.Request.Render("✉")
	case ct.State == node.StateBlocked:
		return s.Muted.Render("⊘")
	case ct.Presence == node.Online:
		return s.Online.Render("●")
	case ct.Presence == node.Connecting:
		return s.Connecting.Render("◌")
	}
	return s.Offline.Render("○")
}

func presenceText(now time.Time, ct node.Contact) string {
	if ct.State == node.StateBlocked {
		return "blocked"
	}
	switch ct.Presence {
	case node.Online:
		return "online"
	case node.Connecting:
		return "connecting…"
	}
	if !ct.LastSeen.IsZero() {
		return "last seen " + ago(now, ct.LastSeen)
	}
	return "offline"
}

// ago is a short relative time: "now", "5m ago", "3h ago", "2d ago".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
