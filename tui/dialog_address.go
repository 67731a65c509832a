package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/onion"
)

// addressDialog shows our address on one line (so a mouse selection
// takes it whole), a QR code of its chive: link, and copies the link.
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

// copyNote says what copying did, as far as chive can know: the link went
// to the terminal as an OSC 52 sequence, which the terminal (and tmux,
// when it sits between) may or may not pass to the clipboard.
func (d *addressDialog) copyNote() string {
	if !d.copied {
		return firstKey(d.keys.Copy) + " copies the chive: link through the terminal (OSC 52). Or select the address with the mouse."
	}
	if d.term.tmux {
		return "Sent the link to tmux (OSC 52). It reaches your clipboard only if tmux's set-clipboard is on and your terminal takes OSC 52; if pasting gives nothing, select the address with the mouse."
	}
	return "Sent the link to the terminal's clipboard (OSC 52). If pasting gives nothing, your terminal does not take OSC 52: select the address with the mouse."
}

func (d *addressDialog) Render(width, height int) string {
	s := d.styles
	addr := d.address
	if addr == "" {
		return d.frame("My address", s.Muted.Render("loading…"), "esc close", dialogWidth(width, 60))
	}
	link := onion.Address(addr).URI()
	hint := firstKey(d.keys.Copy) + " copy link · esc close"
	// Upper case makes the QR code denser (alphanumeric mode); chive links
	// are case-insensitive.
	qrText := strings.ToUpper(link)
	qw, qh := qrSize(qrText, 2)
	note := s.Muted
	if d.copied {
		note = s.Success
	}
	addrLine := s.Accent.Render(addr)

	// The QR code with the words beside it and the address under both,
	// when it fits (80×24 does); else the words and the address alone.
	if textW := max(30, len(addr)-qw-2); width >= qw+2+textW+4 && height >= qh+7 {
		if q, err := qrBlock(qrText, 2, s, d.colour); err == nil {
			text := []string{s.Label.Render("Share it with people you"), s.Label.Render("trust: they add you with it."), ""}
			for _, l := range d.wrap(d.copyNote(), textW) {
				text = append(text, note.Render(l))
			}
			qLines := strings.Split(q, "\n")
			body := make([]string, 0, qh+1)
			for i, l := range qLines {
				t := ""
				if i < len(text) {
					t = text[i]
				}
				body = append(body, l+"  "+t)
			}
			body = append(body, addrLine)
			return d.frame("My address", strings.Join(body, "\n"), hint, qw+2+textW)
		}
	}
	inner := dialogWidth(width, 60)
	rows := []string{s.Label.Render("Your address")}
	if inner >= len(addr) {
		rows = append(rows, addrLine)
	} else {
		// Too narrow for one line: in halves, and the link is to copy.
		rows = append(rows, s.Accent.Render(addr[:28]), s.Accent.Render(addr[28:]))
	}
	rows = append(rows, s.Label.Render("Link ")+d.truncate(link, inner-5), "")
	for _, l := range d.wrap(d.copyNote(), inner) {
		rows = append(rows, note.Render(l))
	}
	rows = append(rows, "", s.Muted.Render("(a bigger window shows a QR code)"))
	return d.frame("My address", strings.Join(rows, "\n"), hint, inner)
}
