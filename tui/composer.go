package tui

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/chive-im/chive/node"
)

const typingEvery = 3 * time.Second

// composer is the message editor under the conversation.
type composer struct {
	ta             textarea.Model
	owner          string // address of the conversation whose draft this is
	lastTypingSent time.Time
}

func (p *composer) Value() string      { return p.ta.Value() }
func (p *composer) SetValue(s string)  { p.ta.SetValue(s) }
func (p *composer) Height() int        { return p.ta.Height() }
func (p *composer) SetWidth(w int)     { p.ta.SetWidth(w) }
func (p *composer) Focus() tea.Cmd     { return p.ta.Focus() }
func (p *composer) Blur()              { p.ta.Blur() }
func (p *composer) restyle(st *Styles) { restyleComposer(&p.ta, st) }

// Update passes msg to the editor and says whether the text changed.
func (p *composer) Update(msg tea.Msg) (tea.Cmd, bool) {
	before := p.ta.Value()
	var cmd tea.Cmd
	p.ta, cmd = p.ta.Update(msg)
	return cmd, p.ta.Value() != before
}

// take empties the editor and returns its text, trimmed.
func (p *composer) take() string {
	text := strings.TrimSpace(p.ta.Value())
	p.ta.Reset()
	p.lastTypingSent = time.Time{}
	return text
}

// typingDue says whether to tell the peer we are typing, at most every
// typingEvery, and notes that we did.
func (p *composer) typingDue(now time.Time) bool {
	if p.ta.Value() == "" || now.Sub(p.lastTypingSent) < typingEvery {
		return false
	}
	p.lastTypingSent = now
	return true
}

// Render is the editor's lines, each w wide; when the editor is empty and
// note is set, the note (in muted text) stands in for it.
func (p *composer) Render(w int, note string, st *Styles, cs cells) []string {
	view := p.ta.View()
	if note != "" && p.ta.Value() == "" {
		view = st.Muted.Render("  " + note)
	}
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		lines[i] = cs.fit(l, w)
	}
	return lines
}

// composerNote is what the empty composer says when there is no one to
// write to yet.
func (c *chatModel) composerNote(ct *node.Contact) string {
	switch {
	case ct == nil:
		return "add a contact (" + firstKey(c.keys.AddContact) + ") to start chatting"
	case isGroupAddr(ct.Address) && ct.State != node.StateAccepted:
		return groupNote(ct, c.list.groups[ct.Address])
	case ct.State == node.StatePendingIncoming:
		return c.answerHint()
	case ct.State == node.StateBlocked:
		return "you blocked " + displayName(*ct) + ": " + firstKey(c.keys.Details) + " then " + firstKey(c.keys.Unblock) + " to unblock"
	case ct.State != node.StateAccepted:
		return "you can write once they accept"
	}
	return ""
}

// send hands the composer's text to the node, for the contact it was typed
// for and no other. The message comes on screen with the node's
// MessageEvent; the reply only reports a failure.
func (c *chatModel) send() tea.Cmd {
	if strings.TrimSpace(c.composer.Value()) == "" {
		return nil
	}
	ct := c.list.current()
	switch {
	case ct == nil:
		return c.bar.setFlash("choose a contact first ("+firstKey(c.keys.Switcher)+")", true)
	case ct.Address != c.composer.owner:
		// Unreachable while open swaps drafts; never send to the wrong person.
		return c.bar.setFlash("this text was typed for someone else: not sent", true)
	case ct.State == node.StateBlocked:
		return c.bar.setFlash("you blocked "+displayName(*ct)+"; unblock them first ("+firstKey(c.keys.Details)+")", true)
	case ct.State != node.StateAccepted:
		return c.bar.setFlash(displayName(*ct)+" has not accepted yet; your message can be sent once they do", true)
	}
	text := c.composer.take()
	if c.conv.address == ct.Address {
		c.conv.follow = c.cv.compose == nil || !c.cv.compose.edit
		c.conv.unreadFrom = "" // answering: what came before is read
		c.dirty = true
	}
	if cmd, ok := c.sendCompose(ct.Address, text); ok { // a reply or an edit (convo.go)
		return cmd
	}
	return tea.Batch(sendText(c.ctx, c.api, ct.Address, text), c.saveDraft(ct.Address, ""))
}

