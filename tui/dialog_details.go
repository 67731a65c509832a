package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

type safetyMsg struct {
	address string
	number  string
	err     error
}

// detailsDialog shows a contact: state, address and safety number; it
// renames, marks verified, blocks and deletes. What it shows of the contact
// follows the node's events.
type detailsDialog struct {
	*env
	conn
	ct        node.Contact
	safety    string
	safetyErr error
	renaming  bool
	name      textinput.Model
	confirm   string // "", "block" or "delete"
	err       string
	note      string
}

func newDetailsDialog(e *env, c conn, ct node.Contact, width int) *detailsDialog {
	d := &detailsDialog{env: e, conn: c, ct: ct, name: newInput(e.styles, "nickname", dialogWidth(width, 62)-13)}
	d.name.CharLimit = 64
	return d
}

// newRenameDialog is the details dialog asking for a name at once, with a
// note saying why.
func newRenameDialog(e *env, c conn, ct node.Contact, width int, note string) showDialog {
	d := newDetailsDialog(e, c, ct, width)
	d.renaming, d.note = true, note
	return showDialog{d: d, init: tea.Batch(d.init(), d.name.Focus())}
}

// init loads the safety number of an accepted contact.
func (d *detailsDialog) init() tea.Cmd {
	if d.ct.State != node.StateAccepted {
		return nil
	}
	api, addr := d.api, d.ct.Address
	return call(d.ctx, func(ctx context.Context) tea.Msg {
		n, err := api.SafetyNumber(ctx, addr)
		return safetyMsg{address: addr, number: n, err: err}
	})
}

func (d *detailsDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case safetyMsg:
		if msg.address == d.ct.Address {
			d.safety, d.safetyErr = msg.number, msg.err
		}
		return nil
	case eventMsg:
		d.follow(msg.ev)
		return nil
	}
	if d.renaming {
		return d.updateName(msg)
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	api, addr, name := d.api, d.ct.Address, displayName(d.ct)
	if d.confirm != "" {
		confirm := d.confirm
		d.confirm = ""
		switch {
		case confirm == "block" && matches(k, d.keys.Block):
			return actions{closeDialog{}, report(d.ctx, "blocked "+name, func(ctx context.Context) error { return api.BlockContact(ctx, addr) })}
		case confirm == "delete" && matches(k, d.keys.KeepHistory):
			return actions{closeDialog{}, report(d.ctx, "deleted "+name+" (kept the conversation)", func(ctx context.Context) error { return api.RemoveContact(ctx, addr, true) })}
		case confirm == "delete" && matches(k, d.keys.Delete):
			return actions{closeDialog{}, report(d.ctx, "deleted "+name+" and the conversation", func(ctx context.Context) error { return api.RemoveContact(ctx, addr, false) })}
		}
		return nil
	}
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case matches(k, d.keys.Close), matches(k, d.keys.Details):
		return closeDialog{}
	case matches(k, d.keys.Rename):
		d.renaming = true
		d.name.SetValue(d.ct.Name)
		d.name.CursorEnd()
		return d.name.Focus()
	case matches(k, d.keys.Verify):
		if d.ct.State != node.StateAccepted {
			return nil
		}
		v := !d.ct.Verified
		note := "marked " + name + " verified"
		if !v {
			note = "marked " + name + " not verified"
		}
		return report(d.ctx, note, func(ctx context.Context) error { return api.SetVerified(ctx, addr, v) })
	case matches(k, d.keys.Unblock) && d.ct.State == node.StateBlocked:
		return report(d.ctx, "unblocked "+name, func(ctx context.Context) error { return api.UnblockContact(ctx, addr) })
	case matches(k, d.keys.Block) && d.ct.State != node.StateBlocked:
		d.confirm = "block"
	case matches(k, d.keys.Delete):
		d.confirm = "delete"
	}
	return nil
}

