package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// unreadWorld is Bob's conversation: n messages read, then u not read yet.
func unreadWorld(t testing.TB, n, u int) *nodetest.Fake {
	f := nodetest.New("alice", aliceAddr)
	f.Now = fixedNow
	f.SimTor(node.TorStatus{State: node.TorReady, Percent: 100})
	f.SimContact(node.Contact{Address: bobAddr, Name: "Bob", State: node.StateAccepted, Presence: node.Online, Created: testNow.Add(-100 * time.Hour)})
	start := testNow.Add(-time.Duration(n+u) * time.Minute)
	for i := range n + u {
		st := node.Read
		if i >= n {
			st = node.Received
		}
		f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: fmt.Sprintf("line %d", i), Time: start.Add(time.Duration(i) * time.Minute), State: st})
	}
	return f
}

// TestUnreadDivider: a conversation opens at the first unread message,
// under a "new messages" divider, and is marked read only once its newest
// message is on screen.
func TestUnreadDivider(t *testing.T) {
	f := unreadWorld(t, 30, 25)
	m := testModel(t, f, 80, 24)
	v := plain(m)
	if !strings.Contains(v, "── new messages ──") || !strings.Contains(v, "line 30") {
		t.Fatalf("not opened at the first unread:\n%s", v)
	}
	if l, _ := lineOf(v, "new messages"); l > 3 {
		t.Errorf("divider on line %d, want the top of the conversation:\n%s", l, v)
	}
	if calls(f, "MarkRead") != 0 {
		t.Error("marked read before the newest message was on screen")
	}
	drive(t, m, press("end"))
	if calls(f, "MarkRead") != 1 {
		t.Errorf("MarkRead calls = %d at the newest message", calls(f, "MarkRead"))
	}
	// alt+u goes back to the divider.
	drive(t, m, tea.KeyPressMsg{Code: 'u', Mod: tea.ModAlt})
	if l, _ := lineOf(plain(m), "new messages"); l < 0 || l > 3 {
		t.Errorf("alt+u: divider on line %d:\n%s", l, plain(m))
	}

	// A few unread fit on screen: open at the bottom, marked read at once.
	f = unreadWorld(t, 30, 3)
	m = testModel(t, f, 80, 24)
	if v := plain(m); !strings.Contains(v, "new messages") || !strings.Contains(v, "line 32") || calls(f, "MarkRead") != 1 {
		t.Errorf("3 unread: MarkRead %d\n%s", calls(f, "MarkRead"), v)
	}
	// Answering clears the divider.
	typeText(t, m, "ok")
	drive(t, m, press("enter"))
	if strings.Contains(plain(m), "new messages") {
		t.Errorf("divider after answering:\n%s", plain(m))
	}
}

// TestMessagesWhileAwayGetDivider: messages that come while the window is
// not focused are under a divider when the user comes back.
func TestMessagesWhileAwayGetDivider(t *testing.T) {
	f := unreadWorld(t, 5, 0)
	m := testModel(t, f, 80, 24)
	drive(t, m, tea.BlurMsg{})
	f.SimReceive("Bob", "while you were away")
	drain(t, m, nil)
	drive(t, m, tea.FocusMsg{})
	v := plain(m)
	a, _ := lineOf(v, "new messages")
	b, _ := lineOf(v, "while you were away  14:30")
	if a < 0 || b < a {
		t.Errorf("divider at %d, message at %d:\n%s", a, b, v)
	}
}

// TestMaxLineWidth: on a very wide window message text wraps at the
// configured width; 0 lets it run the whole pane.
func TestMaxLineWidth(t *testing.T) {
	long := strings.Repeat("word ", 80)
	f := unreadWorld(t, 0, 0)
	f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: long, Time: testNow, State: node.Read})
	for _, tc := range []struct{ max, want int }{{100, 100}, {0, 213}} { // 0: the pane, 250-35 cells, less the indent
		cfg := DefaultConfig()
		cfg.Layout.MaxWidth = tc.max
		m := configModel(t, f, cfg, 250, 40)
		widest := 0
		for _, l := range strings.Split(plain(m), "\n") {
			if i := strings.Index(l, "word"); i >= 0 {
				widest = max(widest, ansi.StringWidth(strings.TrimRight(l[i:], " ")))
			}
		}
		if widest > tc.want || widest < tc.want-6 {
			t.Errorf("max_width %d: text runs %d cells, want about %d", tc.max, widest, tc.want)
		}
	}
}

