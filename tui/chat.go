package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

type focusArea int

const (
	focusList focusArea = iota
	focusComposer
	focusMessages // a message of the conversation is chosen (convo.go)
)

// chatModel is the main screen: contacts on the left, the open conversation
// on the right, the composer under it and a status line at the bottom.
//
// It is the one Bubble Tea model of the screen. Its parts are plain
// structs drawn by Render methods, each in its own file: the contact list
// (contactlist.go), the conversation (conversation.go, convpane.go,
// convview.go), the composer (composer.go) and the status bar
// (statusbar.go). What happens on the node's events is in chat_events.go,
// keys and mouse in chat_input.go. update only routes; dialogs (dialog.go)
// change the chat only through apply.
type chatModel struct {
	*env
	ctx context.Context
	api node.API

	width, height int

	settings node.Settings
	list     contactList
	conv     conversation
	composer composer
	bar      statusBar
	focus    focusArea
	dialog   dialog

	drafts     drafts
	files      fileState
	pendingKey string // first key of a key sequence ("g" of "g g")

	termFocused bool
	dirty       bool // conversation needs a new layout

	cv convoState // replies, reactions, edits, jumps (convo.go)
}

// Sizes of the fixed parts of the main screen.
const (
	minSidebar    = 22
	maxSidebar    = 34
	collapseBelow = 60 // terminal width under which the sidebar collapses
)

func newChat(ctx context.Context, api node.API, e *env) *chatModel {
	return &chatModel{
		env: e, ctx: ctx, api: api,
		settings:    node.Settings{ReadReceipts: true, Typing: true},
		list:        newContactList(e),
		composer:    composer{ta: newComposer(e.styles, e.keys)},
		bar:         statusBar{env: e},
		drafts:      newDrafts(),
		files:       newFileState(),
		termFocused: true,
	}
}

// Init subscribes to events and loads status, contacts and settings.
func (c *chatModel) Init() tea.Cmd {
	return tea.Batch(subscribe(c.ctx, c.api), loadStatus(c.ctx, c.api), loadContacts(c.ctx, c.api), loadSettings(c.ctx, c.api), loadGroups(c.ctx, c.api))
}

func (c *chatModel) restyle() {
	c.composer.restyle(c.styles)
	c.conv.cache = nil
	c.dirty = true
	c.relayout()
}

// SetSize lays the screen out for a new terminal size.
func (c *chatModel) SetSize(w, h int) {
	c.width, c.height = w, h
	_, mainW := c.columns()
	c.composer.SetWidth(max(4, mainW))
	c.list.SetSize(h - 1)
	c.dirty = true
	c.relayout()
}

// columns returns the sidebar width (0 when collapsed) and the main pane width.
func (c *chatModel) columns() (side, main int) {
	if c.width < collapseBelow || (c.list.loaded && len(c.list.items) == 0) {
		// No contacts yet: the welcome (with the address) takes the width.
		return 0, c.width
	}
	side = min(maxSidebar, max(minSidebar, c.width/4))
	if w := c.cfg.Layout.SidebarWidth; w > 0 {
		side = min(w, c.width/2)
	}
	return side, c.width - side - 1
}

// connection is what a dialog needs to call the node.
func (c *chatModel) connection() conn { return conn{ctx: c.ctx, api: c.api} }

func (c *chatModel) Update(msg tea.Msg) tea.Cmd {
	cmd := c.update(msg)
	c.relayout()
	return tea.Batch(cmd, c.more(), c.loadThumbs())
}

