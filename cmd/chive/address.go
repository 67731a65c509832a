package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/chive-im/chive/internal/qr"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

func newAddress(e *env) *command {
	var (
		c               common
		u               unlock
		withQR, jsonOut bool
		inv             inviteFlags
	)
	fs := newFlagSet("address")
	c.register(fs, e)
	u.register(fs, e)
	fs.BoolVar(&withQR, "qr", false, "draw a QR code of the chive: link")
	fs.BoolVar(&jsonOut, "json", false, "print {\"address\",\"uri\",\"name\"} (with --invite: the invite) as JSON")
	inv.register(fs)
	return &command{
		name:       "address",
		shortUsage: "chive address [--qr] [--json] [--invite [--uses N] [--expires D]]",
		shortHelp:  "print your onion address (and a QR code with --qr), or make an invite link",
		longHelp: `Prints your address (the onion ID your contacts add) and its chive: link.
--qr also draws the link as a QR code in the terminal, to scan with a phone.

--invite makes an invite link instead: chive:ADDRESS?invite=TOKEN. A contact
request that carries its token gets past the limits that protect you from
floods of requests by strangers, so give it to the person you want to hear
from. It works for --uses requests (default 1) until --expires (default 7d;
e.g. 90m, 12h, 30d). "chive invites" lists and revokes them.
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if inv.invite || inv.uses != 0 || inv.expires != "" {
				opts, err := inv.options(time.Now())
				if err != nil {
					return err
				}
				return invite(ctx, e, &c, &u, opts, withQR, jsonOut)
			}
			return address(ctx, e, &c, &u, withQR, jsonOut)
		},
	}
}

// inviteFlags are address --invite's.
type inviteFlags struct {
	invite  bool
	uses    int
	expires string
}

func (f *inviteFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.invite, "invite", false, "make an invite link (see below)")
	fs.IntVar(&f.uses, "uses", 0, "with --invite: how many requests it lets in (default 1)")
	fs.StringVar(&f.expires, "expires", "", "with --invite: how long it works, e.g. 12h or 30d (default 7d)")
}

func (f *inviteFlags) options(now time.Time) (node.InviteOptions, error) {
	if !f.invite {
		return node.InviteOptions{}, usagef("--uses and --expires go with --invite")
	}
	if f.uses < 0 {
		return node.InviteOptions{}, usagef("--uses %d: at least 1", f.uses)
	}
	o := node.InviteOptions{Uses: f.uses}
	if f.expires != "" {
		d, err := parseLife(f.expires)
		if err != nil {
			return node.InviteOptions{}, usagef("--expires %q: %v", f.expires, err)
		}
		o.Expires = now.Add(d)
	}
	return o, nil
}

// parseLife parses a duration, with "d" for days as well ("30d", "1d12h").
func parseLife(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, errors.New("want a duration like 90m, 12h or 30d")
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			s = "0s"
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d+days <= 0 {
		return 0, errors.New("want a duration like 90m, 12h or 30d")
	}
	return d + days, nil
}

func invite(ctx context.Context, e *env, c *common, u *unlock, o node.InviteOptions, withQR, jsonOut bool) error {
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	iv, err := s.api.CreateInvite(ctx, o)
	if err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, iv)
	}
	fmt.Fprintln(e.stdout, iv.Link)
	fmt.Fprintf(e.stdout, "Invite #%d: lets in %s until %s. Give it only to whom you want to hear from.\n",
		iv.ID, plural(iv.MaxUses, "request"), iv.Expires.Local().Format(time.DateTime))
	if withQR {
		_, colour := terminal(e.stdout)
		return writeQR(e.stdout, strings.ToUpper(iv.Link), colour)
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
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
