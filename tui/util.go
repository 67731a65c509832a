package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func matches(k tea.KeyPressMsg, b ...key.Binding) bool { return key.Matches(k, b...) }

// cells measures, cuts and pads text the way the terminal will draw it.
//
// Bubble Tea's renderer places every cell by one width method: wcwidth
// rules (each code point on its own, so a ZWJ family of four is eight
// cells) until the terminal says it clusters graphemes (mode 2027), then
// grapheme clusters (the family is two). A layout measured any other way
// pushes a row past the edge and shifts what follows, so every width the
// UI computes goes through here, never lipgloss.Width or ansi.StringWidth.
type cells struct{ m ansi.Method }

// textWidth is s's width in cells; escape sequences take none.
func (c cells) textWidth(s string) int { return c.m.StringWidth(s) }

// truncate cuts s to w cells with an ellipsis.
func (c cells) truncate(s string, w int) string { return c.cut(s, w, "…") }

// cut cuts s to w cells, ending with tail when it cuts.
func (c cells) cut(s string, w int, tail string) string {
	switch n := c.textWidth(s); {
	case w <= 0:
		return ""
	case n <= w:
		return s
	case c.m == ansi.WcWidth && ansi.StringWidth(s) <= w:
		// ansi.Truncate returns s unchanged when its grapheme width fits,
		// whatever the method: make it look too long. The cut falls inside
		// s, so the padding is never kept.
		return c.m.Truncate(s+strings.Repeat(" ", w+1), w, tail)
	}
	return c.m.Truncate(s, w, tail)
}

// pad pads s with spaces to w cells (s must already fit).
func (c cells) pad(s string, w int) string {
	if n := c.textWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// fit truncates or pads s to exactly w cells.
func (c cells) fit(s string, w int) string {
	if c.textWidth(s) > w {
		// A wide character may not fit the last cell: pad what is left.
		return c.pad(c.truncate(s, w), w)
	}
	return c.pad(s, w)
}

// wrap word-wraps s to lines of at most w cells, breaking words longer
// than a line.
func (c cells) wrap(s string, w int) []string {
	if w <= 0 {
		return []string{""}
	}
	lines := strings.Split(c.m.Wrap(s, w, ""), "\n")
	for i, l := range lines {
		// Wrap keeps a grapheme wider than the line whole: cut it.
		if c.textWidth(l) > w {
			lines[i] = c.truncate(l, w)
		}
	}
	return lines
}

// wrapText is wrap joined with newlines.
func (c cells) wrapText(s string, w int) string { return strings.Join(c.wrap(s, w), "\n") }

// center puts s in the middle of w cells (no padding on the right).
func (c cells) center(s string, w int) string {
	n := c.textWidth(s)
	if n >= w {
		return c.truncate(s, w)
	}
	return strings.Repeat(" ", (w-n)/2) + s
}

// place centres s in a w×h area, cutting what does not fit so a small
// terminal never wraps (and garbles) the screen.
func (c cells) place(w, h int, s string) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	bw := 0
	for i, l := range lines {
		if c.textWidth(l) > w {
			lines[i] = c.truncate(l, w)
		}
		bw = max(bw, c.textWidth(lines[i]))
	}
	left := strings.Repeat(" ", (w-bw)/2)
	out := make([]string, 0, h)
	blank := strings.Repeat(" ", w)
	for range (h - len(lines)) / 2 {
		out = append(out, blank)
	}
	for _, l := range lines {
		out = append(out, c.fit(left+l, w))
	}
	for len(out) < h {
		out = append(out, blank)
	}
	return strings.Join(out, "\n")
}

// joinColumns puts blocks of lines side by side; every block's lines must
// already be exactly its width (fit), so no measuring is needed.
func joinColumns(blocks ...[]string) string {
	n := 0
	for _, b := range blocks {
		n = max(n, len(b))
	}
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte('\n')
		}
		for _, b := range blocks {
			if i < len(b) {
				sb.WriteString(b[i])
			}
		}
	}
	return sb.String()
}

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
