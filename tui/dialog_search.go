package tui

import (
	"context"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// searchDialog finds messages: in the open conversation, or in all of
// them (tab switches). Every key asks the node again; enter shows the
// chosen message in its conversation.
type searchDialog struct {
	*env
	conn
	contacts []node.Contact
	here     *node.Contact // the open conversation; nil: none
	all      bool          // searching every conversation
	in       textinput.Model
	seq      int // of the last search asked, to drop late answers
	results  []node.Message
	searched string // the query results answer
	err      error
	cur      int
}

type searchMsg struct {
	seq   int
	query string
	ms    []node.Message
	err   error
}

// searchLimit is how many results a search shows at most.
const searchLimit = 100

func newSearchDialog(e *env, c conn, contacts []node.Contact, here *node.Contact, inHere bool, width int) *searchDialog {
	d := &searchDialog{env: e, conn: c, contacts: contacts, all: !inHere || here == nil,
		in: newInput(e.styles, "words to find", dialogWidth(width, 72)-4)}
	if here != nil {
		h := *here
		d.here = &h
	}
	return d
}

func (d *searchDialog) init() tea.Cmd { return d.in.Focus() }

// search asks the node for the current query.
func (d *searchDialog) search() tea.Cmd {
	q := strings.TrimSpace(d.in.Value())
	d.seq++
	if q == "" {
		d.results, d.searched, d.err = nil, "", nil
		return nil
	}
	seq, api := d.seq, d.api
	sq := node.SearchQuery{Text: q, Limit: searchLimit}
	if !d.all && d.here != nil {
		sq.Contact = d.here.Address
	}
	return call(d.ctx, func(ctx context.Context) tea.Msg {
		ms, err := api.Search(ctx, sq)
		return searchMsg{seq: seq, query: q, ms: ms, err: err}
	})
}

func (d *searchDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case searchMsg:
		if msg.seq == d.seq {
			d.results, d.searched, d.err = msg.ms, msg.query, msg.err
			d.cur = min(d.cur, max(0, len(d.results)-1))
		}
		return nil
	case tea.KeyPressMsg:
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Close):
			return closeDialog{}
		case msg.String() == "tab" || msg.String() == "shift+tab":
			if d.here != nil {
				d.all = !d.all
				return d.search()
			}
			return nil
		case msg.String() == "up" || msg.String() == "ctrl+p":
			d.cur = max(0, d.cur-1)
			return nil
		case msg.String() == "down" || msg.String() == "ctrl+n":
			d.cur = max(0, min(len(d.results)-1, d.cur+1))
			return nil
		case matches(msg, d.keys.Submit):
			if len(d.results) == 0 {
				return nil
			}
			m := d.results[d.cur]
			return openMessage{address: m.Address, id: m.ID}
		}
	}
	before := d.in.Value()
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	if d.in.Value() != before {
		d.cur = 0
		return tea.Batch(cmd, d.search())
	}
	return cmd
}

// nameOf is the contact name for a result's address.
func (d *searchDialog) nameOf(m node.Message) string {
	for _, ct := range d.contacts {
		if ct.Address == m.Address {
			return displayName(ct)
		}
	}
	return m.Contact
}

func (d *searchDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 72)
	scope := "every conversation"
	if !d.all && d.here != nil {
		scope = "the conversation with " + displayName(*d.here)
	}
	rows := []string{"› " + d.in.View(), s.Muted.Render(d.truncate("in "+scope, inner)), ""}
	q := strings.TrimSpace(d.in.Value())
	switch {
	case d.err != nil:
		rows = append(rows, s.Error.Render(d.wrapText(d.err.Error(), inner)))
	case q == "":
		rows = append(rows, s.Muted.Render("type words to find (any case; inside words too)"))
	case q != d.searched:
		rows = append(rows, s.Muted.Render("searching…"))
	case len(d.results) == 0:
		rows = append(rows, s.Muted.Render("no message holds "+d.truncate("“"+q+"”", inner-20)))
	}
	if q != "" && q == d.searched {
		maxRows := max(3, min(12, height-12))
		start := max(0, d.cur-maxRows+1)
		for i := start; i < len(d.results) && i < start+maxRows; i++ {
			m := d.results[i]
			who := d.nameOf(m)
			if m.Direction == node.Outgoing {
				who = "you → " + who
			}
			head := m.Time.In(d.loc).Format("2 Jan 15:04") + "  " + who + ": "
			if !d.all {
				head = m.Time.In(d.loc).Format("2 Jan 15:04") + "  "
				if m.Direction == node.Outgoing {
					head += "you: "
				}
			}
			line := d.fit(s.Muted.Render(head)+d.truncate(oneLine(m.Text), max(4, inner-d.textWidth(head))), inner)
			if i == d.cur {
				line = s.Selected.Render(line)
			}
			rows = append(rows, line)
		}
		if len(d.results) == searchLimit {
			rows = append(rows, s.Muted.Render("the newest "+strconv.Itoa(searchLimit)+" shown"))
		}
	}
	hint := "↑/↓ choose · enter show it · esc close"
	if d.here != nil {
		hint = "tab: this conversation ⇄ all · " + hint
	}
	return d.frame("Search", strings.Join(rows, "\n"), hint, inner)
}
