package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// helpDialog lists every key of the KeyMap, by where it works.
type helpDialog struct {
	*env
	h help.Model
}

func newHelpDialog(e *env) *helpDialog {
	h := help.New()
	h.Styles = help.DefaultStyles(e.styles.IsDark)
	return &helpDialog{env: e, h: h}
}

func (d *helpDialog) update(msg tea.Msg) action {
	k, ok := msg.(tea.KeyPressMsg)
	switch {
	case !ok:
		return nil
	case matches(k, d.keys.Quit):
		return quitApp{}
	}
	return closeDialog{} // any other key closes help
}

func (d *helpDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 100)
	d.h.SetWidth(inner)
	groups := d.keys.groups()
	var blocks []string
	// Two groups side by side per row, so it fits 80 columns.
	for i := 0; i < len(groups); i += 2 {
		row := groups[i:min(i+2, len(groups))]
		var titles []string
		var keys [][]key.Binding
		for _, g := range row {
			titles = append(titles, g.title)
			keys = append(keys, g.keys)
		}
		blocks = append(blocks, s.Label.Render(strings.Join(titles, " · ")), d.h.FullHelpView(keys))
	}
	return s.Dialog.Width(inner + 4).Render(s.DialogTitle.Render("Keys") + s.Hint.Render("  · any key closes this") + "\n" + strings.Join(blocks, "\n"))
}
