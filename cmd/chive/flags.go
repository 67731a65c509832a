package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns a FlagSet for a subcommand whose -h prints usage to w.
func newFlags(name, usage string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, usage)
		if !strings.HasSuffix(usage, "\n") {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

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

func addCommon(fs *flag.FlagSet, e *env) *common {
	c := &common{}
	fs.StringVar(&c.profile, "profile", e.getenv("CHIVE_HOME"), "profile `dir`ectory (default $CHIVE_HOME, else $XDG_DATA_HOME/chive)")
	fs.StringVar(&c.testnet, "tor-testnet", e.getenv("CHIVE_TOR_TESTNET"), "use the private Tor network in `dir` (from \"chive testnet up\"; default $CHIVE_TOR_TESTNET)")
	return c
}
