package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"
)

// draftSaveAfter is how long typing must pause before the draft is saved:
// a burst of typing costs one save, not one per key.
const draftSaveAfter = 1500 * time.Millisecond

// draftSaveMsg is the debounce timer firing.
type draftSaveMsg struct{}

// drafts keeps what was typed in each conversation and not sent. The
// composer holds the open conversation's draft and knows whose it is
// (composer.owner); the others wait here. Every draft is saved in the
// profile (sealed, like messages) when the user leaves its conversation,
// quits, or pauses typing, so it is there again after a restart.
type drafts struct {
	text     map[string]string // by contact address: drafts not in the composer
	saved    map[string]string // what the node holds, to skip saves that change nothing
	timer    bool              // a debounce timer is pending
	editedAt time.Time         // last change in the composer (wall clock)
}

func newDrafts() drafts {
	return drafts{text: map[string]string{}, saved: map[string]string{}}
}

// loaded takes the drafts the node has, from a Contacts reply. The
// composer's own conversation keeps what is typed there now.
func (c *chatModel) draftsLoaded(byAddr map[string]string) {
	for addr, text := range byAddr {
		c.drafts.saved[addr] = text
		if addr == c.composer.owner {
			continue
		}
		if text == "" {
			delete(c.drafts.text, addr)
		} else {
			c.drafts.text[addr] = text
		}
	}
}

// switchDraft puts the composer's text away as its conversation's draft and
// brings out addr's; it saves the draft left behind.
func (c *chatModel) switchDraft(addr string) tea.Cmd {
	if c.composer.owner == addr {
		return nil
	}
	old, text := c.composer.owner, c.composer.Value()
	var cmd tea.Cmd
	if old != "" {
		if text == "" {
			delete(c.drafts.text, old)
		} else {
			c.drafts.text[old] = text
		}
		cmd = c.saveDraft(old, text)
	}
	c.composer.SetValue(c.drafts.text[addr])
	delete(c.drafts.text, addr)
	c.composer.owner = addr
	c.composer.lastTypingSent = time.Time{}
	return cmd
}

// forgetDraft drops a removed contact's draft.
func (c *chatModel) forgetDraft(addr string) {
	delete(c.drafts.text, addr)
	delete(c.drafts.saved, addr)
	if c.composer.owner == addr {
		c.composer.SetValue("")
		c.composer.owner = ""
	}
}

// draftEdited notes a change in the composer and arms the debounce timer
// if none is pending.
func (c *chatModel) draftEdited() tea.Cmd {
	c.drafts.editedAt = time.Now()
	if c.drafts.timer {
		return nil
	}
	cmd := c.after(draftSaveAfter, draftSaveMsg{})
	c.drafts.timer = cmd != nil
	return cmd
}

// draftTimer saves the composer's draft once typing has paused, or waits
// for the rest of the pause.
func (c *chatModel) draftTimer() tea.Cmd {
	c.drafts.timer = false
	if rest := draftSaveAfter - time.Since(c.drafts.editedAt); rest > 0 {
		cmd := c.after(rest, draftSaveMsg{})
		c.drafts.timer = cmd != nil
		return cmd
	}
	return c.saveDraft(c.composer.owner, c.composer.Value())
}

// flushDraft saves the composer's draft now (before quitting).
func (c *chatModel) flushDraft() tea.Cmd {
	return c.saveDraft(c.composer.owner, c.composer.Value())
}

// saveDraft stores addr's draft in the node unless it holds that already.
func (c *chatModel) saveDraft(addr, text string) tea.Cmd {
	if addr == "" || c.drafts.saved[addr] == text {
		return nil
	}
	c.drafts.saved[addr] = text
	api := c.api
	return quiet(c.ctx, func(ctx context.Context) error { return api.SetDraft(ctx, addr, text) })
}
