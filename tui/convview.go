package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// renderMain draws the right-hand pane, w×h: the conversation's header,
// its messages (or what stands in for them), the rule carrying the typing
// indicator and scroll hints, and the composer.
func (c *chatModel) renderMain(w, h int) string {
	s := c.styles
	ct := c.list.current()
	lines := make([]string, 0, h)
	lines = append(lines, fit(c.header(ct, w), w))
	lines = append(lines, c.renderConversation(ct, w, c.convHeight())...)

	rule := ""
	switch {
	case ct != nil && c.list.isTyping(ct.Address):
		rule = s.Typing.Render(" " + displayName(*ct) + " is typing…")
	case c.conv.unseenBelow > 0:
		rule = s.Unread.Render(fmt.Sprintf(" ↓ %d new · %s to jump", c.conv.unseenBelow, firstKey(c.keys.ScrollEnd)))
	case c.conv.scroll > 0 || len(c.conv.newer) > 0:
		rule = s.Muted.Render(" ↓ more below · " + firstKey(c.keys.ScrollEnd) + " to jump")
	}
	lines = append(lines, rule+s.Divider.Render(strings.Repeat("─", max(0, w-lipgloss.Width(rule)))))
	lines = append(lines, c.composer.Render(w, c.composerNote(ct), s)...)
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return strings.Join(lines[:h], "\n")
}

// header is the conversation's title line: name, presence, verified.
func (c *chatModel) header(ct *node.Contact, w int) string {
	s := c.styles
	switch {
	case ct != nil:
		h := " " + s.Header.Render(truncate(displayName(*ct), max(4, w/3))) + "  " + presenceDot(s, *ct) + " " + s.Muted.Render(presenceText(c.now(), *ct))
		if ct.Verified {
			h += "  " + s.Success.Render("✓ verified")
		}
		if side, _ := c.columns(); side == 0 {
			h += s.Hint.Render("  · " + firstKey(c.keys.FocusNext) + " contacts")
		}
		return h
	case len(c.list.items) == 0:
		return " " + s.Header.Render("chive")
	}
	return " " + s.Muted.Render("no conversation open")
}

// renderConversation is exactly h lines of width w: Tor's banner if any,
// then the messages, or a note centred where they would be.
func (c *chatModel) renderConversation(ct *node.Contact, w, h int) []string {
	s := c.styles
	if h <= 0 {
		return nil
	}
	banner := c.bar.banner(w, h-1)
	h -= len(banner)
	out := make([]string, 0, h+len(banner))
	out = append(out, banner...)
	var body []string
	switch {
	case ct == nil && len(c.list.items) == 0 && c.list.loaded:
		body = c.emptyState(w)
	case ct == nil:
		body = nil
	case ct.State == node.StatePendingIncoming && len(c.conv.msgs) == 0:
		body = []string{
			" " + s.Request.Render(displayName(*ct)+" wants to chat with you."),
			"",
			" " + s.Label.Render("Greeting: ") + safetext.Line(ct.Greeting),
			" " + s.Label.Render("Address:  ") + truncate(ct.Address, w-12),
			"",
			" " + s.Hint.Render(c.answerHint()),
		}
	case !c.conv.loaded:
		body = []string{" " + s.Muted.Render("loading…")}
	case len(c.conv.msgs) == 0 && ct.State == node.StateRequested:
		body = []string{" " + s.Muted.Render("Request sent. Waiting for "+displayName(*ct)+" to accept;"), " " + s.Muted.Render("they need to be online once. You can close chive meanwhile.")}
	case len(c.conv.msgs) == 0:
		body = []string{" " + s.Muted.Render("No messages yet. Say hello!")}
	default:
		for _, l := range c.conv.view(h) {
			out = append(out, fit(l, w))
		}
		return out
	}
	if pad := h - len(body); len(body) > 0 && pad > 0 {
		for range pad / 2 {
			out = append(out, strings.Repeat(" ", w))
		}
	}
	for _, l := range body {
		if len(out) < h+len(banner) {
			out = append(out, fit(l, w))
		}
	}
	for len(out) < h+len(banner) {
		out = append(out, strings.Repeat(" ", w))
	}
	return out
}

func (c *chatModel) answerHint() string {
	if c.focus == focusList {
		return "press " + firstKey(c.keys.OpenChat) + " to accept, decline or block"
	}
	return firstKey(c.keys.FocusNext) + " to the list, then " + firstKey(c.keys.OpenChat) + " to accept, decline or block"
}

// emptyState welcomes a user with no contacts: their address and the keys
// to share it, add someone, and see every key.
func (c *chatModel) emptyState(w int) []string {
	s := c.styles
	addr := c.bar.status.Address
	lines := []string{
		" " + s.Title.Render("No contacts yet."),
		"",
		" Your address; share it with people you trust:",
	}
	if addr == "" {
		lines = append(lines, "   "+s.Muted.Render("loading…"))
	} else if w-4 >= len(addr) {
		lines = append(lines, "   "+s.Accent.Render(addr))
	} else {
		lines = append(lines, "   "+s.Accent.Render(addr[:28]), "   "+s.Accent.Render(addr[28:]))
	}
	keyLine := func(b key.Binding, what string) string {
		k := firstKey(b)
		return " " + s.Key.Render(k) + strings.Repeat(" ", max(1, 7-lipgloss.Width(k))) + what
	}
	return append(lines, "",
		keyLine(c.keys.MyAddress, "show it with a QR code and copy it"),
		keyLine(c.keys.AddContact, "add a contact by their address"),
		keyLine(c.keys.Help, "all keys"))
}

