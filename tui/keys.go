package tui

import (
	"reflect"
	"slices"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
)

// KeyMap is every key the app reacts to. The help screen and the short help
// in the status bar are built from it, so what is listed is what works.
type KeyMap struct {
	// Global, on the main screen.
	Quit        key.Binding
	Interrupt   key.Binding
	Help        key.Binding
	Switcher    key.Binding
	AddContact  key.Binding
	MyAddress   key.Binding
	Details     key.Binding
	Retry       key.Binding
	Settings    key.Binding
	FocusNext   key.Binding
	ScrollUp    key.Binding
	ScrollDown  key.Binding
	ScrollTop   key.Binding
	ScrollEnd   key.Binding
	JumpUnread  key.Binding
	ListUp      key.Binding
	ListDown    key.Binding
	OpenChat    key.Binding
	Send        key.Binding
	Newline     key.Binding
	Close       key.Binding
	Submit      key.Binding
	NextField   key.Binding
	PrevField   key.Binding
	Accept      key.Binding
	Decline     key.Binding
	Block       key.Binding
	Unblock     key.Binding
	Rename      key.Binding
	Verify      key.Binding
	Delete      key.Binding
	KeepHistory key.Binding
	Copy        key.Binding
	Toggle      key.Binding

	// Files (issue 15): attach anywhere; the files dialog acts on a
	// file message of the open conversation.
	Attach     key.Binding
	Files      key.Binding
	SaveFile   key.Binding
	OpenFile   key.Binding
	CancelFile key.Binding
	RetryFile  key.Binding
	PauseFile  key.Binding
	// Conversation features (issue 17): choosing a message and acting on
	// it, the disappearing timer, search.
	SelectMessage key.Binding // from the composer or the list: choose a message
	Reply         key.Binding // on the chosen message
	React         key.Binding
	Edit          key.Binding
	EditHistory   key.Binding
	JumpOriginal  key.Binding
	DeleteMessage key.Binding
	Timer         key.Binding
	SearchHere    key.Binding
	SearchAll     key.Binding
	// Groups (issue 18).
	NewGroup key.Binding
	Invite   key.Binding
	Promote  key.Binding
	Leave    key.Binding
}

// DefaultKeyMap returns chive's key bindings. Global keys use Ctrl or
// function keys because the composer takes every printable key.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Quit:        key.NewBinding(key.WithKeys("ctrl+q"), key.WithHelp("ctrl+q", "quit (keeps drafts)")),
		Interrupt:   key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "clear message, then quit")),
		Help:        key.NewBinding(key.WithKeys("f1", "?"), key.WithHelp("f1/?", "help (? in the list)")),
		Switcher:    key.NewBinding(key.WithKeys("ctrl+k"), key.WithHelp("ctrl+k", "switch conversation")),
		AddContact:  key.NewBinding(key.WithKeys("ctrl+n"), key.WithHelp("ctrl+n", "add contact")),
		MyAddress:   key.NewBinding(key.WithKeys("ctrl+o", "f2"), key.WithHelp("ctrl+o", "my address + QR")),
		Details:     key.NewBinding(key.WithKeys("ctrl+d", "f3"), key.WithHelp("ctrl+d", "contact details")),
		Retry:       key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "retry failed")),
		Settings:    key.NewBinding(key.WithKeys("ctrl+p", "f4"), key.WithHelp("ctrl+p", "settings")),
		FocusNext:   key.NewBinding(key.WithKeys("tab", "shift+tab"), key.WithHelp("tab", "list ⇄ composer")),
		ScrollUp:    key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "scroll up")),
		ScrollDown:  key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "scroll down")),
		ScrollTop:   key.NewBinding(key.WithKeys("home"), key.WithHelp("home", "oldest")),
		ScrollEnd:   key.NewBinding(key.WithKeys("end"), key.WithHelp("end", "newest")),
		JumpUnread:  key.NewBinding(key.WithKeys("alt+u"), key.WithHelp("alt+u", "first unread")),
		ListUp:      key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "previous contact")),
		ListDown:    key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "next contact")),
		OpenChat:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open conversation")),
		Send:        key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		Newline:     key.NewBinding(key.WithKeys("alt+enter", "ctrl+j"), key.WithHelp("alt+enter/ctrl+j", "new line")),
		Close:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close")),
		Submit:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm")),
		NextField:   key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab", "next field")),
		PrevField:   key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab", "previous field")),
		Accept:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "accept")),
		Decline:     key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "decline")),
		Block:       key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "block")),
		Unblock:     key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "unblock")),
		Rename:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rename")),
		Verify:      key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "mark verified")),
		Delete:      key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "delete")),
		KeepHistory: key.NewBinding(key.WithKeys("k"), key.WithHelp("k", "keep history")),
		Copy:        key.NewBinding(key.WithKeys("c", "y"), key.WithHelp("c", "copy link")),
		Toggle:      key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "toggle")),

		Attach:        key.NewBinding(key.WithKeys("ctrl+a"), key.WithHelp("ctrl+a", "attach a file")),
		Files:         key.NewBinding(key.WithKeys("ctrl+l", "f5"), key.WithHelp("ctrl+l", "files in this chat")),
		SaveFile:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save file as…")),
		OpenFile:      key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "open file")),
		CancelFile:    key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "cancel transfer")),
		RetryFile:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry transfer")),
		PauseFile:     key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause/resume")),
		SelectMessage: key.NewBinding(key.WithKeys("alt+up", "ctrl+up"), key.WithHelp("alt+↑", "choose a message")),
		Reply:         key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reply, quoting it")),
		React:         key.NewBinding(key.WithKeys("e", "+"), key.WithHelp("e/+", "react")),
		Edit:          key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "edit yours (24 h)")),
		EditHistory:   key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "earlier versions")),
		JumpOriginal:  key.NewBinding(key.WithKeys("enter", "o"), key.WithHelp("enter/o", "to the message answered")),
		DeleteMessage: key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "delete it")),
		Timer:         key.NewBinding(key.WithKeys("ctrl+t"), key.WithHelp("ctrl+t", "disappearing timer")),
		SearchHere:    key.NewBinding(key.WithKeys("/", "ctrl+f"), key.WithHelp("/ ctrl+f", "find in conversation")),
		SearchAll:     key.NewBinding(key.WithKeys("alt+/", "f7"), key.WithHelp("alt+/", "search all conversations")),
		NewGroup:      key.NewBinding(key.WithKeys("ctrl+g"), key.WithHelp("ctrl+g", "new group")),
		Invite:        key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "invite into the group")),
		Promote:       key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "make admin")),
		Leave:         key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "leave the group")),
	}
}

