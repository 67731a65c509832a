package tui

import (
	"context"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// handleKey acts on a key when no dialog is open. Every binding comes from
// the KeyMap; while the composer has focus a key that types text is text,
// so a binding on a printable key (? for help) works everywhere else.
func (c *chatModel) handleKey(k tea.KeyPressMsg) tea.Cmd {
	keys := c.keys
	if c.focus == focusMessages {
		if cmd, ok := c.messageKey(k); ok {
			return cmd
		}
	}
	if c.focus == focusComposer && k.Text != "" {
		return c.typeKey(k)
	}
	// Key sequences ("g g" in the vim preset) work where no text is typed.
	if c.focus == focusList {
		if prefix := c.pendingKey; prefix != "" {
			c.pendingKey = ""
			if cmd, ok := c.sequenceKey(prefix + " " + k.String()); ok {
				return cmd
			}
		} else if keys.sequence(k.String()) {
			c.pendingKey = k.String()
			return nil
		}
	}
	switch {
	case matches(k, keys.Quit):
		return c.quit()
	case matches(k, keys.Help):
		return c.apply(showDialog{d: newHelpDialog(c.env)})
	case matches(k, keys.Switcher):
		return c.apply(showDialog{d: newSwitcher(c.env, c.connection(), c.list.items, c.width)})
	case matches(k, keys.NewGroup):
		return c.newGroup()
	case matches(k, keys.AddContact):
		return c.apply(showDialog{d: newAddDialog(c.env, c.connection(), c.bar.status, c.list.items, c.width)})
	case matches(k, keys.MyAddress):
		return c.apply(showDialog{d: newAddressDialog(c.env, c.connection(), c.bar.status.Address)})
	case matches(k, keys.Settings):
		return c.apply(showDialog{d: newSettingsDialog(c.env, c.settings, c.bar.status.Name, c.width)})
	case matches(k, keys.Details):
		if ct := c.list.current(); ct != nil {
			return c.showDetails(*ct)
		}
		return c.bar.setFlash("no contact selected", true)
	case matches(k, keys.Retry):
		return c.retry()
	case matches(k, keys.Attach):
		return c.attach()
	case matches(k, keys.Files):
		return c.showFiles()
	case matches(k, keys.FocusNext):
		if c.focus == focusList {
			return c.focusIfAccepted()
		}
		return c.setFocus(focusList)
	case matches(k, keys.ScrollUp):
		return c.scrollBy(max(1, c.convHeight()-2))
	case matches(k, keys.ScrollDown):
		return c.scrollBy(-max(1, c.convHeight()-2))
	case matches(k, keys.ScrollTop):
		return c.scrollBy(len(c.conv.lines))
	case matches(k, keys.ScrollEnd):
		return c.jumpLatest()
	case matches(k, keys.JumpUnread):
		return c.jumpUnread()
	// Conversation features (issue 17).
	case matches(k, keys.SelectMessage):
		return c.selectMessages()
	case matches(k, keys.Timer):
		if ct := c.list.current(); ct != nil {
			return c.apply(showDialog{d: newTimerDialog(c.env, c.connection(), *ct, c.width)})
		}
		return c.bar.setFlash("no conversation open", true)
	case matches(k, keys.SearchHere), matches(k, keys.SearchAll):
		ct := c.list.current()
		here := matches(k, keys.SearchHere) && ct != nil
		d := newSearchDialog(c.env, c.connection(), c.list.items, ct, here, c.width)
		return c.apply(showDialog{d: d, init: d.init()})
	}
	if c.focus == focusComposer && c.cv.compose != nil && matches(k, keys.Close) {
		return c.cancelCompose()
	}
	if c.focus == focusMessages {
		return nil
	}
	if c.focus == focusComposer {
		if matches(k, keys.Send) {
			return c.send()
		}
		return c.typeKey(k)
	}
	switch {
	case matches(k, keys.ListUp):
		return c.moveSelection(-1)
	case matches(k, keys.ListDown):
		return c.moveSelection(1)
	case matches(k, keys.OpenChat):
		ct := c.list.current()
		switch {
		case ct == nil:
			return nil
		case ct.State == node.StatePendingIncoming:
			return c.apply(showDialog{d: newRequestDialog(c.env, c.connection(), *ct)})
		case ct.State == node.StateAccepted:
			return c.setFocus(focusComposer)
		}
		return c.showDetails(*ct)
	}
	return nil
}

// sequenceKey acts on a completed key sequence; false if nothing is bound
// to it.
func (c *chatModel) sequenceKey(seq string) (tea.Cmd, bool) {
	keys := c.keys
	switch {
	case matchesSeq(seq, keys.ScrollTop):
		return c.scrollBy(len(c.conv.lines)), true
	case matchesSeq(seq, keys.ScrollEnd):
		return c.jumpLatest(), true
	case matchesSeq(seq, keys.ScrollUp):
		return c.scrollBy(max(1, c.convHeight()-2)), true
	case matchesSeq(seq, keys.ScrollDown):
		return c.scrollBy(-max(1, c.convHeight()-2)), true
	case matchesSeq(seq, keys.JumpUnread):
		return c.jumpUnread(), true
	}
	return nil, false
}

// typeKey passes a key to the composer, telling the peer we type.
func (c *chatModel) typeKey(k tea.KeyPressMsg) tea.Cmd {
	cmd, changed := c.composer.Update(k)
	if changed {
		cmd = tea.Batch(cmd, c.typed(), c.draftEdited())
	}
	return cmd
}

func (c *chatModel) showDetails(ct node.Contact) tea.Cmd {
	if isGroupAddr(ct.Address) {
		return c.showGroup(ct.Address) // the members panel (group.go)
	}
	d := newDetailsDialog(c.env, c.connection(), ct, c.width)
	return c.apply(showDialog{d: d, init: d.init()})
}

func (c *chatModel) moveSelection(d int) tea.Cmd {
	if addr := c.list.moved(d); addr != "" {
		return c.open(addr)
	}
	return nil
}

// retry queues the failed messages of the open conversation again.
func (c *chatModel) retry() tea.Cmd {
	ids := c.conv.failedIDs()
	if len(ids) == 0 {
		return c.bar.setFlash("nothing to retry", false)
	}
	api := c.api
	return report(c.ctx, fmt.Sprintf("retrying %d message(s)", len(ids)), func(ctx context.Context) error {
		for _, id := range ids {
			if err := api.Retry(ctx, id); err != nil {
				return fmt.Errorf("retry: %w", err)
			}
		}
		return nil
	})
}

// click selects the contact under the pointer, or focuses the composer
// when the click is in the conversation.
func (c *chatModel) click(msg tea.MouseClickMsg) tea.Cmd {
	if c.dialog != nil || msg.Button != tea.MouseLeft {
		return nil
	}
	side, _ := c.columns()
	listShown := side > 0 || (c.focus == focusList && len(c.list.items) > 0)
	if !listShown || (side > 0 && msg.X >= side) {
		return c.focusIfAccepted()
	}
	ct := c.list.at(msg.Y)
	if ct == nil {
		return nil
	}
	accepted := ct.State == node.StateAccepted
	cmd := c.open(ct.Address)
	if !accepted {
		return tea.Batch(cmd, c.setFocus(focusList))
	}
	return tea.Batch(cmd, c.setFocus(focusComposer))
}

// wheel scrolls the conversation.
func (c *chatModel) wheel(msg tea.MouseWheelMsg) tea.Cmd {
	if c.dialog != nil {
		return nil
	}
	switch msg.Button {
	case tea.MouseWheelUp:
		return c.scrollBy(3)
	case tea.MouseWheelDown:
		return c.scrollBy(-3)
	}
	return nil
}
