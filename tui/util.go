package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
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

func newComposer(st *Styles) textarea.Model {
	ta := textarea.New()
	ta.Placeholder = "Write a message…  (enter send · alt+enter new line)"
	ta.ShowLineNumbers = false
	ta.Prompt = "› "
	ta.CharLimit = 0
	ta.MaxHeight = 0
	ta.DynamicHeight = true
	ta.MinHeight = 1
	ta.MaxHeight = 6
	km := textarea.DefaultKeyMap()
	// Enter sends; our keys own ctrl+k/ctrl+d/ctrl+n/ctrl+o/home/end.
	km.InsertNewline.SetKeys("alt+enter", "ctrl+j")
	km.DeleteAfterCursor.SetKeys()
	km.DeleteCharacterForward.SetKeys("delete")
	km.LineStart.SetKeys("ctrl+a")
	km.LineEnd.SetKeys("ctrl+e")
	km.PageUp.SetKeys()
	km.PageDown.SetKeys()
	km.LineNext.SetKeys("down")
	km.LinePrevious.SetKeys("up")
	km.InputBegin.SetKeys("alt+<")
	km.InputEnd.SetKeys("alt+>")
	km.TransposeCharacterBackward.SetKeys("ctrl+t")
	ta.KeyMap = km
	restyleComposer(&ta, st)
	return ta
}

func restyleComposer(ta *textarea.Model, st *Styles) {
	s := textarea.DefaultStyles(st.IsDark)
	s.Cursor.Blink = false
	s.Focused.CursorLine = lipgloss.NewStyle()
	s.Focused.Prompt = st.Accent
	s.Blurred.Prompt = st.Muted
	ta.SetStyles(s)
}
