package tui

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

// dialog is a modal over the main screen. update returns close=true to
// dismiss it.
type dialog interface {
	update(c *chatModel, msg tea.Msg) (close bool, cmd tea.Cmd)
	view(c *chatModel) string
}

// dialogWidth is the inner width for dialogs on a w-wide terminal.
func dialogWidth(w, want int) int { return max(16, min(want, w-4)) }

func frame(c *chatModel, title, body, hint string, inner int) string {
	s := c.styles
	parts := []string{s.DialogTitle.Render(title), "", body}
	if hint != "" {
		parts = append(parts, "", s.Hint.Render(lipgloss.Wrap(hint, inner, " ")))
	}
	return s.Dialog.Width(inner + 4).Render(strings.Join(parts, "\n"))
}

// ---- help ----

type helpDialog struct{ h help.Model }

func newHelpDialog(c *chatModel) *helpDialog {
	h := help.New()
	h.Styles = help.DefaultStyles(c.styles.IsDark)
	return &helpDialog{h: h}
}

func (d *helpDialog) update(c *chatModel, msg tea.Msg) (bool, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		if matches(k, c.keys.Quit) {
			return true, tea.Quit
		}
		return true, nil // any key closes help
	}
	return false, nil
}

func (d *helpDialog) view(c *chatModel) string {
	inner := dialogWidth(c.width, 100)
	d.h.SetWidth(inner)
	groups := c.keys.FullHelp()
	var blocks []string
	// Two groups side by side per row, so it fits 80 columns.
	for i := 0; i < len(groups); i += 2 {
		j := min(i+2, len(groups))
		var titles []string
		for t := i; t < j; t++ {
			titles = append(titles, helpGroupTitles[t])
		}
		blocks = append(blocks, c.styles.Label.Render(strings.Join(titles, " · ")), d.h.FullHelpView(groups[i:j]))
	}
	s := c.styles
	return s.Dialog.Width(inner + 4).Render(s.DialogTitle.Render("Keys") + s.Hint.Render("  · any key closes this") + "\n" + strings.Join(blocks, "\n"))
}

// ---- quick switcher ----

type switcher struct {
	in      textinput.Model
	matches []node.Contact
	cur     int
}

func newSwitcher(c *chatModel) *switcher {
	d := &switcher{in: newInput(c.styles, "type part of a name", dialogWidth(c.width, 44)-2)}
	d.in.Focus()
	d.filter(c)
	return d
}

func (d *switcher) filter(c *chatModel) {
	q := strings.ToLower(strings.TrimSpace(d.in.Value()))
	d.matches = d.matches[:0]
	for _, ct := range c.contacts {
		if q == "" || strings.Contains(strings.ToLower(ct.Name), q) || strings.HasPrefix(ct.Address, q) {
			d.matches = append(d.matches, ct)
		}
	}
	// Prefix matches of the name first.
	if q != "" {
		var pre, rest []node.Contact
		for _, ct := range d.matches {
			if strings.HasPrefix(strings.ToLower(ct.Name), q) {
				pre = append(pre, ct)
			} else {
				rest = append(rest, ct)
			}
		}
		d.matches = append(pre, rest...)
	}
	d.cur = min(d.cur, max(0, len(d.matches)-1))
}

func (d *switcher) update(c *chatModel, msg tea.Msg) (bool, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, c.keys.Quit):
			return true, tea.Quit
		case matches(k, c.keys.Close), matches(k, c.keys.Switcher):
			return true, nil
		case k.String() == "up" || k.String() == "ctrl+p":
			d.cur = max(0, d.cur-1)
			return false, nil
		case k.String() == "down" || k.String() == "ctrl+n" || k.String() == "tab":
			d.cur = min(len(d.matches)-1, d.cur+1)
			return false, nil
		case k.String() == "enter":
			if len(d.matches) == 0 {
				return false, nil
			}
			ct := d.matches[d.cur]
			cmd := c.open(ct.Address)
			if ct.State == node.StatePendingIncoming {
				c.dialog = newRequestDialog(ct)
				return false, cmd
			}
			if ct.State == node.StateAccepted {
				cmd = tea.Batch(cmd, c.setFocus(focusComposer))
			}
			return true, cmd
		}
	}
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	d.filter(c)
	return false, cmd
}

