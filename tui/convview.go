package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// renderMain draws the right-hand pane, h lines of w cells: the
// conversation's header, its messages (or what stands in for them), the
// rule carrying the typing indicator and scroll hints, and the composer.
func (c *chatModel) renderMain(w, h int) []string {
	s := c.styles
	ct := c.list.current()
	lines := make([]string, 0, h)
	lines = append(lines, c.fit(c.header(ct, w), w))
	lines = append(lines, c.renderConversation(ct, w, c.convHeight())...)

	rule := ""
	switch {
	case ct != nil && c.list.isTyping(ct.Address):
		rule = s.Typing.Render(" " + c.list.typingName(*ct) + " is typing…")
	case c.conv.unseenBelow > 0:
		rule = s.Unread.Render(fmt.Sprintf(" ↓ %d new · %s to jump", c.conv.unseenBelow, firstKey(c.keys.ScrollEnd)))
	case c.conv.scroll > 0 || len(c.conv.newer) > 0:
		rule = s.Muted.Render(" ↓ more below · " + firstKey(c.keys.ScrollEnd) + " to jump")
	}
	rule = c.truncate(rule, w)
	lines = append(lines, rule+s.Divider.Render(strings.Repeat("─", max(0, w-c.textWidth(rule)))))
	if banner := c.composeBanner(w); banner != "" { // replying or editing (convo.go)
		lines = append(lines, banner)
	}
	if c.focus == focusMessages {
		lines = append(lines, c.fit(" "+s.Hint.Render(c.messageHint()), w))
	} else {
		lines = append(lines, c.composer.Render(w, c.composerNote(ct), s, c.cells)...)
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return lines[:h]
}

// header is the conversation's title line: name, presence, verified.
func (c *chatModel) header(ct *node.Contact, w int) string {
	s := c.styles
	switch {
	case ct != nil && isGroupAddr(ct.Address):
		return c.groupHeader(ct, w)
	case ct != nil:
		h := " " + s.Header.Render(c.truncate(displayName(*ct), max(4, w/3))) + "  " + presenceDot(s, *ct) + " " + s.Muted.Render(presenceText(c.now(), *ct))
		if ct.Verified {
			h += "  " + s.Success.Render("✓ verified")
		}
		if ct.Timer > 0 {
			h += "  " + s.Muted.Render("⏱ "+shortTimer(time.Duration(ct.Timer)))
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
			" " + s.Label.Render("Address:  ") + c.truncate(ct.Address, w-12),
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
			out = append(out, c.fit(l, w))
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
			out = append(out, c.fit(l, w))
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
		return " " + s.Key.Render(k) + strings.Repeat(" ", max(1, 7-c.textWidth(k))) + what
	}
	return append(lines, "",
		keyLine(c.keys.MyAddress, "show it with a QR code and copy it"),
		keyLine(c.keys.AddContact, "add a contact by their address"),
		keyLine(c.keys.Help, "all keys"))
}

// layoutOptions are the settings a conversation is drawn with.
type layoutOptions struct {
	loc      *time.Location
	now      time.Time
	peer     string // the contact's display name
	maxWidth int    // widest a message's text runs; 0 for the pane's width
	times    bool   // the time beside every message, not only above each group
	files    fileLook
	picked   string // id of the chosen message (convo.go)
}

// layout renders every message of the window at width w.
func (c *conversation) layout(w int, st *Styles, cs cells, o layoutOptions) {
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
	if o.maxWidth > 0 && bodyW > o.maxWidth {
		bodyW = o.maxWidth
	}
	// The newest outgoing message the peer has read says so in words too.
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
		if m.ID == c.unreadFrom {
			c.lines = append(c.lines, st.Unread.Render(cs.center("── new messages ──", w)))
		}
		if m.Kind == node.KindTimer {
			// A timer change: one centred line, not a message (convo.go).
			line := noticeLine(m, o.peer, w, st, cs)
			if m.ID == o.picked {
				line = st.Selected.Render(cs.fit(line, w))
			}
			c.lines = append(c.lines, line)
			continue
		}
		t := m.Time.In(o.loc)
		newDay := prev == nil || !sameDay(prev.Time.In(o.loc), t)
		if newDay {
			label := dayLabel(t, o.now.In(o.loc))
			c.lines = append(c.lines, st.DaySeparator.Render(cs.center("── "+label+" ──", w)))
		}
		if newDay || prev.Direction != m.Direction || prev.Author != m.Author || m.Time.Sub(prev.Time) > 5*time.Minute || m.ID == c.unreadFrom {
			sender := senderLabel(m, o.peer, st, cs, w) // a group's: the author, in their colour
			if !o.times {
				sender += " " + st.Time.Render(t.Format("15:04"))
			}
			c.lines = append(c.lines, sender)
		}
		stamp := ""
		if o.times {
			stamp = t.Format("15:04")
		}
		var orig *node.Message
		if m.ReplyTo != nil {
			if j := c.index(m.ReplyTo.ID); j >= 0 {
				orig = &c.msgs[j]
			}
		}
		picked := m.ID == o.picked
		sig, fsig := convoSig(m, orig, picked), ""
		if m.File != nil {
			fsig = o.files.signature(m)
		}
		body, ok := c.cache[m.ID]
		if !ok || body.width != bodyW || body.state != m.State || body.errText != m.Error || body.lastRead != (i == lastRead) || body.stamp != stamp || body.sig != sig || body.file != fsig {
			body = renderedBody{width: bodyW, state: m.State, errText: m.Error, lastRead: i == lastRead, stamp: stamp, sig: sig, file: fsig}
			if m.File != nil {
				body.lines = pickBar(renderFile(m, bodyW, i == lastRead, stamp, st, cs, o.files), picked, st)
			} else {
				body.lines = renderBody(m, orig, o.peer, picked, bodyW, i == lastRead, stamp, st, cs)
			}
		}
		next[m.ID] = body
		c.lines = append(c.lines, body.lines...)
		prev = m
	}
}

// renderBody wraps a message's text to bodyW and adds its time (stamp, if
// any), its state mark and, for a failed message, the reason and the retry
// key; and (issue 17) the quoted line of a reply above it (orig: the
// message answered, if the window holds it), its reactions under it, the
// edited and disappearing marks, a tombstone for a deleted message, and a
// bar beside the chosen one.
func renderBody(m *node.Message, orig *node.Message, peer string, picked bool, bodyW int, lastRead bool, stamp string, st *Styles, cs cells) []string {
	var lines []string
	if m.ReplyTo != nil && !m.Deleted {
		lines = append(lines, quoteLine(m, orig, peer, bodyW+2, st, cs))
	}
	text := safetext.Text(m.Text)
	wrapped := cs.wrap(text, bodyW)
	if m.Deleted {
		wrapped = []string{st.Muted.Render("⊘ message deleted")}
	}
	var marks []string
	if stamp != "" {
		marks = append(marks, st.Time.Render(stamp))
	}
	if !m.Edited.IsZero() && !m.Deleted {
		marks = append(marks, st.Time.Render("edited"))
	}
	if m.Timer > 0 && !m.Deleted {
		marks = append(marks, st.Time.Render("⏱"+shortTimer(time.Duration(m.Timer))))
	}
	if m.Direction == node.Outgoing {
		mark := stateMark(st, m.State)
		if lastRead && m.Group == "" {
			mark += st.Time.Render(" read")
		}
		if g := groupMark(st, m); g != "" {
			mark += " " + g // delivered to 4/5, read by 2
		}
		marks = append(marks, mark)
	}
	mark := strings.Join(marks, " ")
	for j, l := range wrapped {
		line := "  " + st.Body.Render(l)
		if j == len(wrapped)-1 && mark != "" {
			if cs.textWidth(l)+2+cs.textWidth(mark) <= bodyW {
				line += "  " + mark
			} else {
				lines = append(lines, line)
				line = "  " + strings.Repeat(" ", max(0, bodyW-cs.textWidth(mark))) + mark
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
		for _, l := range cs.wrap(note, bodyW) {
			lines = append(lines, "  "+st.MarkFailed.Render(l))
		}
	}
	if m.Direction == node.Outgoing && m.State == node.Expired {
		// Final: no retry key (a late code is worse than none).
		note := "⌛ " + safetext.Line(m.Error)
		for _, l := range cs.wrap(note, bodyW) {
			lines = append(lines, "  "+st.MarkFailed.Render(l))
		}
	}
	if len(m.Reactions) > 0 && !m.Deleted {
		lines = append(lines, reactionLine(m.Reactions, st, cs, bodyW+2))
	}
	return pickBar(lines, picked, st)
}

// pickBar marks the lines of the chosen message with a bar in its margin.
func pickBar(lines []string, picked bool, st *Styles) []string {
	if picked {
		// Every line starts with two spaces: the first becomes the bar.
		for i, l := range lines {
			lines[i] = st.Accent.Render("▌") + strings.TrimPrefix(l, " ")
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
	case node.Stored: // kept by a mailbox until the peer collects it (issue 16)
		return st.MarkSent.Render("✓⌂")
	case node.Delivered:
		return st.MarkDelivered.Render("✓✓")
	case node.Read:
		// Heavier than delivered's: without colour (NO_COLOR) the glyph
		// alone must tell them apart.
		return st.MarkRead.Render("✔✔")
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