// TestTimestamps: "message" puts the time beside every message, "group"
// only above each run of them.
func TestTimestamps(t *testing.T) {
	f := world(t)
	for _, tc := range []struct {
		mode string
		n    int
	}{{"message", 7}, {"group", 5}} {
		cfg := DefaultConfig()
		cfg.Layout.Timestamps = tc.mode
		m := configModel(t, f, cfg, 80, 40)
		drive(t, m, press("down"))
		got := 0
		for _, l := range strings.Split(plain(m), "\n") {
			if strings.Contains(l, "│") && timeRE.MatchString(l[strings.Index(l, "│"):]) {
				got++
			}
		}
		if got != tc.n {
			t.Errorf("%s: %d lines with a time, want %d:\n%s", tc.mode, got, tc.n, plain(m))
		}
	}
}

// timeRE matches the times of world's messages (11:xx yesterday, 14:xx today).
var timeRE = regexp.MustCompile(`\b1[14]:\d\d\b`)

// configModel is testModel with a config.
func configModel(t testing.TB, api node.API, cfg Config, w, h int) *Model {
	dark := true
	m := New(context.Background(), Options{API: api, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true, Config: &cfg})
	m.e.noTimers = true
	drive(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	drain(t, m, m.Init())
	return m
}

// TestDesktopNotifications: a message or a request while the window is
// not focused notifies, saying as much as the content setting allows; with
// the window focused, nothing.
func TestDesktopNotifications(t *testing.T) {
	for _, tc := range []struct{ content, want, hidden string }{
		{"full", "chive: Carol: are you there?", ""},
		{"sender", "chive: New message from Carol", "are you there"},
		{"hidden", "chive: New message", "Carol"},
	} {
		t.Run(tc.content, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Notifications.Content, cfg.Notifications.Desktop = tc.content, "terminal"
			m := configModel(t, world(t), cfg, 80, 24)
			drive(t, m, press("down")) // Bob
			msg := node.MessageEvent{Message: node.Message{ID: "n1", Address: carolAddr, Contact: "Carol", Direction: node.Incoming, Text: "are you there?", Time: testNow, State: node.Received}}
			_, cmd := m.Update(eventMsg{ev: msg})
			if containsNotify(cmd) != "" {
				t.Fatal("notified with the window focused")
			}
			drive(t, m, tea.BlurMsg{})
			msg.Message.ID = "n2"
			_, cmd = m.Update(eventMsg{ev: msg})
			got := containsNotify(cmd)
			if got != ansi.Notify(tc.want) || (tc.hidden != "" && strings.Contains(got, tc.hidden)) {
				t.Errorf("notification %q, want %q", got, ansi.Notify(tc.want))
			}
		})
	}
	// The command, with a request.
	cfg := DefaultConfig()
	m := configModel(t, world(t), cfg, 80, 24)
	var ran []string
	m.e.notify = notifier{method: "command", command: "notify-send", content: "sender", run: func(ctx context.Context, name string, args ...string) error {
		ran = append([]string{name}, args...)
		return nil
	}}
	drive(t, m, tea.BlurMsg{})
	drive(t, m, eventMsg{ev: node.ContactRequestEvent{Contact: node.Contact{Address: erinAddr, Name: "Erin\x1b[2J", State: node.StatePendingIncoming, Created: testNow}}})
	if strings.Join(ran, "|") != "notify-send|--app-name=chive|chive|Contact request from Erin" {
		t.Errorf("ran %q", ran)
	}
}

// containsNotify finds the raw OSC notification cmd writes, "" if none.
func containsNotify(cmd tea.Cmd) string {
	if cmd == nil {
		return ""
	}
	msg := runCmd(cmd)
	switch m := msg.(type) {
	case tea.BatchMsg:
		for _, c := range m {
			if s := containsNotify(c); s != "" {
				return s
			}
		}
	case tea.RawMsg:
		if s, ok := m.Msg.(string); ok && strings.HasPrefix(s, "\x1b]9;") {
			return s
		}
	}
	return ""
}

