package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/chive-im/chive/internal/qr"
	"github.com/chive-im/chive/onion"
)

func newAddress(e *env) *command {
	var (
		c               common
		u               unlock
		withQR, jsonOut bool
	)
	fs := newFlagSet("address")
	c.register(fs, e)
	u.register(fs, e)
	fs.BoolVar(&withQR, "qr", false, "draw a QR code of the chive: link")
	fs.BoolVar(&jsonOut, "json", false, "print {\"address\",\"uri\",\"name\"} as JSON")
	return &command{
		name:       "address",
		shortUsage: "chive address [--qr] [--json]",
		shortHelp:  "print your onion address (and a QR code with --qr)",
		longHelp: `Prints your address (the onion ID your contacts add) and its chive: link.
--qr also draws the link as a QR code in the terminal, to scan with a phone.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return address(ctx, e, &c, &u, withQR, jsonOut)
		},
	}
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

// writeQR draws text as a QR code. Light modules are drawn as blocks so the
// code has the right polarity on the usual dark terminal; with colour each
// row is forced to white on black, which scans on any background.
func writeQR(w io.Writer, text string, colour bool) error {
	rows, err := qr.Render(text, qr.Options{Level: qr.M, Quiet: 2, InkLight: true})
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, row := range rows {
		if colour {
			row = "\x1b[97;40m" + row + "\x1b[0m"
		}
		b.WriteString(row)
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}
