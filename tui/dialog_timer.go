package tui

import (
	"context"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// timerDialog sets the conversation's disappearing-messages timer, for
// both sides.
type timerDialog struct {
	*env
	conn
	ct  node.Contact
	cur int
}

func newTimerDialog(e *env, c conn, ct node.Contact, width int) *timerDialog {
	cur := max(0, slices.Index(node.Timers, time.Duration(ct.Timer)))
	return &timerDialog{env: e, conn: c, ct: ct, cur: cur}
}

func (d *timerDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case eventMsg:
		if e, ok := msg.ev.(node.ContactEvent); ok && e.Contact.Address == d.ct.Address {
			d.ct = e.Contact
		}
	case tea.KeyPressMsg:
		n := len(node.Timers)
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Close), matches(msg, d.keys.Timer):
			return closeDialog{}
		case matches(msg, d.keys.ListUp, d.keys.PrevField):
			d.cur = (d.cur + n - 1) % n
		case matches(msg, d.keys.ListDown, d.keys.NextField):
			d.cur = (d.cur + 1) % n
		case matches(msg, d.keys.Submit), matches(msg, d.keys.Toggle):
			if d.ct.State != node.StateAccepted {
				return flashNote{text: "you can set it once they accept", isErr: true}
			}
			t := node.Timers[d.cur]
			if t == time.Duration(d.ct.Timer) {
				return closeDialog{}
			}
			api, addr := d.api, d.ct.Address
			note := "disappearing messages: " + timerName(t)
			return actions{closeDialog{}, report(d.ctx, note, func(ctx context.Context) error {
				_, err := api.SetTimer(ctx, addr, t)
				return err
			})}
		}
	}
	return nil
}

func (d *timerDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 56)
	rows := []string{d.wrapText("Messages sent from now on disappear from both sides this long after they were read (yours: after sending). "+
		displayName(d.ct)+" sees the change and can change it too.", inner), ""}
	for i, t := range node.Timers {
		mark := "  "
		if t == time.Duration(d.ct.Timer) {
			mark = "• "
		}
		line := d.fit(mark+timerName(t), inner)
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line)
	}
	return d.frame("Disappearing messages", strings.Join(rows, "\n"), "↑/↓ choose · enter set · esc close  (• now)", inner)
}
