package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"unicode"

	"golang.org/x/term"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
)

// Errors the commands map to exit codes (see exitCode).
var (
	errUsage   = errors.New("usage")
	errNoSetup = errors.New("no profile")
	errInUse   = errors.New("profile in use")
)

func usageError(format string, args ...any) error {
	return fmt.Errorf(format+"%w", append(args, wrapQuiet{errUsage})...)
}

// wrapQuiet wraps an error for errors.Is without adding text.
type wrapQuiet struct{ err error }

func (w wrapQuiet) Error() string { return "" }
func (w wrapQuiet) Unwrap() error { return w.err }

func noProfileError(dir string) error {
	return fmt.Errorf("no chive profile in %s and no daemon running for it.\n"+
		"Create one with:  chive init --name NAME --passphrase-file FILE   (or --no-passphrase)\n"+
		"or point to another with --profile DIR or CHIVE_HOME%w", dir, wrapQuiet{errNoSetup})
}

// exitCode maps an error to the exit codes documented in "chive help".
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, node.ErrUnknownContact):
		return exitUnknownPeer
	case errors.Is(err, errNoSetup):
		return exitNoDaemon
	}
	return exitError
}

// fail prints err for command name and returns its exit code. Usage errors
// also point to the command's help.
func fail(e *env, name string, err error) int {
	if errors.Is(err, context.Canceled) {
		err = errors.New("interrupted")
	}
	if errors.Is(err, errFlags) {
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "chive %s: %v\n", name, err)
	if errors.Is(err, errUsage) {
		fmt.Fprintf(e.stderr, "Run 'chive %s -h' for usage.\n", name)
	}
	return exitCode(err)
}

// parseArgs parses flags anywhere among args. -h prints usage (exit 0).
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, help bool, err error) {
	pos, err = parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, true, nil
	}
	if err != nil {
		// The flag package has printed the problem and the usage.
		return nil, false, errFlags
	}
	return pos, false, nil
}

// errFlags is a usage error the flag package has already explained.
var errFlags = fmt.Errorf("bad flags%w", wrapQuiet{errUsage})

// unlock holds the flags that unlock a profile.
type unlock struct {
	passFile string
}

func addUnlock(fs *flag.FlagSet, e *env) *unlock {
	u := &unlock{}
	fs.StringVar(&u.passFile, "passphrase-file", e.getenv("CHIVE_PASSPHRASE_FILE"),
		"read the profile passphrase from `file` (mode 0600; default $CHIVE_PASSPHRASE_FILE); else prompt on a terminal")
	return u
}

// readPassphraseFile reads a passphrase file, refusing one other users can
// read. One trailing newline is not part of the passphrase.
func readPassphraseFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("passphrase file %s is readable by other users (mode %04o); fix it with: chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("passphrase file %s is empty", path)
	}
	return b, nil
}

// terminal returns the file descriptor of r if it is a terminal.
func terminal(r any) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// promptPassphrase asks on the terminal without echo.
func promptPassphrase(e *env, prompt string) ([]byte, error) {
	fd, ok := terminal(e.stdin)
	if !ok {
		return nil, errors.New("no terminal to ask for the passphrase")
	}
	fmt.Fprint(e.stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return b, nil
}

// passphrase returns what unlocks the profile in dir: nothing for a profile
// without one, else the passphrase file's content or an answer on the terminal.
func (u *unlock) passphrase(e *env, dir string) ([]byte, error) {
	need, err := needsPassphrase(dir)
	if err != nil {
		return nil, explainOpenError(dir, err)
	}
	if !need {
		return nil, nil
	}
	if u.passFile != "" {
		return readPassphraseFile(u.passFile)
	}
	if _, ok := terminal(e.stdin); ok {
		return promptPassphrase(e, fmt.Sprintf("Passphrase for %s: ", dir))
	}
	return nil, fmt.Errorf("the profile in %s is locked with a passphrase: give --passphrase-file FILE "+
		"(or set CHIVE_PASSPHRASE_FILE), run on a terminal to be asked, or start 'chive daemon' first", dir)
}

// session is what a command talks to: the running daemon, or the profile
// opened in-process when no daemon runs.
type session struct {
	api    node.API
	dir    string
	client *rpc.Client // set when attached to a daemon
	local  localNode   // set when the profile was opened here
}

func (s *session) daemon() bool { return s.client != nil }

// start starts the in-process node's networking (Tor, delivery); with a
// daemon it does nothing, the daemon is already running.
func (s *session) start(ctx context.Context) error {
	if s.local == nil {
		return nil
	}
	return s.local.Start(ctx)
}

func (s *session) Close() error {
	if s.client != nil {
		return s.client.Close()
	}
	return s.local.Close()
}

// attach connects to the daemon serving the profile, or opens the profile
// itself when none runs.
func attach(ctx context.Context, e *env, c *common, u *unlock) (*session, error) {
	dir, err := resolveProfile(c.profile, e.getenv)
	if err != nil {
		return nil, err
	}
	client, err := rpc.Dial(ctx, rpc.SocketPath(dir))
	if err == nil {
		return &session{api: client, dir: dir, client: client}, nil
	}
	if !errors.Is(err, rpc.ErrNoDaemon) {
		return nil, fmt.Errorf("connect to the daemon: %w", err)
	}
	if !profileExists(dir) {
		return nil, noProfileError(dir)
	}
	pass, err := u.passphrase(e, dir)
	if err != nil {
		return nil, err
	}
	n, err := openNode(ctx, openOptions{dir: dir, passphrase: pass, testnet: c.testnet, logger: stderrLogger(e, slog.LevelWarn)})
	clear(pass)
	if err != nil {
		err = explainOpenError(dir, err)
		if errors.Is(err, errInUse) {
			err = fmt.Errorf("%w\n(if a daemon is starting, wait until its socket %s appears and try again)", err, rpc.SocketPath(dir))
		}
		return nil, err
	}
	return &session{api: n, dir: dir, local: n}, nil
}

func stderrLogger(e *env, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// clean makes text from a peer safe to print on a terminal: control
// characters (escape sequences could rewrite the screen) and bidi overrides
// are dropped, a newline becomes "↵" so one message stays one line.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return '↵'
		case r == '\t':
			return ' '
		case unicode.IsControl(r), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return -1
		}
		return r
	}, s)
}

// readText reads a message from r, at most max bytes, without one trailing newline.
func readText(r io.Reader, max int) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return "", fmt.Errorf("read message from stdin: %w", err)
	}
	if len(b) > max {
		return "", fmt.Errorf("message on stdin longer than %d bytes: %w", max, node.ErrTooLong)
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}
