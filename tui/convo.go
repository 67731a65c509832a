package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// Conversation features (issue 17) in the chat: choosing a message (focus
// on the conversation) and acting on it, replying and editing in the
// composer, the node's MessageChangedEvents, jumping to a message, and how
// replies, reactions, edits, tombstones and timer changes are drawn. The
// dialogs are dialog_react.go, dialog_msgdelete.go, dialog_edits.go,
// dialog_timer.go and dialog_search.go.

// convoState is the chat's state for these features.
type convoState struct {
	picked  string     // id of the chosen message (focusMessages)
	compose *composing // replying to or editing a message in the composer
	jumpTo  string     // a message to show once the window holds it
	jumping int        // pages loaded looking for jumpTo
}

// composing is the composer replying to, or editing, a message.
type composing struct {
	edit     bool
	msg      node.Message
	address  string
	keptText string // the draft that was in the composer before an edit
}

// maxJumpPages bounds the older pages loaded looking for a message.
const maxJumpPages = 200

// pickedMessage is the chosen message in the window, nil if none.
func (c *chatModel) pickedMessage() *node.Message {
	if i := c.conv.index(c.cv.picked); i >= 0 {
		return &c.conv.msgs[i]
	}
	return nil
}

// selectMessages moves the focus to the conversation, on its newest
// message (or the one shown at the bottom of a scrolled view).
func (c *chatModel) selectMessages() tea.Cmd {
	if len(c.conv.msgs) == 0 {
		return c.bar.setFlash("no message to choose", false)
	}
	c.cv.picked = c.bottomMessage()
	c.focus = focusMessages
	c.composer.Blur()
	c.dirty = true
	return nil
}

// bottomMessage is the id of the last message starting in view.
func (c *chatModel) bottomMessage() string {
	end := len(c.conv.lines) - c.conv.scroll
	for i := len(c.conv.msgStart) - 1; i >= 0; i-- {
		if c.conv.msgStart[i] < end && i < len(c.conv.msgs) {
			return c.conv.msgs[i].ID
		}
	}
	return c.conv.msgs[len(c.conv.msgs)-1].ID
}

// leaveMessages gives the focus back to the composer (or the list).
func (c *chatModel) leaveMessages() tea.Cmd {
	c.cv.picked = ""
	c.dirty = true
	c.focus = focusList
	if cmd := c.focusIfAccepted(); cmd != nil {
		return cmd
	}
	return nil
}

// movePick chooses the message d away (negative: older), loading older
// pages at the top.
func (c *chatModel) movePick(d int) tea.Cmd {
	i := c.conv.index(c.cv.picked)
	if i < 0 {
		return c.selectMessages()
	}
	j := min(max(0, i+d), len(c.conv.msgs)-1)
	c.cv.picked = c.conv.msgs[j].ID
	c.dirty = true
	c.relayout()
	c.showPicked()
	return c.more()
}

// showPicked scrolls so the chosen message is on screen.
func (c *chatModel) showPicked() {
	i := c.conv.index(c.cv.picked)
	if i < 0 || i >= len(c.conv.msgStart) {
		return
	}
	h := c.convHeight()
	start := c.conv.msgStart[i]
	end := len(c.conv.lines)
	if i+1 < len(c.conv.msgStart) {
		end = c.conv.msgStart[i+1]
	}
	top := len(c.conv.lines) - c.conv.scroll - h
	switch {
	case start < top:
		c.conv.showLine(start, h)
	case end > top+h:
		c.conv.scroll = len(c.conv.lines) - end
		c.conv.clamp(h)
	}
}

