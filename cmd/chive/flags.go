package main

import (
	"flag"
)

// parseInterspersed parses flags that may appear before or after positional
// arguments ("chive send bob hi --wait delivered"); the standard flag package
// stops at the first positional. "--" ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// fs.Parse stopped at a positional or after "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// common holds the flags every command takes.
type common struct {
	profile string // --profile, else CHIVE_HOME; empty means the XDG default
	testnet string // --tor-testnet, else CHIVE_TOR_TESTNET; empty means the real Tor network
}

// register adds the flags to fs. A command with children registers the same
// common in each child's flag set, so they may be given before or after the
// subcommand's name.
func (c *common) register(fs *flag.FlagSet, e *env) {
	fs.StringVar(&c.profile, "profile", e.getenv("CHIVE_HOME"), "profile `dir`ectory (default $CHIVE_HOME, else $XDG_DATA_HOME/chive)")
	fs.StringVar(&c.testnet, "tor-testnet", e.getenv("CHIVE_TOR_TESTNET"), "use the private Tor network in `dir` (from \"chive testnet up\"; default $CHIVE_TOR_TESTNET)")
}

// unlock holds the flags that unlock a profile.
type unlock struct {
	passFile string
}

func (u *unlock) register(fs *flag.FlagSet, e *env) {
	fs.StringVar(&u.passFile, "passphrase-file", e.getenv("CHIVE_PASSPHRASE_FILE"),
		"read the profile passphrase from `file` (mode 0600; default $CHIVE_PASSPHRASE_FILE); else prompt on a terminal")
}
