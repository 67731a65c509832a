package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
)

// helpDialog lists every key of the KeyMap, by where it works: each group
// under its own header, in two columns when the window is wide enough. It
// scrolls when the window is short.
type helpDialog struct {
	*env
	top     int // first body line shown
	maxTop  int // as of the last Render
	visible int // body lines shown, as of the last Render
}

func newHelpDialog(e *env) *helpDialog { return &helpDialog{env: e} }

func (d *helpDialog) update(msg tea.Msg) action {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	page := max(1, d.visible-1)
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case k.String() == "down" || k.String() == "j" || k.String() == "ctrl+n":
		d.top++
	case k.String() == "up" || k.String() == "k" || k.String() == "ctrl+p":
		d.top--
	case k.String() == "pgdown" || k.String() == "space" || k.String() == "ctrl+f":
		d.top += page
	case k.String() == "pgup" || k.String() == "ctrl+b":
		d.top -= page
	case k.String() == "home" || k.String() == "g":
		d.top = 0
	case k.String() == "end" || k.String() == "G":
		d.top = d.maxTop
	default:
		return closeDialog{} // any other key closes help
	}
	d.top = min(max(0, d.top), d.maxTop)
	return nil
}

// column draws key groups one under the other, w cells wide.
func (d *helpDialog) column(groups []keyGroup, w int) []string {
	s := d.styles
	keyW := 0
	for _, g := range groups {
		for _, b := range g.keys {
			keyW = max(keyW, d.textWidth(b.Help().Key))
		}
	}
	keyW = min(keyW, w/3)
	var out []string
	for i, g := range groups {
		if i > 0 {
			out = append(out, strings.Repeat(" ", w))
		}
		out = append(out, d.fit(s.Label.Render(g.title), w))
		for _, b := range g.keys {
			h := b.Help()
			descs := d.wrap(h.Desc, max(4, w-keyW-2))
			for j, desc := range descs {
				k := ""
				if j == 0 {
					k = h.Key
				}
				out = append(out, d.fit(s.Key.Render(d.pad(d.truncate(k, keyW), keyW))+"  "+s.Muted.Render(desc), w))
			}
		}
	}
	return out
}

func (d *helpDialog) Render(width, height int) string {
	inner := dialogWidth(width, 100)
	groups := d.keys.groups()
	var body []string
	if colW := (inner - 3) / 2; colW >= 36 {
		// Two columns: the first half of the groups on the left.
		half := (len(groups) + 1) / 2
		left, right := d.column(groups[:half], colW), d.column(groups[half:], colW)
		for len(left) < len(right) {
			left = append(left, strings.Repeat(" ", colW))
		}
		for len(right) < len(left) {
			right = append(right, "")
		}
		for i := range left {
			body = append(body, left[i]+"   "+right[i])
		}
	} else {
		body = d.column(groups, inner)
	}

	// Title, blank, body, blank, hint inside a border: 6 lines besides the body.
	d.visible = max(1, min(len(body), height-6))
	d.maxTop = max(0, len(body)-d.visible)
	d.top = min(max(0, d.top), d.maxTop)
	shown := body[d.top : d.top+d.visible]
	hint := "any key closes this"
	switch {
	case d.top < d.maxTop:
		hint = "↓ more · ↑/↓ pgup/pgdn scroll · esc close"
	case d.maxTop > 0:
		hint = "↑/↓ pgup/pgdn scroll · esc close"
	}
	return d.frame("Keys", strings.Join(shown, "\n"), hint, inner)
}