func (d *switcher) view(c *chatModel) string {
	s := c.styles
	inner := dialogWidth(c.width, 44)
	rows := []string{"› " + d.in.View(), ""}
	maxRows := max(3, min(10, c.height-10))
	start := max(0, d.cur-maxRows+1)
	for i := start; i < len(d.matches) && i < start+maxRows; i++ {
		ct := d.matches[i]
		line := presenceDot(s, ct) + " " + truncate(displayName(ct), inner-10)
		if ct.Unread > 0 {
			line += " " + s.Unread.Render("("+strconv.Itoa(ct.Unread)+")")
		}
		line = fit(line, inner)
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line)
	}
	if len(d.matches) == 0 {
		rows = append(rows, s.Muted.Render("no match"))
	}
	return frame(c, "Go to conversation", strings.Join(rows, "\n"), "↑/↓ choose · enter open · esc close", inner)
}

// ---- add contact ----

type addedMsg struct {
	ct  node.Contact
	err error
}

type addDialog struct {
	addr, name, greeting textinput.Model
	focus                int
	addrErr              string
	err                  string
	busy                 bool
}

func newAddDialog(c *chatModel) *addDialog {
	inner := dialogWidth(c.width, 62)
	d := &addDialog{
		addr:     newInput(c.styles, "their address, chive: link or .onion", inner-2),
		name:     newInput(c.styles, "what you call them", inner-2),
		greeting: newInput(c.styles, "a line so they know it's you", inner-2),
	}
	d.addr.CharLimit = 200
	d.name.CharLimit = 64
	d.greeting.CharLimit = 280
	if c.status.Name != "" {
		d.greeting.SetValue("Hi, it's " + safetext.Line(c.status.Name))
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

// validateAddress gives the precise reason an address is not valid.
func validateAddress(s string) (onion.Address, string) {
	if strings.TrimSpace(s) == "" {
		return "", ""
	}
	a, err := onion.ParseAddress(s)
	if err == nil {
		return a, ""
	}
	for _, e := range []error{onion.ErrAddressLength, onion.ErrAddressEncoding, onion.ErrAddressVersion, onion.ErrAddressChecksum} {
		if errors.Is(err, e) {
			// The last part of the message is the precise one ("…: got 55").
			msg := err.Error()
			if i := strings.Index(msg, e.Error()); i >= 0 {
				msg = msg[i:]
			}
			return "", msg
		}
	}
	return "", err.Error()
}

func (d *addDialog) update(c *chatModel, msg tea.Msg) (bool, tea.Cmd) {
	switch msg := msg.(type) {
	case addedMsg:
		d.busy = false
		if msg.err != nil {
			d.err = msg.err.Error()
			return false, nil
		}
		c.upsert(msg.ct)
		c.dirty = true
		return true, tea.Batch(c.open(msg.ct.Address), c.setFlash("request sent to "+displayName(msg.ct), false))
	case tea.KeyPressMsg:
		if d.busy {
			return false, nil
		}
		switch {
		case matches(msg, c.keys.Quit):
			return true, tea.Quit
		case matches(msg, c.keys.Close):
			return true, nil
		case msg.String() == "tab" || msg.String() == "down":
			return false, d.setFocus(d.focus + 1)
		case msg.String() == "shift+tab" || msg.String() == "up":
			return false, d.setFocus(d.focus - 1)
		case msg.String() == "enter":
			if d.focus < 2 {
				return false, d.setFocus(d.focus + 1)
			}
			return false, d.submit(c)
		}
	}
	in := d.inputs()[d.focus]
	var cmd tea.Cmd
	*in, cmd = in.Update(msg)
	_, d.addrErr = validateAddress(d.addr.Value())
	if _, ok := msg.(tea.KeyPressMsg); ok {
		d.err = ""
	}
	return false, cmd
}

func (d *addDialog) submit(c *chatModel) tea.Cmd {
	a, e := validateAddress(d.addr.Value())
	switch {
	case d.addr.Value() == "":
		d.err = "paste their address first"
		return d.setFocus(0)
	case e != "":
		d.err = "the address is not valid: " + e
		return d.setFocus(0)
	case string(a) == c.status.Address:
		d.err = "that is your own address"
		return d.setFocus(0)
	case strings.TrimSpace(d.name.Value()) == "":
		d.err = "give them a nickname"
		return d.setFocus(1)
	}
	d.busy, d.err = true, ""
	api, name, greeting := c.api, strings.TrimSpace(d.name.Value()), strings.TrimSpace(d.greeting.Value())
	return call(c.ctx, func(ctx context.Context) tea.Msg {
		ct, err := api.AddContact(ctx, string(a), name, greeting)
		return addedMsg{ct, err}
	})
}

func (d *addDialog) view(c *chatModel) string {
	s := c.styles
	inner := dialogWidth(c.width, 62)
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
		for _, l := range strings.Split(lipgloss.Wrap("✗ "+e, inner-2, " "), "\n") {
			rows = append(rows, "  "+s.Error.Render(l))
		}
	default:
		rows = append(rows, s.Success.Render("  ✓ valid address "+a.Short()))
	}
	rows = append(rows, label(1, "Nickname"), "  "+d.name.View(), label(2, "Greeting"), "  "+d.greeting.View(), "")
	switch {
	case d.busy:
		rows = append(rows, s.Accent.Render("sending request…"))
	case d.err != "":
		rows = append(rows, s.Error.Render(lipgloss.Wrap("✗ "+d.err, inner, " ")))
	default:
		rows = append(rows, s.Muted.Render("They see your greeting and address, and choose to accept."))
	}
	return frame(c, "Add a contact", strings.Join(rows, "\n"), "tab next field · enter send request · esc cancel", inner)
}

// ---- my address ----

type addressDialog struct{ copied bool }

func newAddressDialog(c *chatModel) *addressDialog { return &addressDialog{} }

func (d *addressDialog) update(c *chatModel, msg tea.Msg) (bool, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return false, nil
	}
	switch {
	case matches(k, c.keys.Quit):
		return true, tea.Quit
	case matches(k, c.keys.Copy):
		if c.status.Address == "" {
			return false, nil
		}
		d.copied = true
		return false, tea.SetClipboard(onion.Address(c.status.Address).URI())
	case matches(k, c.keys.Close), matches(k, c.keys.MyAddress), k.String() == "enter", k.String() == "q":
		return true, nil
	}
	return false, nil
}

