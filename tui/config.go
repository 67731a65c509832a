package tui

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the UI's settings file (docs/config.md). What the node keeps in
// the profile (read receipts, typing, names) is not here: this file is
// about this terminal. A missing file, section or key means the default.
type Config struct {
	Theme         ThemeConfig         `toml:"theme"`
	Keys          KeysConfig          `toml:"keys"`
	Notifications NotificationsConfig `toml:"notifications"`
	Layout        LayoutConfig        `toml:"layout"`
}

// ThemeConfig picks the colours.
type ThemeConfig struct {
	// Name is "auto" (dark or light, following the terminal's background),
	// "dark", "light" or "high-contrast".
	Name string `toml:"name"`
	// Colors overrides single colours of the theme, "#rrggbb" or an ANSI
	// number "0"–"255", by name: text, muted, accent, them, ok, warn,
	// error, bar, selection, divider.
	Colors map[string]string `toml:"colors"`
}

// KeysConfig picks the key bindings.
type KeysConfig struct {
	// Preset is "default" (Ctrl keys and Emacs-style editing) or "vim"
	// (adds j/k, gg/G, Ctrl+B/Ctrl+F in the contact list and conversation).
	Preset string `toml:"preset"`
	// Bind replaces the keys of single actions, by name (see
	// "chive config show"): quit = ["ctrl+q"], help = ["f1", "?"].
	// Two keys separated by a space are a sequence: "g g".
	Bind map[string][]string `toml:"bind"`
}

// NotificationsConfig says how new messages and requests get attention.
type NotificationsConfig struct {
	// Desktop notifications when the terminal window is not focused:
	// "auto" (the terminal's own notifications where it has them, else
	// notify-send or osascript), "terminal" (OSC 9), "osc777", "command"
	// (notify-send / osascript) or "off".
	Desktop string `toml:"desktop"`
	// Content is what a notification shows: "full" (sender and text),
	// "sender" (who wrote, not what) or "hidden" (that something came).
	Content string `toml:"content"`
	// Bell rings the terminal bell for a message out of view.
	Bell bool `toml:"bell"`
	// Title shows the unread count in the window title.
	Title bool `toml:"title"`
}

// LayoutConfig shapes the main screen.
type LayoutConfig struct {
	// SidebarWidth is the contact list's width in cells; 0 is a quarter of
	// the window, between 22 and 34.
	SidebarWidth int `toml:"sidebar_width"`
	// MaxWidth is the widest a message's text runs, in cells, so lines stay
	// readable on a very wide window; 0 is no limit.
	MaxWidth int `toml:"max_width"`
	// Timestamps is "message" (the time beside every message) or "group"
	// (once above each run of messages).
	Timestamps string `toml:"timestamps"`
}

// DefaultConfig is what chive uses without a config file.
func DefaultConfig() Config {
	return Config{
		Theme:         ThemeConfig{Name: "auto"},
		Keys:          KeysConfig{Preset: "default"},
		Notifications: NotificationsConfig{Desktop: "auto", Content: "sender", Bell: true, Title: true},
		Layout:        LayoutConfig{MaxWidth: 100, Timestamps: "message"},
	}
}

// ConfigPath is where the config file lives: $CHIVE_CONFIG if set, else
// $XDG_CONFIG_HOME/chive/config.toml, else ~/.config/chive/config.toml
// (%AppData%\chive\config.toml on Windows).
func ConfigPath(getenv func(string) string) (string, error) {
	if p := getenv("CHIVE_CONFIG"); p != "" {
		return p, nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "chive", "config.toml"), nil
	}
	if runtime.GOOS == "windows" {
		if d := getenv("AppData"); d != "" {
			return filepath.Join(d, "chive", "config.toml"), nil
		}
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("config: no home directory to keep it in: %w", err)
		}
	}
	return filepath.Join(home, ".config", "chive", "config.toml"), nil
}