// ShortHelp is the one-line help of the main screen.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Help, k.Switcher, k.AddContact, k.MyAddress, k.Quit}
}

// keyGroup is a titled group of keys in the help.
type keyGroup struct {
	title string
	keys  []key.Binding
}

// groups is every key, grouped by where it works: FullHelp and the help
// dialog are built from it.
func (k KeyMap) groups() []keyGroup {
	return []keyGroup{
		{"Anywhere", []key.Binding{k.Switcher, k.AddContact, k.NewGroup, k.MyAddress, k.Details, k.Retry, k.Settings, k.Attach, k.Files, k.Help, k.Interrupt, k.Quit}},
		{"Contacts & composer", []key.Binding{k.FocusNext, k.ListUp, k.ListDown, k.OpenChat, k.Send, k.Newline}},
		{"Conversation & dialogs", []key.Binding{k.ScrollUp, k.ScrollDown, k.ScrollTop, k.ScrollEnd, k.JumpUnread, k.Close, k.Submit, k.NextField, k.PrevField}},
		{"In dialogs", []key.Binding{k.Accept, k.Decline, k.Block, k.Unblock, k.Rename, k.Verify, k.Delete, k.KeepHistory, k.Copy, k.Toggle, k.Invite, k.Promote, k.Leave}},
		{"Files (" + firstKey(k.Files) + ")", []key.Binding{k.Accept, k.SaveFile, k.OpenFile, k.CancelFile, k.RetryFile, k.PauseFile}},
		{"Messages", []key.Binding{k.SelectMessage, k.Reply, k.React, k.Edit, k.EditHistory, k.JumpOriginal, k.DeleteMessage, k.Timer, k.SearchHere, k.SearchAll}},
	}
}

// FullHelp is every key, grouped by where it works.
func (k KeyMap) FullHelp() [][]key.Binding {
	gs := k.groups()
	out := make([][]key.Binding, len(gs))
	for i, g := range gs {
		out[i] = g.keys
	}
	return out
}

// firstKey is the key a hint on screen names for b: its first key.
func firstKey(b key.Binding) string {
	if ks := b.Keys(); len(ks) > 0 {
		return ks[0]
	}
	return ""
}

// VimKeyMap is DefaultKeyMap with Vim's motions where no text is typed (the
// contact list has focus): j/k move, gg and G go to the oldest and newest
// message, Ctrl+B and Ctrl+F page. The composer stays an editor.
func VimKeyMap() KeyMap {
	k := DefaultKeyMap()
	k.ScrollTop = key.NewBinding(key.WithKeys("home", "g g"), key.WithHelp("home/gg", "oldest"))
	k.ScrollEnd = key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "newest"))
	k.ScrollUp = key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup/ctrl+b", "scroll up"))
	k.ScrollDown = key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn/ctrl+f", "scroll down"))
	// ctrl+f pages down here: search is / (where no text is typed).
	k.SearchHere = key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "find in conversation"))
	return k
}

// keyAction is a binding with its name in the config file (the KeyMap
// field in snake case: AddContact is add_contact).
type keyAction struct {
	name string
	b    *key.Binding
}

// keyActions lists every binding of km, in KeyMap order.
func keyActions(km *KeyMap) []keyAction {
	v := reflect.ValueOf(km).Elem()
	out := make([]keyAction, 0, v.NumField())
	for i := range v.NumField() {
		out = append(out, keyAction{name: snake(v.Type().Field(i).Name), b: v.Field(i).Addr().Interface().(*key.Binding)})
	}
	return out
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sequence reports whether a binding of km starts with the key prefix
// followed by more keys ("g" of "g g"), so the next key press completes it.
func (k *KeyMap) sequence(prefix string) bool {
	for _, a := range keyActions(k) {
		for _, s := range a.b.Keys() {
			if strings.HasPrefix(s, prefix+" ") {
				return true
			}
		}
	}
	return false
}

// matchesSeq reports whether the key sequence seq ("g g") is one of b's keys.
func matchesSeq(seq string, b key.Binding) bool {
	return b.Enabled() && slices.Contains(b.Keys(), seq)
}
