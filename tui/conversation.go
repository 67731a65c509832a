package tui

import (
	"time"

	"github.com/chive-im/chive/node"
)

// Window bounds: a conversation of any length holds at most maxWindow
// messages in memory, fetched in keyset pages of pageSize as the user scrolls.
const (
	pageSize  = 100
	maxWindow = 400
)

// newerPage remembers how to fetch a page trimmed from the new end of the
// window: History(before, n) returns it again (before is the message just
// after it, "" when it reached the newest).
type newerPage struct {
	before string
	n      int
	first  string // id of the page's oldest message: the "before" of the page under it
}

// conversation is the bounded window of one conversation and its rendering
// (drawn in convview.go). msgs run oldest to newest.
type conversation struct {
	address string
	gen     int

	msgs          []node.Message
	oldestReached bool
	newer         []newerPage // non-empty: the window does not reach the newest message
	loadingOlder  bool
	loadingNewer  bool
	loaded        bool   // first page arrived
	unseenBelow   int    // messages that arrived while the window was away from the newest
	follow        bool   // we sent a message here: show it at the bottom when its event comes
	unreadFrom    string // id of the first message not read when it came: the "new messages" divider
	toUnread      bool   // at the next layout, scroll so the divider is at the top

	// cache holds each message's rendered body for the current width and
	// styles, so a new message or state change re-renders one message.
	cache map[string]renderedBody

	scroll   int      // lines from the bottom
	lines    []string // rendered, for the current width
	msgStart []int    // first line of each message in lines
	width    int
}

type renderedBody struct {
	width    int
	stamp    string
	state    node.MessageState
	errText  string
	lastRead bool
	lines    []string
}

func (c *conversation) reset(address string) {
	gen := c.gen + 1
	*c = conversation{address: address, gen: gen}
}

func (c *conversation) index(id string) int {
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].ID == id {
			return i
		}
	}
	return -1
}

func reversed(ms []node.Message) []node.Message {
	out := make([]node.Message, len(ms))
	for i, m := range ms {
		out[len(ms)-1-i] = m
	}
	return out
}

// setLatest replaces the window with the newest page.
func (c *conversation) setLatest(newestFirst []node.Message, limit int) {
	c.msgs = reversed(newestFirst)
	c.oldestReached = len(newestFirst) < limit
	c.newer = nil
	c.unseenBelow = 0
	c.scroll = 0
	c.loaded = true
}

// prependOlder adds an older page at the top and trims the new end if the
// window grew too big. It returns the number of lines removed at the bottom
// so the caller can keep the view steady.
func (c *conversation) prependOlder(newestFirst []node.Message, limit int) (trimmedLines int) {
	if len(newestFirst) < limit {
		c.oldestReached = true
	}
	// Drop anything already present (a message could arrive between pages).
	var page []node.Message
	for _, m := range reversed(newestFirst) {
		if c.index(m.ID) < 0 {
			page = append(page, m)
		}
	}
	// The messages trimmed at the new end are the old window's last ones:
	// count their lines on the current layout, before changing it.
	over := len(page) + len(c.msgs) - maxWindow
	if over > 0 {
		trimmedLines = c.linesOfLast(over)
	}
	c.msgs = append(page, c.msgs...)
	if over > 0 {
		cut := len(c.msgs) - over
		c.newer = append(c.newer, newerPage{before: c.newerBoundary(), n: over, first: c.msgs[cut].ID})
		c.msgs = c.msgs[:cut:cut]
	}
	return trimmedLines
}

// newerBoundary is the id just after the window: the oldest message of the
// most recently trimmed page. Tracked through the stack itself.
func (c *conversation) newerBoundary() string {
	if len(c.newer) == 0 {
		return ""
	}
	return c.newer[len(c.newer)-1].first
}

// linesOfLast counts rendered lines of the last n messages (approximate if
// the layout is stale; used only to keep the view steady).
func (c *conversation) linesOfLast(n int) int {
	if len(c.msgStart) != len(c.msgs) || n <= 0 {
		return 0
	}
	i := len(c.msgs) - n
	if i < 0 || i >= len(c.msgStart) {
		return 0
	}
	return len(c.lines) - c.msgStart[i]
}

