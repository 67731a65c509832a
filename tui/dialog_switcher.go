package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// switcher is the quick switcher: type part of a name, enter opens it.
type switcher struct {
	*env
	conn
	contacts []node.Contact // the list when the switcher opened
	in       textinput.Model
	matches  []node.Contact
	cur      int
}

func newSwitcher(e *env, c conn, contacts []node.Contact, width int) *switcher {
	d := &switcher{env: e, conn: c, contacts: contacts, in: newInput(e.styles, "type part of a name", dialogWidth(width, 44)-3)}
	d.in.Focus()
	d.filter()
	return d
}

func (d *switcher) filter() {
	q := strings.ToLower(strings.TrimSpace(d.in.Value()))
	d.matches = d.matches[:0]
	for _, ct := range d.contacts {
		if q == "" || strings.Contains(strings.ToLower(ct.Name), q) || strings.HasPrefix(ct.Address, q) {
			d.matches = append(d.matches, ct)
		}
	}
	// Prefix matches of the name first.
	if q != "" {
		var pre, rest []node.Contact
		for _, ct := range d.matches {
			if strings.HasPrefix(strings.ToLower(ct.Name), q) {
				pre = append(pre, ct)
			} else {
				rest = append(rest, ct)
			}
		}
		d.matches = append(pre, rest...)
	}
	d.cur = min(d.cur, max(0, len(d.matches)-1))
}

func (d *switcher) update(msg tea.Msg) action {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, d.keys.Quit):
			return quitApp{}
		case matches(k, d.keys.Close), matches(k, d.keys.Switcher):
			return closeDialog{}
		case k.String() == "up" || k.String() == "ctrl+p":
			d.cur = max(0, d.cur-1)
			return nil
		case k.String() == "down" || k.String() == "ctrl+n" || k.String() == "tab":
			d.cur = max(0, min(len(d.matches)-1, d.cur+1)) // not -1 with no match
			return nil
		case k.String() == "enter":
			if len(d.matches) == 0 {
				return nil
			}
			ct := d.matches[d.cur]
			if ct.State == node.StatePendingIncoming {
				return actions{openChat{ct.Address}, showDialog{d: newRequestDialog(d.env, d.conn, ct)}}
			}
			return openChat{ct.Address}
		}
	}
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	d.filter()
	return cmd
}

func (d *switcher) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 44)
	rows := []string{"› " + d.in.View(), ""}
	maxRows := max(3, min(10, height-10))
	start := max(0, d.cur-maxRows+1)
	for i := start; i < len(d.matches) && i < start+maxRows; i++ {
		ct := d.matches[i]
		line := presenceDot(s, ct) + " " + d.truncate(displayName(ct), inner-10)
		if ct.Unread > 0 {
			line += " " + s.Unread.Render("("+strconv.Itoa(ct.Unread)+")")
		}
		line = d.fit(line, inner)
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line)
	}
	if len(d.matches) == 0 {
		rows = append(rows, s.Muted.Render("no match"))
	}
	return d.frame("Go to conversation", strings.Join(rows, "\n"), "↑/↓ choose · enter open · esc close", inner)
}
