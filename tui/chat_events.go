package tui

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// The node's replies and events, as the chat takes them. Messages and
// contacts on screen change only here, on the node's events (and the first
// Contacts reply): the replies to Send, AddContact, AcceptContact and the
// rest carry errors, not state.

func (c *chatModel) subscribed(msg subscribedMsg) tea.Cmd {
	if msg.err != nil {
		return c.bar.setFlash("events: "+msg.err.Error(), true)
	}
	return waitEvent(msg.ch)
}

func (c *chatModel) gotStatus(msg statusMsg) tea.Cmd {
	if msg.err != nil {
		return c.bar.setFlash("status: "+msg.err.Error(), true)
	}
	cmd := c.bar.setStatus(msg.st)
	if c.list.loaded {
		c.recount()
	}
	return cmd
}

func (c *chatModel) gotSettings(msg settingsMsg) tea.Cmd {
	if msg.err == nil {
		c.settings = msg.s
	}
	return nil
}

func (c *chatModel) settingsSaved(msg settingsSavedMsg) tea.Cmd {
	if msg.err == nil {
		return nil
	}
	c.settings = msg.old
	return c.bar.setFlash("settings: "+msg.err.Error(), true)
}

func (c *chatModel) gotContacts(msg contactsMsg) tea.Cmd {
	if msg.err != nil {
		return c.bar.setFlash("contacts: "+msg.err.Error(), true)
	}
	byAddr := make(map[string]string, len(msg.cs))
	for _, ct := range msg.cs {
		byAddr[ct.Address] = ct.Draft
	}
	c.draftsLoaded(byAddr)
	c.list.set(msg.cs)
	c.recount()
	c.dirty = true
	if c.list.selected == "" && len(c.list.items) > 0 {
		return c.open(c.list.items[0].Address)
	}
	return c.openPending()
}

// openPending opens the selected conversation if its contact has just
// reached the list (a contact added here, whose event came after the reply).
func (c *chatModel) openPending() tea.Cmd {
	if sel := c.list.selected; sel != "" && sel != c.conv.address && c.list.index(sel) >= 0 {
		return c.open(sel)
	}
	return nil
}

// done reports the end of an action in the status bar.
func (c *chatModel) done(msg doneMsg) tea.Cmd {
	switch {
	case msg.err != nil:
		return c.bar.setFlash(msg.err.Error(), true)
	case msg.flash != "":
		return c.bar.setFlash(msg.flash, false)
	}
	return nil
}

// accepted is the reply to accepting a request: a request carries no name,
// so the details dialog asks for one.
func (c *chatModel) accepted(msg acceptedMsg) tea.Cmd {
	if msg.err != nil {
		return c.bar.setFlash(msg.err.Error(), true)
	}
	if strings.TrimSpace(msg.ct.Name) != "" || c.dialog != nil {
		return nil
	}
	return c.apply(newRenameDialog(c.env, c.connection(), msg.ct, c.width, "Give them a name you will recognise."))
}

func (c *chatModel) handleEvent(ev node.Event) tea.Cmd {
	switch e := ev.(type) {
	case node.TorProgressEvent:
		cmd := c.bar.setTor(e.Tor)
		if e.Tor.State == node.TorFailed {
			return tea.Batch(cmd, c.alert(nil))
		}
		return cmd
	case node.ReachableEvent:
		c.bar.status.Reachable = e.Reachable
		// Why (Status.NetworkProblem) comes with the status.
		return loadStatus(c.ctx, c.api)
	case node.PresenceEvent:
		c.list.setPresence(e.Address, e.Presence, e.LastSeen)
		c.list.memberPresence(e.Address, e.Presence)
		c.recount()
	case node.ContactRequestEvent:
		c.list.upsert(e.Contact)
		c.recount()
		c.dirty = true
		cmd := c.bar.setFlash("contact request from "+displayName(e.Contact)+": select it and press "+firstKey(c.keys.OpenChat), false)
		if c.list.selected == "" {
			cmd = tea.Batch(cmd, c.open(e.Contact.Address))
		}
		return tea.Batch(cmd, c.alert(c.notify.request(c.ctx, displayName(e.Contact))))
	case node.ContactEvent:
		return c.contactChanged(e)
	case node.MessageEvent:
		return c.handleMessage(groupView(e.Message))
	case node.MessageStateEvent:
		if e.Address == c.conv.address && c.conv.update(e.ID, e.State, e.At, e.Error) {
			c.dirty = true
		}
	case node.TypingEvent:
		if e.Group != "" {
			return c.groupTyping(e)
		}
		c.list.startTyping(e.Address)
		return c.after(typingFor, typingExpiredMsg{e.Address})
	case node.ErrorEvent:
		// A lasting problem (a full disk) stays in the status bar.
		return tea.Batch(c.bar.setFlash(e.Message, true), loadStatus(c.ctx, c.api))
	case node.ConnectionEvent:
		return c.connectionChanged(e)
	case node.FileStateEvent:
		return c.fileChanged(e.Transfer)
	case node.FileProgressEvent:
		c.fileProgress(e)
	case node.MessageChangedEvent:
		return c.messageChanged(e)
	case node.SessionEvent:
		// A new session replaced the old one; the contact and the
		// conversation stay. A changed safety number is a warning.
		c.list.upsert(e.Contact)
		c.recount()
		c.dirty = true
		return c.bar.setFlash(e.Notice, e.SafetyNumberChanged)
	case node.GroupEvent:
		return c.groupChanged(e.Group)
	case node.GroupReceiptEvent:
		c.groupReceipt(e)
	}
	return nil
}