// updateName edits the nickname; enter saves it. The new name shows when
// the node's ContactEvent comes.
func (d *detailsDialog) updateName(msg tea.Msg) action {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, d.keys.Close):
			d.renaming = false
			return nil
		case k.String() == "enter":
			name := strings.TrimSpace(d.name.Value())
			if name == "" {
				d.err = "a nickname cannot be empty"
				return nil
			}
			d.renaming, d.err = false, ""
			api, addr := d.api, d.ct.Address
			return report(d.ctx, "renamed to "+name, func(ctx context.Context) error { return api.RenameContact(ctx, addr, name) })
		}
	}
	var cmd tea.Cmd
	d.name, cmd = d.name.Update(msg)
	return cmd
}

// follow keeps the contact shown in step with the node's events.
func (d *detailsDialog) follow(ev node.Event) {
	switch e := ev.(type) {
	case node.ContactEvent:
		if e.Contact.Address == d.ct.Address && !e.Removed {
			d.ct = mergeContact(d.ct, e.Contact)
		}
	case node.PresenceEvent:
		if e.Address == d.ct.Address {
			d.ct.Presence = e.Presence
			if !e.LastSeen.IsZero() {
				d.ct.LastSeen = e.LastSeen
			}
		}
	}
}

func (d *detailsDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 62)
	ct := d.ct
	state := map[node.ContactState]string{
		node.StateAccepted:        "contact",
		node.StateRequested:       "request sent, waiting for them to accept",
		node.StatePendingIncoming: "asked to chat with you",
		node.StateBlocked:         "blocked: nothing from them reaches you",
	}[ct.State]
	label := func(l string) string { return s.Label.Render(d.pad(l, 12)) }
	nameRow := label("Nickname") + s.Header.Render(displayName(ct))
	if d.renaming {
		nameRow = label("Nickname") + d.name.View()
	}
	status := state
	if ct.State != node.StateBlocked {
		status += " · " + presenceText(d.now(), ct)
	}
	rows := []string{nameRow}
	if peer := safetext.Line(strings.TrimSpace(ct.PeerName)); peer != "" && peer != safetext.Line(strings.TrimSpace(ct.Name)) {
		rows = append(rows, label("Their name")+s.Muted.Render(peer))
	}
	rows = append(rows,
		label("Status")+status,
		s.Label.Render("Address"),
		d.wrapText(ct.Address, inner),
		"",
	)
	if ct.State == node.StateAccepted {
		ver := s.Warning.Render("not verified")
		if ct.Verified {
			ver = s.Success.Render("✓ verified")
		}
		rows = append(rows, s.Label.Render("Safety number ")+ver)
		switch {
		case d.safetyErr != nil:
			rows = append(rows, s.Error.Render(d.safetyErr.Error()))
		case d.safety == "":
			rows = append(rows, s.Muted.Render("loading…"))
		default:
			rows = append(rows, s.Accent.Render(d.wrapText(d.safety, inner)))
		}
		rows = append(rows, s.Muted.Render(d.wrapText("Compare it with "+displayName(ct)+"'s screen in person or on a call; if it matches, press v.", inner)))
	}
	verify := "v mark verified"
	if ct.Verified {
		verify = "v mark not verified"
	}
	hint := "r rename · " + verify + " · b block · x delete · esc close"
	switch ct.State {
	case node.StateBlocked:
		hint = firstKey(d.keys.Unblock) + " unblock · r rename · x delete · esc close"
	case node.StateRequested, node.StatePendingIncoming:
		hint = "r rename · b block · x delete · esc close"
	}
	switch {
	case d.renaming:
		hint = "enter save · esc cancel"
	case d.confirm == "block":
		hint = "press b again to block " + displayName(ct) + " · any other key cancels"
	case d.confirm == "delete":
		hint = "k delete contact, keep the conversation · x delete both · any other key cancels"
	}
	if d.err != "" {
		rows = append(rows, s.Error.Render(d.err))
	}
	if d.note != "" && d.renaming {
		rows = append([]string{s.Accent.Render(d.note)}, rows...)
	}
	return d.frame("Contact details", strings.Join(rows, "\n"), hint, inner)
}