// LoadConfig reads the config file at path over the defaults. A missing
// file is the defaults; a file with an unknown key or a bad value is an
// error naming it, so a typo does not go unnoticed.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&c)
	if err != nil {
		return DefaultConfig(), fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return DefaultConfig(), fmt.Errorf("config %s: unknown setting %s (see docs/config.md)", path, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return DefaultConfig(), fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks every value, naming the first that is wrong.
func (c Config) Validate() error {
	oneOf := func(key, v string, allowed ...string) error {
		if slices.Contains(allowed, v) {
			return nil
		}
		return fmt.Errorf("%s = %q: choose one of %s", key, v, strings.Join(allowed, ", "))
	}
	if err := oneOf("theme.name", c.Theme.Name, themeNames...); err != nil {
		return err
	}
	for _, name := range sortedKeys(c.Theme.Colors) {
		if !slices.Contains(colourNames, name) {
			return fmt.Errorf("theme.colors.%s: no such colour; there are %s", name, strings.Join(colourNames, ", "))
		}
		if _, err := parseColour(c.Theme.Colors[name]); err != nil {
			return fmt.Errorf("theme.colors.%s: %w", name, err)
		}
	}
	if err := oneOf("keys.preset", c.Keys.Preset, "default", "vim"); err != nil {
		return err
	}
	if _, err := c.KeyMap(); err != nil {
		return err
	}
	if err := oneOf("notifications.desktop", c.Notifications.Desktop, "auto", "terminal", "osc777", "command", "off"); err != nil {
		return err
	}
	if err := oneOf("notifications.content", c.Notifications.Content, "full", "sender", "hidden"); err != nil {
		return err
	}
	if w := c.Layout.SidebarWidth; w != 0 && (w < 16 || w > 80) {
		return fmt.Errorf("layout.sidebar_width = %d: between 16 and 80, or 0 for automatic", w)
	}
	if w := c.Layout.MaxWidth; w != 0 && w < 30 {
		return fmt.Errorf("layout.max_width = %d: at least 30, or 0 for no limit", w)
	}
	return oneOf("layout.timestamps", c.Layout.Timestamps, "message", "group")
}

// TOML is c as a config file, every setting spelled out (chive config show).
func (c Config) TOML() string {
	var b bytes.Buffer
	km, _ := c.KeyMap()
	// The effective bindings, so the file shows every action's name.
	if c.Keys.Bind == nil {
		c.Keys.Bind = map[string][]string{}
	}
	for _, a := range keyActions(&km) {
		c.Keys.Bind[a.name] = a.b.Keys()
	}
	if c.Theme.Colors == nil {
		c.Theme.Colors = map[string]string{}
	}
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		return "# " + err.Error() + "\n"
	}
	return b.String()
}

// KeyMap is the preset's bindings with the file's replacements.
func (c Config) KeyMap() (KeyMap, error) {
	km := DefaultKeyMap()
	if c.Keys.Preset == "vim" {
		km = VimKeyMap()
	}
	actions := keyActions(&km)
	for _, name := range sortedKeys(c.Keys.Bind) {
		i := slices.IndexFunc(actions, func(a keyAction) bool { return a.name == name })
		if i < 0 {
			return km, fmt.Errorf("keys.bind.%s: no such action (chive config show lists them)", name)
		}
		keys := c.Keys.Bind[name]
		if len(keys) == 0 {
			return km, fmt.Errorf("keys.bind.%s: give at least one key", name)
		}
		for _, k := range keys {
			if strings.TrimSpace(k) == "" {
				return km, fmt.Errorf("keys.bind.%s: an empty key", name)
			}
		}
		actions[i].b.SetKeys(keys...)
		h := actions[i].b.Help()
		actions[i].b.SetHelp(strings.Join(keys, "/"), h.Desc)
	}
	return km, nil
}

// SaveSetting sets one key of the file at path ("notifications", "bell",
// true), keeping everything else in it as written, comments included; the
// file and its directory are created if need be. The settings dialog uses
// it for the toggles that belong to this terminal.
func SaveSetting(path, section, key string, value any) error {
	var v string
	switch x := value.(type) {
	case bool:
		v = strconv.FormatBool(x)
	case int:
		v = strconv.Itoa(x)
	case string:
		v = strconv.Quote(x)
	default:
		return fmt.Errorf("config: save %s.%s: unsupported value %T", section, key, value)
	}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(b) == 0 {
		lines = nil
	}
	header := regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]`)
	keyRE := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(key) + `\s*=`)
	cur, sectionEnd, done := "", -1, false
	for i, l := range lines {
		if m := header.FindStringSubmatch(l); m != nil {
			cur = m[1]
			continue
		}
		if cur != section {
			continue
		}
		if strings.TrimSpace(l) != "" {
			sectionEnd = i + 1 // insert after the section's last line, before a blank
		}
		if keyRE.MatchString(l) {
			lines[i] = key + " = " + v
			done = true
			break
		}
	}
	switch {
	case done:
	case sectionEnd >= 0:
		lines = slices.Insert(lines, sectionEnd, key+" = "+v)
	default:
		if len(lines) > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, "["+section+"]", key+" = "+v)
	}
	out := strings.Join(lines, "\n") + "\n"
	// Check the result parses before replacing what the user wrote.
	var probe Config
	if _, err := toml.Decode(out, &probe); err != nil {
		return fmt.Errorf("config %s: cannot set %s.%s in it: %w", path, section, key, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o600); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
