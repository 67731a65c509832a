package tui

import (
	"fmt"
	"image/color"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
)

// Styles are every style the UI uses, by meaning rather than by colour.
// DefaultStyles picks colours for a light or dark terminal; with NO_COLOR,
// Bubble Tea strips colours and the bold/reverse/glyph cues still carry meaning.
type Styles struct {
	IsDark bool

	Title    lipgloss.Style
	Muted    lipgloss.Style
	Hint     lipgloss.Style
	Error    lipgloss.Style
	Warning  lipgloss.Style
	Success  lipgloss.Style
	Accent   lipgloss.Style
	Selected lipgloss.Style // selected row in lists

	StatusBar   lipgloss.Style
	StatusError lipgloss.Style
	StatusReady lipgloss.Style
	StatusBusy  lipgloss.Style

	Divider       lipgloss.Style
	ContactName   lipgloss.Style
	Unread        lipgloss.Style
	Preview       lipgloss.Style
	Online        lipgloss.Style
	Connecting    lipgloss.Style
	Offline       lipgloss.Style
	Request       lipgloss.Style
	Header        lipgloss.Style
	DaySeparator  lipgloss.Style
	SenderMe      lipgloss.Style
	SenderThem    lipgloss.Style
	Time          lipgloss.Style
	Body          lipgloss.Style
	MarkQueued    lipgloss.Style
	MarkSent      lipgloss.Style
	MarkDelivered lipgloss.Style
	MarkRead      lipgloss.Style
	MarkFailed    lipgloss.Style
	Typing        lipgloss.Style
	FileName      lipgloss.Style // a file message's name
	ProgressDone  lipgloss.Style // the part of a transfer's bar that moved
	ProgressTodo  lipgloss.Style // the rest

	Dialog       lipgloss.Style
	DialogBorder lipgloss.Style
	DialogTitle  lipgloss.Style
	Label        lipgloss.Style
	Key          lipgloss.Style

	StrengthWeak   lipgloss.Style
	StrengthFair   lipgloss.Style
	StrengthStrong lipgloss.Style

	// QR modules: dark on light whatever the terminal's theme, so phones can scan it.
	QRDark, QRLight color.Color

	// Authors are the colours of group members' names, one per author
	// (picked by their address); bold carries them without colour.
	Authors []lipgloss.Style
}

// palette is a theme's colours, by meaning.
type palette struct {
	text, muted, accent, them, ok, warn, err, bar, selection, divider color.Color
}

// colourNames are the palette's names in the config file (theme.colors).
var colourNames = []string{"text", "muted", "accent", "them", "ok", "warn", "error", "bar", "selection", "divider"}

var themeNames = []string{"auto", "dark", "light", "high-contrast"}

func (p *palette) slot(name string) *color.Color {
	switch name {
	case "text":
		return &p.text
	case "muted":
		return &p.muted
	case "accent":
		return &p.accent
	case "them":
		return &p.them
	case "ok":
		return &p.ok
	case "warn":
		return &p.warn
	case "error":
		return &p.err
	case "bar":
		return &p.bar
	case "selection":
		return &p.selection
	case "divider":
		return &p.divider
	}
	return nil
}

func basePalette(isDark bool) palette {
	if isDark {
		return palette{
			text: lipgloss.Color("#e6edf3"), muted: lipgloss.Color("#8b949e"), accent: lipgloss.Color("#c297ff"),
			them: lipgloss.Color("#56d4dd"), ok: lipgloss.Color("#3fb950"), warn: lipgloss.Color("#d29922"),
			err: lipgloss.Color("#f85149"), bar: lipgloss.Color("#21262d"), selection: lipgloss.Color("#2d333b"),
			divider: lipgloss.Color("#30363d"),
		}
	}
	return palette{
		text: lipgloss.Color("#1f2328"), muted: lipgloss.Color("#6e7781"), accent: lipgloss.Color("#6639ba"),
		them: lipgloss.Color("#0a6b8a"), ok: lipgloss.Color("#1a7f37"), warn: lipgloss.Color("#9a6700"),
		err: lipgloss.Color("#cf222e"), bar: lipgloss.Color("#eaeef2"), selection: lipgloss.Color("#ddf4ff"),
		divider: lipgloss.Color("#d0d7de"),
	}
}

// highContrastPalette is pure black and white with saturated colours, for
// low vision and bright rooms.
func highContrastPalette(isDark bool) palette {
	if isDark {
		return palette{
			text: lipgloss.Color("#ffffff"), muted: lipgloss.Color("#d0d0d0"), accent: lipgloss.Color("#ffd700"),
			them: lipgloss.Color("#00ffff"), ok: lipgloss.Color("#00ff00"), warn: lipgloss.Color("#ffff00"),
			err: lipgloss.Color("#ff5f5f"), bar: lipgloss.Color("#000000"), selection: lipgloss.Color("#005fff"),
			divider: lipgloss.Color("#ffffff"),
		}
	}
	return palette{
		text: lipgloss.Color("#000000"), muted: lipgloss.Color("#303030"), accent: lipgloss.Color("#5f00af"),
		them: lipgloss.Color("#005f87"), ok: lipgloss.Color("#005f00"), warn: lipgloss.Color("#875f00"),
		err: lipgloss.Color("#af0000"), bar: lipgloss.Color("#ffffff"), selection: lipgloss.Color("#ffff87"),
		divider: lipgloss.Color("#000000"),
	}
}

