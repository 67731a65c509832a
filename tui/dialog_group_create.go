package tui

import (
	"context"
	"errors"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// groupCreatedMsg is the reply to CreateGroup (or to inviting into one):
// the group comes on screen with the node's GroupEvent.
type groupCreatedMsg struct {
	g   node.Group
	err error
}

// groupCreateDialog makes a group: a name, and contacts picked from a
// list. With a group given it invites the picked contacts into it instead.
type groupCreateDialog struct {
	*env
	conn
	name     textinput.Model
	contacts []node.Contact // who can be picked
	picked   map[string]bool
	cur      int
	onList   bool       // the list has focus, not the name
	into     node.Group // inviting into it, when its ID is set
	err      string
	busy     bool
}

func newGroupCreateDialog(e *env, c conn, contacts []node.Contact, width int) *groupCreateDialog {
	d := &groupCreateDialog{env: e, conn: c, contacts: contacts, picked: map[string]bool{},
		name: newInput(e.styles, "what the group is called", dialogWidth(width, 56)-9)}
	d.name.CharLimit = 64
	return d
}

// newGroupInviteDialog picks contacts to invite into g.
func newGroupInviteDialog(e *env, c conn, g node.Group, contacts []node.Contact, width int) *groupCreateDialog {
	in := map[string]bool{}
	for _, m := range g.Members {
		in[m.Address] = true
	}
	var can []node.Contact
	for _, ct := range contacts {
		if ct.State == node.StateAccepted && !in[ct.Address] {
			can = append(can, ct)
		}
	}
	d := newGroupCreateDialog(e, c, can, width)
	d.into, d.onList = g, true
	return d
}

func (d *groupCreateDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case groupCreatedMsg:
		d.busy = false
		if msg.err != nil {
			d.err = msg.err.Error()
			return nil
		}
		if d.into.ID != "" {
			return actions{closeDialog{}, flashNote{text: "invited into " + safetext.Line(d.into.Name)}}
		}
		return actions{openChat{msg.g.ID}, flashNote{text: "created " + safetext.Line(msg.g.Name) + ": the members join as they come online"}}
	case tea.KeyPressMsg:
		return d.key(msg)
	}
	if !d.onList {
		var cmd tea.Cmd
		d.name, cmd = d.name.Update(msg)
		return cmd
	}
	return nil
}

func (d *groupCreateDialog) key(k tea.KeyPressMsg) action {
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case matches(k, d.keys.Close):
		return closeDialog{}
	case matches(k, d.keys.Submit):
		return d.submit()
	case k.String() == "tab" || k.String() == "shift+tab":
		if d.into.ID != "" {
			return nil
		}
		d.onList = !d.onList
		if d.onList {
			d.name.Blur()
			return nil
		}
		return d.name.Focus()
	}
	if !d.onList {
		var cmd tea.Cmd
		d.name, cmd = d.name.Update(k)
		d.err = ""
		return cmd
	}
	switch {
	case k.String() == "up" || k.String() == "k":
		d.cur = max(0, d.cur-1)
	case k.String() == "down" || k.String() == "j":
		d.cur = max(0, min(len(d.contacts)-1, d.cur+1))
	case matches(k, d.keys.Toggle):
		if d.cur < len(d.contacts) {
			a := d.contacts[d.cur].Address
			d.picked[a] = !d.picked[a]
			d.err = ""
		}
	}
	return nil
}

func (d *groupCreateDialog) submit() action {
	if d.busy {
		return nil
	}
	var members []string
	for _, ct := range d.contacts {
		if d.picked[ct.Address] {
			members = append(members, ct.Address)
		}
	}
	api := d.api
	if d.into.ID != "" {
		if len(members) == 0 {
			d.err = "pick someone with " + firstKey(d.keys.Toggle)
			return nil
		}
		d.busy = true
		id := d.into.ID
		return call(d.ctx, func(ctx context.Context) tea.Msg {
			var g node.Group
			var errs []error
			for _, m := range members {
				var err error
				if g, err = api.InviteToGroup(ctx, id, m); err != nil {
					errs = append(errs, err)
				}
			}
			return groupCreatedMsg{g: g, err: errors.Join(errs...)}
		})
	}
	name := strings.TrimSpace(d.name.Value())
	if name == "" {
		d.err = "give the group a name"
		return d.name.Focus()
	}
	d.busy = true
	return call(d.ctx, func(ctx context.Context) tea.Msg {
		g, err := api.CreateGroup(ctx, name, members)
		return groupCreatedMsg{g, err}
	})
}

func (d *groupCreateDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 56)
	var rows []string
	title := "New group"
	if d.into.ID != "" {
		title = "Invite into " + safetext.Line(d.into.Name)
	} else {
		rows = append(rows, s.Label.Render("Name  ")+d.name.View(), "")
		rows = append(rows, s.Label.Render("Members (your contacts; they need not know each other):"))
	}
	if len(d.contacts) == 0 {
		rows = append(rows, s.Muted.Render("  no contact to add"))
	}
	maxRows := max(3, min(12, height-12))
	start := max(0, d.cur-maxRows+1)
	for i := start; i < len(d.contacts) && i < start+maxRows; i++ {
		ct := d.contacts[i]
		box := "[ ]"
		if d.picked[ct.Address] {
			box = s.Accent.Render("[x]")
		}
		line := d.fit(" "+box+" "+presenceDot(s, ct)+" "+d.truncate(displayName(ct), inner-10), inner)
		if i == d.cur && d.onList {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line)
	}
	if d.err != "" {
		rows = append(rows, "", s.Error.Render(d.truncate(d.err, inner)))
	} else if d.busy {
		rows = append(rows, "", s.Muted.Render("working…"))
	}
	hint := "↑/↓ choose · " + firstKey(d.keys.Toggle) + " pick · enter create · esc close"
	if d.into.ID != "" {
		hint = "↑/↓ choose · " + firstKey(d.keys.Toggle) + " pick · enter invite · esc close"
	} else {
		hint = "tab name ⇄ members · " + hint
	}
	return d.frame(title, strings.Join(rows, "\n"), hint, inner)
}
