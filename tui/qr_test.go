package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"rsc.io/qr"
)

// TestQRBlockModules reads the half-block drawing back into modules and
// compares them with the encoder's bitmap, for every way it is drawn.
func TestQRBlockModules(t *testing.T) {
	text := "CHIVE:" + strings.ToUpper(aliceAddr)
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	const quiet = 2
	for _, tc := range []struct {
		name            string
		dark, colour    bool
		inkIsDarkModule bool
	}{
		{"colour dark terminal", true, true, true},
		{"colour light terminal", false, true, true},
		{"no colour light terminal", false, false, true},
		{"no colour dark terminal", true, false, false}, // light glyphs on a dark background
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := DefaultStyles(tc.dark)
			out, err := qrBlock(text, quiet, &st, tc.colour)
			if err != nil {
				t.Fatal(err)
			}
			rows := strings.Split(ansi.Strip(out), "\n")
			n := code.Size + 2*quiet
			if len(rows) != (n+1)/2 {
				t.Fatalf("%d rows, want %d", len(rows), (n+1)/2)
			}
			w, h := qrSize(text, quiet)
			if w != n || h != len(rows) {
				t.Errorf("qrSize = %d×%d, drawn %d×%d", w, h, n, len(rows))
			}
			for y := 0; y < n; y++ {
				cells := []rune(rows[y/2])
				if len(cells) != n {
					t.Fatalf("row %d is %d cells, want %d", y/2, len(cells), n)
				}
				for x := 0; x < n; x++ {
					c := cells[x]
					var ink bool
					if y%2 == 0 {
						ink = c == '█' || c == '▀'
					} else {
						ink = c == '█' || c == '▄'
					}
					want := code.Black(x-quiet, y-quiet)
					if !tc.inkIsDarkModule {
						want = !want
					}
					if ink != want {
						t.Fatalf("module (%d,%d): ink %v, want %v", x, y, ink, want)
					}
				}
			}
		})
	}
	if code.Size != 29 {
		t.Errorf("chive link is a %d-module code, want version 3 (29): alphanumeric mode lost?", code.Size)
	}
}
