package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// The conversation pane's behaviour: opening a conversation, paging its
// bounded window (conversation.go) as the view scrolls, and marking it
// read while its newest messages are in view. The drawing is in convview.go.

// open shows a contact's conversation, loading its newest page. A contact
// the list does not know yet (added, and its ContactEvent still on the way)
// stays selected and opens when the event comes.
func (c *chatModel) open(addr string) tea.Cmd {
	c.list.selected = addr
	c.list.ensureVisible()
	draft := c.switchDraft(addr)
	ct := c.list.current()
	if ct == nil {
		c.conv.reset("")
		c.dirty = true
		return draft
	}
	if c.conv.address == addr && c.conv.loaded {
		return tea.Batch(draft, c.markReadIfInView())
	}
	c.conv.reset(addr)
	c.conv.loadingOlder = true
	c.dirty = true
	cmds := []tea.Cmd{draft, loadHistory(c.ctx, c.api, addr, c.conv.gen, pageLatest, "", pageSize)}
	if ct.State == node.StateAccepted && c.focus != focusComposer && c.dialog == nil {
		cmds = append(cmds, c.setFocus(focusComposer))
	}
	return tea.Batch(cmds...)
}

// inView says whether the newest messages of the open conversation are on screen.
func (c *chatModel) inView() bool {
	return c.termFocused && c.conv.loaded && c.conv.scroll == 0 && len(c.conv.newer) == 0
}

func (c *chatModel) markReadIfInView() tea.Cmd {
	ct := c.list.current()
	if ct == nil || ct.Unread == 0 || !c.inView() {
		return nil
	}
	ct.Unread = 0
	api, addr := c.api, ct.Address
	return quiet(c.ctx, func(ctx context.Context) error { return api.MarkRead(ctx, addr) })
}

// convHeight is the number of conversation lines on screen.
func (c *chatModel) convHeight() int {
	// status line, conversation header, rule above the composer, composer
	// (and the reply or edit line over it)
	banner := 0
	if cm := c.cv.compose; cm != nil && cm.address == c.conv.address {
		banner = 1
	}
	return max(0, c.height-3-c.composer.Height()-banner)
}

// relayout re-renders the conversation if something changed, keeping the
// view steady when lines are added below a scrolled-up view.
func (c *chatModel) relayout() {
	if !c.dirty {
		return
	}
	c.dirty = false
	_, mainW := c.columns()
	o := layoutOptions{loc: c.loc, now: c.now(), maxWidth: c.cfg.Layout.MaxWidth, times: c.cfg.Layout.Timestamps != "group", files: c.fileLook(), picked: c.cv.picked}
	if ct := c.list.current(); ct != nil {
		o.peer = displayName(*ct)
	}
	c.conv.layout(mainW, c.styles, c.cells, o)
	c.conv.clamp(c.convHeight())
	if c.conv.toUnread {
		c.conv.toUnread = false
		if l := c.conv.unreadLine(); l >= 0 {
			c.conv.showLine(l, c.convHeight())
		}
	}
}

// more asks for older or newer pages when the view nears an end of the window.
func (c *chatModel) more() tea.Cmd {
	h := c.convHeight()
	switch {
	case c.conv.wantOlder(h):
		c.conv.loadingOlder = true
		return loadHistory(c.ctx, c.api, c.conv.address, c.conv.gen, pageOlder, c.conv.msgs[0].ID, pageSize)
	case c.conv.wantNewer(h):
		c.conv.loadingNewer = true
		e := c.conv.newer[len(c.conv.newer)-1]
		n := e.n
		if e.before == "" {
			n += c.conv.unseenBelow
		}
		return loadHistory(c.ctx, c.api, c.conv.address, c.conv.gen, pageNewer, e.before, n)
	}
	return nil
}

// scrollBy moves the view; positive is up (older).
func (c *chatModel) scrollBy(n int) tea.Cmd {
	c.conv.scroll += n
	c.conv.clamp(c.convHeight())
	return tea.Batch(c.more(), c.markReadIfInView())
}

