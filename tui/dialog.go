package tui

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

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
	// this session's bell and window title.
	changeSettings struct {
		node        node.Settings
		bell, title bool
	}
	actions []action
)

// conn is how a dialog calls the node: every call in a command, bounded by ctx.
type conn struct {
	ctx context.Context
	api node.API
}

// dialogWidth is the inner width for dialogs on a w-wide terminal.
func dialogWidth(w, want int) int { return max(16, min(want, w-4)) }

// frame draws a dialog: its title, body and hint in a rounded box inner
// cells wide inside.
func frame(s *Styles, title, body, hint string, inner int) string {
	parts := []string{s.DialogTitle.Render(title), "", body}
	if hint != "" {
		parts = append(parts, "", s.Hint.Render(lipgloss.Wrap(hint, inner, " ")))
	}
	return s.Dialog.Width(inner + 4).Render(strings.Join(parts, "\n"))
}

// overlay draws d centred over screen, keeping d's top (title and first
// fields) when the terminal is too short for all of it.
func overlay(screen, d string, width, height int) string {
	if dl := strings.Split(d, "\n"); len(dl) > height {
		d = strings.Join(dl[:height], "\n")
	}
	dw, dh := lipgloss.Size(d)
	x, y := max(0, (width-dw)/2), max(0, (height-dh)/2)
	canvas := lipgloss.NewCanvas(width, height)
	canvas.Compose(lipgloss.NewCompositor(lipgloss.NewLayer(screen), lipgloss.NewLayer(d).X(x).Y(y).Z(1)))
	return canvas.Render()
}