func (d *addressDialog) view(c *chatModel) string {
	s := c.styles
	addr := c.status.Address
	if addr == "" {
		return frame(c, "My address", s.Muted.Render("loading…"), "esc close", dialogWidth(c.width, 60))
	}
	link := onion.Address(addr).URI()
	hint := "c copy link (OSC 52) · esc close"
	if d.copied {
		hint = "✓ link copied to the clipboard · esc close"
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
	case c.width >= qw+textW+8 && c.height >= qh+5:
		q, err := qrBlock(qrText, 2, s, c.colour)
		if err != nil {
			break
		}
		inner := qw + 2 + textW
		body := lipgloss.JoinHorizontal(lipgloss.Top, q, "  ", strings.Join(text, "\n"))
		return frame(c, "My address — share it with people you trust", body, hint, inner)
	case c.width >= qw+6 && c.height >= qh+len(text)+6:
		q, err := qrBlock(qrText, 2, s, c.colour)
		if err != nil {
			break
		}
		inner := max(qw, textW)
		return frame(c, "My address", strings.Join(text[:len(text)-4], "\n")+"\n"+q, hint, inner)
	}
	inner := dialogWidth(c.width, 60)
	rows := []string{s.Label.Render("Address")}
	if inner >= len(addr) {
		rows = append(rows, s.Accent.Render(addr))
	} else {
		for _, l := range half(addr) {
			rows = append(rows, s.Accent.Render(l))
		}
	}
	rows = append(rows, s.Label.Render("Link ")+truncate(link, inner-5), "", s.Muted.Render("(a bigger window shows a QR code)"))
	return frame(c, "My address", strings.Join(rows, "\n"), hint, inner)
}

// ---- incoming request ----

type requestDialog struct{ ct node.Contact }

func newRequestDialog(ct node.Contact) *requestDialog { return &requestDialog{ct: ct} }

func (d *requestDialog) update(c *chatModel, msg tea.Msg) (bool, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return false, nil
	}
	api, addr, name := c.api, d.ct.Address, displayName(d.ct)
	switch {
	case matches(k, c.keys.Quit):
		return true, tea.Quit
	case matches(k, c.keys.Accept):
		return true, call(c.ctx, func(ctx context.Context) tea.Msg {
			ct, err := api.AcceptContact(ctx, addr)
			if err != nil {
				return doneMsg{err: err}
			}
			return eventMsgOnce{ev: node.ContactEvent{Contact: ct}, flash: "accepted " + name + ": say hello!", rename: strings.TrimSpace(ct.Name) == ""}
		})
	case matches(k, c.keys.Decline):
		return true, action(c.ctx, "declined "+name, func(ctx context.Context) error { return api.DeclineContact(ctx, addr) })
	case matches(k, c.keys.Block):
		return true, action(c.ctx, "blocked "+name, func(ctx context.Context) error { return api.BlockContact(ctx, addr) })
	case matches(k, c.keys.Close):
		return true, nil
	}
	return false, nil
}

