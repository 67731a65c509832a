package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// Every node call runs in a tea.Cmd; its result comes back as one of these
// messages. Update never calls the node itself.

type profileStateMsg struct {
	exists, needsPassphrase bool
	err                     error
}

type createdMsg struct{ err error }

type unlockedMsg struct {
	api node.API
	err error
}

type subscribedMsg struct {
	ch  <-chan node.Event
	err error
}

type eventMsg struct {
	ev node.Event
	ch <-chan node.Event
}

type eventsClosedMsg struct{}

type statusMsg struct {
	st  node.Status
	err error
}

type contactsMsg struct {
	cs  []node.Contact
	err error
}

type settingsMsg struct {
	s   node.Settings
	err error
}

// historyMsg is one keyset page of a conversation. older reports which way
// the page extends the window.
type historyMsg struct {
	address string
	gen     int // conversation generation, to drop pages of a conversation no longer open
	kind    pageKind
	before  string
	msgs    []node.Message // newest first, as History returns them
	err     error
}

type pageKind int

const (
	pageLatest pageKind = iota // replace the window with the newest page
	pageOlder                  // prepend
	pageNewer                  // append (after the window was trimmed at the new end)
)

// sentMsg is the reply to Send. It carries only the error, to give the
// text back to the composer: the message itself comes on screen through
// the MessageEvent the node publishes for every Send.
type sentMsg struct {
	address string
	text    string
	err     error
}

// doneMsg reports the end of an action; flash is shown in the status bar.
type doneMsg struct {
	flash string
	err   error
}

type typingExpiredMsg struct{ address string }

// flashTickMsg moves the flash with that id one step on: fade or go.
type flashTickMsg struct{ id int }

// callTimeout bounds every node call so a wedged daemon cannot pin a command forever.
const callTimeout = 30 * time.Second

// call runs fn against the API in a command, with a bounded context.
func call(ctx context.Context, fn func(ctx context.Context) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return fn(cctx)
	}
}

// local runs a call that may take long but must not be cut short: creating
// or unlocking a profile runs a memory-hard key derivation, which takes
// seconds on a busy machine.
func local(ctx context.Context, fn func(ctx context.Context) tea.Msg) tea.Cmd {
	return func() tea.Msg { return fn(ctx) }
}

func loadStatus(ctx context.Context, api node.API) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		st, err := api.Status(ctx)
		return statusMsg{st, err}
	})
}

func loadContacts(ctx context.Context, api node.API) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		cs, err := api.Contacts(ctx)
		return contactsMsg{cs, err}
	})
}

func loadSettings(ctx context.Context, api node.API) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		s, err := api.Settings(ctx)
		return settingsMsg{s, err}
	})
}

func subscribe(ctx context.Context, api node.API) tea.Cmd {
	return func() tea.Msg {
		ch, err := api.Subscribe(ctx) // lives as long as the UI
		return subscribedMsg{ch, err}
	}
}

// waitEvent waits for the next event; Update re-issues it after each one.
func waitEvent(ch <-chan node.Event) tea.Cmd {
	if ch == nil {
		return nil // tests hand events to Update directly
	}
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsClosedMsg{}
		}
		return eventMsg{ev: ev, ch: ch}
	}
}

func loadHistory(ctx context.Context, api node.API, address string, gen int, kind pageKind, before string, limit int) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		ms, err := api.History(ctx, address, before, limit)
		return historyMsg{address: address, gen: gen, kind: kind, before: before, msgs: ms, err: err}
	})
}

func sendText(ctx context.Context, api node.API, address, text string) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		_, err := api.Send(ctx, address, text)
		return sentMsg{address: address, text: text, err: err}
	})
}

// saveSettings stores s in the node; the reply carries old to go back to
// on an error.
func saveSettings(ctx context.Context, api node.API, old, s node.Settings) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		return settingsSavedMsg{old: old, err: api.SetSettings(ctx, s)}
	})
}

// report runs a node call whose only result is success or an error.
func report(ctx context.Context, flash string, fn func(ctx context.Context) error) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		return doneMsg{flash: flash, err: fn(ctx)}
	})
}

// quiet runs a node call whose failure is not worth a flash (typing, mark read).
func quiet(ctx context.Context, fn func(ctx context.Context) error) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		if err := fn(ctx); err != nil {
			return doneMsg{err: err}
		}
		return nil
	})
}
