package tui

import (
	"context"
	"os/exec"
	"runtime"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/internal/safetext"
)

// terminal is what the UI knows of the terminal it runs in, from the
// environment at start.
type terminal struct {
	tmux    bool   // inside tmux ($TMUX): escape sequences go to tmux, not the terminal
	program string // $TERM_PROGRAM, or what $TERM names
}

func detectTerminal(getenv func(string) string) terminal {
	t := terminal{tmux: getenv("TMUX") != "", program: getenv("TERM_PROGRAM")}
	if t.program == "" || t.program == "tmux" {
		term := getenv("TERM")
		for _, name := range []string{"kitty", "ghostty", "wezterm", "foot", "alacritty"} {
			if strings.Contains(term, name) {
				t.program = name
			}
		}
	}
	return t
}

// notifier sends desktop notifications: how, and how much to say.
type notifier struct {
	method  string // "osc9", "osc777", "command" or "" (none)
	content string // "full", "sender" or "hidden"
	command string // notify-send or osascript, when method is "command"
	// run starts a notification command; tests replace it.
	run func(ctx context.Context, name string, args ...string) error
}

// newNotifier picks the method for cfg.Desktop ("auto": the terminal's own
// notifications where it has them, else a desktop command).
func newNotifier(cfg NotificationsConfig, t terminal) notifier {
	n := notifier{content: cfg.Content, run: runQuiet, command: notifyCommand()}
	switch cfg.Desktop {
	case "terminal":
		n.method = "osc9"
	case "osc777":
		n.method = "osc777"
	case "command":
		n.method = "command"
	case "auto":
		switch {
		case t.tmux:
			// tmux passes OSC 9 on only with allow-passthrough; a command
			// reaches the desktop either way.
			n.method = "command"
		case t.program == "iTerm.app" || t.program == "WezTerm" || t.program == "wezterm" || t.program == "kitty" || t.program == "ghostty":
			n.method = "osc9"
		case t.program == "foot":
			n.method = "osc777"
		default:
			n.method = "command"
		}
	}
	if n.method == "command" && n.command == "" {
		n.method = ""
	}
	return n
}

// notifyCommand is the desktop's notification command, "" if none.
func notifyCommand() string {
	name := "notify-send"
	if runtime.GOOS == "darwin" {
		name = "osascript"
	}
	if _, err := exec.LookPath(name); err != nil {
		return ""
	}
	return name
}

func runQuiet(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).Run()
}

// message is a notification for a message from sender, saying as much as
// the content setting allows.
func (n notifier) message(ctx context.Context, sender, text string) tea.Cmd {
	switch n.content {
	case "full":
		return n.send(ctx, "chive: "+sender, text)
	case "sender":
		return n.send(ctx, "chive", "New message from "+sender)
	}
	return n.send(ctx, "chive", "New message")
}

// request is a notification for a contact request.
func (n notifier) request(ctx context.Context, sender string) tea.Cmd {
	if n.content == "hidden" {
		return n.send(ctx, "chive", "New contact request")
	}
	return n.send(ctx, "chive", "Contact request from "+sender)
}

func (n notifier) send(ctx context.Context, title, body string) tea.Cmd {
	// Peer text reaches an escape sequence or a command line: one line,
	// no control characters, bounded.
	clean := func(s string, max int) string {
		s = safetext.Line(s)
		if r := []rune(s); len(r) > max {
			s = string(r[:max-1]) + "…"
		}
		return s
	}
	title, body = clean(title, 80), clean(body, 200)
	switch n.method {
	case "osc9":
		return tea.Raw(ansi.Notify(title + ": " + body))
	case "osc777":
		semi := strings.NewReplacer(";", ",")
		return tea.Raw("\x1b]777;notify;" + semi.Replace(title) + ";" + semi.Replace(body) + "\x07")
	case "command":
		run, name := n.run, n.command
		args := []string{"--app-name=chive", title, body}
		if name == "osascript" {
			args = []string{"-e", "display notification " + appleString(body) + " with title " + appleString(title)}
		}
		return func() tea.Msg {
			_ = run(ctx, name, args...) // best effort: the bell and title still tell
			return nil
		}
	}
	return nil
}

// appleString quotes s for AppleScript.
func appleString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