func (d *requestDialog) view(c *chatModel) string {
	s := c.styles
	inner := dialogWidth(c.width, 62)
	greeting := safetext.Line(d.ct.Greeting)
	if greeting == "" {
		greeting = s.Muted.Render("(no greeting)")
	}
	rows := []string{
		s.Header.Render(displayName(d.ct)) + " wants to chat with you.",
		"",
		s.Label.Render("Greeting"),
		lipgloss.Wrap(greeting, inner, " "),
		"",
		s.Label.Render("Address"),
		lipgloss.Wrap(d.ct.Address, inner, ""),
		"",
		s.Muted.Render(lipgloss.Wrap("Only accept people you know. Declining tells them nothing; blocking also ignores them from now on.", inner, " ")),
	}
	return frame(c, "Contact request", strings.Join(rows, "\n"), "a accept · d decline · b block · esc decide later", inner)
}

// eventMsgOnce applies a contact change at once (without waiting for the
// node's event) and flashes a note.
type eventMsgOnce struct {
	ev     node.Event
	flash  string
	rename bool // open the contact's details to name them (requests carry no name)
}

// ---- contact details ----

type detailsDialog struct {
	address   string
	ct        node.Contact
	safety    string
	safetyErr error
	renaming  bool
	name      textinput.Model
	confirm   string // "", "block" or "delete"
	err       string
	note      string
}

func newDetailsDialog(c *chatModel, ct node.Contact) *detailsDialog {
	d := &detailsDialog{address: ct.Address, ct: ct, name: newInput(c.styles, "nickname", dialogWidth(c.width, 62)-12)}
	d.name.CharLimit = 64
	return d
}

func (d *detailsDialog) init(c *chatModel) tea.Cmd {
	if d.ct.State != node.StateAccepted {
		return nil
	}
	api, addr := c.api, d.address
	return call(c.ctx, func(ctx context.Context) tea.Msg {
		n, err := api.SafetyNumber(ctx, addr)
		return safetyMsg{address: addr, number: n, err: err}
	})
}

func (d *detailsDialog) update(c *chatModel, msg tea.Msg) (bool, tea.Cmd) {
	if i := c.contactIndex(d.address); i >= 0 {
		d.ct = c.contacts[i]
	}
	k, ok := msg.(tea.KeyPressMsg)
	if d.renaming {
		if ok {
			switch {
			case matches(k, c.keys.Close):
				d.renaming = false
				return false, nil
			case k.String() == "enter":
				name := strings.TrimSpace(d.name.Value())
				if name == "" {
					d.err = "a nickname cannot be empty"
					return false, nil
				}
				d.renaming = false
				api, addr := c.api, d.address
				if i := c.contactIndex(addr); i >= 0 {
					c.contacts[i].Name = name
					d.ct.Name = name
					c.dirty = true
				}
				return false, action(c.ctx, "renamed to "+name, func(ctx context.Context) error { return api.RenameContact(ctx, addr, name) })
			}
		}
		var cmd tea.Cmd
		d.name, cmd = d.name.Update(msg)
		return false, cmd
	}
	if !ok {
		return false, nil
	}
	api, addr, name := c.api, d.address, displayName(d.ct)
	if d.confirm != "" {
		switch {
		case d.confirm == "block" && matches(k, c.keys.Block):
			return true, action(c.ctx, "blocked "+name, func(ctx context.Context) error { return api.BlockContact(ctx, addr) })
		case d.confirm == "delete" && matches(k, c.keys.KeepHistory):
			return true, action(c.ctx, "deleted "+name+" (kept the conversation)", func(ctx context.Context) error { return api.RemoveContact(ctx, addr, true) })
		case d.confirm == "delete" && matches(k, c.keys.Delete):
			return true, action(c.ctx, "deleted "+name+" and the conversation", func(ctx context.Context) error { return api.RemoveContact(ctx, addr, false) })
		}
		d.confirm = ""
		return false, nil
	}
	switch {
	case matches(k, c.keys.Quit):
		return true, tea.Quit
	case matches(k, c.keys.Close), matches(k, c.keys.Details):
		return true, nil
	case matches(k, c.keys.Rename):
		d.renaming = true
		d.name.SetValue(d.ct.Name)
		d.name.CursorEnd()
		return false, d.name.Focus()
	case matches(k, c.keys.Verify):
		if d.ct.State != node.StateAccepted {
			return false, nil
		}
		v := !d.ct.Verified
		if i := c.contactIndex(addr); i >= 0 {
			c.contacts[i].Verified = v
		}
		d.ct.Verified = v
		note := "marked " + name + " verified"
		if !v {
			note = "marked " + name + " not verified"
		}
		return false, action(c.ctx, note, func(ctx context.Context) error { return api.SetVerified(ctx, addr, v) })
	case matches(k, c.keys.Block):
		d.confirm = "block"
	case matches(k, c.keys.Delete):
		d.confirm = "delete"
	}
	return false, nil
}

