package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/textarea"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

type focusArea int

const (
	focusList focusArea = iota
	focusComposer
)

// chatModel is the main screen: contacts on the left, the open conversation
// on the right, the composer under it and a status line at the bottom.
type chatModel struct {
	*env
	ctx context.Context
	api node.API

	width, height int

	status       node.Status
	statusLoaded bool
	settings     node.Settings
	contacts     []node.Contact
	contactsOK   bool
	selected     string // address of the selected contact
	conv         conversation
	composer     textarea.Model
	focus        focusArea
	dialog       dialog

	typing         map[string]time.Time // contact address → typing until
	lastTypingSent time.Time

	flash    string
	flashErr bool
	flashID  int

	torProgressN int  // counts bootstrap progress, to notice a stall
	torStalled   bool // no bootstrap progress for torStallAfter

	termFocused  bool
	eventsClosed bool
	dirty        bool // conversation needs a new layout
	listTop      int  // first contact row shown
}

// Sizes of the fixed parts of the main screen.
const (
	minSidebar    = 22
	maxSidebar    = 34
	collapseBelow = 60 // terminal width under which the sidebar collapses
	typingFor     = 6 * time.Second
	typingEvery   = 3 * time.Second
	flashFor      = 6 * time.Second
	torStallAfter = 60 * time.Second
)

// torStallMsg fires torStallAfter after bootstrap progress n.
type torStallMsg struct{ n int }

// torProgress records Tor's status and, while it bootstraps, arms a one-shot
// timer that flags a stall if nothing moves (no network, blocked Tor).
func (c *chatModel) torProgress(t node.TorStatus) tea.Cmd {
	prev := c.status.Tor
	c.status.Tor = t
	if t.State != node.TorBootstrapping && t.State != node.TorStarting {
		c.torStalled = false
		return nil
	}
	if c.torProgressN > 0 && t.Percent == prev.Percent && t.State == prev.State {
		return nil
	}
	c.torStalled = false
	c.torProgressN++
	return c.after(torStallAfter, torStallMsg{c.torProgressN})
}

func newChat(ctx context.Context, api node.API, e *env) *chatModel {
	c := &chatModel{env: e, ctx: ctx, api: api, typing: map[string]time.Time{}, termFocused: true}
	c.settings = node.Settings{ReadReceipts: true, Typing: true}
	c.composer = newComposer(e.styles)
	return c
}

// Init subscribes to events and loads status, contacts and settings.
func (c *chatModel) Init() tea.Cmd {
	return tea.Batch(subscribe(c.ctx, c.api), loadStatus(c.ctx, c.api), loadContacts(c.ctx, c.api), loadSettings(c.ctx, c.api))
}

func (c *chatModel) restyle() {
	restyleComposer(&c.composer, c.styles)
	c.conv.cache = nil
	c.dirty = true
	c.relayout()
}

// SetSize lays the screen out for a new terminal size.
func (c *chatModel) SetSize(w, h int) {
	c.width, c.height = w, h
	_, mainW := c.columns()
	c.composer.SetWidth(max(4, mainW))
	c.dirty = true
	c.relayout()
}

// columns returns the sidebar width (0 when collapsed) and the main pane width.
func (c *chatModel) columns() (side, main int) {
	if c.width < collapseBelow {
		return 0, c.width
	}
	side = min(maxSidebar, max(minSidebar, c.width/4))
	return side, c.width - side - 1
}

// convHeight is the number of conversation lines on screen.
func (c *chatModel) convHeight() int {
	// status line, conversation header, rule above the composer, composer
	return max(0, c.height-3-c.composer.Height())
}

func (c *chatModel) contactIndex(addr string) int {
	for i := range c.contacts {
		if c.contacts[i].Address == addr {
			return i
		}
	}
	return -1
}

func (c *chatModel) current() *node.Contact {
	if i := c.contactIndex(c.selected); i >= 0 {
		return &c.contacts[i]
	}
	return nil
}

