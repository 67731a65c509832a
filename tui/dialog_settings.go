package tui

import (
	"slices"
	"strings"
	"unicode/utf8"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// settingsSavedMsg is the reply to SetSettings; on an error the settings
// go back to old.
type settingsSavedMsg struct {
	old node.Settings
	err error
}

// uiSettings are the settings of this terminal, kept in the config file.
type uiSettings struct {
	bell, title      bool
	desktop, content string
	theme            string
}

// settingsDialog changes our display name and the node's privacy settings
// (both kept in the profile) and this terminal's bell, title,
// notifications and theme (kept in the config file, when there is one).
// Each change asks the chat to make it; the dialog shows its own copy.
type settingsDialog struct {
	*env
	cur     int
	name    string // our display name, as the status says
	node    node.Settings
	ui      uiSettings
	editing bool
	in      textinput.Model
	err     string
}

func newSettingsDialog(e *env, s node.Settings, name string, width int) *settingsDialog {
	d := &settingsDialog{env: e, node: s, name: name, in: newInput(e.styles, "how contacts will see you", dialogWidth(width, 60)-16),
		ui: uiSettings{bell: !e.noBell, title: !e.noTitle, desktop: e.cfg.Notifications.Desktop, content: e.cfg.Notifications.Content, theme: e.cfg.Theme.Name}}
	d.in.CharLimit = node.MaxName
	return d
}

// setting is one row of the dialog.
type setting struct {
	label, help string
	toggle      func(d *settingsDialog) *bool   // a box to tick
	choice      func(d *settingsDialog) *string // one of choices, enter for the next
	choices     []string
	local       bool // kept in the config file, not the profile
}

var settingsList = []setting{
	{label: "Your name", help: "how contacts see you; sent to them when it changes"},
	{label: "Send read receipts", help: "contacts see when you have read their messages",
		toggle: func(d *settingsDialog) *bool { return &d.node.ReadReceipts }},
	{label: "Send typing indicators", help: "contacts see when you are typing",
		toggle: func(d *settingsDialog) *bool { return &d.node.Typing }},
	{label: "Bell on new messages", help: "when a message arrives out of view", local: true,
		toggle: func(d *settingsDialog) *bool { return &d.ui.bell }},
	{label: "Unread count in the window title", local: true,
		toggle: func(d *settingsDialog) *bool { return &d.ui.title }},
	{label: "Desktop notifications", help: "when the window is not focused", local: true,
		choice:  func(d *settingsDialog) *string { return &d.ui.desktop },
		choices: []string{"auto", "terminal", "osc777", "command", "off"}},
	{label: "Notifications show", help: "full: sender and text · sender: who, not what · hidden: that's all", local: true,
		choice:  func(d *settingsDialog) *string { return &d.ui.content },
		choices: []string{"full", "sender", "hidden"}},
	{label: "Theme", local: true,
		choice:  func(d *settingsDialog) *string { return &d.ui.theme },
		choices: []string{"auto", "dark", "light", "high-contrast"}},
}

func (d *settingsDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case settingsMsg:
		if msg.err == nil {
			d.node = msg.s
		}
	case settingsSavedMsg:
		if msg.err != nil {
			d.node = msg.old
		}
	case statusMsg:
		if msg.err == nil {
			d.name = msg.st.Name
		}
	case tea.KeyPressMsg:
		if d.editing {
			return d.editName(msg)
		}
		n := len(settingsList)
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Close), matches(msg, d.keys.Settings):
			return closeDialog{}
		case matches(msg, d.keys.ListUp, d.keys.PrevField):
			d.cur = (d.cur + n - 1) % n
		case matches(msg, d.keys.ListDown, d.keys.NextField):
			d.cur = (d.cur + 1) % n
		case matches(msg, d.keys.Toggle, d.keys.Submit):
			st := settingsList[d.cur]
			switch {
			case st.toggle != nil:
				v := st.toggle(d)
				*v = !*v
			case st.choice != nil:
				v := st.choice(d)
				*v = st.choices[(slices.Index(st.choices, *v)+1)%len(st.choices)]
			default:
				d.editing, d.err = true, ""
				d.in.SetValue(d.name)
				d.in.CursorEnd()
				return d.in.Focus()
			}
			return changeSettings{node: d.node, ui: d.ui}
		}
	}
	return nil
}

// editName edits our display name; enter saves it.
func (d *settingsDialog) editName(k tea.KeyPressMsg) action {
	switch {
	case matches(k, d.keys.Close):
		d.editing, d.err = false, ""
		return nil
	case matches(k, d.keys.Submit):
		name := strings.TrimSpace(d.in.Value())
		switch {
		case name == "":
			d.err = "a name cannot be empty"
			return nil
		case utf8.RuneCountInString(name) > node.MaxName:
			d.err = "at most 64 characters"
			return nil
		}
		d.editing, d.err = false, ""
		if name == d.name {
			return nil
		}
		d.name = name
		return setName{name}
	}
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(k)
	return cmd
}

func (d *settingsDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 60)
	var rows []string
	for i, st := range settingsList {
		var line string
		switch {
		case st.toggle != nil:
			box := "[ ]"
			if *st.toggle(d) {
				box = "[x]"
			}
			line = box + " " + st.label
		case st.choice != nil:
			line = "    " + st.label + ": " + *st.choice(d)
		case d.editing:
			line = "    " + st.label + ": " + d.in.View()
		default:
			line = "    " + st.label + ": " + d.name
		}
		line = d.fit(line, inner)
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line)
		if i == d.cur && st.help != "" {
			for _, l := range d.wrap(st.help, inner-4) {
				rows = append(rows, s.Muted.Render("    "+l))
			}
		}
	}
	if d.err != "" {
		rows = append(rows, s.Error.Render(d.err))
	}
	where := "Bell, title, notifications and theme are this terminal's: kept in " + d.configPath
	if d.configPath == "" {
		where = "Bell, title, notifications and theme are for this session"
	}
	rows = append(rows, "", s.Muted.Render(d.wrapText(where, inner)))
	hint := "↑/↓ choose · space/enter change · esc close"
	if d.editing {
		hint = "enter save · esc cancel"
	}
	return d.frame("Settings", strings.Join(rows, "\n"), hint, inner)
}