// messageKey acts on a key while a message is chosen; false if the key is
// not one of the message keys (global keys then apply).
func (c *chatModel) messageKey(k tea.KeyPressMsg) (tea.Cmd, bool) {
	keys := c.keys
	m := c.pickedMessage()
	switch {
	case matches(k, keys.Close), matches(k, keys.FocusNext):
		return c.leaveMessages(), true
	case matches(k, keys.ListUp), matches(k, keys.SelectMessage):
		return c.movePick(-1), true
	case matches(k, keys.ListDown):
		return c.movePick(1), true
	case m == nil:
		return nil, false
	case matches(k, keys.Reply):
		return c.startCompose(*m, false), true
	case matches(k, keys.Edit):
		return c.startCompose(*m, true), true
	case matches(k, keys.React):
		if m.Deleted || m.Kind != "" {
			return c.bar.setFlash("this message takes no reactions", true), true
		}
		return c.apply(showDialog{d: newReactDialog(c.env, c.connection(), c.conv.address, *m, c.width)}), true
	case matches(k, keys.DeleteMessage):
		return c.apply(showDialog{d: newMsgDeleteDialog(c.env, c.connection(), c.conv.address, *m, c.now(), c.width)}), true
	case matches(k, keys.EditHistory):
		if m.Edited.IsZero() {
			return c.bar.setFlash("this message was never edited", false), true
		}
		d := newEditsDialog(c.env, c.connection(), c.conv.address, *m, c.width)
		return c.apply(showDialog{d: d, init: d.init()}), true
	case matches(k, keys.JumpOriginal):
		if m.ReplyTo == nil {
			return c.bar.setFlash("not a reply", false), true
		}
		return c.jump(m.ReplyTo.ID), true
	}
	return nil, false
}

// startCompose puts the composer in reply or edit mode for m.
func (c *chatModel) startCompose(m node.Message, edit bool) tea.Cmd {
	ct := c.list.current()
	switch {
	case ct == nil || ct.State != node.StateAccepted:
		return c.bar.setFlash("you can write once they accept", true)
	case m.Deleted || m.Kind != "":
		return c.bar.setFlash("that message cannot be answered or edited", true)
	case edit && m.Direction != node.Outgoing:
		return c.bar.setFlash("only your own messages can be edited", true)
	case edit && c.now().Sub(m.Time) > node.EditWindow:
		return c.bar.setFlash("too late to edit: messages can be edited for 24 hours", true)
	}
	cm := &composing{edit: edit, msg: m, address: ct.Address}
	if edit {
		cm.keptText = c.composer.Value()
		c.composer.SetValue(m.Text)
	}
	c.cv.compose = cm
	c.cv.picked = ""
	c.dirty = true
	return c.setFocus(focusComposer)
}

// cancelCompose leaves reply or edit mode; an edit gives back the draft.
func (c *chatModel) cancelCompose() tea.Cmd {
	cm := c.cv.compose
	c.cv.compose = nil
	if cm != nil && cm.edit {
		c.composer.SetValue(cm.keptText)
	}
	return nil
}

// composeBanner is the line above the composer while replying or editing.
func (c *chatModel) composeBanner(w int) string {
	cm := c.cv.compose
	if cm == nil || cm.address != c.conv.address {
		return ""
	}
	s := c.styles
	esc := firstKey(c.keys.Close)
	if cm.edit {
		return c.fit(" "+s.Accent.Render("✎ editing your message")+s.Hint.Render(" · "+esc+" cancel"), w)
	}
	who := "yourself"
	if cm.msg.Direction == node.Incoming {
		who = c.peerName()
	}
	head := " ↳ replying to " + who + ": "
	tail := " · " + esc + " cancel"
	room := max(4, w-c.textWidth(head)-c.textWidth(tail))
	return c.fit(s.Accent.Render(head)+s.Muted.Render(c.truncate(oneLine(cm.msg.Text), room))+s.Hint.Render(tail), w)
}

func (c *chatModel) peerName() string {
	if ct := c.list.current(); ct != nil {
		return displayName(*ct)
	}
	return "them"
}

func oneLine(s string) string { return strings.Join(strings.Fields(safetext.Line(s)), " ") }

