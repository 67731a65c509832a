package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

// inviteMadeMsg is the reply to CreateInvite.
type inviteMadeMsg struct {
	iv  node.Invite
	err error
}

// addressDialog shows our address, its chive: link and a QR code of it,
// and copies the link. "i" makes an invite link (one request, a week) and
// shows that instead: a request carrying it gets past the flood limits.
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

// chunks cuts s into pieces of n bytes (links are ASCII).
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out, s = append(out, s[:n]), s[n:]
	}
	return append(out, s)
}

func (d *addressDialog) Render(width, height int) string {
	s := d.styles
	addr := d.address
	if addr == "" {
		return frame(s, "My address", s.Muted.Render("loading…"), "esc close", dialogWidth(width, 60))
	}
	link := d.link()
	hint := "c copy link (OSC 52) · i invite link · esc close"
	switch {
	case d.copied:
		hint = "✓ link copied to the clipboard · esc close"
	case d.busy:
		hint = "making an invite link… · esc close"
	case d.err != "":
		hint = safetext.Line(d.err)
	case d.invite != nil:
		hint = "c copy invite link (OSC 52) · esc close"
	}
	if d.invite != nil {
		return d.renderInvite(width, height, link, hint)
	}
	// Upper case makes the QR code denser (alphanumeric mode); chive links
	// are case-insensitive.
	qrText := strings.ToUpper(link)
	qw, qh := qrSize(qrText, 2)
	half := func(a string) []string {
		if len(a) <= 28 {
			return []string{a}
		}
		return []string{a[:28], a[28:]}
	}
	text := []string{s.Label.Render("Address")}
	for _, l := range half(addr) {
		text = append(text, s.Accent.Render(l))
	}
	text = append(text, "", s.Label.Render("Link"), "chive:")
	text = append(text, half(addr)...)
	text = append(text, "", s.Muted.Render("Scan it with a phone,"), s.Muted.Render("or copy the link and"), s.Muted.Render("send it to a friend."))
	textW := 30

	// Side by side when it fits (80×24 does), else stacked, else no code.
	switch {
	case width >= qw+textW+8 && height >= qh+5:
		q, err := qrBlock(qrText, 2, s, d.colour)
		if err != nil {
			break
		}
		inner := qw + 2 + textW
		body := lipgloss.JoinHorizontal(lipgloss.Top, q, "  ", strings.Join(text, "\n"))
		return frame(s, "My address — share it with people you trust", body, hint, inner)
	case width >= qw+6 && height >= qh+len(text)+6:
		q, err := qrBlock(qrText, 2, s, d.colour)
		if err != nil {
			break
		}
		inner := max(qw, textW)
		return frame(s, "My address", strings.Join(text[:len(text)-4], "\n")+"\n"+q, hint, inner)
	}
	inner := dialogWidth(width, 60)
	rows := []string{s.Label.Render("Address")}
	if inner >= len(addr) {
		rows = append(rows, s.Accent.Render(addr))
	} else {
		for _, l := range half(addr) {
			rows = append(rows, s.Accent.Render(l))
		}
	}
	rows = append(rows, s.Label.Render("Link ")+truncate(link, inner-5), "", s.Muted.Render("(a bigger window shows a QR code)"))
	return frame(s, "My address", strings.Join(rows, "\n"), hint, inner)
}

// renderInvite shows the invite link, whole (its token is the point), with
// a QR code when the window is big enough.
func (d *addressDialog) renderInvite(width, height int, link, hint string) string {
	s := d.styles
	what := fmt.Sprintf("lets in %d request until %s", d.invite.MaxUses, d.invite.Expires.In(d.loc).Format("Jan 2"))
	if d.invite.MaxUses != 1 {
		what = strings.Replace(what, "request", "requests", 1)
	}
	title := "Invite link — " + what
	text := []string{s.Label.Render("Invite link")}
	for _, l := range chunks(link, 32) {
		text = append(text, s.Accent.Render(l))
	}
	text = append(text, "", s.Muted.Render("Give it only to the person"), s.Muted.Render("you want to hear from: their"),
		s.Muted.Render("request skips the limits on"), s.Muted.Render("strangers' requests."))
	textW := 32
	qrText := strings.ToUpper(link)
	qw, qh := qrSize(qrText, 2)
	if width >= qw+textW+8 && height >= qh+5 {
		if q, err := qrBlock(qrText, 2, s, d.colour); err == nil {
			body := lipgloss.JoinHorizontal(lipgloss.Top, q, "  ", strings.Join(text, "\n"))
			return frame(s, title, body, hint, qw+2+textW)
		}
	}
	inner := dialogWidth(width, 60)
	rows := []string{s.Muted.Render("It " + what + ":")}
	for _, l := range chunks(link, max(inner, 16)) {
		rows = append(rows, s.Accent.Render(l))
	}
	rows = append(rows, "", s.Muted.Render("(a bigger window shows a QR code)"))
	return frame(s, "Invite link", strings.Join(rows, "\n"), hint, inner)
}