// TestConfigFile: the file is read over the defaults, a typo is an error
// that names it, and SaveSetting changes one key keeping the rest.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chive", "config.toml")
	c, err := LoadConfig(path)
	if err != nil || c.Theme.Name != "auto" || !c.Notifications.Bell {
		t.Fatalf("missing file: %+v %v", c, err)
	}
	write := func(s string) {
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# mine\n[theme]\nname = \"high-contrast\"\ncolors = { accent = \"#ff8800\" }\n\n[keys]\npreset = \"vim\"\nbind = { quit = [\"ctrl+x\"] }\n")
	c, err = LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	km, _ := c.KeyMap()
	if c.Theme.Name != "high-contrast" || !matchesSeq("g g", km.ScrollTop) || km.Quit.Keys()[0] != "ctrl+x" {
		t.Errorf("loaded %+v, keys %v %v", c, km.ScrollTop.Keys(), km.Quit.Keys())
	}
	for _, bad := range []struct{ file, want string }{
		{"[theme]\nnmae = \"dark\"\n", "unknown setting theme.nmae"},
		{"[theme]\nname = \"pink\"\n", `theme.name = "pink"`},
		{"[theme]\ncolors = { accent = \"orange\" }\n", "theme.colors.accent"},
		{"[keys]\nbind = { qiut = [\"x\"] }\n", "keys.bind.qiut"},
		{"[layout]\nmax_width = 5\n", "layout.max_width"},
		{"[notifications]\ncontent = \"all\"\n", "notifications.content"},
	} {
		write(bad.file)
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want it to name %q", bad.file, err, bad.want)
		}
	}
	write("# my settings\n[notifications]\n# ring\nbell = true\n\n[layout]\nmax_width = 80\n")
	if err := SaveSetting(path, "notifications", "bell", false); err != nil {
		t.Fatal(err)
	}
	if err := SaveSetting(path, "notifications", "content", "hidden"); err != nil {
		t.Fatal(err)
	}
	if err := SaveSetting(path, "theme", "name", "light"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "# my settings\n[notifications]\n# ring\nbell = false\ncontent = \"hidden\"\n\n[layout]\nmax_width = 80\n\n[theme]\nname = \"light\"\n"
	if string(b) != want {
		t.Errorf("after SaveSetting:\n%s\nwant:\n%s", b, want)
	}
	if c, err := LoadConfig(path); err != nil || c.Notifications.Bell || c.Layout.MaxWidth != 80 || c.Theme.Name != "light" {
		t.Errorf("reloaded %+v %v", c, err)
	}
	// show: every action by name, and it reads back as the same config.
	shown := DefaultConfig().TOML()
	for _, k := range []string{"quit = [\"ctrl+q\"]", "jump_unread", "[notifications]", "max_width = 100"} {
		if !strings.Contains(shown, k) {
			t.Errorf("show lacks %q:\n%s", k, shown)
		}
	}
	write(shown)
	if _, err := LoadConfig(path); err != nil {
		t.Errorf("show's output does not load: %v", err)
	}
}

// TestVimKeys: with the vim preset, gg and G scroll the conversation from
// the contact list; in the composer g is a letter.
func TestVimKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Keys.Preset = "vim"
	m := configModel(t, bigWorld(t, 300), cfg, 80, 24)
	drive(t, m, press("tab")) // to the list
	if m.chat.focus != focusList {
		t.Fatal("not in the list")
	}
	drive(t, m, press("g"))
	drive(t, m, press("g"))
	if m.chat.conv.scroll == 0 {
		t.Fatal("gg did not scroll up")
	}
	drive(t, m, press("G"))
	if m.chat.conv.scroll != 0 {
		t.Fatalf("G left scroll at %d", m.chat.conv.scroll)
	}
	drive(t, m, press("tab"))
	typeText(t, m, "gg")
	if m.chat.composer.Value() != "gg" {
		t.Errorf("composer %q", m.chat.composer.Value())
	}
}