// parseColour reads "#rrggbb", "#rgb" or an ANSI colour number "0"–"255".
func parseColour(s string) (color.Color, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 255 {
			return nil, fmt.Errorf("%q: an ANSI colour is 0 to 255", s)
		}
		return lipgloss.Color(s), nil
	}
	if h, ok := strings.CutPrefix(s, "#"); ok && (len(h) == 6 || len(h) == 3) {
		if _, err := strconv.ParseUint(h, 16, 32); err == nil {
			return lipgloss.Color(s), nil
		}
	}
	return nil, fmt.Errorf("%q: write a colour as #rrggbb or an ANSI number 0-255", s)
}

// ThemeStyles returns the styles of a theme for a dark or light terminal
// (the background chive asked the terminal for). The colours of the config
// are already validated.
func ThemeStyles(t ThemeConfig, isDark bool) Styles {
	switch t.Name {
	case "dark":
		isDark = true
	case "light":
		isDark = false
	}
	p := basePalette(isDark)
	if t.Name == "high-contrast" {
		p = highContrastPalette(isDark)
	}
	for name, v := range t.Colors {
		if c, err := parseColour(v); err == nil && p.slot(name) != nil {
			*p.slot(name) = c
		}
	}
	return stylesFrom(p, isDark)
}

// DefaultStyles returns chive's styles for a dark or light background.
func DefaultStyles(isDark bool) Styles { return ThemeStyles(ThemeConfig{Name: "auto"}, isDark) }

func stylesFrom(p palette, isDark bool) Styles {
	var (
		fg, muted, accent, them = p.text, p.muted, p.accent, p.them
		green, yellow, red      = p.ok, p.warn, p.err
		barBg, selBg, divider   = p.bar, p.selection, p.divider
	)
	s := Styles{IsDark: isDark}
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Muted = lipgloss.NewStyle().Foreground(muted)
	s.Hint = lipgloss.NewStyle().Foreground(muted).Italic(true)
	s.Error = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Warning = lipgloss.NewStyle().Foreground(yellow)
	s.Success = lipgloss.NewStyle().Foreground(green)
	s.Accent = lipgloss.NewStyle().Foreground(accent)
	s.Selected = lipgloss.NewStyle().Background(selBg).Bold(true)

	s.StatusBar = lipgloss.NewStyle().Background(barBg).Foreground(fg)
	s.StatusError = s.StatusBar.Foreground(red).Bold(true)
	s.StatusReady = s.StatusBar.Foreground(green)
	s.StatusBusy = s.StatusBar.Foreground(yellow)

	s.Divider = lipgloss.NewStyle().Foreground(divider)
	s.ContactName = lipgloss.NewStyle().Foreground(fg)
	s.Unread = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.Preview = lipgloss.NewStyle().Foreground(muted)
	s.Online = lipgloss.NewStyle().Foreground(green)
	s.Connecting = lipgloss.NewStyle().Foreground(yellow)
	s.Offline = lipgloss.NewStyle().Foreground(muted)
	s.Request = lipgloss.NewStyle().Foreground(yellow).Bold(true)
	s.Header = lipgloss.NewStyle().Bold(true).Foreground(fg)
	s.DaySeparator = lipgloss.NewStyle().Foreground(muted)
	s.SenderMe = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.SenderThem = lipgloss.NewStyle().Bold(true).Foreground(them)
	s.Time = lipgloss.NewStyle().Foreground(muted)
	s.Body = lipgloss.NewStyle().Foreground(fg)
	s.MarkQueued = lipgloss.NewStyle().Foreground(muted)
	s.MarkSent = lipgloss.NewStyle().Foreground(muted)
	s.MarkDelivered = lipgloss.NewStyle().Foreground(muted)
	s.MarkRead = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.MarkFailed = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Typing = lipgloss.NewStyle().Foreground(accent).Italic(true)
	s.FileName = lipgloss.NewStyle().Bold(true).Foreground(fg)
	s.ProgressDone = lipgloss.NewStyle().Foreground(accent)
	s.ProgressTodo = lipgloss.NewStyle().Foreground(divider)

	s.Dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	s.DialogBorder = lipgloss.NewStyle().Foreground(accent)
	s.DialogTitle = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Label = lipgloss.NewStyle().Foreground(muted)
	s.Key = lipgloss.NewStyle().Bold(true).Foreground(fg)

	s.StrengthWeak = lipgloss.NewStyle().Foreground(red)
	s.StrengthFair = lipgloss.NewStyle().Foreground(yellow)
	s.StrengthStrong = lipgloss.NewStyle().Foreground(green)

	s.QRDark, s.QRLight = lipgloss.Color("#000000"), lipgloss.Color("#ffffff")
	extra := []color.Color{lipgloss.Color("#0550ae"), lipgloss.Color("#953800"), lipgloss.Color("#8250df")}
	if isDark {
		extra = []color.Color{lipgloss.Color("#79c0ff"), lipgloss.Color("#ffa657"), lipgloss.Color("#d2a8ff")}
	}
	for _, c := range append([]color.Color{them, green, yellow}, extra...) {
		s.Authors = append(s.Authors, lipgloss.NewStyle().Bold(true).Foreground(c))
	}
	return s
}
