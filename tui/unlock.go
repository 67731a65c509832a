package tui

import (
	"context"
	"errors"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// unlockModel asks for the passphrase of an existing profile, and shows
// "opening…" while the profile is unlocked and the node started.
type unlockModel struct {
	keys     *KeyMap
	styles   *Styles
	dir      string
	width    int
	height   int
	pass     textinput.Model
	busy     bool
	err      string
	attempts int
	noPass   bool // the profile has no passphrase: enter just retries
}

func newUnlock(keys *KeyMap, st *Styles, dir string) unlockModel {
	u := unlockModel{keys: keys, styles: st, dir: dir}
	u.pass = newInput(st, "passphrase", 32)
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

func (u *unlockModel) View() string {
	s := u.styles
	var b strings.Builder
	b.WriteString(s.Title.Render("chive") + "\n\n")
	if u.dir != "" {
		b.WriteString(s.Muted.Render("Profile "+truncate(u.dir, 60)) + "\n\n")
	}
	if u.busy {
		b.WriteString(s.Accent.Render("Unlocking your profile…") + "\n")
		return place(u.width, u.height, b.String())
	}
	hint := "enter unlock · ctrl+q quit"
	if u.noPass {
		hint = "enter try again · ctrl+q quit"
	} else {
		b.WriteString("Passphrase  " + u.pass.View() + "\n\n")
	}
	if u.err != "" {
		b.WriteString(s.Error.Render(lipgloss.Wrap("✗ "+u.err, min(70, max(20, u.width-4)), " ")) + "\n")
	} else {
		b.WriteString("\n")
	}
	b.WriteString("\n" + s.Hint.Render(hint))
	return place(u.width, u.height, lipgloss.NewStyle().Width(min(72, max(20, u.width-2))).Render(b.String()))
}
