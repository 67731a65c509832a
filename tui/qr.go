package tui

import (
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/chive-im/chive/internal/qr"
)

// qrOptions is how the TUI draws a code: the small, low-redundancy level
// (upper case text uses the denser alphanumeric mode, so "CHIVE:<ADDRESS>"
// fits a version 3 code of 29 modules) and a quiet zone of quiet modules.
// Without colour (NO_COLOR) the glyphs alone carry the code, inverted for
// dark terminals, whose default foreground is light.
func qrOptions(quiet int, st *Styles, colour bool) qr.Options {
	return qr.Options{Level: qr.L, Quiet: quiet, InkLight: !colour && st.IsDark}
}

// qrBlock draws text as a QR code with internal/qr. In colour, dark modules
// are painted dark on a light background in every theme so phones can scan it.
func qrBlock(text string, quiet int, st *Styles, colour bool) (string, error) {
	rows, err := qr.Render(text, qrOptions(quiet, st, colour))
	if err != nil {
		return "", err
	}
	if colour {
		style := lipgloss.NewStyle().Foreground(st.QRDark).Background(st.QRLight)
		for i, l := range rows {
			rows[i] = style.Render(l)
		}
	}
	return strings.Join(rows, "\n"), nil
}

// qrSize is the width and height in cells of qrBlock's output.
func qrSize(text string, quiet int) (w, h int) {
	w, h, err := qr.Size(text, qr.Options{Level: qr.L, Quiet: quiet})
	if err != nil {
		return 0, 0
	}
	return w, h
}