// update routes a message to what handles it. The chat takes the node's
// replies and events first; the open dialog also sees events, status and
// settings, and takes keys, pastes and its own replies.
func (c *chatModel) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case subscribedMsg:
		return c.subscribed(msg)
	case eventMsg:
		return tea.Batch(c.handleEvent(msg.ev), waitEvent(msg.ch), c.toDialog(msg))
	case eventsClosedMsg:
		c.bar.eventsClosed = true
		return c.bar.setFlash("lost the connection to the node; restart chive", true)
	case statusMsg:
		return tea.Batch(c.gotStatus(msg), c.toDialog(msg))
	case settingsMsg:
		return tea.Batch(c.gotSettings(msg), c.toDialog(msg))
	case settingsSavedMsg:
		return tea.Batch(c.settingsSaved(msg), c.toDialog(msg))
	case contactsMsg:
		return c.gotContacts(msg)
	case groupsMsg:
		return c.gotGroups(msg)
	case historyMsg:
		return c.history(msg)
	case sentMsg:
		return c.sent(msg)
	case acceptedMsg:
		return c.accepted(msg)
	case doneMsg:
		return c.done(msg)
	case attachedMsg:
		return c.attached(msg)
	case thumbMsg:
		return c.gotThumb(msg)
	case torStallMsg:
		c.bar.stallTimer(msg.n)
	case flashTickMsg:
		return c.bar.flashTick(msg.id)
	case draftSaveMsg:
		return c.draftTimer()
	case typingExpiredMsg:
		c.list.typingExpired(msg.address)
	case tea.FocusMsg:
		c.termFocused = true
		return c.markReadIfInView()
	case tea.BlurMsg:
		c.termFocused = false
	case tea.MouseClickMsg:
		return c.click(msg)
	case tea.MouseWheelMsg:
		return c.wheel(msg)
	case tea.KeyPressMsg:
		if matches(msg, c.keys.Interrupt) {
			return c.interrupt()
		}
		if c.dialog != nil {
			return c.toDialog(msg)
		}
		return c.handleKey(msg)
	default:
		if c.dialog != nil {
			return c.toDialog(msg)
		}
		if c.focus == focusComposer {
			cmd, changed := c.composer.Update(msg)
			if changed {
				cmd = tea.Batch(cmd, c.draftEdited())
			}
			return cmd
		}
	}
	return nil
}

// toDialog hands msg to the open dialog and applies what it asks.
func (c *chatModel) toDialog(msg tea.Msg) tea.Cmd {
	if c.dialog == nil {
		return nil
	}
	return c.apply(c.dialog.update(msg))
}

// apply carries out a dialog's action: the one place where a dialog
// changes the chat.
func (c *chatModel) apply(a action) tea.Cmd {
	switch a := a.(type) {
	case nil:
		return nil
	case actions:
		cmds := make([]tea.Cmd, 0, len(a))
		for _, x := range a {
			cmds = append(cmds, c.apply(x))
		}
		return tea.Batch(cmds...)
	case tea.Cmd:
		return a
	case quitApp:
		return c.quit()
	case closeDialog:
		c.dialog = nil
		if c.focus == focusMessages && c.pickedMessage() != nil {
			return nil // back to the chosen message (convo.go)
		}
		return c.focusIfAccepted()
	case openChat:
		c.dialog = nil
		return tea.Batch(c.open(a.address), c.focusIfAccepted())
	case showDialog:
		c.dialog = a.d
		return a.init
	case flashNote:
		return c.bar.setFlash(a.text, a.isErr)
	case changeSettings:
		cmd := c.changeUI(a.ui)
		if a.node == c.settings {
			return cmd
		}
		old := c.settings
		c.settings = a.node
		return tea.Batch(cmd, saveSettings(c.ctx, c.api, old, a.node))
	case attachFile:
		c.dialog = nil
		return tea.Batch(c.sendFile(a), c.focusIfAccepted())
	case openMessage:
		c.dialog = nil
		return c.openAt(a.address, a.id)
	case setName:
		api, name := c.api, a.name
		return tea.Sequence(report(c.ctx, "you are "+name+" now; your contacts will see it", func(ctx context.Context) error { return api.SetName(ctx, name) }), loadStatus(c.ctx, c.api))
	}
	panic(fmt.Sprintf("tui: unknown dialog action %T", a))
}

func (c *chatModel) setFocus(f focusArea) tea.Cmd {
	if f != focusMessages && c.cv.picked != "" {
		c.cv.picked, c.dirty = "", true
	}
	c.focus = f
	if f == focusComposer {
		return c.composer.Focus()
	}
	c.composer.Blur()
	return nil
}

// focusIfAccepted puts the cursor in the composer when the open
// conversation can take a message.
func (c *chatModel) focusIfAccepted() tea.Cmd {
	if ct := c.list.current(); ct != nil && ct.State == node.StateAccepted {
		return c.setFocus(focusComposer)
	}
	return nil
}

// wantsMouse says whether to take the mouse from the terminal: not while
// our address is on screen, so a plain drag selects it for copying.
func (c *chatModel) wantsMouse() bool {
	if _, ok := c.dialog.(*addressDialog); ok {
		return false
	}
	return !(c.list.loaded && len(c.list.items) == 0)
}