// sendCompose sends the composer's text as the reply or edit it is; false
// when the composer is plain.
func (c *chatModel) sendCompose(addr, text string) (tea.Cmd, bool) {
	cm := c.cv.compose
	if cm == nil || cm.address != addr {
		return nil, false
	}
	c.cv.compose = nil
	api, id := c.api, cm.msg.ID
	if cm.edit {
		kept := cm.keptText
		c.composer.SetValue(kept)
		return tea.Batch(call(c.ctx, func(ctx context.Context) tea.Msg {
			_, err := api.Edit(ctx, addr, id, text)
			if err != nil {
				return sentMsg{address: addr, text: text, err: fmt.Errorf("edit: %w", err)}
			}
			return nil
		}), c.saveDraft(addr, kept)), true
	}
	return tea.Batch(call(c.ctx, func(ctx context.Context) tea.Msg {
		_, err := api.Reply(ctx, addr, id, text)
		return sentMsg{address: addr, text: text, err: err}
	}), c.saveDraft(addr, "")), true
}

// messageChanged takes a MessageChangedEvent: the message edited,
// reacted to, deleted (a tombstone), or gone (deleted for us, disappeared).
func (c *chatModel) messageChanged(e node.MessageChangedEvent) tea.Cmd {
	if e.Address != c.conv.address {
		return nil
	}
	i := c.conv.index(e.ID)
	if i < 0 {
		return nil
	}
	if e.Message == nil {
		c.conv.msgs = append(c.conv.msgs[:i:i], c.conv.msgs[i+1:]...)
		if c.cv.picked == e.ID {
			c.cv.picked = ""
			if len(c.conv.msgs) > 0 {
				c.cv.picked = c.conv.msgs[min(i, len(c.conv.msgs)-1)].ID
			} else if c.focus == focusMessages {
				c.focus = focusList
			}
		}
	} else {
		old := c.conv.msgs[i]
		m := *e.Message
		m.Seq, m.State, m.Error = old.Seq, old.State, old.Error // events carry the state separately
		c.conv.msgs[i] = m
	}
	if cm := c.cv.compose; cm != nil && cm.msg.ID == e.ID && (e.Message == nil || e.Message.Deleted) {
		c.cancelCompose()
	}
	c.dirty = true
	return nil
}

// jump shows message id: in the window, or after loading older pages
// until it is there.
func (c *chatModel) jump(id string) tea.Cmd {
	if i := c.conv.index(id); i >= 0 {
		c.cv.jumpTo = ""
		if c.focus != focusMessages {
			c.focus = focusMessages
			c.composer.Blur()
		}
		c.cv.picked = id
		c.dirty = true
		c.relayout()
		if i < len(c.conv.msgStart) {
			c.conv.showLine(c.conv.msgStart[i], c.convHeight())
		}
		return c.more()
	}
	if c.conv.oldestReached || !c.conv.loaded {
		c.cv.jumpTo = ""
		return c.bar.setFlash("that message is not in this conversation any more", false)
	}
	c.cv.jumpTo, c.cv.jumping = id, 0
	return c.loadForJump()
}

// loadForJump loads the next older page while looking for cv.jumpTo.
func (c *chatModel) loadForJump() tea.Cmd {
	if c.conv.loadingOlder || len(c.conv.msgs) == 0 {
		return nil // the page on its way is checked when it comes
	}
	c.conv.loadingOlder = true
	return loadHistory(c.ctx, c.api, c.conv.address, c.conv.gen, pageOlder, c.conv.msgs[0].ID, pageSize)
}

// jumpProgress runs after a page came: the message looked for is found,
// or the next page is asked for.
func (c *chatModel) jumpProgress() tea.Cmd {
	id := c.cv.jumpTo
	if id == "" {
		return nil
	}
	if c.conv.index(id) >= 0 {
		return c.jump(id)
	}
	c.cv.jumping++
	if c.conv.oldestReached || c.cv.jumping > maxJumpPages {
		c.cv.jumpTo = ""
		return c.bar.setFlash("that message is not in this conversation any more", false)
	}
	return c.loadForJump()
}

// openAt opens a contact's conversation and shows message id in it (a
// search result).
func (c *chatModel) openAt(addr, id string) tea.Cmd {
	if c.conv.address == addr && c.conv.loaded {
		return c.jump(id)
	}
	cmd := c.open(addr)
	c.cv.jumpTo, c.cv.jumping = id, 0
	return cmd
}

