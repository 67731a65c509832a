package tui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// groupDialog is a group's members panel: who is in it, their presence
// and role; an admin invites, removes, promotes and renames; anyone
// leaves. What it shows follows the node's events.
type groupDialog struct {
	*env
	conn
	g        node.Group
	contacts []node.Contact // for inviting
	width    int
	cur      int
	renaming bool
	name     textinput.Model
	confirm  string // "", "remove" or "leave"
	err      string
}

func newGroupDialog(e *env, c conn, g node.Group, contacts []node.Contact, width int) *groupDialog {
	d := &groupDialog{env: e, conn: c, g: g, contacts: contacts, width: width, name: newInput(e.styles, "group name", dialogWidth(width, 60)-9)}
	d.name.CharLimit = 64
	return d
}

// follow keeps the panel current with the node's events.
func (d *groupDialog) follow(ev node.Event) {
	switch e := ev.(type) {
	case node.GroupEvent:
		if e.Group.ID == d.g.ID {
			d.g = e.Group
			d.cur = min(d.cur, max(0, len(d.g.Members)-1))
		}
	case node.PresenceEvent:
		for i := range d.g.Members {
			if d.g.Members[i].Address == e.Address && !d.g.Members[i].Self {
				d.g.Members[i].Presence = e.Presence
			}
		}
	}
}

func (d *groupDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
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
	api, id, name := d.api, d.g.ID, safetext.Line(d.g.Name)
	var sel *node.GroupMember
	if d.cur < len(d.g.Members) {
		sel = &d.g.Members[d.cur]
	}
	if d.confirm != "" {
		confirm := d.confirm
		d.confirm = ""
		switch {
		case confirm == "remove" && matches(k, d.keys.Delete) && sel != nil:
			addr, who := sel.Address, memberName(*sel)
			return d.change("removed "+who+" from "+name, func(ctx context.Context) error { _, err := api.RemoveFromGroup(ctx, id, addr); return err })
		case confirm == "leave" && matches(k, d.keys.Leave):
			return actions{closeDialog{}, report(d.ctx, "you left "+name, func(ctx context.Context) error { return api.LeaveGroup(ctx, id) })}
		}
		return nil
	}
	d.err = ""
	active := d.g.State == node.GroupActive
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case matches(k, d.keys.Close), matches(k, d.keys.Details):
		return closeDialog{}
	case k.String() == "up" || k.String() == "k":
		d.cur = max(0, d.cur-1)
	case k.String() == "down" || k.String() == "j":
		d.cur = max(0, min(len(d.g.Members)-1, d.cur+1))
	case !active:
		return nil
	case matches(k, d.keys.Leave):
		d.confirm = "leave"
	case !d.g.Admin:
		if matches(k, d.keys.Rename) || matches(k, d.keys.Invite) || matches(k, d.keys.Delete) || matches(k, d.keys.Promote) {
			d.err = "only an admin can change the group"
		}
	case matches(k, d.keys.Rename):
		d.renaming = true
		d.name.SetValue(d.g.Name)
		d.name.CursorEnd()
		return d.name.Focus()
	case matches(k, d.keys.Invite):
		inv := newGroupInviteDialog(d.env, d.conn, d.g, d.contacts, d.width)
		return showDialog{d: inv}
	case matches(k, d.keys.Delete) && sel != nil && !sel.Self && !sel.Creator:
		d.confirm = "remove"
	case matches(k, d.keys.Promote) && sel != nil && !sel.Admin:
		addr, who := sel.Address, memberName(*sel)
		return d.change(who+" is an admin of "+name, func(ctx context.Context) error { _, err := api.PromoteInGroup(ctx, id, addr); return err })
	}
	return nil
}

// change runs a change of the group; the panel shows its error, and the
// group's event its result.
func (d *groupDialog) change(flash string, fn func(ctx context.Context) error) action {
	return report(d.ctx, flash, fn)
}

func (d *groupDialog) updateName(msg tea.Msg) action {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, d.keys.Close):
			d.renaming = false
			d.name.Blur()
			return nil
		case matches(k, d.keys.Submit):
			name := strings.TrimSpace(d.name.Value())
			if name == "" {
				return nil
			}
			d.renaming = false
			d.name.Blur()
			api, id := d.api, d.g.ID
			return d.change("renamed the group "+safetext.Line(name), func(ctx context.Context) error { return api.RenameGroup(ctx, id, name) })
		}
	}
	var cmd tea.Cmd
	d.name, cmd = d.name.Update(msg)
	return cmd
}

func (d *groupDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 60)
	online := 0
	for _, m := range d.g.Members {
		if !m.Self && m.Presence == node.Online {
			online++
		}
	}
	var rows []string
	state := fmt.Sprintf("%d members, %d online", len(d.g.Members), online)
	switch {
	case d.g.State == node.GroupRemoved:
		state += " · " + s.Warning.Render("you were removed")
	case d.g.State == node.GroupLeft:
		state += " · you left"
	case d.g.State == node.GroupInvited:
		state = "joining: the member list is on its way"
	case d.g.Admin:
		state += " · you are an admin"
	}
	rows = append(rows, state, "")
	if d.renaming {
		rows = append(rows, s.Label.Render("Name  ")+d.name.View(), "")
	}
	maxRows := max(3, min(14, height-12))
	start := max(0, d.cur-maxRows+1)
	for i := start; i < len(d.g.Members) && i < start+maxRows; i++ {
		m := d.g.Members[i]
		dot := presenceDot(s, node.Contact{Address: m.Address, State: node.StateAccepted, Presence: m.Presence})
		who := memberName(m)
		if m.Self {
			who += " (you)"
			dot = s.Online.Render("●")
		}
		role := "member"
		switch {
		case m.Creator && m.Admin:
			role = "creator"
		case m.Admin:
			role = "admin"
		}
		if !m.Self && !m.Session {
			role += ", connecting"
		}
		if !m.Self && !m.Contact {
			role += ", not a contact"
		}
		line := d.fit(" "+dot+" "+d.pad(d.truncate(who, inner-28), inner-26)+s.Muted.Render(role), inner)
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line)
	}
	switch {
	case d.confirm == "remove":
		rows = append(rows, "", s.Warning.Render("Remove "+memberName(d.g.Members[d.cur])+"? They read nothing sent after. "+firstKey(d.keys.Delete)+" again to confirm"))
	case d.confirm == "leave":
		rows = append(rows, "", s.Warning.Render("Leave "+safetext.Line(d.g.Name)+"? The history stays. "+firstKey(d.keys.Leave)+" again to confirm"))
	case d.err != "":
		rows = append(rows, "", s.Error.Render(d.err))
	}
	hint := "↑/↓ member · " + firstKey(d.keys.Leave) + " leave · esc close"
	if d.g.Admin && d.g.State == node.GroupActive {
		hint = "↑/↓ member · " + firstKey(d.keys.Invite) + " invite · " + firstKey(d.keys.Delete) + " remove · " + firstKey(d.keys.Promote) +
			" make admin · " + firstKey(d.keys.Rename) + " rename · " + firstKey(d.keys.Leave) + " leave · esc close"
	}
	return d.frame("# "+safetext.Line(d.g.Name), strings.Join(rows, "\n"), hint, inner)
}
