package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"rsc.io/qr"

	"github.com/chive-im/chive/onion"
)

func init() {
	register(&command{
		name:    "address",
		summary: "print your onion address (and a QR code with --qr)",
		usage: `Usage: chive address [--qr] [--json]

Prints your address (the onion ID your contacts add) and its chive: link.
--qr also draws the link as a QR code in the terminal, to scan with a phone.
`,
		run: runAddress,
	})
}

func runAddress(ctx context.Context, e *env, args []string) int {
	const name = "address"
	fs := newFlags(name, commands[name].usage, e.stderr)
	c := addCommon(fs, e)
	u := addUnlock(fs, e)
	withQR := fs.Bool("qr", false, "draw a QR code of the chive: link")
	jsonOut := fs.Bool("json", false, "print {\"address\",\"uri\",\"name\"} as JSON")
	pos, help, err := parseArgs(fs, args)
	if help {
		return exitOK
	}
	if err == nil && len(pos) > 0 {
		err = usageError("unexpected argument %q", pos[0])
	}
	if err == nil {
		err = address(ctx, e, c, u, *withQR, *jsonOut)
	}
	if err != nil {
		return fail(e, name, err)
	}
	return exitOK
}

func address(ctx context.Context, e *env, c *common, u *unlock, withQR, jsonOut bool) error {
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.api.Status(ctx)
	if err != nil {
		return err
	}
	a := onion.Address(st.Address)
	if jsonOut {
		return writeJSON(e.stdout, map[string]string{"address": st.Address, "uri": a.URI(), "name": st.Name})
	}
	fmt.Fprintln(e.stdout, st.Address)
	fmt.Fprintln(e.stdout, a.URI())
	if withQR {
		_, colour := terminal(e.stdout)
		return writeQR(e.stdout, a.URI(), colour)
	}
	return nil
}

// writeQR draws text as a QR code with half-block characters, two module
// rows per line, with a quiet zone. Light modules are drawn as blocks so the
// code has the right polarity on the usual dark terminal; with colour it is
// forced to white on black, which scans on any background.
func writeQR(w io.Writer, text string, colour bool) error {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return fmt.Errorf("qr: %w", err)
	}
	const quiet = 2
	n := code.Size
	light := func(x, y int) bool {
		if x < 0 || y < 0 || x >= n || y >= n {
			return true
		}
		return !code.Black(x, y)
	}
	var b strings.Builder
	for y := -quiet; y < n+quiet; y += 2 {
		if colour {
			b.WriteString("\x1b[97;40m")
		}
		for x := -quiet; x < n+quiet; x++ {
			top, bottom := light(x, y), y+1 >= n+quiet || light(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		if colour {
			b.WriteString("\x1b[0m")
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}
