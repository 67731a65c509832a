package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// settingsSavedMsg is the reply to SetSettings; on an error the settings
// go back to old.
type settingsSavedMsg struct {
	old node.Settings
	err error
}

// settingsDialog toggles the node's privacy settings (stored in the
// profile) and this UI's bell and window title (for this session; the
// --no-bell and --no-title flags set them at start). Each toggle asks the
// chat to change the settings; the dialog shows its own copy.
type settingsDialog struct {
	*env
	cur         int
	node        node.Settings
	bell, title bool
}

func newSettingsDialog(e *env, s node.Settings) *settingsDialog {
	return &settingsDialog{env: e, node: s, bell: !e.noBell, title: !e.noTitle}
}

// setting is one row of the dialog: what it shows and where it lives.
type setting struct {
	label, help string
	value       func(d *settingsDialog) *bool
}

var settingsList = []setting{
	{"Send read receipts", "contacts see when you have read their messages",
		func(d *settingsDialog) *bool { return &d.node.ReadReceipts }},
	{"Send typing indicators", "contacts see when you are typing",
		func(d *settingsDialog) *bool { return &d.node.Typing }},
	{"Bell on new messages", "when a message arrives out of view (this session)",
		func(d *settingsDialog) *bool { return &d.bell }},
	{"Unread count in the window title", "this session",
		func(d *settingsDialog) *bool { return &d.title }},
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
	case tea.KeyPressMsg:
		n := len(settingsList)
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Close), matches(msg, d.keys.Settings):
			return closeDialog{}
		case msg.String() == "up" || msg.String() == "k" || msg.String() == "shift+tab":
			d.cur = (d.cur + n - 1) % n
		case msg.String() == "down" || msg.String() == "j" || msg.String() == "tab":
			d.cur = (d.cur + 1) % n
		case matches(msg, d.keys.Toggle), msg.String() == "enter":
			v := settingsList[d.cur].value(d)
			*v = !*v
			return changeSettings{node: d.node, bell: d.bell, title: d.title}
		}
	}
	return nil
}

func (d *settingsDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 60)
	var rows []string
	for i, st := range settingsList {
		box := "[ ]"
		if *st.value(d) {
			box = "[x]"
		}
		line := d.fit(box+" "+st.label, inner)
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line, s.Muted.Render(d.truncate("    "+st.help, inner)))
	}
	return d.frame("Settings", strings.Join(rows, "\n"), "↑/↓ choose · space toggle · esc close", inner)
}
