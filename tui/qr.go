package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"rsc.io/qr"
)

// qrBlock draws text as a QR code with half-block characters, two modules
// per character cell vertically, with a quiet zone of quiet modules. Upper
// case text uses the denser alphanumeric mode, so "CHIVE:<ADDRESS>" fits a
// version 3 code (29 modules).
//
// Dark modules are painted dark on a light background in every theme so
// phones can scan it; without colour (NO_COLOR) the glyphs alone carry it,
// inverted for dark terminals, whose default foreground is light.
func qrBlock(text string, quiet int, st *Styles, colour bool) (string, error) {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return "", err
	}
	n := code.Size + 2*quiet
	dark := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		return code.Black(x, y) // false outside the code: the quiet zone
	}
	// ink(x, y) reports whether a module is drawn with the foreground.
	ink := dark
	if !colour && st.IsDark {
		ink = func(x, y int) bool { return !dark(x, y) }
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			top, bot := ink(x, y), y+1 < n && ink(x, y+1)
			if y+1 >= n && !colour && st.IsDark {
				bot = false // past the end: terminal background
			}
			switch {
			case top && bot:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bot:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		if y+2 < n {
			b.WriteByte('\n')
		}
	}
	if !colour {
		return b.String(), nil
	}
	style := lipgloss.NewStyle().Foreground(st.QRDark).Background(st.QRLight)
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = style.Render(l)
	}
	return strings.Join(lines, "\n"), nil
}

// qrSize is the width and height in cells of qrBlock's output.
func qrSize(text string, quiet int) (w, h int) {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return 0, 0
	}
	n := code.Size + 2*quiet
	return n, (n + 1) / 2
}
