package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

// inviteMadeMsg is the reply to CreateInvite.
type inviteMadeMsg struct {
	iv  node.Invite
	err error
}

// addressDialog shows our address on one line (so a mouse selection takes
// it whole), a QR code of its chive: link, and copies the link. "i" makes
// an invite link (one request, a week) and shows that instead: a request
// carrying it gets past the flood limits.
type addressDialog struct {
	*env
	conn
	address string // "" until the node's status arrives
	copied  bool
	invite  *node.Invite // made in this dialog
	busy    bool         // an invite is being made
	err     string
}

func newAddressDialog(e *env, c conn, address string) *addressDialog {
	return &addressDialog{env: e, conn: c, address: address}
}

// link is what the dialog shows and copies: the invite link once made.
func (d *addressDialog) link() string {
	if d.invite != nil {
		return d.invite.Link
	}
	return onion.Address(d.address).URI()
}

func (d *addressDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case statusMsg:
		if msg.err == nil {
			d.address = msg.st.Address
		}
	case inviteMadeMsg:
		d.busy = false
		if msg.err != nil {
			d.err = msg.err.Error()
			return nil
		}
		d.invite, d.copied, d.err = &msg.iv, false, ""
	case tea.KeyPressMsg:
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Copy):
			if d.address == "" {
				return nil
			}
			d.copied = true
			return tea.SetClipboard(d.link())
		case msg.String() == "i":
			if d.address == "" || d.busy || d.invite != nil {
				return nil
			}
			d.busy = true
			api := d.api
			return call(d.ctx, func(ctx context.Context) tea.Msg {
				iv, err := api.CreateInvite(ctx, node.InviteOptions{})
				return inviteMadeMsg{iv, err}
			})
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
	what := "link"
	if d.invite != nil {
		what = "invite link"
	}
	if !d.copied {
		return firstKey(d.keys.Copy) + " copies the " + what + " through the terminal (OSC 52). Or select it with the mouse."
	}
	if d.term.tmux {
		return "Sent the " + what + " to tmux (OSC 52). It reaches your clipboard only if tmux's set-clipboard is on and your terminal takes OSC 52; if pasting gives nothing, select it with the mouse."
	}
	return "Sent the " + what + " to the terminal's clipboard (OSC 52). If pasting gives nothing, your terminal does not take OSC 52: select it with the mouse."
}

// hint is the dialog's last line: the keys, or what is going on.
func (d *addressDialog) hint() string {
	switch {
	case d.busy:
		return "making an invite link… · esc close"
	case d.err != "":
		return safetext.Line(d.err)
	case d.invite != nil:
		return firstKey(d.keys.Copy) + " copy invite link · esc close"
	}
	return firstKey(d.keys.Copy) + " copy link · i invite link · esc close"
}

// chunks cuts s into pieces of n bytes (links are ASCII).
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out, s = append(out, s[:n]), s[n:]
	}
	return append(out, s)
}

// beside puts text to the right of a QR code's lines.
func beside(q string, text []string) []string {
	qLines := strings.Split(q, "\n")
	body := make([]string, 0, len(qLines))
	for i, l := range qLines {
		t := ""
		if i < len(text) {
			t = text[i]
		}
		body = append(body, l+"  "+t)
	}
	return body
}

func (d *addressDialog) Render(width, height int) string {
	s := d.styles
	addr := d.address
	if addr == "" {
		return d.frame("My address", s.Muted.Render("loading…"), "esc close", dialogWidth(width, 60))
	}
	if d.invite != nil {
		return d.renderInvite(width, height)
	}
	link := d.link()
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
			body := append(beside(q, text), addrLine)
			return d.frame("My address", strings.Join(body, "\n"), d.hint(), qw+2+textW)
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
	return d.frame("My address", strings.Join(rows, "\n"), d.hint(), inner)
}

// renderInvite shows the invite link, whole (its token is the point), with
// a QR code when the window is big enough.
func (d *addressDialog) renderInvite(width, height int) string {
	s := d.styles
	link := d.link()
	what := fmt.Sprintf("lets in %d request until %s", d.invite.MaxUses, d.invite.Expires.In(d.loc).Format("Jan 2"))
	if d.invite.MaxUses != 1 {
		what = strings.Replace(what, "request", "requests", 1)
	}
	note := s.Muted
	if d.copied {
		note = s.Success
	}
	textW := 32
	text := []string{s.Label.Render("Invite link")}
	for _, l := range chunks(link, textW) {
		text = append(text, s.Accent.Render(l))
	}
	text = append(text, "")
	for _, l := range d.wrap("Give it only to the person you want to hear from: their request skips the limits on strangers' requests.", textW) {
		text = append(text, s.Muted.Render(l))
	}
	qrText := strings.ToUpper(link)
	qw, qh := qrSize(qrText, 2)
	if width >= qw+textW+8 && height >= qh+7 {
		if q, err := qrBlock(qrText, 2, s, d.colour); err == nil {
			body := beside(q, text)
			for _, l := range d.wrap(d.copyNote(), qw+2+textW) {
				body = append(body, note.Render(l))
			}
			return d.frame("Invite link — "+what, strings.Join(body, "\n"), d.hint(), qw+2+textW)
		}
	}
	inner := dialogWidth(width, 60)
	rows := []string{s.Muted.Render("It " + what + ":")}
	for _, l := range chunks(link, max(inner, 16)) {
		rows = append(rows, s.Accent.Render(l))
	}
	rows = append(rows, "")
	for _, l := range d.wrap(d.copyNote(), inner) {
		rows = append(rows, note.Render(l))
	}
	rows = append(rows, "", s.Muted.Render("(a bigger window shows a QR code)"))
	return d.frame("Invite link", strings.Join(rows, "\n"), d.hint(), inner)
}
