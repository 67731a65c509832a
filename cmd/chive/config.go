package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/chive-im/chive/tui"
)

// newConfig is "chive config path|show": where the terminal UI's config
// file is, and every setting in effect (the file over the defaults).
func newConfig(e *env) *command {
	return &command{
		name:       "config",
		shortUsage: "chive config path|show",
		shortHelp:  "the terminal UI's config file: where it is, what is in effect",
		longHelp: `The config file sets the terminal UI's theme, key bindings, notifications and
layout (docs/config.md). It lives at $CHIVE_CONFIG, else
$XDG_CONFIG_HOME/chive/config.toml, else ~/.config/chive/config.toml. Nothing
in it is secret; the profile keeps what is.

"path" prints where it is (whether or not it exists yet). "show" prints every
setting in effect, as a config file: the file's values over the defaults,
with every key binding by its action's name. Save it as the config file to
start from there.
`,
		children: []*command{
			{
				name:       "path",
				shortUsage: "chive config path",
				shortHelp:  "print where the config file is",
				exec: func(ctx context.Context, args []string) error {
					if len(args) > 0 {
						return usagef("config path takes no arguments")
					}
					path, err := tui.ConfigPath(e.getenv)
					if err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, path)
					return nil
				},
			},
			{
				name:       "show",
				shortUsage: "chive config show",
				shortHelp:  "print every setting in effect, as a config file",
				exec: func(ctx context.Context, args []string) error {
					if len(args) > 0 {
						return usagef("config show takes no arguments")
					}
					path, err := tui.ConfigPath(e.getenv)
					if err != nil {
						return err
					}
					cfg, err := tui.LoadConfig(path)
					if err != nil {
						return err
					}
					from := "# " + path + " over the defaults\n"
					if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
						from = "# the defaults: there is no " + path + " yet\n"
					}
					fmt.Fprint(e.stdout, from+"\n"+cfg.TOML())
					return nil
				},
			},
		},
	}
}
