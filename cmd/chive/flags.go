package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
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

// durationFlag is a flag.Value for a positive duration that says what is
// wrong in words a script author understands ("-1" used to be "parse
// error").
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	f.d, f.set = d, true
	return nil
}

// parseDuration parses a positive duration with a unit.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("%q has no unit: write it like 90s, 5m or 2h", s)
		}
		return 0, fmt.Errorf("%q is not a duration: write it like 90s, 5m or 2h", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return d, nil
}

// stringsFlag collects a repeatable flag ("--to alice --to bob").
type stringsFlag []string

func (f *stringsFlag) String() string { return strings.Join(*f, ",") }

func (f *stringsFlag) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty")
	}
	*f = append(*f, s)
	return nil
}

// timeFlag is a point in time: RFC 3339 ("2026-12-01T09:00:00+01:00"), or
// a local date and time ("2026-12-01T09:00", "2026-12-01 09:00[:05]").
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		f.t = t
		return nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			f.t = t
			return nil
		}
	}
	return fmt.Errorf("%q is not a time: write it like 2026-12-01T09:00 (local time) or 2026-12-01T09:00:00Z", s)
}
