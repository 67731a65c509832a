package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// filesDialog lists the file messages of the open conversation, newest
// first, and acts on the one chosen: accept, save, open, cancel, retry,
// pause and resume. Its list follows the node's file events.
type filesDialog struct {
	*env
	conn
	ct      node.Contact
	msgs    []node.Message    // file messages, newest first
	paths   map[string]string // files attached in this session: id → path
	cur     int
	confirm bool // cancel was pressed once
	width   int
}

func newFilesDialog(e *env, c conn, ct node.Contact, msgs []node.Message, paths map[string]string, width int) *filesDialog {
	return &filesDialog{env: e, conn: c, ct: ct, msgs: msgs, paths: paths, width: width}
}

// follow keeps the list in step with the node's events.
func (d *filesDialog) follow(ev node.Event) {
	switch e := ev.(type) {
	case node.MessageEvent:
		if e.Message.File != nil && e.Message.Address == d.ct.Address {
			d.msgs = append([]node.Message{e.Message}, d.msgs...)
			if d.cur > 0 {
				d.cur++
			}
		}
	case node.FileStateEvent:
		for i := range d.msgs {
			if d.msgs[i].ID == e.Transfer.ID {
				f := e.Transfer.File
				d.msgs[i].File = &f
			}
		}
	case node.FileProgressEvent:
		for i := range d.msgs {
			if d.msgs[i].ID == e.ID {
				f := *d.msgs[i].File
				f.Bytes = e.Bytes
				d.msgs[i].File = &f
			}
		}
	case node.MessageStateEvent:
		for i := range d.msgs {
			if d.msgs[i].ID == e.ID {
				d.msgs[i].State = e.State
			}
		}
	}
}

// ended says whether a transfer is over (its data kept only if completed).
func ended(s node.FileState) bool {
	return s == node.FileCompleted || s == node.FileFailed || s == node.FileCancelled
}

// stored says whether the file's content is here to save or open: a
// received file once complete, a sent one unless it was called off.
func stored(m node.Message) bool {
	if m.Direction == node.Incoming {
		return m.File.State == node.FileCompleted
	}
	return m.File.State != node.FileFailed && m.File.State != node.FileCancelled
}

