package tui

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// acceptedMsg is the reply to AcceptContact. The contact's new state comes
// with the node's ContactEvent; the reply reports an error, or leads to
// asking for a name when the request came without one.
type acceptedMsg struct {
	ct  node.Contact
	err error
}

// requestDialog answers a contact request: accept, decline or block.
type requestDialog struct {
	*env
	conn
	ct node.Contact
}

func newRequestDialog(e *env, c conn, ct node.Contact) *requestDialog {
	return &requestDialog{env: e, conn: c, ct: ct}
}

func (d *requestDialog) update(msg tea.Msg) action {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	api, addr, name := d.api, d.ct.Address, displayName(d.ct)
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case matches(k, d.keys.Accept):
		return actions{closeDialog{}, call(d.ctx, func(ctx context.Context) tea.Msg {
			ct, err := api.AcceptContact(ctx, addr)
			return acceptedMsg{ct, err}
		})}
	case matches(k, d.keys.Decline):
		return actions{closeDialog{}, report(d.ctx, "declined "+name, func(ctx context.Context) error { return api.DeclineContact(ctx, addr) })}
	case matches(k, d.keys.Block):
		return actions{closeDialog{}, report(d.ctx, "blocked "+name, func(ctx context.Context) error { return api.BlockContact(ctx, addr) })}
	case matches(k, d.keys.Close):
		return closeDialog{}
	}
	return nil
}

func (d *requestDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 62)
	greeting := safetext.Line(d.ct.Greeting)
	if greeting == "" {
		greeting = s.Muted.Render("(no greeting)")
	}
	rows := []string{
		s.Header.Render(displayName(d.ct)) + " wants to chat with you.",
		"",
		s.Label.Render("Greeting"),
		d.wrapText(greeting, inner),
		"",
		s.Label.Render("Address"),
		d.wrapText(d.ct.Address, inner),
		"",
		s.Muted.Render(d.wrapText("Only accept people you know. Declining tells them nothing; blocking also ignores them from now on.", inner)),
	}
	return d.frame("Contact request", strings.Join(rows, "\n"), "a accept · d decline · b block · esc decide later", inner)
}
