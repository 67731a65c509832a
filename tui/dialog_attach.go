package tui

import (
	"os"
	"path/filepath"
	"strings"

	"charm.land/bubbles/v2/filepicker"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// attachDialog picks a file to send: browse with the file picker, or type
// or paste a path; an optional caption goes with it. Enter on a file (or
// in the path field) sends it.
type attachDialog struct {
	*env
	ct      node.Contact
	picker  filepicker.Model
	path    textinput.Model
	caption textinput.Model
	focus   int // attachPicker, attachPath or attachCaption
	err     string
	width   int
}

const (
	attachPicker = iota
	attachPath
	attachCaption
)

// newAttachDialog starts in dir (where the last file came from), else the
// working directory, else the home directory.
func newAttachDialog(e *env, ct node.Contact, dir string, width, height int) *attachDialog {
	inner := dialogWidth(width, 72)
	d := &attachDialog{env: e, ct: ct, width: width,
		path:    newInput(e.styles, "type or paste a path (~ is your home)", inner-10),
		caption: newInput(e.styles, "optional", inner-10)}
	d.caption.CharLimit = 1000
	if dir == "" {
		dir, _ = os.Getwd()
	}
	if dir == "" {
		dir, _ = os.UserHomeDir()
	}
	p := filepicker.New()
	p.CurrentDirectory = dir
	p.AutoHeight = false
	p.ShowPermissions = false
	p.Cursor = "›"
	// esc closes the dialog; the picker goes up with backspace or ←.
	p.KeyMap.Back = key.NewBinding(key.WithKeys("h", "backspace", "left"))
	s := e.styles
	p.Styles.Cursor, p.Styles.DisabledCursor = s.Accent, s.Muted
	p.Styles.Selected, p.Styles.DisabledSelected = s.Selected, s.Muted
	p.Styles.Directory, p.Styles.Symlink = s.Accent, s.Accent
	p.Styles.File, p.Styles.DisabledFile = s.Body, s.Muted
	p.Styles.FileSize = s.Muted.Width(7).AlignHorizontal(1)
	p.Styles.EmptyDirectory = s.Muted.PaddingLeft(2).SetString("no files here")
	p.SetHeight(max(3, min(14, height-14)))
	d.picker = p
	return d
}

func (d *attachDialog) init() tea.Cmd { return d.picker.Init() }

func (d *attachDialog) setFocus(f int) tea.Cmd {
	d.focus = f
	d.path.Blur()
	d.caption.Blur()
	switch f {
	case attachPath:
		return d.path.Focus()
	case attachCaption:
		return d.caption.Focus()
	}
	return nil
}

// submit sends path (as typed, or from the picker), or browses to it when
// it names a directory (ends with a slash).
func (d *attachDialog) submit(typed string) action {
	if strings.TrimSpace(typed) == "" {
		d.err = "choose a file, or type its path"
		return nil
	}
	p := expandPath(typed, d.picker.CurrentDirectory)
	if strings.HasSuffix(strings.TrimSpace(typed), "/") {
		d.picker.CurrentDirectory = p
		d.path.SetValue("")
		d.err = ""
		return tea.Batch(d.picker.Init(), d.setFocus(attachPicker))
	}
	return attachFile{address: d.ct.Address, path: p, caption: strings.TrimSpace(d.caption.Value())}
}

func (d *attachDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case eventMsg, statusMsg, settingsMsg, settingsSavedMsg:
		return nil
	case tea.PasteMsg:
		// A pasted path (or a file dropped on the terminal) goes in the path field.
		if d.focus == attachPicker {
			return actions{d.setFocus(attachPath), d.forward(msg)}
		}
		return d.forward(msg)
	case tea.KeyPressMsg:
		d.err = ""
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Close), matches(msg, d.keys.Attach):
			return closeDialog{}
		case msg.String() == "tab":
			return d.setFocus((d.focus + 1) % 3)
		case msg.String() == "shift+tab":
			return d.setFocus((d.focus + 2) % 3)
		case d.focus != attachPicker && msg.String() == "enter":
			if d.focus == attachCaption && d.path.Value() == "" {
				if p := d.picker.HighlightedPath(); p != "" {
					return d.submit(p)
				}
			}
			return d.submit(d.path.Value())
		case d.focus == attachPicker && (msg.Text == "/" || msg.Text == "~"):
			// Typing a path starts in the path field.
			return actions{d.setFocus(attachPath), d.forward(msg)}
		}
	}
	return d.forward(msg)
}

// forward hands msg to the picker when it has focus or the message is
// its own (a directory listing), and keys and pastes to the field with
// focus.
func (d *attachDialog) forward(msg tea.Msg) action {
	_, isKey := msg.(tea.KeyPressMsg)
	_, isPaste := msg.(tea.PasteMsg)
	if (isKey && d.focus == attachPicker) || (!isKey && !isPaste) {
		var cmd tea.Cmd
		d.picker, cmd = d.picker.Update(msg)
		if ok, p := d.picker.DidSelectFile(msg); ok {
			return d.submit(p)
		}
		if isKey || d.focus == attachPicker {
			return cmd
		}
	}
	var cmd tea.Cmd
	switch d.focus {
	case attachPath:
		d.path, cmd = d.path.Update(msg)
	case attachCaption:
		d.caption, cmd = d.caption.Update(msg)
	}
	return cmd
}

func (d *attachDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 72)
	field := func(label string, f int, in textinput.Model) string {
		marker := "  "
		if d.focus == f {
			marker = s.Accent.Render("▸ ")
		}
		return marker + s.Label.Render(d.pad(label, 8)) + in.View()
	}
	rows := []string{
		field("Path", attachPath, d.path),
		field("Caption", attachCaption, d.caption),
		"",
	}
	dir := d.truncate(d.tildePath(d.picker.CurrentDirectory), inner-2)
	if d.focus == attachPicker {
		rows = append(rows, s.Accent.Render("▸ ")+s.Label.Render(dir))
	} else {
		rows = append(rows, "  "+s.Label.Render(dir))
	}
	for _, l := range strings.Split(strings.TrimRight(d.picker.View(), "\n"), "\n") {
		rows = append(rows, d.fit(l, inner))
	}
	if d.err != "" {
		rows = append(rows, "", s.Error.Render(d.truncate(d.err, inner)))
	}
	hint := "↑/↓ choose · enter send (or open a folder) · ← up · tab path, caption · esc close"
	if d.focus != attachPicker {
		hint = "enter send (a path ending in / opens the folder) · tab next · esc close"
	}
	return d.frame("Send a file to "+displayName(d.ct), strings.Join(rows, "\n"), hint, inner)
}

// tildePath shows a path under the home directory with ~.
func (d *attachDialog) tildePath(p string) string {
	if home, err := os.UserHomeDir(); err == nil && home != "/" {
		if rel, err := filepath.Rel(home, p); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.Join("~", rel)
		}
	}
	return p
}