// connectionChanged takes the daemon connection going down or coming back
// (the rpc client redials by itself). While it is down nothing is known
// of presence; when it is back, everything shown is loaded again, as
// events were missed meanwhile. Drafts stay as they are.
func (c *chatModel) connectionChanged(e node.ConnectionEvent) tea.Cmd {
	if !e.Connected {
		c.bar.connection = "reconnecting to the daemon…"
		c.list.allOffline()
		c.recount()
		return nil
	}
	c.bar.connection = ""
	cmds := []tea.Cmd{c.bar.setFlash("reconnected to the daemon", false),
		loadStatus(c.ctx, c.api), loadContacts(c.ctx, c.api), loadSettings(c.ctx, c.api), loadGroups(c.ctx, c.api)}
	if addr := c.conv.address; addr != "" {
		follow := c.conv.follow
		c.conv.reset(addr)
		c.conv.follow = follow
		c.conv.loadingOlder = true
		c.dirty = true
		cmds = append(cmds, loadHistory(c.ctx, c.api, addr, c.conv.gen, pageLatest, "", pageSize))
	}
	return tea.Batch(cmds...)
}

// contactChanged takes a ContactEvent: a contact added, renamed, accepted
// (by them or by us), blocked or removed.
func (c *chatModel) contactChanged(e node.ContactEvent) tea.Cmd {
	addr := e.Contact.Address
	if e.Removed {
		if c.list.remove(addr) {
			c.recount()
		}
		c.forgetDraft(addr)
		if c.list.selected != addr {
			return nil
		}
		c.list.selected = ""
		c.conv.reset("")
		c.dirty = true
		if len(c.list.items) > 0 {
			return c.open(c.list.items[0].Address)
		}
		return c.setFocus(focusList)
	}
	var was node.ContactState // "" for a contact new to the list
	if i := c.list.index(addr); i >= 0 {
		was = c.list.items[i].State
	}
	c.list.upsert(e.Contact)
	c.recount()
	c.dirty = true
	if c.list.selected == "" {
		return c.open(addr)
	}
	if cmd := c.openPending(); cmd != nil {
		return cmd
	}
	if (was != node.StateRequested && was != node.StatePendingIncoming) || e.Contact.State != node.StateAccepted {
		return nil // not an acceptance (unblocking says so itself)
	}
	note := displayName(e.Contact) + " accepted: you can chat now"
	if was == node.StatePendingIncoming {
		note = "accepted " + displayName(e.Contact) + ": say hello!" // we did
	}
	cmd := c.bar.setFlash(note, false)
	if c.list.selected == addr && c.dialog == nil {
		cmd = tea.Batch(cmd, c.setFocus(focusComposer))
	}
	return cmd
}

// handleMessage takes a MessageEvent: a message received, or sent by us
// (here or by another client of the node).
func (c *chatModel) handleMessage(m node.Message) tea.Cmd {
	delete(c.list.typing, m.Address)
	c.takeEarly(&m)
	var cmds []tea.Cmd
	i := c.list.index(m.Address)
	if i >= 0 {
		c.list.items[i].LastMessage, c.list.items[i].LastAt = preview(m), m.Time
	} else {
		// A conversation the list does not know yet: refresh it.
		cmds = append(cmds, loadContacts(c.ctx, c.api))
	}
	cmds = append(cmds, c.showMessage(m))
	if m.Direction == node.Incoming {
		if m.Address == c.conv.address && c.inView() {
			api, addr := c.api, m.Address
			cmds = append(cmds, quiet(c.ctx, func(ctx context.Context) error { return api.MarkRead(ctx, addr) }))
		} else {
			if i >= 0 {
				c.list.items[i].Unread++
			}
			sender := m.Contact
			if i >= 0 {
				sender = displayName(c.list.items[i])
			}
			cmds = append(cmds, c.alert(c.notify.message(c.ctx, sender, preview(m))))
		}
	}
	c.list.sort()
	return tea.Batch(cmds...)
}
