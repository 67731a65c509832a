package tui

import (
	"context"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// msgDeleteDialog deletes a message for us, or (ours, within the window)
// for everyone.
type msgDeleteDialog struct {
	*env
	conn
	address  string
	msg      node.Message
	everyone bool // deleting for everyone is possible
	cur      int  // 0: for me, 1: for everyone
}

func newMsgDeleteDialog(e *env, c conn, address string, m node.Message, now time.Time, width int) *msgDeleteDialog {
	return &msgDeleteDialog{env: e, conn: c, address: address, msg: m,
		everyone: m.Direction == node.Outgoing && !m.Deleted && m.Kind == "" && now.Sub(m.Time) <= node.DeleteWindow}
}

func (d *msgDeleteDialog) update(msg tea.Msg) action {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	n := 1
	if d.everyone {
		n = 2
	}
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case matches(k, d.keys.Close):
		return closeDialog{}
	case matches(k, d.keys.ListUp, d.keys.PrevField):
		d.cur = (d.cur + n - 1) % n
	case matches(k, d.keys.ListDown, d.keys.NextField):
		d.cur = (d.cur + 1) % n
	case matches(k, d.keys.Submit), matches(k, d.keys.DeleteMessage):
		api, addr, id, all := d.api, d.address, d.msg.ID, d.cur == 1
		note := "deleted for you"
		if all {
			note = "deleted for everyone"
		}
		return actions{closeDialog{}, report(d.ctx, note, func(ctx context.Context) error { return api.Delete(ctx, addr, id, all) })}
	}
	return nil
}

func (d *msgDeleteDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 56)
	text := oneLine(d.msg.Text)
	if d.msg.Kind == node.KindTimer {
		text = "a change of the disappearing timer"
	}
	rows := []string{s.Muted.Render(d.truncate("“"+text+"”", inner)), ""}
	opts := []string{"Delete for me: gone from this profile; they keep theirs"}
	if d.everyone {
		opts = append(opts, "Delete for everyone: both keep only a note that it was deleted")
	}
	for i, o := range opts {
		for j, l := range d.wrap(o, inner-2) {
			prefix := "  "
			if j == 0 && i == d.cur {
				prefix = "› "
			}
			line := d.fit(prefix+l, inner)
			if i == d.cur {
				line = s.Selected.Render(line)
			}
			rows = append(rows, line)
		}
	}
	if !d.everyone && d.msg.Direction == node.Outgoing && !d.msg.Deleted && d.msg.Kind == "" {
		rows = append(rows, "", s.Muted.Render(d.wrapText("Too late to delete it for everyone: that works for 24 hours after sending.", inner)))
	}
	return d.frame("Delete message", strings.Join(rows, "\n"), "↑/↓ choose · enter delete · esc keep it", inner)
}
