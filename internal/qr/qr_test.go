package qr

import (
	"testing"
	"unicode/utf8"

	"rsc.io/qr"
)

// TestRoundTrip decodes the drawing back into modules and compares them
// with the code, for both polarities.
func TestRoundTrip(t *testing.T) {
	const text = "CHIVE:UDHPBYZ7BQ2WBBJ3OUHFMWTN7H6ANKQZ3DX3AZFGRGJ4JHFQH6ZPSIAD"
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	for _, inkLight := range []bool{false, true} {
		o := Options{Level: L, Quiet: 2, InkLight: inkLight}
		rows, err := Render(text, o)
		if err != nil {
			t.Fatal(err)
		}
		w, h, _ := Size(text, o)
		if len(rows) != h {
			t.Fatalf("rows = %d, Size says %d", len(rows), h)
		}
		n := code.Size + 4
		for y := 0; y < n; y++ {
			row := []rune(rows[y/2])
			if len(row) != w || utf8.RuneCountInString(rows[y/2]) != w {
				t.Fatalf("row %d is %d cells, want %d", y/2, len(row), w)
			}
			for x := 0; x < n; x++ {
				c := row[x]
				var inked bool
				if y%2 == 0 {
					inked = c == '█' || c == '▀'
				} else {
					inked = c == '█' || c == '▄'
				}
				want := code.Black(x-2, y-2) != inkLight
				if inked != want {
					t.Fatalf("inkLight=%v: module (%d,%d) inked=%v, want %v", inkLight, x, y, inked, want)
				}
			}
		}
	}
}
