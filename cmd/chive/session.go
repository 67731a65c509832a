package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
)

// readPassphraseFile reads a passphrase file, refusing one other users can
// read. One trailing newline is not part of the passphrase.
func readPassphraseFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	// A pipe is fine (--passphrase-file <(pass show chive)); a device or a
	// directory holds no passphrase, and "chmod 600 /dev/null" is no advice.
	switch m := fi.Mode(); {
	case m.IsDir():
		return nil, fmt.Errorf("passphrase file %s is a directory; give the file that holds your passphrase", path)
	case m&(os.ModeDevice|os.ModeCharDevice|os.ModeSocket|os.ModeIrregular) != 0:
		return nil, fmt.Errorf("passphrase file %s is not a file but a device or socket; "+
			"write your passphrase in a file only you can read (chmod 600 FILE) and give that", path)
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
	n, err := unlockProfile(ctx, e, dir, c, u, stderrLogger(e, slog.LevelWarn))
	if err != nil {
		if _, ok := errors.AsType[*inUseError](err); ok {
			err = fmt.Errorf("%w\n(if a daemon is starting, wait until its socket %s appears and try again)", err, rpc.SocketPath(dir))
		}
		return nil, err
	}
	return &session{api: n, dir: dir, local: n}, nil
}

// unlockProfile opens the profile in dir in this process, asking for its
// passphrase as u says. Errors are in the user's words (explainOpenError).
func unlockProfile(ctx context.Context, e *env, dir string, c *common, u *unlock, log *slog.Logger) (localNode, error) {
	if !profileExists(dir) {
		return nil, &noProfileError{dir}
	}
	pass, err := u.passphrase(e, dir)
	if err != nil {
		return nil, err
	}
	n, err := openNode(ctx, openOptions{dir: dir, passphrase: pass, testnet: c.testnet, logger: log})
	clear(pass)
	if err != nil {
		return nil, explainOpenError(dir, err)
	}
	return n, nil
}

func stderrLogger(e *env, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// oneLine makes text a peer controls safe to print on a terminal, on one
// line: one message per line, a newline shown as "↵".
func oneLine(s string) string { return safetext.LineWith(s, "↵") }

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
