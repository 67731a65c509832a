package tui

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// welcomeModel is the first-run screen: it creates a profile.
type welcomeModel struct {
	*env
	width  int
	height int

	name, pass, pass2 textinput.Model
	noPass            bool
	focus             int // 0 name, 1 pass, 2 repeat, 3 no-passphrase box
	busy              bool
	err               string
}

const (
	fieldName = iota
	fieldPass
	fieldPass2
	fieldNoPass
)

func newWelcome(e *env) welcomeModel {
	st := e.styles
	w := welcomeModel{env: e}
	w.name = newInput(st, "how contacts will see you", 32)
	w.name.CharLimit = 64
	w.pass = newInput(st, "a long phrase you will remember", 32)
	w.pass.EchoMode = textinput.EchoPassword
	w.pass.EchoCharacter = '•'
	w.pass2 = newInput(st, "the same again", 32)
	w.pass2.EchoMode = textinput.EchoPassword
	w.pass2.EchoCharacter = '•'
	return w
}

func (w *welcomeModel) SetSize(width, height int) { w.width, w.height = width, height }

func (w *welcomeModel) restyle() {
	restyleInput(&w.name, w.styles)
	restyleInput(&w.pass, w.styles)
	restyleInput(&w.pass2, w.styles)
}

func (w *welcomeModel) Focus() tea.Cmd { return w.setFocus(fieldName) }

func (w *welcomeModel) setFocus(f int) tea.Cmd {
	w.focus = f
	w.name.Blur()
	w.pass.Blur()
	w.pass2.Blur()
	switch f {
	case fieldName:
		return w.name.Focus()
	case fieldPass:
		return w.pass.Focus()
	case fieldPass2:
		return w.pass2.Focus()
	}
	return nil
}

// next moves focus, skipping the passphrase fields when "no passphrase" is chosen.
func (w *welcomeModel) next(d int) tea.Cmd {
	f := w.focus
	for {
		f = (f + d + 4) % 4
		if !(w.noPass && (f == fieldPass || f == fieldPass2)) {
			return w.setFocus(f)
		}
	}
}

func (w *welcomeModel) passphrase() []byte {
	if w.noPass {
		return nil
	}
	return []byte(w.pass.Value())
}

func (w *welcomeModel) clearSecrets() {
	w.pass.SetValue("")
	w.pass2.SetValue("")
}

func (w *welcomeModel) fail(err error) {
	w.busy = false
	w.err = "could not create the profile: " + err.Error()
}

// validate returns what is wrong with the form, or "".
func (w *welcomeModel) validate() string {
	name := strings.TrimSpace(w.name.Value())
	switch {
	case name == "":
		return "choose a nickname"
	case w.noPass:
		return ""
	case w.pass.Value() == "":
		return "enter a passphrase, or tick “no passphrase”"
	case node.CheckPassphrase([]byte(w.pass.Value()), false) != nil:
		return fmt.Sprintf("a passphrase needs at least %d characters; a few words is best", node.MinPassphrase)
	case w.pass.Value() != w.pass2.Value():
		return "the two passphrases differ"
	}
	return ""
}

func (w *welcomeModel) Update(ctx context.Context, p Profile, msg tea.Msg) tea.Cmd {
	if w.busy {
		return nil
	}
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case matches(k, w.keys.Quit) || k.String() == "esc":
			return tea.Quit
		case k.String() == "tab" || k.String() == "down":
			return w.next(1)
		case k.String() == "shift+tab" || k.String() == "up":
			return w.next(-1)
		case w.focus == fieldNoPass && matches(k, w.keys.Toggle):
			w.noPass = !w.noPass
			w.err = ""
			return nil
		case k.String() == "enter":
			if w.focus == fieldName && strings.TrimSpace(w.name.Value()) == "" {
				w.err = "choose a nickname"
				return nil
			}
			if w.focus == fieldName || (w.focus == fieldPass && !w.noPass) {
				return w.next(1)
			}
			if e := w.validate(); e != "" {
				w.err = e
				if strings.HasPrefix(e, "choose") {
					return w.setFocus(fieldName)
				}
				return nil
			}
			if p == nil {
				w.err = "no profile directory"
				return nil
			}
			w.busy, w.err = true, ""
			name, pass, noPass := strings.TrimSpace(w.name.Value()), w.passphrase(), w.noPass
			return local(ctx, func(ctx context.Context) tea.Msg {
				return createdMsg{err: p.Create(ctx, name, pass, noPass)}
			})
		}
	}
	var cmd tea.Cmd
	switch w.focus {
	case fieldName:
		w.name, cmd = w.name.Update(msg)
	case fieldPass:
		w.pass, cmd = w.pass.Update(msg)
	case fieldPass2:
		w.pass2, cmd = w.pass2.Update(msg)
	}
	if _, ok := msg.(tea.KeyPressMsg); ok {
		w.err = ""
	}
	return cmd
}

