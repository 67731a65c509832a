// Package qr draws QR codes for the terminal with half-block characters,
// two modules per character cell vertically. The TUI and the CLI both use
// it, each adding its own colours.
package qr

import (
	"fmt"
	"strings"

	"rsc.io/qr"
)

// Level is the error-correction level.
type Level = qr.Level

const (
	L = qr.L // 7%: the smallest code; the TUI's choice for its small dialog
	M = qr.M // 15%: the CLI's choice, for printing and photos
)

// Options say how to draw a code.
type Options struct {
	Level Level
	Quiet int // modules of quiet zone on every side
	// InkLight draws the light modules (and the quiet zone) as blocks
	// instead of the dark ones. On a dark terminal without colours this is
	// what gives a scannable polarity.
	InkLight bool
}

// Render returns the code's rows, each the same number of cells.
func Render(text string, o Options) ([]string, error) {
	code, err := qr.Encode(text, o.Level)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	n := code.Size + 2*o.Quiet
	ink := func(x, y int) bool {
		if y >= n {
			return false // past the end: terminal background
		}
		dark := code.Black(x-o.Quiet, y-o.Quiet) // false in the quiet zone
		return dark != o.InkLight
	}
	rows := make([]string, 0, (n+1)/2)
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		b.Reset()
		for x := 0; x < n; x++ {
			switch top, bot := ink(x, y), ink(x, y+1); {
			case top && bot:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bot:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		rows = append(rows, b.String())
	}
	return rows, nil
}

// Size is the width and height in cells of Render's output.
func Size(text string, o Options) (w, h int, err error) {
	code, err := qr.Encode(text, o.Level)
	if err != nil {
		return 0, 0, fmt.Errorf("qr: %w", err)
	}
	n := code.Size + 2*o.Quiet
	return n, (n + 1) / 2, nil
}