// sent is the Send reply: on failure the text goes back to its
// conversation's draft.
func (c *chatModel) sent(msg sentMsg) tea.Cmd {
	if msg.err == nil {
		return nil
	}
	if c.conv.address == msg.address {
		c.conv.follow = false
	}
	switch {
	case c.composer.owner == msg.address && c.composer.Value() == "":
		c.composer.SetValue(msg.text)
	case c.composer.owner != msg.address && c.drafts.text[msg.address] == "":
		c.drafts.text[msg.address] = msg.text
	}
	return c.bar.setFlash("not sent: "+msg.err.Error(), true)
}

// typed tells the peer we are typing, if the settings allow it.
func (c *chatModel) typed() tea.Cmd {
	ct := c.list.current()
	if ct == nil || ct.State != node.StateAccepted || !c.settings.Typing || !c.composer.typingDue(c.now()) {
		return nil
	}
	api, addr := c.api, ct.Address
	return quiet(c.ctx, func(ctx context.Context) error { return api.Typing(ctx, addr) })
}

func newComposer(st *Styles, keys *KeyMap) textarea.Model {
	ta := textarea.New()
	ta.Placeholder = "Write a message…  (" + firstKey(keys.Send) + " send · " + firstKey(keys.Newline) + " new line)"
	ta.ShowLineNumbers = false
	ta.Prompt = "› "
	ta.CharLimit = 0
	ta.DynamicHeight = true
	ta.MinHeight = 1
	ta.MaxHeight = 6
	km := textarea.DefaultKeyMap()
	km.InsertNewline.SetKeys(keys.Newline.Keys()...)
	km.DeleteAfterCursor.SetKeys()
	km.DeleteCharacterForward.SetKeys("delete")
	km.LineStart.SetKeys("ctrl+a")
	km.LineEnd.SetKeys("ctrl+e")
	km.PageUp.SetKeys()
	km.PageDown.SetKeys()
	km.LineNext.SetKeys("down")
	km.LinePrevious.SetKeys("up")
	km.InputBegin.SetKeys("alt+<")
	km.InputEnd.SetKeys("alt+>")
	km.TransposeCharacterBackward.SetKeys("ctrl+t")
	// The app's keys (ctrl+k, ctrl+d, home, end, ctrl+a attach, and
	// whatever the config binds) are not the editor's, so each does one
	// thing.
	global := map[string]bool{}
	for _, b := range []key.Binding{keys.Quit, keys.Interrupt, keys.Switcher, keys.AddContact, keys.MyAddress, keys.Details, keys.Retry,
		keys.Settings, keys.FocusNext, keys.ScrollUp, keys.ScrollDown, keys.ScrollTop, keys.ScrollEnd, keys.JumpUnread, keys.Help, keys.Send,
		keys.Attach, keys.Files, keys.SelectMessage, keys.Timer, keys.SearchHere, keys.SearchAll} {
		for _, k := range b.Keys() {
			global[k] = true
		}
	}
	v := reflect.ValueOf(&km).Elem()
	for i := range v.NumField() {
		b, ok := v.Field(i).Addr().Interface().(*key.Binding)
		if !ok || v.Type().Field(i).Name == "InsertNewline" {
			continue
		}
		own := slices.DeleteFunc(slices.Clone(b.Keys()), func(k string) bool { return global[k] })
		if len(own) != len(b.Keys()) {
			b.SetKeys(own...)
		}
	}
	ta.KeyMap = km
	restyleComposer(&ta, st)
	return ta
}

func restyleComposer(ta *textarea.Model, st *Styles) {
	s := textarea.DefaultStyles(st.IsDark)
	s.Cursor.Blink = false
	s.Focused.CursorLine = lipgloss.NewStyle()
	s.Focused.Prompt = st.Accent
	s.Blurred.Prompt = st.Muted
	ta.SetStyles(s)
}
