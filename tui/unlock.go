package tui

import (
	"context"
	"errors"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// unlockModel asks for the passphrase of an existing profile, and shows
// "opening…" while the profile is unlocked and the node started.
type unlockModel struct {
	*env
	dir      string
	width    int
	height   int
	pass     textinput.Model
	busy     bool
	err      string
	attempts int
	noPass   bool // the profile has no passphrase: enter just retries
}

func newUnlock(e *env, dir string) unlockModel {
	u := unlockModel{env: e, dir: dir}
	u.pass = newInput(e.styles, "passphrase", 32)
	u.pass.EchoMode = textinput.EchoPassword
	u.pass.EchoCharacter = '•'
	return u
}

func (u *unlockModel) SetSize(w, h int) { u.width, u.height = w, h }
func (u *unlockModel) restyle()         { restyleInput(&u.pass, u.styles) }
func (u *unlockModel) Focus() tea.Cmd   { return u.pass.Focus() }

// start unlocks with pass in a command.
func (u *unlockModel) start(ctx context.Context, p Profile, pass []byte) tea.Cmd {
	u.busy, u.err = true, ""
	u.noPass = pass == nil
	return local(ctx, func(ctx context.Context) tea.Msg {
		api, err := p.Unlock(ctx, pass)
		return unlockedMsg{api, err}
	})
}

func (u *unlockModel) fail(err error) tea.Cmd {
	u.busy = false
	u.pass.SetValue("")
	if errors.Is(err, ErrWrongPassphrase) {
		u.attempts++
		u.err = "Wrong passphrase. Try again."
	} else {
		u.err = err.Error()
	}
	return u.pass.Focus()
}

func (u *unlockModel) Update(ctx context.Context, p Profile, msg tea.Msg) tea.Cmd {
	if u.busy {
		return nil
	}
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, u.keys.Quit) || k.String() == "esc":
			return tea.Quit
		case k.String() == "enter" && u.noPass:
			return u.start(ctx, p, nil)
		case k.String() == "enter":
			if u.pass.Value() == "" {
				u.err = "Type your passphrase, then press enter."
				return nil
			}
			pass := []byte(u.pass.Value())
			u.pass.SetValue("")
			return u.start(ctx, p, pass)
		}
	}
	var cmd tea.Cmd
	u.pass, cmd = u.pass.Update(msg)
	return cmd
}

// View draws the same block whether it waits for the passphrase or
// unlocks: only the words change, so nothing jumps on the screen.
func (u *unlockModel) View() string {
	s := u.styles
	bw := min(72, max(20, u.width-2))
	lines := []string{s.Title.Render("chive"), ""}
	if u.dir != "" {
		lines = append(lines, s.Muted.Render("Profile "+u.truncate(u.dir, bw-8)), "")
	}
	hint := "enter unlock · ctrl+q quit"
	switch {
	case u.busy:
		lines = append(lines, s.Accent.Render("Unlocking your profile…"))
		hint = "starting the node and Tor; this takes a few seconds"
	case u.noPass:
		lines = append(lines, s.Muted.Render("This profile has no passphrase."))
		hint = "enter try again · ctrl+q quit"
	default:
		lines = append(lines, "Passphrase  "+u.pass.View())
	}
	lines = append(lines, "")
	// Two lines for the error, used or not, so the hint stays put too.
	errLines := []string{"", ""}
	if u.err != "" && !u.busy {
		errLines = u.wrap("✗ "+u.err, bw)
		for i, l := range errLines {
			errLines[i] = s.Error.Render(l)
		}
		for len(errLines) < 2 {
			errLines = append(errLines, "")
		}
	}
	lines = append(lines, errLines...)
	lines = append(lines, "", s.Hint.Render(u.truncate(hint, bw)))
	for i, l := range lines {
		lines[i] = u.fit(l, bw)
	}
	return u.place(u.width, u.height, strings.Join(lines, "\n"))
}
