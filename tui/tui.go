// Package tui is chive's terminal user interface, built on Bubble Tea v2.
//
// It talks to the engine only through node.API, so it runs the same whether
// the node lives in this process or in a daemon reached over its socket. The
// root Model routes between three screens (welcome, unlock, main) and the
// main screen's dialogs. Every node call runs in a tea.Cmd; events arrive
// through a command that waits for the next one and is re-issued after each,
// so Update never blocks and an idle UI uses no CPU.
package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/node"
)

// ErrWrongPassphrase is what Profile.Unlock returns (wrapped) for a wrong
// passphrase; the unlock screen then asks again.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Profile is what the first-run and unlock screens need of the profile on
// disk. The chive command implements it with node.CreateProfile, node.Open
// and (*node.Node).Start; tests use a fake.
type Profile interface {
	// State reports whether the profile exists and needs a passphrase.
	State(ctx context.Context) (exists, needsPassphrase bool, err error)
	// Create makes a new profile.
	Create(ctx context.Context, name string, passphrase []byte, noPassphrase bool) error
	// Unlock opens the profile and starts the node (Tor bootstraps in the
	// background). A wrong passphrase returns an error wrapping ErrWrongPassphrase.
	Unlock(ctx context.Context, passphrase []byte) (node.API, error)
}

// Options configure the UI. Zero values are sensible defaults.
type Options struct {
	// Profile drives the welcome and unlock screens. Ignored when API is set.
	Profile Profile
	// API, when set, is an already running node (a daemon): the UI skips
	// unlocking and goes straight to the main screen.
	API node.API
	// Dir is the profile directory, shown on the unlock screen.
	Dir string

	// Now is the clock; Location the time zone for times shown.
	Now      func() time.Time
	Location *time.Location

	// NoBell and NoTitle turn off the terminal bell and the unread count in
	// the window title when a message arrives out of view, whatever the
	// config says.
	NoBell, NoTitle bool

	// Config is the config file's settings; nil is DefaultConfig.
	Config *Config
	// ConfigPath is where the settings dialog saves the toggles that belong
	// to this terminal (bell, title, notifications); "" saves nothing.
	ConfigPath string
	// ConfigError is why the config file could not be used; the main
	// screen shows it.
	ConfigError error
	// Getenv reads the environment (tmux, the terminal's name,
	// CHIVE_OPENER, CHIVE_IMAGES); nil is os.Getenv.
	Getenv func(string) string

	// KeyMap overrides the config's key bindings.
	KeyMap *KeyMap
	// Dark fixes the background instead of asking the terminal (tests).
	Dark *bool
}

type screen int

const (
	screenLoading screen = iota
	screenWelcome
	screenUnlock
	screenMain
)

// Model is the root model: it owns routing between screens, the terminal
// size and theme, and the node once unlocked.
type Model struct {
	ctx    context.Context
	opts   Options
	cfg    Config
	keys   KeyMap
	styles Styles
	now    func() time.Time
	loc    *time.Location

	width, height int
	screen        screen
	err           error // fatal, shown on the loading screen

	welcome welcomeModel
	unlock  unlockModel
	chat    *chatModel

	api node.API
	e   *env
}