func (w *welcomeModel) View() string {
	s := w.styles
	bw := min(72, max(20, w.width-2))
	var lines []string
	add := func(ls ...string) { lines = append(lines, ls...) }
	add(s.Title.Render("Welcome to chive"), s.Muted.Render("Private chat where every user is a Tor onion service."), "")
	add(w.wrap("Create your profile. It stays on this computer, encrypted.", bw)...)
	add("")
	field := func(i int, label, view string) {
		marker := "  "
		if w.focus == i {
			marker = s.Accent.Render("▸ ")
		}
		add(marker + s.Label.Render(w.pad(label, 12)) + view)
	}
	field(fieldName, "Nickname", w.name.View())
	if w.noPass {
		field(fieldPass, "Passphrase", s.Muted.Render("(none)"))
		field(fieldPass2, "Repeat", s.Muted.Render("(none)"))
	} else {
		field(fieldPass, "Passphrase", w.pass.View())
		field(fieldPass2, "Repeat", w.pass2.View())
	}
	// The hint wraps under the fields, never back to the first column.
	indent := strings.Repeat(" ", 14)
	for _, l := range w.wrap(w.strengthHint(), max(8, bw-14)) {
		add(indent + l)
	}
	box := "[ ]"
	if w.noPass {
		box = "[x]"
	}
	field(fieldNoPass, "", box+" No passphrase")
	if w.noPass {
		add("")
		for _, l := range w.wrap("⚠ Without a passphrase, anyone who can read your files can read your messages and impersonate you. Fine for a demo, not for real use.", bw) {
			add(s.Warning.Render(l))
		}
	}
	add("")
	switch {
	case w.busy:
		add(s.Accent.Render("Creating your keys… (a few seconds)"))
	case w.err != "":
		for _, l := range w.wrap("✗ "+w.err, bw) {
			add(s.Error.Render(l))
		}
	default:
		add("")
	}
	add("")
	for _, l := range w.wrap("tab next field · space toggle the box · enter create · ctrl+q quit", bw) {
		add(s.Hint.Render(l))
	}
	for i, l := range lines {
		lines[i] = w.fit(l, bw)
	}
	return w.place(w.width, w.height, strings.Join(lines, "\n"))
}

func (w *welcomeModel) strengthHint() string {
	if w.noPass {
		return ""
	}
	p := w.pass.Value()
	if p == "" {
		return w.styles.Muted.Render("strength: —")
	}
	label, st := passphraseStrength(p)
	style := w.styles.StrengthWeak
	switch st {
	case 1:
		style = w.styles.StrengthFair
	case 2:
		style = w.styles.StrengthStrong
	}
	hint := style.Render("strength: " + label)
	if p2 := w.pass2.Value(); p2 != "" {
		if p2 == p {
			hint += w.styles.Success.Render("  ✓ match")
		} else if !strings.HasPrefix(p, p2) {
			hint += w.styles.Error.Render("  ✗ differ")
		}
	}
	return hint
}

// passphraseStrength is a rough estimate from length and character classes:
// enough to steer people away from short passwords, not a cracking model.
func passphraseStrength(p string) (string, int) {
	var lower, upper, digit, other bool
	n := 0
	for _, r := range p {
		n++
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	pool := 0
	for _, c := range []struct {
		on bool
		n  int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.on {
			pool += c.n
		}
	}
	bits := float64(n) * math.Log2(float64(max(pool, 2)))
	switch {
	case n < node.MinPassphrase:
		return fmt.Sprintf("too short — %d characters at least; a few words is best", node.MinPassphrase), 0
	case bits < 50:
		return "weak — add words or characters", 0
	case bits < 75:
		return "fair", 1
	default:
		return "strong", 2
	}
}