// appendNewer adds messages (oldest first) at the new end and trims the old
// end past maxWindow.
func (c *conversation) appendNewer(ms []node.Message) {
	for _, m := range ms {
		if c.index(m.ID) >= 0 {
			continue
		}
		c.msgs = append(c.msgs, m)
	}
	if over := len(c.msgs) - maxWindow; over > 0 {
		c.msgs = append([]node.Message(nil), c.msgs[over:]...)
		c.oldestReached = false
	}
}

// popNewer takes back the page trimmed last from the new end (newest
// first, as History returns it); false if there is none.
func (c *conversation) popNewer(newestFirst []node.Message) bool {
	if len(c.newer) == 0 {
		return false
	}
	e := c.newer[len(c.newer)-1]
	c.newer = c.newer[:len(c.newer)-1]
	if e.before == "" {
		c.unseenBelow = 0
	}
	var last int64
	if n := len(c.msgs); n > 0 {
		last = c.msgs[n-1].Seq
	}
	var add []node.Message
	for _, m := range reversed(newestFirst) {
		if m.Seq > last {
			add = append(add, m)
		}
	}
	c.appendNewer(add)
	return true
}

// update changes one message's state in place; false if it is not in the window.
func (c *conversation) update(id string, st node.MessageState, at time.Time, errText string) bool {
	i := c.index(id)
	if i < 0 {
		return false
	}
	m := &c.msgs[i]
	// States only move forward, except failed → queued on retry.
	if rank(st) < rank(m.State) && !(m.State == node.Failed && st == node.Queued) {
		return true
	}
	m.State, m.Error = st, errText
	switch st {
	case node.Sent:
		m.SentAt = at
	case node.Delivered:
		m.DeliveredAt = at
	case node.Read:
		m.ReadAt = at
	}
	return true
}

func rank(s node.MessageState) int {
	switch s {
	case node.Queued:
		return 0
	case node.Sent:
		return 1
	case node.Stored:
		return 2
	case node.Delivered:
		return 3
	case node.Read:
		return 4
	case node.Failed:
		return 1
	}
	return 0
}

// failedIDs lists failed outgoing messages in the window.
func (c *conversation) failedIDs() []string {
	var ids []string
	for _, m := range c.msgs {
		if m.Direction == node.Outgoing && m.State == node.Failed {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// markUnread puts the "new messages" divider above the first received
// message not read yet, if there is one and no divider yet.
func (c *conversation) markUnread() {
	if c.unreadFrom != "" {
		return
	}
	for _, m := range c.msgs {
		if m.Direction == node.Incoming && m.State == node.Received {
			c.unreadFrom = m.ID
			return
		}
	}
}

// unreadLine is the line of the "new messages" divider, -1 if it is not in
// the window.
func (c *conversation) unreadLine() int {
	if c.unreadFrom == "" {
		return -1
	}
	if i := c.index(c.unreadFrom); i >= 0 && i < len(c.msgStart) {
		return c.msgStart[i]
	}
	return -1
}

// showLine scrolls so line l is at the top of a view h lines high (as far
// as the window allows).
func (c *conversation) showLine(l, h int) {
	c.scroll = len(c.lines) - l - h
	c.clamp(h)
}

// maxScroll is how far up the view can go within the window.
func (c *conversation) maxScroll(h int) int { return max(0, len(c.lines)-h) }

func (c *conversation) clamp(h int) {
	c.scroll = min(max(0, c.scroll), c.maxScroll(h))
}

// view returns exactly h lines of width w: the window scrolled c.scroll
// lines up from the bottom, messages sitting at the bottom when few.
func (c *conversation) view(h int) []string {
	out := make([]string, h)
	end := len(c.lines) - c.scroll
	start := max(0, end-h)
	vis := c.lines[start:max(start, end)]
	copy(out[h-len(vis):], vis)
	return out
}

// wantOlder reports whether the view is near the top of the window and an
// older page exists.
func (c *conversation) wantOlder(h int) bool {
	if !c.loaded || c.oldestReached || c.loadingOlder || len(c.msgs) == 0 {
		return false
	}
	top := len(c.lines) - c.scroll - h // lines above the view
	return top < h
}

// wantNewer reports whether the view is near the bottom of a window that
// does not reach the newest message.
func (c *conversation) wantNewer(h int) bool {
	return c.loaded && len(c.newer) > 0 && !c.loadingNewer && c.scroll < h
}