// --- drawing ---

// timerName says a disappearing timer in words.
func timerName(d time.Duration) string {
	switch d {
	case 0:
		return "off"
	case 5 * time.Minute:
		return "5 minutes"
	case time.Hour:
		return "1 hour"
	case 24 * time.Hour:
		return "1 day"
	case 7 * 24 * time.Hour:
		return "1 week"
	case 28 * 24 * time.Hour:
		return "4 weeks"
	}
	return d.String()
}

// shortTimer is a timer in a few cells, for marks.
func shortTimer(d time.Duration) string {
	switch {
	case d >= 7*24*time.Hour && d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%dw", d/(7*24*time.Hour))
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// noticeLine is a timer change, centred in the conversation.
func noticeLine(m *node.Message, peer string, w int, st *Styles, cs cells) string {
	who := "You"
	if m.Direction == node.Incoming {
		who = peer
	}
	var text string
	if m.Timer == 0 {
		text = who + " turned disappearing messages off"
	} else {
		text = who + " set disappearing messages to " + timerName(time.Duration(m.Timer))
	}
	return st.Muted.Render(cs.center("⏱ "+cs.truncate(text, w-6), w))
}

// quoteLine is the line above a reply: who wrote what it answers, and the
// excerpt (the message's text now, when the window holds it).
func quoteLine(m *node.Message, orig *node.Message, peer string, w int, st *Styles, cs cells) string {
	r := m.ReplyTo
	who := "you"
	if r.Direction == node.Incoming {
		who = peer
	}
	text := r.Quote
	switch {
	case orig != nil && orig.Deleted:
		text = "(deleted)"
	case orig != nil:
		text = orig.Text
	case text == "":
		text = "(a message not here)"
	}
	head := "┃ " + who + ": "
	return "  " + st.Muted.Render(head+cs.truncate(oneLine(text), max(4, w-2-cs.textWidth(head))))
}

// reactionLine is the reactions under a message: each emoji with its
// count, ours marked.
func reactionLine(rs []node.Reaction, st *Styles, cs cells, w int) string {
	type count struct {
		emoji string
		n     int
		mine  bool
		first time.Time
	}
	byEmoji := map[string]*count{}
	var order []*count
	for _, r := range rs {
		e := safetext.Line(r.Emoji)
		cnt := byEmoji[e]
		if cnt == nil {
			cnt = &count{emoji: e, first: r.At}
			byEmoji[e] = cnt
			order = append(order, cnt)
		}
		cnt.n++
		cnt.mine = cnt.mine || r.From == node.Outgoing
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].first.Before(order[j].first) })
	parts := make([]string, 0, len(order))
	for _, cnt := range order {
		p := fmt.Sprintf("%s %d", cnt.emoji, cnt.n)
		if cnt.mine {
			p = st.Accent.Render(p)
		}
		parts = append(parts, p)
	}
	return "  " + cs.truncate(strings.Join(parts, "  "), w-2)
}

// convoSig is what of a message's conversation state its rendering
// depends on, for the render cache.
func convoSig(m *node.Message, orig *node.Message, picked bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%t|%d|%t|%v|%v", m.Text, m.Deleted, m.Timer, picked, m.Edited, m.Disappears)
	for _, r := range m.Reactions {
		b.WriteString("|" + r.Emoji + string(r.From))
	}
	if m.ReplyTo != nil {
		b.WriteString("|r" + m.ReplyTo.Quote)
		if orig != nil {
			fmt.Fprintf(&b, "|o%s%t", orig.Text, orig.Deleted)
		}
	}
	return b.String()
}

// messageHint is the composer's line while a message is chosen: the keys.
func (c *chatModel) messageHint() string {
	k := c.keys
	return fmt.Sprintf("↑/↓ choose · %s reply · %s react · %s edit · %s delete · %s versions · %s original · %s back",
		firstKey(k.Reply), firstKey(k.React), firstKey(k.Edit), firstKey(k.DeleteMessage), firstKey(k.EditHistory),
		firstKey(k.JumpOriginal), firstKey(k.Close))
}