// quit saves the draft in the composer, then ends the program.
func (c *chatModel) quit() tea.Cmd { return tea.Sequence(c.flushDraft(), tea.Quit) }

// interrupt is ctrl+c: it closes the dialog, or clears the composer, and
// quits only when there is neither, so a stray ctrl+c loses nothing typed.
func (c *chatModel) interrupt() tea.Cmd {
	switch {
	case c.dialog != nil:
		return c.apply(closeDialog{})
	case c.composer.Value() != "":
		c.composer.SetValue("")
		return tea.Batch(c.saveDraft(c.composer.owner, ""), c.bar.setFlash("cleared the message · "+firstKey(c.keys.Interrupt)+" again quits", false))
	}
	return c.quit()
}

// recount keeps the status bar's counters in step with the contact list.
func (c *chatModel) recount() { c.bar.setCounts(c.list.counts()) }

// alert asks for attention: the terminal bell (unless turned off) and,
// while the terminal window is not focused, desktop, a notification.
func (c *chatModel) alert(desktop tea.Cmd) tea.Cmd {
	var cmds []tea.Cmd
	if !c.noBell {
		cmds = append(cmds, tea.Raw("\a"))
	}
	if !c.termFocused && desktop != nil {
		cmds = append(cmds, desktop)
	}
	return tea.Batch(cmds...)
}

// title is the window title: the unread count when there is any.
func (c *chatModel) title() string {
	if c.noTitle {
		return ""
	}
	if n := c.list.unread(); n > 0 {
		return fmt.Sprintf("(%d) chive", n)
	}
	return "chive"
}

// View draws the main screen, with a dialog over it when one is open.
func (c *chatModel) View() string {
	if c.width < 20 || c.height < 8 {
		msg := "chive: window too small"
		if c.width < 24 {
			msg = "too small"
		}
		return c.place(c.width, c.height, c.truncate(msg, c.width))
	}
	side, mainW := c.columns()
	bodyH := c.height - 1
	listFocused := c.focus == focusList && c.dialog == nil
	var body string
	switch {
	case side == 0 && c.focus == focusList && len(c.list.items) > 0:
		// Collapsed: the list takes the whole width while it has focus.
		body = strings.Join(c.list.Render(c.width, bodyH, listFocused), "\n")
	case side == 0:
		body = strings.Join(c.renderMain(mainW, bodyH), "\n")
	default:
		div := make([]string, bodyH)
		for i := range div {
			div[i] = c.styles.Divider.Render("│")
		}
		body = joinColumns(c.list.Render(side, bodyH, listFocused), div, c.renderMain(mainW, bodyH))
	}
	screen := body + "\n" + c.bar.Render(c.width)
	if c.dialog == nil {
		return screen
	}
	return c.overlay(screen, c.dialog.Render(c.width, c.height), c.width, c.height)
}

// changeUI applies the settings of this terminal and saves the ones that
// changed in the config file.
func (c *chatModel) changeUI(u uiSettings) tea.Cmd {
	var cmds []tea.Cmd
	save := func(section, key string, v any) {
		if path := c.configPath; path != "" {
			cmds = append(cmds, quiet(c.ctx, func(context.Context) error { return SaveSetting(path, section, key, v) }))
		}
	}
	n := &c.cfg.Notifications
	if u.bell == c.noBell {
		c.noBell, n.Bell = !u.bell, u.bell
		save("notifications", "bell", u.bell)
	}
	if u.title == c.noTitle {
		c.noTitle, n.Title = !u.title, u.title
		save("notifications", "title", u.title)
	}
	if u.desktop != n.Desktop || u.content != n.Content {
		if u.desktop != n.Desktop {
			save("notifications", "desktop", u.desktop)
		}
		if u.content != n.Content {
			save("notifications", "content", u.content)
		}
		n.Desktop, n.Content = u.desktop, u.content
		run := c.notify.run
		c.notify = newNotifier(*n, c.term)
		c.notify.run = run
	}
	if u.theme != c.cfg.Theme.Name {
		c.cfg.Theme.Name = u.theme
		*c.styles = ThemeStyles(c.cfg.Theme, c.termDark)
		c.restyle()
		save("theme", "name", u.theme)
	}
	return tea.Batch(cmds...)
}