func (d *filesDialog) update(msg tea.Msg) action {
	if e, ok := msg.(eventMsg); ok {
		d.follow(e.ev)
		return nil
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok || len(d.msgs) == 0 {
		return nil
	}
	confirm := d.confirm
	d.confirm = false
	m := d.msgs[d.cur]
	f := *m.File
	name := safeName(f)
	api, id := d.api, f.ID
	switch {
	case matches(k, d.keys.Quit):
		return quitApp{}
	case matches(k, d.keys.Close), matches(k, d.keys.Files):
		return closeDialog{}
	case k.String() == "up" || k.String() == "ctrl+p":
		d.cur = max(0, d.cur-1)
	case k.String() == "down" || k.String() == "ctrl+n":
		d.cur = min(len(d.msgs)-1, d.cur+1)
	case matches(k, d.keys.Accept):
		if m.Direction != node.Incoming || f.State != node.FileOffered {
			return flashNote{text: name + ": nothing to accept (" + string(f.State) + ")"}
		}
		return actions{closeDialog{}, d.fileCall("accepted "+name, func(ctx context.Context) error { _, err := api.AcceptFile(ctx, id); return err })}
	case matches(k, d.keys.SaveFile):
		if !stored(m) {
			return flashNote{text: name + ": not here to save (" + string(f.State) + ")"}
		}
		s := newSaveDialog(d.env, d.conn, f, d.width)
		return showDialog{d: s, init: s.init()}
	case matches(k, d.keys.OpenFile):
		if !stored(m) {
			return flashNote{text: name + ": not here to open (" + string(f.State) + ")"}
		}
		return actions{closeDialog{}, openFile(d.ctx, api, d.getenv, f)}
	case matches(k, d.keys.CancelFile):
		if ended(f.State) {
			return flashNote{text: name + ": already " + string(f.State)}
		}
		if !confirm {
			d.confirm = true
			return nil
		}
		return actions{closeDialog{}, d.fileCall("cancelled "+name, func(ctx context.Context) error { _, err := api.CancelFile(ctx, id); return err })}
	case matches(k, d.keys.PauseFile):
		switch f.State {
		case node.FileAccepted:
			return actions{closeDialog{}, d.fileCall("paused "+name, func(ctx context.Context) error { _, err := api.PauseFile(ctx, id); return err })}
		case node.FilePaused:
			return actions{closeDialog{}, d.fileCall("resumed "+name, func(ctx context.Context) error { _, err := api.ResumeFile(ctx, id); return err })}
		}
		return flashNote{text: name + ": not moving (" + string(f.State) + ")"}
	case matches(k, d.keys.RetryFile):
		return d.retry(m)
	}
	return nil
}

// retry goes on with a transfer that stopped: one paused or waiting for
// disk space resumes; an offer that was not delivered is sent again; a
// file of ours that failed or was cancelled is offered again, if it was
// attached in this session (its path known).
func (d *filesDialog) retry(m node.Message) action {
	f := *m.File
	name, api, id := safeName(f), d.api, f.ID
	switch {
	case f.State == node.FilePaused || (f.State == node.FileAccepted && f.Error != ""):
		return actions{closeDialog{}, d.fileCall("retrying "+name, func(ctx context.Context) error { _, err := api.ResumeFile(ctx, id); return err })}
	case m.Direction == node.Outgoing && m.State == node.Failed:
		return actions{closeDialog{}, d.fileCall("sending the offer of "+name+" again", func(ctx context.Context) error { return api.Retry(ctx, id) })}
	case m.Direction == node.Outgoing && (f.State == node.FileFailed || f.State == node.FileCancelled):
		if p := d.paths[id]; p != "" {
			return attachFile{address: m.Address, path: p, caption: m.Text}
		}
		return flashNote{text: name + ": attach it again (" + firstKey(d.keys.Attach) + ")"}
	case f.State == node.FileFailed || f.State == node.FileCancelled:
		return flashNote{text: name + ": ask " + displayName(d.ct) + " to send it again"}
	}
	return flashNote{text: name + ": nothing to retry (" + string(f.State) + ")"}
}

// fileCall runs a file call; its result shows through the node's events,
// the reply only says it was done, or why not.
func (d *filesDialog) fileCall(note string, fn func(ctx context.Context) error) tea.Cmd {
	return report(d.ctx, note, fn)
}

// status is a file's state in a word or two, for the list.
func fileStatus(m node.Message) string {
	f := m.File
	switch f.State {
	case node.FileOffered:
		if m.Direction == node.Incoming {
			return "offered: accept?"
		}
		return "offered"
	case node.FileAccepted:
		if f.Error != "" {
			return "waiting"
		}
		if f.Size > 0 {
			return fmt.Sprintf("%d%%", f.Bytes*100/f.Size)
		}
		return "moving"
	case node.FileCompleted:
		if m.Direction == node.Incoming {
			return "received"
		}
		return "sent"
	}
	return string(f.State)
}

// keysFor are the keys that do something to m.
func (d *filesDialog) keysFor(m node.Message) []key.Binding {
	f := m.File
	var ks []key.Binding
	if m.Direction == node.Incoming && f.State == node.FileOffered {
		ks = append(ks, d.keys.Accept)
	}
	if stored(m) {
		ks = append(ks, d.keys.OpenFile, d.keys.SaveFile)
	}
	if f.State == node.FileAccepted || f.State == node.FilePaused {
		ks = append(ks, d.keys.PauseFile)
	}
	if f.State == node.FilePaused || f.Error != "" || m.State == node.Failed || (m.Direction == node.Outgoing && (f.State == node.FileFailed || f.State == node.FileCancelled)) {
		ks = append(ks, d.keys.RetryFile)
	}
	if !ended(f.State) {
		ks = append(ks, d.keys.CancelFile)
	}
	return ks
}

func (d *filesDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 64)
	maxRows := max(3, min(12, height-10))
	start := max(0, d.cur-maxRows+1)
	var rows []string
	for i := start; i < len(d.msgs) && i < start+maxRows; i++ {
		m := d.msgs[i]
		arrow := "↓ "
		if m.Direction == node.Outgoing {
			arrow = "↑ "
		}
		st := fileStatus(m)
		right := "  " + humanBytes(m.File.Size) + "  " + st
		line := d.fit(arrow+d.truncate(safeName(*m.File), max(4, inner-d.textWidth(right)-2)), inner-d.textWidth(right)) + right
		if i == d.cur {
			line = s.Selected.Render(line)
		}
		rows = append(rows, line)
	}
	m := d.msgs[d.cur]
	var hints []string
	for _, b := range d.keysFor(m) {
		hints = append(hints, b.Help().Key+" "+b.Help().Desc)
	}
	rows = append(rows, "")
	if d.confirm {
		rows = append(rows, s.Warning.Render(d.truncate("press "+firstKey(d.keys.CancelFile)+" again to cancel "+safeName(*m.File)+" on both sides", inner)))
	} else if m.File.Error != "" {
		rows = append(rows, s.Warning.Render(d.truncate(safeName(*m.File)+": "+m.File.Error, inner)))
	}
	hint := strings.Join(append(hints, "↑/↓ choose", "esc close"), " · ")
	return d.frame("Files with "+displayName(d.ct), strings.Join(rows, "\n"), hint, inner)
}