// New returns the root model. ctx bounds every node call and the event
// subscription; cancel it after the program ends.
func New(ctx context.Context, opts Options) *Model {
	cfg := DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	m := &Model{ctx: ctx, opts: opts, cfg: cfg, now: opts.Now, loc: opts.Location}
	if km, err := cfg.KeyMap(); err == nil {
		m.keys = km
	} else {
		m.keys = DefaultKeyMap() // LoadConfig validated it; a hand-made Config may not be
	}
	if opts.KeyMap != nil {
		m.keys = *opts.KeyMap
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.loc == nil {
		m.loc = time.Local
	}
	dark := true
	if opts.Dark != nil {
		dark = *opts.Dark
	}
	m.styles = ThemeStyles(cfg.Theme, dark)
	m.e = &env{keys: &m.keys, styles: &m.styles, cfg: &m.cfg, now: m.now, loc: m.loc, colour: true,
		noBell: opts.NoBell || !cfg.Notifications.Bell, noTitle: opts.NoTitle || !cfg.Notifications.Title,
		term: detectTerminal(getenv), images: detectImages(getenv), colours256: true, getenv: getenv, configPath: opts.ConfigPath, termDark: dark}
	m.e.notify = newNotifier(cfg.Notifications, m.e.term)
	m.welcome = newWelcome(m.e)
	m.unlock = newUnlock(m.e, opts.Dir)
	if opts.API != nil {
		m.screen = screenMain
		m.api = opts.API
		m.chat = newChat(m.ctx, opts.API, m.env())
	}
	return m
}

// env is what screens share of the root.
func (m *Model) env() *env { return m.e }

type env struct {
	cells           // how wide the terminal draws text; see cells
	keys            *KeyMap
	styles          *Styles
	cfg             *Config
	configPath      string   // where toggles are saved; "" for nowhere
	term            terminal // what the terminal is and can do
	getenv          func(string) string
	notify          notifier // desktop notifications
	now             func() time.Time
	loc             *time.Location
	noBell, noTitle bool
	colour          bool      // the terminal shows colours (not NO_COLOR or a dumb terminal)
	colours256      bool      // … at least 256 of them (kitty placeholders need them)
	images          imageMode // how image previews are drawn (kitty.go)
	termDark        bool      // the terminal's background is dark (as it said, or assumed)
	noTimers        bool      // tests: one-shot timers are sent by the test instead
}

// after delivers msg once after d: the only timers the UI uses (a flash
// fading, a typing indicator expiring), so nothing ticks while idle.
func (e *env) after(d time.Duration, msg tea.Msg) tea.Cmd {
	if e.noTimers {
		return nil
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return msg })
}

// Init asks for the background colour and either starts the main screen
// (attached to a daemon) or looks at the profile.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{}
	if m.opts.Dark == nil {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	switch {
	case m.chat != nil:
		cmds = append(cmds, m.chat.Init(), m.configNotice())
	case m.opts.Profile != nil:
		p := m.opts.Profile
		cmds = append(cmds, call(m.ctx, func(ctx context.Context) tea.Msg {
			exists, needs, err := p.State(ctx)
			return profileStateMsg{exists, needs, err}
		}))
	default:
		m.err = errors.New("tui: no profile and no node to show")
	}
	return tea.Batch(cmds...)
}

