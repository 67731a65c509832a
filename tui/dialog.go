package tui

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/node"
)

// dialog is a modal over the main screen, one type per file (dialog_*.go).
// A dialog keeps its own state and calls the node in commands; it never
// sees the chat. It says what the chat should do through the action that
// update returns, and chatModel.apply is the one place that acts on it.
type dialog interface {
	// update handles a key or paste while the dialog is open, the replies
	// to its own node calls, and the node events, status and settings
	// replies the chat passes on after taking them itself.
	update(msg tea.Msg) action
	// Render draws the dialog for a terminal of width×height cells.
	Render(width, height int) string
}

// action is what a dialog asks of the chat: nil for nothing, a tea.Cmd to
// run (a node call, the clipboard), one of the types below, or several in
// order (actions).
type action any

type (
	// closeDialog closes the dialog.
	closeDialog struct{}
	// quitApp ends the program.
	quitApp struct{}
	// openChat closes the dialog and shows a contact's conversation.
	openChat struct{ address string }
	// showDialog replaces the dialog with d, running init.
	showDialog struct {
		d    dialog
		init tea.Cmd
	}
	// flashNote shows a note in the status bar.
	flashNote struct {
		text  string
		isErr bool
	}
	// changeSettings sets the node's settings (saved in the profile) and
	// this terminal's (saved in the config file).
	changeSettings struct {
		node node.Settings
		ui   uiSettings
	}
	// setName changes our display name.
	setName struct{ name string }
	// attachFile closes the dialog and offers the file at path (absolute)
	// to the contact at address.
	attachFile struct{ address, path, caption string }

	// openMessage closes the dialog and shows a message of a contact's
	// conversation (a search result).
	openMessage struct{ address, id string }
	actions     []action
)

// conn is how a dialog calls the node: every call in a command, bounded by ctx.
type conn struct {
	ctx context.Context
	api node.API
}

// dialogWidth is the inner width for dialogs on a w-wide terminal.
func dialogWidth(w, want int) int { return max(16, min(want, w-4)) }

// frame draws a dialog: its title, body and hint in a rounded box, inner
// cells wide inside. Every line is cut to the box, so a long name cannot
// push the border out.
func (e *env) frame(title, body, hint string, inner int) string {
	parts := []string{e.styles.DialogTitle.Render(title), ""}
	parts = append(parts, strings.Split(body, "\n")...)
	if hint != "" {
		parts = append(parts, "")
		for _, l := range e.wrap(hint, inner) {
			parts = append(parts, e.styles.Hint.Render(l))
		}
	}
	return e.box(parts, inner)
}

// box draws lines in a rounded border with one cell of padding each side.
func (e *env) box(lines []string, inner int) string {
	b := e.styles.DialogBorder
	out := make([]string, 0, len(lines)+2)
	out = append(out, b.Render("╭"+strings.Repeat("─", inner+2)+"╮"))
	for _, l := range lines {
		out = append(out, b.Render("│")+" "+e.fit(l, inner)+" "+b.Render("│"))
	}
	out = append(out, b.Render("╰"+strings.Repeat("─", inner+2)+"╯"))
	return strings.Join(out, "\n")
}

// overlay draws d centred over screen (lines of exactly width cells),
// keeping d's top (title and first fields) when the terminal is too short
// for all of it.
func (e *env) overlay(screen, d string, width, height int) string {
	dl := strings.Split(d, "\n")
	if len(dl) > height {
		dl = dl[:height]
	}
	dw := 0
	for i, l := range dl {
		if e.textWidth(l) > width {
			dl[i] = e.truncate(l, width)
		}
		dw = max(dw, e.textWidth(dl[i]))
	}
	x, y := max(0, (width-dw)/2), max(0, (height-len(dl))/2)
	lines := strings.Split(screen, "\n")
	for i, l := range dl {
		if y+i >= len(lines) {
			break
		}
		under := lines[y+i]
		left := e.pad(e.cut(under, x, ""), x)
		right := e.m.TruncateLeft(under, x+dw, "")
		want := max(0, width-x-dw)
		for e.textWidth(right) > want {
			// A wide character straddles the dialog's right edge.
			right = e.m.TruncateLeft(right, 1, "")
		}
		lines[y+i] = left + ansi.ResetStyle + e.pad(l, dw) + ansi.ResetStyle + strings.Repeat(" ", max(0, want-e.textWidth(right))) + right
	}
	return strings.Join(lines, "\n")
}