// jumpUnread shows the first message not read yet: the "new messages"
// divider at the top of the view.
func (c *chatModel) jumpUnread() tea.Cmd {
	l := c.conv.unreadLine()
	switch {
	case c.conv.unreadFrom == "":
		return c.bar.setFlash("nothing unread here", false)
	case l < 0:
		// Further up than the window holds: go up; the pages load on the way.
		return tea.Batch(c.scrollBy(len(c.conv.lines)), c.bar.setFlash("the first unread message is further up", false))
	}
	c.conv.showLine(l, c.convHeight())
	return tea.Batch(c.more(), c.markReadIfInView())
}

// jumpLatest shows the newest messages, reloading them if the window moved away.
func (c *chatModel) jumpLatest() tea.Cmd {
	if len(c.conv.newer) == 0 {
		c.conv.scroll = 0
		return c.markReadIfInView()
	}
	c.conv.loadingNewer = true
	return loadHistory(c.ctx, c.api, c.conv.address, c.conv.gen, pageLatest, "", pageSize)
}

// history takes a page of the open conversation.
func (c *chatModel) history(msg historyMsg) tea.Cmd {
	if msg.address != c.conv.address || msg.gen != c.conv.gen {
		return nil // a page for a conversation no longer open
	}
	switch msg.kind {
	case pageOlder:
		c.conv.loadingOlder = false
	case pageNewer:
		c.conv.loadingNewer = false
	case pageLatest:
		c.conv.loadingOlder, c.conv.loadingNewer = false, false
	}
	if msg.err != nil {
		return c.bar.setFlash("history: "+msg.err.Error(), true)
	}
	groupViews(msg.msgs)
	switch msg.kind {
	case pageLatest:
		c.conv.setLatest(msg.msgs, pageSize)
		// Open at the first message not read yet when they do not all fit.
		c.conv.markUnread()
		c.conv.toUnread = true
		c.dirty = true
		c.relayout()
		return tea.Batch(c.markReadIfInView(), c.jumpProgress())
	case pageOlder:
		trimmed := c.conv.prependOlder(msg.msgs, pageSize)
		c.conv.scroll -= trimmed
		c.dirty = true
		return c.jumpProgress() // looking for a message further up (convo.go)
	case pageNewer:
		if !c.conv.popNewer(msg.msgs) {
			return nil
		}
		before := len(c.conv.lines)
		c.dirty = true
		c.relayout()
		c.conv.scroll += len(c.conv.lines) - before
		c.conv.clamp(c.convHeight())
	}
	return nil
}

// showMessage puts a message from a MessageEvent in the open conversation.
func (c *chatModel) showMessage(m node.Message) tea.Cmd {
	switch {
	case m.Address != c.conv.address || !c.conv.loaded:
	case m.Direction == node.Outgoing && c.conv.follow:
		// What we just sent: show it at the bottom, wherever the view was.
		c.conv.follow = false
		if len(c.conv.newer) > 0 {
			return c.jumpLatest()
		}
		c.conv.appendNewer([]node.Message{m})
		c.conv.scroll = 0
		c.dirty = true
	case len(c.conv.newer) > 0:
		c.conv.unseenBelow++
		if m.Direction == node.Incoming && c.conv.unreadFrom == "" {
			c.conv.unreadFrom = m.ID // loaded with the page that has it
		}
	default:
		if m.Direction == node.Incoming && !c.inView() && c.conv.unreadFrom == "" {
			c.conv.unreadFrom = m.ID
		}
		// Keep a scrolled-up view steady as lines are added below it.
		before := len(c.conv.lines)
		c.conv.appendNewer([]node.Message{m})
		c.dirty = true
		c.relayout()
		if c.conv.scroll > 0 {
			c.conv.scroll += len(c.conv.lines) - before
			c.conv.clamp(c.convHeight())
		}
	}
	return nil
}
