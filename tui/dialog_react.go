package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// quickReactions are the emoji the react dialog offers first.
var quickReactions = []string{"👍", "❤️", "😂", "😮", "😢", "🎉", "🙏", "👀"}

// reactDialog sets our reaction to a message: one of the quick emoji,
// another one typed, or none (removing ours).
type reactDialog struct {
	*env
	conn
	address string
	msg     node.Message
	mine    string // our reaction now, "" if none
	cur     int    // index in quickReactions; len: "other", len+1: remove
	in      textinput.Model
	typing  bool
}

func newReactDialog(e *env, c conn, address string, m node.Message, width int) *reactDialog {
	d := &reactDialog{env: e, conn: c, address: address, msg: m, in: newInput(e.styles, "an emoji", 12)}
	d.in.CharLimit = 16
	for _, r := range m.Reactions {
		if r.From == node.Outgoing {
			d.mine = r.Emoji
		}
	}
	return d
}

func (d *reactDialog) choices() int {
	if d.mine != "" {
		return len(quickReactions) + 2
	}
	return len(quickReactions) + 1
}

// react sets our reaction to emoji ("" removes it); the change comes on
// screen with the node's event.
func (d *reactDialog) react(emoji string) action {
	api, addr, id := d.api, d.address, d.msg.ID
	note := "reacted " + emoji
	if emoji == "" {
		note = "removed your reaction"
	}
	return actions{closeDialog{}, report(d.ctx, note, func(ctx context.Context) error { return api.React(ctx, addr, id, emoji) })}
}

func (d *reactDialog) update(msg tea.Msg) action {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	if d.typing {
		switch {
		case matches(k, d.keys.Close):
			d.typing = false
			d.in.Blur()
			return nil
		case matches(k, d.keys.Submit):
			if e := strings.TrimSpace(d.in.Value()); e != "" && !strings.ContainsAny(e, " \t") {
				return d.react(e)
			}
			return nil
		}
		var cmd tea.Cmd
		d.in, cmd = d.in.Update(k)
		return cmd
	}
	n := d.choices()
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case matches(k, d.keys.Close), matches(k, d.keys.React):
		return closeDialog{}
	case k.String() == "left" || k.String() == "up" || k.String() == "shift+tab" || k.String() == "h" || k.String() == "k":
		d.cur = (d.cur + n - 1) % n
	case k.String() == "right" || k.String() == "down" || k.String() == "tab" || k.String() == "l" || k.String() == "j":
		d.cur = (d.cur + 1) % n
	case k.String() >= "1" && k.String() <= "8" && len(k.String()) == 1:
		return d.react(quickReactions[k.String()[0]-'1'])
	case matches(k, d.keys.Submit), matches(k, d.keys.Toggle):
		switch {
		case d.cur < len(quickReactions):
			return d.react(quickReactions[d.cur])
		case d.cur == len(quickReactions):
			d.typing = true
			return d.in.Focus()
		default:
			return d.react("")
		}
	}
	return nil
}

func (d *reactDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 52)
	var row []string
	for i, e := range quickReactions {
		cell := " " + e + " "
		if i == d.cur {
			cell = s.Selected.Render(cell)
		}
		row = append(row, cell)
	}
	rows := []string{s.Muted.Render(d.truncate("“"+oneLine(d.msg.Text)+"”", inner)), "", strings.Join(row, "")}
	other := "other: " + d.in.View()
	if !d.typing {
		other = "other…"
	}
	if d.cur == len(quickReactions) {
		other = s.Selected.Render(other)
	}
	rows = append(rows, "", other)
	if d.mine != "" {
		rm := "remove yours (" + d.mine + ")"
		if d.cur == len(quickReactions)+1 {
			rm = s.Selected.Render(rm)
		}
		rows = append(rows, rm)
	}
	hint := "←/→ choose · 1–8 pick · enter react · esc close"
	if d.typing {
		hint = "enter react · esc back"
	}
	return d.frame("React", strings.Join(rows, "\n"), hint, inner)
}