// layout renders every message of the window at width w.
func (c *conversation) layout(w int, st *Styles, loc *time.Location, now time.Time, peer string) {
	c.width = w
	c.lines = c.lines[:0]
	c.msgStart = c.msgStart[:0]
	if w < 8 {
		for range c.msgs {
			c.msgStart = append(c.msgStart, len(c.lines))
		}
		return
	}
	bodyW := w - 2
	// The newest outgoing message the peer has read says so in words, as
	// the glyphs of delivered and read differ only in colour.
	lastRead := -1
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].Direction == node.Outgoing && c.msgs[i].State == node.Read {
			lastRead = i
			break
		}
	}
	next := make(map[string]renderedBody, len(c.msgs))
	defer func() { c.cache = next }()
	var prev *node.Message
	for i := range c.msgs {
		m := &c.msgs[i]
		c.msgStart = append(c.msgStart, len(c.lines))
		t := m.Time.In(loc)
		newDay := prev == nil || !sameDay(prev.Time.In(loc), t)
		if newDay {
			label := dayLabel(t, now.In(loc))
			c.lines = append(c.lines, st.DaySeparator.Render(center("── "+label+" ──", w)))
		}
		if newDay || prev.Direction != m.Direction || m.Time.Sub(prev.Time) > 5*time.Minute {
			sender := st.SenderThem.Render(truncate(peer, w-8))
			if m.Direction == node.Outgoing {
				sender = st.SenderMe.Render("You")
			}
			c.lines = append(c.lines, sender+" "+st.Time.Render(t.Format("15:04")))
		}
		body, ok := c.cache[m.ID]
		if !ok || body.width != w || body.state != m.State || body.errText != m.Error || body.lastRead != (i == lastRead) {
			body = renderedBody{width: w, state: m.State, errText: m.Error, lastRead: i == lastRead,
				lines: renderBody(m, bodyW, i == lastRead, st)}
		}
		next[m.ID] = body
		c.lines = append(c.lines, body.lines...)
		prev = m
	}
}

// renderBody wraps a message's text to bodyW and adds its state mark and,
// for a failed message, the reason and the retry key.
func renderBody(m *node.Message, bodyW int, lastRead bool, st *Styles) []string {
	var lines []string
	text := safetext.Text(m.Text)
	wrapped := strings.Split(ansi.Wrap(text, bodyW, ""), "\n")
	mark := ""
	if m.Direction == node.Outgoing {
		mark = stateMark(st, m.State)
		if lastRead {
			mark += st.Time.Render(" read")
		}
	}
	for j, l := range wrapped {
		line := "  " + st.Body.Render(l)
		if j == len(wrapped)-1 && mark != "" {
			if lipgloss.Width(l)+1+lipgloss.Width(mark) <= bodyW {
				line += " " + mark
			} else {
				lines = append(lines, line)
				line = "  " + strings.Repeat(" ", max(0, bodyW-lipgloss.Width(mark))) + mark
			}
		}
		lines = append(lines, line)
	}
	if m.Direction == node.Outgoing && m.State == node.Failed {
		reason := safetext.Line(m.Error)
		if reason == "" {
			reason = "not delivered"
		}
		note := fmt.Sprintf("✗ %s · ctrl+r retry", reason)
		for _, l := range strings.Split(ansi.Wrap(note, bodyW, ""), "\n") {
			lines = append(lines, "  "+st.MarkFailed.Render(l))
		}
	}
	if m.Direction == node.Outgoing && m.State == node.Expired {
		// Final: no retry key (a late code is worse than none).
		note := "⌛ " + safetext.Line(m.Error)
		for _, l := range strings.Split(ansi.Wrap(note, bodyW, ""), "\n") {
			lines = append(lines, "  "+st.MarkFailed.Render(l))
		}
	}
	return lines
}

func stateMark(st *Styles, s node.MessageState) string {
	switch s {
	case node.Queued:
		return st.MarkQueued.Render("◷")
	case node.Sent:
		return st.MarkSent.Render("✓")
	case node.Delivered:
		return st.MarkDelivered.Render("✓✓")
	case node.Read:
		return st.MarkRead.Render("✓✓")
	case node.Failed:
		return st.MarkFailed.Render("✗")
	case node.Expired:
		return st.MarkFailed.Render("⌛")
	case node.Cancelled:
		return st.MarkFailed.Render("⊘")
	}
	return ""
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

func dayLabel(t, now time.Time) string {
	switch {
	case sameDay(t, now):
		return "Today"
	case sameDay(t, now.AddDate(0, 0, -1)):
		return "Yesterday"
	case t.Year() == now.Year():
		return t.Format("Monday 2 January")
	}
	return t.Format("Monday 2 January 2006")
}

func center(s string, w int) string {
	n := lipgloss.Width(s)
	if n >= w {
		return truncate(s, w)
	}
	return strings.Repeat(" ", (w-n)/2) + s
}