// sortContacts keeps pending requests first, then the most recent activity.
func (c *chatModel) sortContacts() {
	sort.SliceStable(c.contacts, func(i, j int) bool {
		a, b := c.contacts[i], c.contacts[j]
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

func (c *chatModel) upsert(ct node.Contact) {
	if i := c.contactIndex(ct.Address); i >= 0 {
		old := c.contacts[i]
		if ct.Presence == "" {
			ct.Presence, ct.LastSeen = old.Presence, old.LastSeen
		}
		if ct.LastMessage == "" && ct.LastAt.IsZero() {
			ct.LastMessage, ct.LastAt = old.LastMessage, old.LastAt
		}
		c.contacts[i] = ct
	} else {
		if ct.Presence == "" {
			ct.Presence = node.Offline
		}
		c.contacts = append(c.contacts, ct)
	}
	c.sortContacts()
	c.recount()
}

// recount keeps the status counters in step with the contact list.
func (c *chatModel) recount() {
	c.status.Contacts, c.status.ContactsOnline, c.status.PendingRequests = len(c.contacts), 0, 0
	for _, ct := range c.contacts {
		if ct.Presence == node.Online {
			c.status.ContactsOnline++
		}
		if ct.State == node.StatePendingIncoming {
			c.status.PendingRequests++
		}
	}
}

// open shows a contact's conversation, loading its newest page.
func (c *chatModel) open(addr string) tea.Cmd {
	c.selected = addr
	c.ensureListVisible()
	ct := c.current()
	if ct == nil {
		c.conv.reset("")
		c.dirty = true
		return nil
	}
	if c.conv.address == addr && c.conv.loaded {
		return c.markReadIfInView()
	}
	c.conv.reset(addr)
	c.conv.loadingOlder = true
	c.dirty = true
	cmds := []tea.Cmd{loadHistory(c.ctx, c.api, addr, c.conv.gen, pageLatest, "", pageSize)}
	if ct.State == node.StateAccepted && c.focus != focusComposer && c.dialog == nil {
		cmds = append(cmds, c.setFocus(focusComposer))
	}
	return tea.Batch(cmds...)
}

func (c *chatModel) setFocus(f focusArea) tea.Cmd {
	c.focus = f
	if f == focusComposer {
		return c.composer.Focus()
	}
	c.composer.Blur()
	return nil
}

// inView says whether the newest messages of the open conversation are on screen.
func (c *chatModel) inView() bool {
	return c.termFocused && c.conv.loaded && c.conv.scroll == 0 && len(c.conv.newer) == 0
}

func (c *chatModel) markReadIfInView() tea.Cmd {
	ct := c.current()
	if ct == nil || ct.Unread == 0 || !c.inView() {
		return nil
	}
	ct.Unread = 0
	addr := ct.Address
	return quiet(c.ctx, func(ctx context.Context) error { return c.api.MarkRead(ctx, addr) })
}

func (c *chatModel) setFlash(s string, isErr bool) tea.Cmd {
	c.flash, c.flashErr = s, isErr
	c.flashID++
	id := c.flashID
	return c.after(flashFor, flashExpiredMsg{id})
}

// relayout re-renders the conversation if something changed, keeping the
// view steady when lines are added below a scrolled-up view.
func (c *chatModel) relayout() {
	if !c.dirty {
		return
	}
	c.dirty = false
	_, mainW := c.columns()
	peer := ""
	if ct := c.current(); ct != nil {
		peer = displayName(*ct)
	}
	c.conv.layout(mainW, c.styles, c.loc, c.now(), peer)
	c.conv.clamp(c.convHeight())
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

// jumpLatest shows the newest messages, reloading them if the window moved away.
func (c *chatModel) jumpLatest() tea.Cmd {
	if len(c.conv.newer) == 0 {
		c.conv.scroll = 0
		return c.markReadIfInView()
	}
	c.conv.loadingNewer = true
	return loadHistory(c.ctx, c.api, c.conv.address, c.conv.gen, pageLatest, "", pageSize)
}

func (c *chatModel) Update(msg tea.Msg) tea.Cmd {
	cmd := c.update(msg)
	c.relayout()
	return tea.Batch(cmd, c.more())
}

func (c *chatModel) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case subscribedMsg:
		if msg.err != nil {
			return c.setFlash("events: "+msg.err.Error(), true)
		}
		return waitEvent(msg.ch)
	case eventMsg:
		return tea.Batch(c.handleEvent(msg.ev), waitEvent(msg.ch))
	case eventMsgOnce:
		cmds := []tea.Cmd{c.handleEvent(msg.ev), c.setFlash(msg.flash, false)}
		if ce, ok := msg.ev.(node.ContactEvent); ok && msg.rename && c.dialog == nil {
			d := newDetailsDialog(c, ce.Contact)
			d.renaming = true
			d.note = "Give them a name you will recognise."
			c.dialog = d
			cmds = append(cmds, d.init(c), d.name.Focus())
		}
		return tea.Batch(cmds...)
	case eventsClosedMsg:
		c.eventsClosed = true
		return c.setFlash("lost the connection to the node; restart chive", true)
	case statusMsg:
		if msg.err != nil {
			return c.setFlash("status: "+msg.err.Error(), true)
		}
		tor := msg.st.Tor
		msg.st.Tor = c.status.Tor
		c.status, c.statusLoaded = msg.st, true
		if c.contactsOK {
			c.recount()
		}
		return c.torProgress(tor)
	case torStallMsg:
		st := c.status.Tor.State
		if msg.n == c.torProgressN && (st == node.TorBootstrapping || st == node.TorStarting) {
			c.torStalled = true
		}
		return nil
	case settingsMsg:
		if msg.err == nil {
			c.settings = msg.s
		}
		return nil
	case settingsSavedMsg:
		if msg.err != nil {
			c.settings = msg.old
			return c.setFlash("settings: "+msg.err.Error(), true)
		}
		return nil
	case contactsMsg:
		if msg.err != nil {
			return c.setFlash("contacts: "+msg.err.Error(), true)
		}
		c.contacts, c.contactsOK = msg.cs, true
		c.sortContacts()
		c.recount()
		if c.selected == "" && len(c.contacts) > 0 {
			return c.open(c.contacts[0].Address)
		}
		c.dirty = true
		return nil
	case historyMsg:
		return c.handleHistory(msg)
	case sentMsg:
		return c.handleSent(msg)
	case doneMsg:
		if msg.err != nil {
			return c.setFlash(msg.err.Error(), true)
		}
		if msg.flash != "" {
			return c.setFlash(msg.flash, false)
		}
		return nil
	case flashExpiredMsg:
		if msg.id == c.flashID {
			c.flash = ""
		}
		return nil
	case typingExpiredMsg:
		if until, ok := c.typing[msg.address]; ok && !c.now().Before(until) {
			delete(c.typing, msg.address)
		}
		return nil
	case tea.FocusMsg:
		c.termFocused = true
		return c.markReadIfInView()
	case tea.BlurMsg:
		c.termFocused = false
		return nil
	case tea.MouseClickMsg:
		if c.dialog != nil || msg.Button != tea.MouseLeft {
			return nil
		}
		return c.click(msg.X, msg.Y)
	case tea.MouseWheelMsg:
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
	case safetyMsg:
		if d, ok := c.dialog.(*detailsDialog); ok && d.address == msg.address {
			d.safety, d.safetyErr = msg.number, msg.err
		}
		return nil
	}

	if c.dialog != nil {
		closeIt, cmd := c.dialog.update(c, msg)
		if closeIt {
			c.dialog = nil
			if ct := c.current(); ct != nil && ct.State == node.StateAccepted {
				cmd = tea.Batch(cmd, c.setFocus(focusComposer))
			}
		}
		return cmd
	}

	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return c.handleKey(msg)
	case tea.PasteMsg:
		if c.focus != focusComposer {
			return nil
		}
		var cmd tea.Cmd
		c.composer, cmd = c.composer.Update(msg)
		return cmd
	}
	if c.focus == focusComposer {
		var cmd tea.Cmd
		c.composer, cmd = c.composer.Update(msg)
		return cmd
	}
	return nil
}

func (c *chatModel) handleKey(k tea.KeyPressMsg) tea.Cmd {
	keys := c.keys
	switch {
	case matches(k, keys.Quit):
		return tea.Quit
	case k.String() == "f1" || (k.String() == "?" && c.focus == focusList):
		c.dialog = newHelpDialog(c)
		return nil
	case matches(k, keys.Switcher):
		c.dialog = newSwitcher(c)
		return nil
	case matches(k, keys.AddContact):
		c.dialog = newAddDialog(c)
		return nil
	case matches(k, keys.MyAddress):
		c.dialog = newAddressDialog(c)
		return nil
	case matches(k, keys.Settings):
		c.dialog = &settingsDialog{}
		return nil
	case matches(k, keys.Details):
		if ct := c.current(); ct != nil {
			d := newDetailsDialog(c, *ct)
			c.dialog = d
			return d.init(c)
		}
		return c.setFlash("no contact selected", true)
	case matches(k, keys.Retry):
		ids := c.conv.failedIDs()
		if len(ids) == 0 {
			return c.setFlash("nothing to retry", false)
		}
		api := c.api
		return action(c.ctx, fmt.Sprintf("retrying %d message(s)", len(ids)), func(ctx context.Context) error {
			for _, id := range ids {
				if err := api.Retry(ctx, id); err != nil {
					return fmt.Errorf("retry: %w", err)
				}
			}
			return nil
		})
	case matches(k, keys.FocusNext):
		if c.focus == focusList {
			if ct := c.current(); ct != nil && ct.State == node.StateAccepted {
				return c.setFocus(focusComposer)
			}
			return nil
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
	}

	if c.focus == focusList {
		switch {
		case matches(k, keys.ListUp):
			return c.moveSelection(-1)
		case matches(k, keys.ListDown):
			return c.moveSelection(1)
		case matches(k, keys.OpenChat):
			ct := c.current()
			switch {
			case ct == nil:
				return nil
			case ct.State == node.StatePendingIncoming:
				c.dialog = newRequestDialog(*ct)
				return nil
			case ct.State == node.StateAccepted:
				return c.setFocus(focusComposer)
			default:
				d := newDetailsDialog(c, *ct)
				c.dialog = d
				return d.init(c)
			}
		}
		return nil
	}

	// Composer.
	if matches(k, keys.Send) {
		return c.send()
	}
	before := c.composer.Value()
	var cmd tea.Cmd
	c.composer, cmd = c.composer.Update(k)
	if c.composer.Value() != before {
		cmd = tea.Batch(cmd, c.sendTyping())
	}
	return cmd
}

// click selects the contact under the pointer, or focuses the composer
// when the click is in the conversation.
func (c *chatModel) click(x, y int) tea.Cmd {
	side, _ := c.columns()
	listShown := side > 0 || (c.focus == focusList && len(c.contacts) > 0)
	if listShown && (side == 0 || x < side) {
		if y < 1 {
			return nil
		}
		i := c.listTop + (y-1)/2
		if i >= len(c.contacts) {
			return nil
		}
		cmd := c.open(c.contacts[i].Address)
		if c.contacts[i].State != node.StateAccepted {
			return tea.Batch(cmd, c.setFocus(focusList))
		}
		return tea.Batch(cmd, c.setFocus(focusComposer))
	}
	if ct := c.current(); ct != nil && ct.State == node.StateAccepted {
		return c.setFocus(focusComposer)
	}
	return nil
}

func (c *chatModel) moveSelection(d int) tea.Cmd {
	if len(c.contacts) == 0 {
		return nil
	}
	i := c.contactIndex(c.selected) + d
	i = min(max(i, 0), len(c.contacts)-1)
	return c.open(c.contacts[i].Address)
}

// ensureListVisible scrolls the contact list so the selection shows.
func (c *chatModel) ensureListVisible() {
	rows := max(1, (c.height-2)/2)
	i := c.contactIndex(c.selected)
	if i < 0 {
		return
	}
	if i < c.listTop {
		c.listTop = i
	}
	if i >= c.listTop+rows {
		c.listTop = i - rows + 1
	}
}

func (c *chatModel) send() tea.Cmd {
	text := strings.TrimSpace(c.composer.Value())
	if text == "" {
		return nil
	}
	ct := c.current()
	if ct == nil {
		return c.setFlash("choose a contact first (ctrl+k)", true)
	}
	if ct.State != node.StateAccepted {
		return c.setFlash(displayName(*ct)+" has not accepted yet; your message can be sent once they do", true)
	}
	c.composer.Reset()
	c.lastTypingSent = time.Time{}
	if c.conv.address == ct.Address {
		c.conv.follow = true
	}
	return sendText(c.ctx, c.api, ct.Address, text)
}

func (c *chatModel) sendTyping() tea.Cmd {
	ct := c.current()
	if ct == nil || ct.State != node.StateAccepted || !c.settings.Typing || c.composer.Value() == "" {
		return nil
	}
	now := c.now()
	if now.Sub(c.lastTypingSent) < typingEvery {
		return nil
	}
	c.lastTypingSent = now
	addr := ct.Address
	return quiet(c.ctx, func(ctx context.Context) error { return c.api.Typing(ctx, addr) })
}

func (c *chatModel) handleSent(msg sentMsg) tea.Cmd {
	if msg.err == nil {
		return nil
	}
	if c.conv.address == msg.address {
		c.conv.follow = false
	}
	if c.composer.Value() == "" {
		c.composer.SetValue(msg.text)
	}
	return c.setFlash("not sent: "+msg.err.Error(), true)
}

func (c *chatModel) handleHistory(msg historyMsg) tea.Cmd {
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
		return c.setFlash("history: "+msg.err.Error(), true)
	}
	switch msg.kind {
	case pageLatest:
		c.conv.setLatest(msg.msgs, pageSize)
		c.dirty = true
		return c.markReadIfInView()
	case pageOlder:
		trimmed := c.conv.prependOlder(msg.msgs, pageSize)
		c.conv.scroll -= trimmed
		c.dirty = true
	case pageNewer:
		if len(c.conv.newer) == 0 {
			return nil
		}
		e := c.conv.newer[len(c.conv.newer)-1]
		c.conv.newer = c.conv.newer[:len(c.conv.newer)-1]
		page := reversed(msg.msgs)
		if e.before == "" {
			c.conv.unseenBelow = 0
		}
		var last int64
		if n := len(c.conv.msgs); n > 0 {
			last = c.conv.msgs[n-1].Seq
		}
		var add []node.Message
		for _, m := range page {
			if m.Seq > last {
				add = append(add, m)
			}
		}
		before := len(c.conv.lines)
		c.conv.appendNewer(add)
		c.dirty = true
		c.relayout()
		c.conv.scroll += len(c.conv.lines) - before
		c.conv.clamp(c.convHeight())
	}
	return nil
}

func (c *chatModel) handleEvent(ev node.Event) tea.Cmd {
	switch e := ev.(type) {
	case node.TorProgressEvent:
		cmd := c.torProgress(e.Tor)
		if e.Tor.State == node.TorFailed {
			return tea.Batch(cmd, c.notify())
		}
		return cmd
	case node.ReachableEvent:
		c.status.Reachable = e.Reachable
	case node.PresenceEvent:
		if i := c.contactIndex(e.Address); i >= 0 {
			c.contacts[i].Presence = e.Presence
			if !e.LastSeen.IsZero() {
				c.contacts[i].LastSeen = e.LastSeen
			}
			c.recount()
		}
		if e.Presence != node.Online {
			delete(c.typing, e.Address)
		}
	case node.ContactRequestEvent:
		c.upsert(e.Contact)
		cmd := c.setFlash("contact request from "+displayName(e.Contact)+": select it and press enter", false)
		if c.selected == "" {
			cmd = tea.Batch(cmd, c.open(e.Contact.Address))
		}
		c.dirty = true
		return tea.Batch(cmd, c.notify())
	case node.ContactEvent:
		if e.Removed {
			if i := c.contactIndex(e.Contact.Address); i >= 0 {
				c.contacts = append(c.contacts[:i], c.contacts[i+1:]...)
				c.recount()
			}
			if c.selected == e.Contact.Address {
				c.selected = ""
				c.conv.reset("")
				c.dirty = true
				if len(c.contacts) > 0 {
					return c.open(c.contacts[0].Address)
				}
				return c.setFocus(focusList)
			}
			return nil
		}
		wasAccepted := false
		if i := c.contactIndex(e.Contact.Address); i >= 0 {
			wasAccepted = c.contacts[i].State == node.StateAccepted
		}
		c.upsert(e.Contact)
		c.dirty = true
		if c.selected == "" {
			return c.open(e.Contact.Address)
		}
		if !wasAccepted && e.Contact.State == node.StateAccepted {
			cmd := c.setFlash(displayName(e.Contact)+" accepted: you can chat now", false)
			if c.selected == e.Contact.Address && c.dialog == nil {
				cmd = tea.Batch(cmd, c.setFocus(focusComposer))
			}
			return cmd
		}
	case node.MessageEvent:
		return c.handleMessage(e.Message)
	case node.MessageStateEvent:
		if e.Address == c.conv.address && c.conv.update(e.ID, e.State, e.At, e.Error) {
			c.dirty = true
		}
	case node.TypingEvent:
		c.typing[e.Address] = c.now().Add(typingFor)
		addr := e.Address
		return c.after(typingFor, typingExpiredMsg{addr})
	case node.ErrorEvent:
		return c.setFlash(e.Message, true)
	}
	return nil
}

func (c *chatModel) handleMessage(m node.Message) tea.Cmd {
	delete(c.typing, m.Address)
	i := c.contactIndex(m.Address)
	if i >= 0 {
		c.contacts[i].LastMessage, c.contacts[i].LastAt = m.Text, m.Time
	}
	var cmds []tea.Cmd
	if i < 0 {
		// A conversation the list does not know yet: refresh it.
		cmds = append(cmds, loadContacts(c.ctx, c.api))
	}
	switch {
	case m.Address != c.conv.address || !c.conv.loaded:
	case m.Direction == node.Outgoing && c.conv.follow:
		// What we just sent: show it at the bottom, wherever the view was.
		c.conv.follow = false
		if len(c.conv.newer) > 0 {
			cmds = append(cmds, c.jumpLatest())
			break
		}
		c.conv.appendNewer([]node.Message{m})
		c.conv.scroll = 0
		c.dirty = true
	case len(c.conv.newer) > 0:
		c.conv.unseenBelow++
	default:
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
	if m.Direction == node.Incoming {
		if m.Address == c.conv.address && c.inView() {
			cmds = append(cmds, quiet(c.ctx, func(ctx context.Context) error { return c.api.MarkRead(ctx, m.Address) }))
		} else {
			if i >= 0 {
				c.contacts[i].Unread++
			}
			cmds = append(cmds, c.notify())
		}
	}
	c.sortContacts()
	return tea.Batch(cmds...)
}

// notify rings the terminal bell unless turned off.
func (c *chatModel) notify() tea.Cmd {
	if c.noBell {
		return nil
	}
	return tea.Raw("\a")
}

// title is the window title: the unread count when there is any.
func (c *chatModel) title() string {
	if c.noTitle {
		return ""
	}
	n := 0
	for _, ct := range c.contacts {
		n += ct.Unread
	}
	if n == 0 {
		return "chive"
	}
	return fmt.Sprintf("(%d) chive", n)
}

func displayName(ct node.Contact) string {
	if n := safetext.Line(strings.TrimSpace(ct.Name)); n != "" {
		return n
	}
	if len(ct.Address) > 8 {
		return ct.Address[:8] + "…"
	}
	return ct.Address
}

// View draws the main screen, with a dialog over it when one is open.
func (c *chatModel) View() string {
	if c.width < 20 || c.height < 8 {
		msg := "chive: window too small"
		if c.width < 24 {
			msg = "too small"
		}
		return place(c.width, c.height, truncate(msg, c.width))
	}
	side, mainW := c.columns()
	bodyH := c.height - 1
	var body string
	switch {
	case side == 0 && c.focus == focusList && len(c.contacts) > 0:
		// Collapsed: the list takes the whole width while it has focus.
		body = c.viewSidebar(c.width, bodyH)
	case side == 0:
		body = c.viewMain(mainW, bodyH)
	default:
		right := c.viewMain(mainW, bodyH)
		left := c.viewSidebar(side, bodyH)
		div := c.styles.Divider.Render(strings.TrimSuffix(strings.Repeat("│\n", bodyH), "\n"))
		body = lipgloss.JoinHorizontal(lipgloss.Top, left, div, right)
	}
	screen := body + "\n" + c.viewStatus()
	if c.dialog == nil {
		return screen
	}
	d := c.dialog.view(c)
	if dl := strings.Split(d, "\n"); len(dl) > c.height {
		// Too short a terminal: keep the top (title and first fields).
		d = strings.Join(dl[:c.height], "\n")
	}
	dw, dh := lipgloss.Size(d)
	x, y := max(0, (c.width-dw)/2), max(0, (c.height-dh)/2)
	canvas := lipgloss.NewCanvas(c.width, c.height)
	canvas.Compose(lipgloss.NewCompositor(lipgloss.NewLayer(screen), lipgloss.NewLayer(d).X(x).Y(y).Z(1)))
	return canvas.Render()
}

func (c *chatModel) viewSidebar(w, h int) string {
	s := c.styles
	lines := make([]string, 0, h)
	title := "Contacts"
	if c.focus == focusList && c.dialog == nil {
		title = s.Title.Render(title)
	} else {
		title = s.Header.Render(title)
	}
	lines = append(lines, fit(" "+title, w))
	if len(c.contacts) == 0 {
		lines = append(lines, fit(s.Muted.Render(" none yet"), w), fit(s.Hint.Render(" ctrl+n add one"), w))
	}
	rows := max(1, (h-1)/2)
	if c.listTop > max(0, len(c.contacts)-rows) {
		c.listTop = max(0, len(c.contacts)-rows)
	}
	for i := c.listTop; i < len(c.contacts) && len(lines)+2 <= h; i++ {
		a, b := c.contactRows(c.contacts[i], w)
		lines = append(lines, a, b)
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return strings.Join(lines[:h], "\n")
}

// contactRows is a contact's two lines in the list: presence, name and
// unread count; then the last message, request or last seen.
func (c *chatModel) contactRows(ct node.Contact, w int) (string, string) {
	s := c.styles
	sel := ct.Address == c.selected
	dot := presenceDot(s, ct)
	name := displayName(ct)
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
		right = s.Muted.Render(ago(c.now(), ct.LastSeen))
	}
	marker := " "
	if sel {
		marker = s.Accent.Render("▌")
	}
	nameW := w - 3 - lipgloss.Width(right) - 1
	nameStyle := s.ContactName
	if sel || ct.Unread > 0 {
		nameStyle = nameStyle.Bold(true)
	}
	line1 := marker + dot + " " + padRight(nameStyle.Render(truncate(name, nameW)), nameW) + " " + right
	var sub string
	switch {
	case ct.State == node.StatePendingIncoming:
		sub = "wants to chat: " + safetext.Line(ct.Greeting)
	case ct.State == node.StateRequested:
		sub = "request sent"
	case c.typing[ct.Address].After(c.now()):
		sub = s.Typing.Render("typing…")
	case ct.LastMessage != "":
		sub = safetext.Line(ct.LastMessage)
	case ct.Presence == node.Online:
		sub = "online"
	case !ct.LastSeen.IsZero():
		sub = "seen " + ago(c.now(), ct.LastSeen)
	default:
		sub = "offline"
	}
	line2 := marker + "  " + s.Preview.Render(truncate(sub, w-3))
	line1, line2 = fit(line1, w), fit(line2, w)
	if sel && c.focus == focusList && c.dialog == nil {
		line1, line2 = s.Selected.Render(line1), s.Selected.Render(line2)
	}
	return line1, line2
}

func presenceDot(s *Styles, ct node.Contact) string {
	switch {
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

// ago is a short relative time: "now", "5m", "3h", "2d".
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

func (c *chatModel) viewMain(w, h int) string {
	s := c.styles
	ct := c.current()
	lines := make([]string, 0, h)
	// Header.
	header := ""
	side, _ := c.columns()
	switch {
	case ct != nil:
		header = " " + s.Header.Render(truncate(displayName(*ct), max(4, w/3))) + "  " + presenceDot(s, *ct) + " " + s.Muted.Render(presenceText(c.now(), *ct))
		if ct.Verified {
			header += "  " + s.Success.Render("✓ verified")
		}
		if side == 0 {
			header += s.Hint.Render("  · tab contacts")
		}
	case len(c.contacts) == 0:
		header = " " + s.Header.Render("chive")
	default:
		header = " " + s.Muted.Render("no conversation open")
	}
	lines = append(lines, fit(header, w))

	convH := c.convHeight()
	lines = append(lines, c.viewConversation(ct, w, convH)...)

	// Rule above the composer, carrying the typing indicator and scroll hints.
	rule := ""
	switch {
	case ct != nil && c.typing[ct.Address].After(c.now()):
		rule = s.Typing.Render(" " + displayName(*ct) + " is typing…")
	case c.conv.unseenBelow > 0:
		rule = s.Unread.Render(fmt.Sprintf(" ↓ %d new · end to jump", c.conv.unseenBelow))
	case c.conv.scroll > 0 || len(c.conv.newer) > 0:
		rule = s.Muted.Render(" ↓ more below · end to jump")
	}
	rw := lipgloss.Width(rule)
	lines = append(lines, rule+s.Divider.Render(strings.Repeat("─", max(0, w-rw))))

	comp := c.composer.View()
	if ct == nil && c.composer.Value() == "" {
		comp = s.Muted.Render("  add a contact (ctrl+n) to start chatting")
	} else if ct != nil && ct.State != node.StateAccepted && c.composer.Value() == "" {
		note := "you can write once they accept"
		if ct.State == node.StatePendingIncoming {
			note = c.answerHint()
		}
		comp = s.Muted.Render("  " + note)
	}
	for _, l := range strings.Split(comp, "\n") {
		lines = append(lines, fit(l, w))
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return strings.Join(lines[:h], "\n")
}

func (c *chatModel) viewConversation(ct *node.Contact, w, h int) []string {
	s := c.styles
	if h <= 0 {
		return nil
	}
	var banner []string
	if c.torStalled {
		t := c.status.Tor
		text := fmt.Sprintf("◷ Tor has been stuck at %d%% (%s) for a while. Is this computer online? A firewall or a censored network may block Tor; chive keeps trying. With no internet at all, try a private Tor network: chive testnet up (see the README).", t.Percent, safetext.Line(t.Summary))
		for _, l := range strings.Split(lipgloss.Wrap(text, w-2, " "), "\n") {
			banner = append(banner, " "+s.Warning.Render(l))
		}
		banner = banner[:min(len(banner), max(0, h-1))]
	}
	if c.status.Tor.State == node.TorFailed {
		why := c.status.Tor.Error
		if why == "" {
			why = "Tor stopped"
		}
		text := "✗ Tor failed: " + safetext.Line(why) + ". Check your network connection (and that tor is installed), then restart chive."
		for _, l := range strings.Split(lipgloss.Wrap(text, w-2, " "), "\n") {
			banner = append(banner, " "+s.Error.Render(l))
		}
		banner = banner[:min(len(banner), max(0, h-1))]
	}
	h -= len(banner)
	out := make([]string, 0, h+len(banner))
	out = append(out, banner...)
	var body []string
	switch {
	case ct == nil && len(c.contacts) == 0 && c.contactsOK:
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
	pad := h - len(body)
	if len(body) > 0 && pad > 0 {
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
		return "press enter to accept, decline or block"
	}
	return "tab to the list, then enter to accept, decline or block"
}

func (c *chatModel) emptyState(w int) []string {
	s := c.styles
	addr := c.status.Address
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
	lines = append(lines, "",
		" "+s.Key.Render("ctrl+o")+" show it with a QR code and copy it",
		" "+s.Key.Render("ctrl+n")+" add a contact by their address",
		" "+s.Key.Render("f1")+"     all keys")
	return lines
}

func (c *chatModel) viewStatus() string {
	s := c.styles
	w := c.width
	me := c.status.Name
	if me == "" {
		me = "me"
	}
	left := " " + safetext.Line(me)
	if len(c.status.Address) >= 8 {
		left += " · " + c.status.Address[:8]
	}
	if c.status.Daemon {
		left += " · daemon"
	}
	mid, kind := torText(c.status)
	if c.torStalled {
		mid = fmt.Sprintf("◷ Tor stuck at %d%%: no network?", c.status.Tor.Percent)
	}
	midStyle := s.StatusBusy
	switch kind {
	case styleReady:
		midStyle = s.StatusReady
	case styleFailed:
		midStyle = s.StatusError
	}
	switch {
	case c.flash != "":
		mid = c.flash
		midStyle = s.StatusBar.Foreground(s.Accent.GetForeground())
		if c.flashErr {
			midStyle = s.StatusError
		}
	case c.eventsClosed:
		mid, midStyle = "✗ disconnected from the node", s.StatusError
	}
	return c.joinStatus(w, left, mid, midStyle)
}

type statusKind int

const (
	styleReady statusKind = iota + 1
	styleBusy
	styleFailed
)

func torText(st node.Status) (string, statusKind) {
	t := st.Tor
	switch t.State {
	case node.TorFailed:
		e := t.Error
		if e == "" {
			e = "stopped"
		}
		return "✗ Tor: " + safetext.Line(e), styleFailed
	case node.TorReady:
		if st.Reachable {
			return "● Tor ready", styleReady
		}
		return "◷ publishing onion service…", styleBusy
	case node.TorBootstrapping:
		sum := t.Summary
		if sum == "" {
			sum = "bootstrapping"
		}
		return fmt.Sprintf("◷ Tor %d%% %s", t.Percent, safetext.Line(sum)), styleBusy
	}
	return "◷ starting Tor…", styleBusy
}

func (c *chatModel) joinStatus(w int, left, mid string, midStyle lipgloss.Style) string {
	s := c.styles
	right := fmt.Sprintf("%d/%d online · f1 help ", c.status.ContactsOnline, c.status.Contacts)
	if w < 60 {
		right = fmt.Sprintf("%d/%d ", c.status.ContactsOnline, c.status.Contacts)
	}
	lw, rw := lipgloss.Width(left), lipgloss.Width(right)
	midW := w - lw - rw - 4
	if midW < 8 {
		left = truncate(left, max(0, w-rw-12))
		lw = lipgloss.Width(left)
		midW = max(0, w-lw-rw-4)
	}
	mid = truncate(mid, midW)
	gap := max(0, w-lw-rw-lipgloss.Width(mid)-4)
	out := s.StatusBar.Bold(true).Render(left) + s.StatusBar.Render("  ") + midStyle.Render(mid) +
		s.StatusBar.Render(strings.Repeat(" ", gap)+"  ") + s.StatusBar.Render(right)
	return fit(out, w)
}
