package tui

import (
	"image/color"

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
}

// DefaultStyles returns chive's styles for a dark or light background.
func DefaultStyles(isDark bool) Styles {
	ld := lipgloss.LightDark(isDark)
	var (
		fg      = ld(lipgloss.Color("#1f2328"), lipgloss.Color("#e6edf3"))
		muted   = ld(lipgloss.Color("#6e7781"), lipgloss.Color("#8b949e"))
		accent  = ld(lipgloss.Color("#6639ba"), lipgloss.Color("#c297ff"))
		them    = ld(lipgloss.Color("#0a6b8a"), lipgloss.Color("#56d4dd"))
		green   = ld(lipgloss.Color("#1a7f37"), lipgloss.Color("#3fb950"))
		yellow  = ld(lipgloss.Color("#9a6700"), lipgloss.Color("#d29922"))
		red     = ld(lipgloss.Color("#cf222e"), lipgloss.Color("#f85149"))
		barBg   = ld(lipgloss.Color("#eaeef2"), lipgloss.Color("#21262d"))
		selBg   = ld(lipgloss.Color("#ddf4ff"), lipgloss.Color("#2d333b"))
		divider = ld(lipgloss.Color("#d0d7de"), lipgloss.Color("#30363d"))
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

	s.Dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	s.DialogBorder = lipgloss.NewStyle().Foreground(accent)
	s.DialogTitle = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Label = lipgloss.NewStyle().Foreground(muted)
	s.Key = lipgloss.NewStyle().Bold(true).Foreground(fg)

	s.StrengthWeak = lipgloss.NewStyle().Foreground(red)
	s.StrengthFair = lipgloss.NewStyle().Foreground(yellow)
	s.StrengthStrong = lipgloss.NewStyle().Foreground(green)

	s.QRDark, s.QRLight = lipgloss.Color("#000000"), lipgloss.Color("#ffffff")
	return s
}
