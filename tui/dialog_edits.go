package tui

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// editsDialog shows every version of an edited message, oldest first.
type editsDialog struct {
	*env
	conn
	address string
	msg     node.Message
	vs      []node.Version
	err     error
	loaded  bool
}

type editsMsg struct {
	id  string
	vs  []node.Version
	err error
}

func newEditsDialog(e *env, c conn, address string, m node.Message, width int) *editsDialog {
	return &editsDialog{env: e, conn: c, address: address, msg: m}
}

func (d *editsDialog) init() tea.Cmd {
	api, addr, id := d.api, d.address, d.msg.ID
	return call(d.ctx, func(ctx context.Context) tea.Msg {
		vs, err := api.Edits(ctx, addr, id)
		return editsMsg{id: id, vs: vs, err: err}
	})
}

func (d *editsDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case editsMsg:
		if msg.id == d.msg.ID {
			d.vs, d.err, d.loaded = msg.vs, msg.err, true
		}
	case eventMsg:
		if e, ok := msg.ev.(node.MessageChangedEvent); ok && e.ID == d.msg.ID && e.Change == node.ChangeEdited {
			return d.init()
		}
	case tea.KeyPressMsg:
		if matches(msg, d.keys.Quit) {
			return quitApp{}
		}
		return closeDialog{}
	}
	return nil
}

func (d *editsDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 64)
	var rows []string
	switch {
	case d.err != nil:
		rows = append(rows, s.Error.Render(d.wrapText(d.err.Error(), inner)))
	case !d.loaded:
		rows = append(rows, s.Muted.Render("loading…"))
	}
	for i, v := range d.vs {
		label := v.At.In(d.loc).Format("2 Jan 15:04")
		switch {
		case i == 0 && len(d.vs) > 1:
			label += " · original"
		case i == len(d.vs)-1:
			label += " · now"
		}
		rows = append(rows, s.Label.Render(label))
		for _, l := range d.wrap(oneLine(v.Text), inner-2) {
			rows = append(rows, "  "+l)
		}
	}
	maxRows := max(3, height-8)
	if len(rows) > maxRows {
		rows = append([]string{s.Muted.Render("…")}, rows[len(rows)-maxRows+1:]...)
	}
	return d.frame("Versions", strings.Join(rows, "\n"), "any key closes this", inner)
}