func (d *detailsDialog) view(c *chatModel) string {
	s := c.styles
	inner := dialogWidth(c.width, 62)
	ct := d.ct
	state := map[node.ContactState]string{
		node.StateAccepted:        "contact",
		node.StateRequested:       "request sent, waiting for them to accept",
		node.StatePendingIncoming: "asked to chat with you",
		node.StateBlocked:         "blocked",
	}[ct.State]
	nameRow := s.Label.Render("Nickname  ") + s.Header.Render(displayName(ct))
	if d.renaming {
		nameRow = s.Label.Render("Nickname  ") + d.name.View()
	}
	rows := []string{
		nameRow,
		s.Label.Render("Status    ") + state + " · " + presenceText(c.now(), ct),
		s.Label.Render("Address"),
		lipgloss.Wrap(ct.Address, inner, ""),
		"",
	}
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
			rows = append(rows, s.Accent.Render(lipgloss.Wrap(d.safety, inner, " ")))
		}
		rows = append(rows, s.Muted.Render(lipgloss.Wrap("Compare it with "+displayName(ct)+"'s screen in person or on a call; if it matches, press v.", inner, " ")))
	}
	hint := "r rename · v verified · b block · x delete · esc close"
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
	return frame(c, "Contact details", strings.Join(rows, "\n"), hint, inner)
}

// ---- settings ----

type settingsSavedMsg struct {
	old node.Settings
	err error
}

// settingsDialog toggles the node's privacy settings (stored in the
// profile) and this UI's bell and window title (for this session; the
// --no-bell and --no-title flags set them at start).
type settingsDialog struct{ cur int }

type setting struct {
	label, help string
	on          func(c *chatModel) bool
	toggle      func(c *chatModel) tea.Cmd
}

func settingsList() []setting {
	save := func(c *chatModel, old node.Settings) tea.Cmd {
		api, s := c.api, c.settings
		return call(c.ctx, func(ctx context.Context) tea.Msg {
			return settingsSavedMsg{old: old, err: api.SetSettings(ctx, s)}
		})
	}
	return []setting{
		{"Send read receipts", "contacts see when you have read their messages",
			func(c *chatModel) bool { return c.settings.ReadReceipts },
			func(c *chatModel) tea.Cmd {
				old := c.settings
				c.settings.ReadReceipts = !old.ReadReceipts
				return save(c, old)
			}},
		{"Send typing indicators", "contacts see when you are typing",
			func(c *chatModel) bool { return c.settings.Typing },
			func(c *chatModel) tea.Cmd { old := c.settings; c.settings.Typing = !old.Typing; return save(c, old) }},
		{"Bell on new messages", "when a message arrives out of view (this session)",
			func(c *chatModel) bool { return !c.noBell },
			func(c *chatModel) tea.Cmd { c.noBell = !c.noBell; return nil }},
		{"Unread count in the window title", "this session",
			func(c *chatModel) bool { return !c.noTitle },
			func(c *chatModel) tea.Cmd { c.noTitle = !c.noTitle; return nil }},
	}
}

func (d *settingsDialog) update(c *chatModel, msg tea.Msg) (bool, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return false, nil
	}
	list := settingsList()
	switch {
	case matches(k, c.keys.Quit):
		return true, tea.Quit
	case matches(k, c.keys.Close), matches(k, c.keys.Settings):
		return true, nil
	case k.String() == "up" || k.String() == "k" || k.String() == "shift+tab":
		d.cur = (d.cur + len(list) - 1) % len(list)
	case k.String() == "down" || k.String() == "j" || k.String() == "tab":
		d.cur = (d.cur + 1) % len(list)
	case matches(k, c.keys.Toggle), k.String() == "enter":
		return false, list[d.cur].toggle(c)
	}
	return false, nil
}

func (d *settingsDialog) view(c *chatModel) string {
	s := c.styles
	inner := dialogWidth(c.width, 60)
	var rows []string
	for i, st := range settingsList() {
		box := "[ ]"
		if st.on(c) {
			box = "[x]"
		}
		line := fit(box+" "+st.label, inner)
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line, s.Muted.Render(truncate("    "+st.help, inner)))
	}
	return frame(c, "Settings", strings.Join(rows, "\n"), "↑/↓ choose · space toggle · esc close", inner)
}
