package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

func matches(k tea.KeyPressMsg, b ...key.Binding) bool { return key.Matches(k, b...) }

// place centres s in a w×h area, cutting what does not fit so a small
// terminal never wraps (and garbles) the screen.
func place(w, h int, s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:max(0, h)]
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			lines[i] = ansi.Truncate(l, w, "")
		}
	}
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, strings.Join(lines, "\n"))
}

// truncate cuts s to w cells with an ellipsis.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(s, w, "…")
}

// padRight pads s with spaces to w cells (s must already fit).
func padRight(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// fit truncates or pads s to exactly w cells.
func fit(s string, w int) string { return padRight(truncate(s, w), w) }

// newInput is a one-line text input with a steady cursor: a blinking cursor
// would tick forever and keep an idle UI busy.
func newInput(st *Styles, placeholder string, width int) textinput.Model {
	in := textinput.New()
	in.Placeholder = placeholder
	in.Prompt = ""
	s := textinput.DefaultStyles(st.IsDark)
	s.Cursor.Blink = false
	in.SetStyles(s)
	in.SetWidth(width)
	return in
}

func restyleInput(in *textinput.Model, st *Styles) {
	s := textinput.DefaultStyles(st.IsDark)
	s.Cursor.Blink = false
	in.SetStyles(s)
}