// saveDialog asks where to save a file; the node writes it there (never
// over an existing file; a directory gets it under its own name).
type saveDialog struct {
	*env
	conn
	f    node.File
	in   textinput.Model
	busy bool
	err  string
}

type saveDirMsg struct{ dir string }

type savedMsg struct {
	path string
	err  error
}

func newSaveDialog(e *env, c conn, f node.File, width int) *saveDialog {
	d := &saveDialog{env: e, conn: c, f: f, in: newInput(e.styles, "a path; a folder keeps the name", dialogWidth(width, 64)-2)}
	d.in.SetValue(filepath.Join("~", safeName(f)))
	d.in.CursorEnd()
	return d
}

// init focuses the field and looks for a Downloads folder to offer.
func (d *saveDialog) init() tea.Cmd {
	return tea.Batch(d.in.Focus(), func() tea.Msg {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil
		}
		if st, err := os.Stat(filepath.Join(home, "Downloads")); err == nil && st.IsDir() {
			return saveDirMsg{dir: "~/Downloads"}
		}
		return nil
	})
}

func (d *saveDialog) update(msg tea.Msg) action {
	switch msg := msg.(type) {
	case saveDirMsg:
		if d.in.Value() == filepath.Join("~", safeName(d.f)) {
			d.in.SetValue(filepath.Join(msg.dir, safeName(d.f)))
			d.in.CursorEnd()
		}
		return nil
	case savedMsg:
		d.busy = false
		if msg.err != nil {
			d.err = msg.err.Error()
			return nil
		}
		return actions{closeDialog{}, flashNote{text: "saved " + safeName(d.f) + " to " + msg.path}}
	case tea.KeyPressMsg:
		switch {
		case matches(msg, d.keys.Quit):
			return quitApp{}
		case matches(msg, d.keys.Close):
			return closeDialog{}
		case msg.String() == "enter":
			if d.busy || strings.TrimSpace(d.in.Value()) == "" {
				return nil
			}
			d.busy, d.err = true, ""
			api, id := d.api, d.f.ID
			path := expandPath(d.in.Value(), homeDir())
			return call(d.ctx, func(ctx context.Context) tea.Msg {
				p, err := api.SaveFile(ctx, id, path)
				return savedMsg{path: p, err: err}
			})
		}
	case eventMsg, statusMsg, settingsMsg, settingsSavedMsg:
		return nil
	}
	var cmd tea.Cmd
	d.in, cmd = d.in.Update(msg)
	return cmd
}

func (d *saveDialog) Render(width, height int) string {
	s := d.styles
	inner := dialogWidth(width, 64)
	rows := []string{d.truncate(safeName(d.f)+"  "+humanBytes(d.f.Size), inner), "", "› " + d.in.View()}
	switch {
	case d.busy:
		rows = append(rows, "", s.Muted.Render("saving…"))
	case d.err != "":
		rows = append(rows, "")
		for _, l := range d.wrap(d.err, inner) {
			rows = append(rows, s.Error.Render(l))
		}
	}
	return d.frame("Save a file", strings.Join(rows, "\n"), "enter save (never over a file) · esc close", inner)
}

// homeDir is where a relative path to save to starts.
func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "/"
}
