package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/chive-im/chive/onion"
)

// addressDialog shows our address, its chive: link and a QR code of it,
// and copies the link.
type addressDialog struct {
	*env
	address string // "" until the node's status arrives
	copied  bool
}

func newAddressDialog(e *env, address string) *addressDialog {
	return &addressDialog{env: e, address: address}
}

func (d *addressDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case statusMsg:
		if msg.err == nil {
			d.address = msg.st.Address
		}
	case tea.KeyPressMsg:
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Copy):
			if d.address == "" {
				return nil
			}
			d.copied = true
			return tea.SetClipboard(onion.Address(d.address).URI())
		case matches(msg, d.keys.Close), matches(msg, d.keys.MyAddress), msg.String() == "enter", msg.String() == "q":
			return closeDialog{}
		}
	}
	return nil
}

func (d *addressDialog) Render(width, height int) string {
	s := d.styles
	addr := d.address
	if addr == "" {
		return d.frame("My address", s.Muted.Render("loading…"), "esc close", dialogWidth(width, 60))
	}
	link := onion.Address(addr).URI()
	hint := "c copy link (OSC 52) · esc close"
	if d.copied {
		hint = "✓ link copied to the clipboard · esc close"
	}
	// Upper case makes the QR code denser (alphanumeric mode); chive links
	// are case-insensitive.
	qrText := strings.ToUpper(link)
	qw, qh := qrSize(qrText, 2)
	half := func(a string) []string {
		if len(a) <= 28 {
			return []string{a}
		}
		return []string{a[:28], a[28:]}
	}
	text := []string{s.Label.Render("Address")}
	for _, l := range half(addr) {
		text = append(text, s.Accent.Render(l))
	}
	text = append(text, "", s.Label.Render("Link"), "chive:")
	text = append(text, half(addr)...)
	text = append(text, "", s.Muted.Render("Scan it with a phone,"), s.Muted.Render("or copy the link and"), s.Muted.Render("send it to a friend."))
	textW := 30

	// Side by side when it fits (80×24 does), else stacked, else no code.
	switch {
	case width >= qw+textW+8 && height >= qh+5:
		q, err := qrBlock(qrText, 2, s, d.colour)
		if err != nil {
			break
		}
		inner := qw + 2 + textW
		body := lipgloss.JoinHorizontal(lipgloss.Top, q, "  ", strings.Join(text, "\n"))
		return d.frame("My address — share it with people you trust", body, hint, inner)
	case width >= qw+6 && height >= qh+len(text)+6:
		q, err := qrBlock(qrText, 2, s, d.colour)
		if err != nil {
			break
		}
		inner := max(qw, textW)
		return d.frame("My address", strings.Join(text[:len(text)-4], "\n")+"\n"+q, hint, inner)
	}
	inner := dialogWidth(width, 60)
	rows := []string{s.Label.Render("Address")}
	if inner >= len(addr) {
		rows = append(rows, s.Accent.Render(addr))
	} else {
		for _, l := range half(addr) {
			rows = append(rows, s.Accent.Render(l))
		}
	}
	rows = append(rows, s.Label.Render("Link ")+d.truncate(link, inner-5), "", s.Muted.Render("(a bigger window shows a QR code)"))
	return d.frame("My address", strings.Join(rows, "\n"), hint, inner)
}
