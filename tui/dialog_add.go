package tui

import (
	"context"
	"errors"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

// addedMsg is the reply to AddContact. The contact reaches the list with
// the node's ContactEvent; the reply closes the dialog or shows the error.
type addedMsg struct {
	ct  node.Contact
	err error
}

// addDialog adds a contact by address, with a nickname and a greeting.
type addDialog struct {
	*env
	conn
	me                   string         // our own address, which cannot be added
	known                []node.Contact // the contact list when the dialog opened
	addr, name, greeting textinput.Model
	focus                int
	addrErr              string
	err                  string
	busy                 bool
}

func newAddDialog(e *env, c conn, me node.Status, known []node.Contact, width int) *addDialog {
	inner := dialogWidth(width, 62)
	d := &addDialog{
		env:      e,
		conn:     c,
		me:       me.Address,
		known:    known,
		addr:     newInput(e.styles, "their address, chive: link or .onion", inner-3),
		name:     newInput(e.styles, "what you call them", inner-3),
		greeting: newInput(e.styles, "a line so they know it's you", inner-3),
	}
	d.addr.CharLimit = 200
	d.name.CharLimit = 64
	d.greeting.CharLimit = 280
	if me.Name != "" {
		d.greeting.SetValue("Hi, it's " + safetext.Line(me.Name))
	}
	d.addr.Focus()
	return d
}

func (d *addDialog) inputs() []*textinput.Model {
	return []*textinput.Model{&d.addr, &d.name, &d.greeting}
}

func (d *addDialog) setFocus(i int) tea.Cmd {
	d.focus = (i + 3) % 3
	var cmd tea.Cmd
	for j, in := range d.inputs() {
		if j == d.focus {
			cmd = in.Focus()
		} else {
			in.Blur()
		}
	}
	return cmd
}

// validateAddress parses an address, saying in the user's words (onion's)
// why it is not one.
func validateAddress(s string) (onion.Address, string) {
	if strings.TrimSpace(s) == "" {
		return "", ""
	}
	a, _, err := node.ParseLink(s) // an address, or their invite link
	if err != nil {
		return "", err.Error()
	}
	return a, ""
}

func (d *addDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case addedMsg:
		d.busy = false
		switch {
		case errors.Is(msg.err, node.ErrAlreadyContact):
			d.err = displayName(msg.ct) + " is already a contact"
			if msg.ct.State == node.StateRequested {
				d.err = "you asked " + displayName(msg.ct) + " already; they have not answered yet"
			}
			return nil
		case errors.Is(msg.err, node.ErrSelf):
			d.err = "that is your own address: give it to others so they can add you"
			return nil
		case msg.err != nil:
			d.err = msg.err.Error()
			return nil
		}
		return actions{openChat{msg.ct.Address}, flashNote{text: "request sent to " + displayName(msg.ct)}}
	case tea.KeyPressMsg:
		if d.busy {
			return nil
		}
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Close):
			return closeDialog{}
		case matches(msg, d.keys.NextField):
			return d.setFocus(d.focus + 1)
		case matches(msg, d.keys.PrevField):
			return d.setFocus(d.focus - 1)
		case matches(msg, d.keys.Submit):
			// From the address, on to the nickname; from the nickname
			// (the greeting is filled in) or the greeting, send.
			if d.focus == 0 {
				return d.setFocus(1)
			}
			return d.submit()
		}
	}
	in := d.inputs()[d.focus]
	var cmd tea.Cmd
	*in, cmd = in.Update(msg)
	_, d.addrErr = validateAddress(d.addr.Value())
	if _, ok := msg.(tea.KeyPressMsg); ok {
		d.err = ""
	}
	return cmd
}

func (d *addDialog) submit() tea.Cmd {
	a, e := validateAddress(d.addr.Value())
	switch {
	case d.addr.Value() == "":
		d.err = "paste their address first"
		return d.setFocus(0)
	case e != "":
		d.err = e
		return d.setFocus(0)
	case string(a) == d.me:
		d.err = "that is your own address: give it to others so they can add you"
		return d.setFocus(0)
	case d.knownAs(a) != "":
		d.err = d.knownAs(a)
		return d.setFocus(0)
	case strings.TrimSpace(d.name.Value()) == "":
		d.err = "give them a nickname"
		return d.setFocus(1)
	}
	d.busy, d.err = true, ""
	api, name, greeting := d.api, strings.TrimSpace(d.name.Value()), strings.TrimSpace(d.greeting.Value())
	target := string(a)
	if _, tok, _ := node.ParseLink(d.addr.Value()); tok != nil {
		target = strings.TrimSpace(d.addr.Value()) // the node reads the invite token from it
	}
	return call(d.ctx, func(ctx context.Context) tea.Msg {
		ct, err := api.AddContact(ctx, target, name, greeting)
		return addedMsg{ct, err}
	})
}

// knownAs says why a is already in the contact list, "" if it is not.
func (d *addDialog) knownAs(a onion.Address) string {
	for _, ct := range d.known {
		if ct.Address != string(a) {
			continue
		}
		switch ct.State {
		case node.StateRequested:
			return "you already asked " + displayName(ct) + "; they have not answered yet"
		case node.StatePendingIncoming:
			return displayName(ct) + " already asked you: answer their request in the list"
		case node.StateBlocked:
			return "you blocked " + displayName(ct) + "; unblock them in their details (" + firstKey(d.keys.Details) + ")"
		}
		return displayName(ct) + " is already a contact"
	}
	return ""
}

func (d *addDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 62)
	var rows []string
	label := func(i int, l string) string {
		if d.focus == i {
			return s.Accent.Render("▸ " + l)
		}
		return s.Label.Render("  " + l)
	}
	rows = append(rows, label(0, "Address"), "  "+d.addr.View())
	switch a, e := validateAddress(d.addr.Value()); {
	case d.addr.Value() == "":
		rows = append(rows, s.Muted.Render("  56 letters/digits; chive: links and .onion work too"))
	case e != "":
		for _, l := range strings.Split(d.wrapText("✗ "+e, inner-2), "\n") {
			rows = append(rows, "  "+s.Error.Render(l))
		}
	case string(a) == d.me:
		rows = append(rows, s.Warning.Render("  that is your own address"))
	case d.knownAs(a) != "":
		rows = append(rows, s.Warning.Render(d.truncate("  "+d.knownAs(a), inner)))
	default:
		rows = append(rows, s.Success.Render("  ✓ valid address "+a.Short()))
	}
	rows = append(rows, label(1, "Nickname"), "  "+d.name.View(), label(2, "Greeting"), "  "+d.greeting.View(), "")
	switch {
	case d.busy:
		rows = append(rows, s.Accent.Render("sending request…"))
	case d.err != "":
		rows = append(rows, s.Error.Render(d.wrapText("✗ "+d.err, inner)))
	default:
		rows = append(rows, s.Muted.Render("They see your greeting and address, and choose to accept."))
	}
	return d.frame("Add a contact", strings.Join(rows, "\n"), "tab next field · enter send request · esc cancel", inner)
}