// Update routes a message to the current screen.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		if m.chat != nil {
			m.chat.SetSize(msg.Width, msg.Height)
		}
		m.welcome.SetSize(msg.Width, msg.Height)
		m.unlock.SetSize(msg.Width, msg.Height)
		return m, nil
	case tea.ColorProfileMsg:
		m.e.colour = msg.Profile >= colorprofile.ANSI
		m.e.colours256 = msg.Profile >= colorprofile.ANSI256
		return m, nil
	case tea.ModeReportMsg:
		// The terminal answered Bubble Tea's question about grapheme
		// clustering (mode 2027). Bubble Tea's renderer switches to
		// grapheme widths on the same answers; the layout follows it.
		if msg.Mode == ansi.ModeUnicodeCore && (msg.Value == ansi.ModeSet || msg.Value == ansi.ModeReset || msg.Value == ansi.ModePermanentlySet) && m.e.cells.m != ansi.GraphemeWidth {
			m.e.cells.m = ansi.GraphemeWidth
			m.restyle()
		}
		return m, nil
	case tea.BackgroundColorMsg:
		m.e.termDark = msg.IsDark()
		m.styles = ThemeStyles(m.cfg.Theme, msg.IsDark())
		m.restyle()
		return m, nil
	case tea.KeyPressMsg:
		// Ctrl+C quits, except on the main screen, where it first closes a
		// dialog or clears the composer (chatModel.interrupt).
		if m.screen != screenMain && matches(msg, m.keys.Interrupt) {
			return m, tea.Quit
		}
	case profileStateMsg:
		switch {
		case msg.err != nil:
			m.err = msg.err
		case !msg.exists:
			m.screen = screenWelcome
			return m, m.welcome.Focus()
		case !msg.needsPassphrase:
			m.screen = screenUnlock
			return m, m.unlock.start(m.ctx, m.opts.Profile, nil)
		default:
			m.screen = screenUnlock
			return m, m.unlock.Focus()
		}
		return m, nil
	case createdMsg:
		if msg.err != nil {
			m.welcome.fail(msg.err)
			return m, nil
		}
		// A new profile with no passphrase, or the one just typed: open it at once.
		m.screen = screenUnlock
		pass := m.welcome.passphrase()
		m.welcome.clearSecrets()
		return m, m.unlock.start(m.ctx, m.opts.Profile, pass)
	case unlockedMsg:
		if msg.err != nil {
			return m, m.unlock.fail(msg.err)
		}
		m.api = msg.api
		m.screen = screenMain
		m.chat = newChat(m.ctx, msg.api, m.env())
		m.chat.SetSize(m.width, m.height)
		return m, tea.Batch(m.chat.Init(), m.configNotice())
	}

	var cmd tea.Cmd
	switch m.screen {
	case screenWelcome:
		cmd = m.welcome.Update(m.ctx, m.opts.Profile, msg)
	case screenUnlock:
		cmd = m.unlock.Update(m.ctx, m.opts.Profile, msg)
	case screenMain:
		cmd = m.chat.Update(msg)
	default:
		if k, ok := msg.(tea.KeyPressMsg); ok && (k.String() == "q" || k.String() == "esc" || matches(k, m.keys.Quit)) {
			return m, tea.Quit
		}
	}
	return m, cmd
}

// configNotice shows a config file's mistake on the main screen.
func (m *Model) configNotice() tea.Cmd {
	if m.opts.ConfigError == nil {
		return nil
	}
	return m.chat.bar.setFlash(m.opts.ConfigError.Error()+" · using the defaults", true)
}

// restyle redraws everything after the styles or the width method changed.
func (m *Model) restyle() {
	m.welcome.restyle()
	m.unlock.restyle()
	if m.chat != nil {
		m.chat.restyle()
	}
}

// View draws the current screen in the alternate screen with mouse wheel
// reporting and focus events on.
func (m *Model) View() tea.View {
	var v tea.View
	v.AltScreen = true
	v.ReportFocus = true
	v.WindowTitle = "chive"
	if m.width <= 0 || m.height <= 0 {
		return v
	}
	switch m.screen {
	case screenWelcome:
		v.SetContent(m.welcome.View())
	case screenUnlock:
		v.SetContent(m.unlock.View())
	case screenMain:
		if m.chat.wantsMouse() {
			v.MouseMode = tea.MouseModeCellMotion
		}
		v.SetContent(m.chat.View())
		if t := m.chat.title(); t != "" {
			v.WindowTitle = t
		}
	default:
		s := "chive"
		if m.err != nil {
			s = m.styles.Error.Render("chive: "+m.err.Error()) + "\n\n" + m.styles.Hint.Render("press q to quit")
		}
		v.SetContent(m.e.place(m.width, m.height, s))
	}
	return v
}

// Run opens the UI on the terminal and returns when the user quits. It does
// not close the node: the caller owns it (a daemon keeps running).
func Run(ctx context.Context, opts Options, progOpts ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := New(ctx, opts)
	// Bubble Tea's renderer wakes at its frame rate even when nothing
	// changes; a chat needs no more than 30 frames a second.
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(30)}, progOpts...)...)
	_, err := p.Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) {
		return fmt.Errorf("tui: %w", err)
	}
	return nil
}

// API returns the node the UI ended up using (nil if never unlocked), so the
// caller can close an in-process node.
func (m *Model) API() node.API { return m.api }
