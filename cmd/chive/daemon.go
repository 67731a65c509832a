package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
)

func newDaemon(e *env) *command {
	var (
		c             common
		u             unlock
		format, level string
	)
	fs := newFlagSet("daemon")
	c.register(fs, e)
	u.register(fs, e)
	fs.StringVar(&format, "log-format", "text", "log format: text or json")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	return &command{
		name:       "daemon",
		shortUsage: "chive daemon [--passphrase-file FILE] [--log-format text|json] [--log-level LEVEL]",
		shortHelp:  "run the node headless, serving the CLI and UI on a control socket",
		longHelp: `Runs the node without a UI: starts Tor, publishes your onion service,
delivers and receives messages, and serves the JSON-RPC API (docs/api.md) on
<profile>/chive.sock, which "chive send", "chive inbox", the UI and scripts
use. Logs go to stderr; they never hold message text or keys.
Stops cleanly on SIGINT, SIGTERM or SIGHUP. Run it in tmux, or under systemd
(contrib/chive.service).
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			log, err := newLogger(e, format, level)
			if err != nil {
				return err
			}
			return daemon(ctx, e, &c, &u, log)
		},
	}
}

func newLogger(e *env, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

func daemon(ctx context.Context, e *env, c *common, u *unlock, log *slog.Logger) error {
	// "chive daemon 2>&1 | tee log" and Ctrl-C: tee dies first, and Go
	// would kill us with SIGPIPE on the next log line, before the socket
	// is removed and tor stopped. Losing log lines is better.
	signal.Ignore(syscall.SIGPIPE)
	// Closing the terminal (or the tmux pane) it runs in is a request to
	// stop, like SIGINT and SIGTERM: shut down cleanly rather than die.
	ctx, stopHup := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stopHup()
	dir, err := resolveProfile(c.profile, e.getenv)
	if err != nil {
		return err
	}
	n, err := unlockProfile(ctx, e, dir, c, u, log)
	if err != nil {
		if _, ok := errors.AsType[*inUseError](err); ok {
			return fmt.Errorf("%w; stop it first (chive status talks to it)", err)
		}
		return err
	}
	return serve(ctx, n, dir, c.testnet, log)
}

// serve serves n's API on the profile's socket until ctx ends, then shuts
// down: the socket first, then the node.
func serve(ctx context.Context, n localNode, dir, testnet string, log *slog.Logger) error {
	// From here on the profile lock is ours, so a socket left in the
	// profile is stale; rpc.Listen removes it.
	path := rpc.SocketPath(dir)
	srv, err := serveSocket(n, dir, log)
	if err != nil {
		n.Close()
		return err
	}

	subCtx, stopEvents := context.WithCancel(context.Background())
	events, err := n.Subscribe(subCtx)
	if err != nil {
		stopEvents()
		srv.close()
		n.Close()
		return fmt.Errorf("subscribe to node events: %w", err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		logEvents(log, n, events)
	}()

	shutdown := func() error {
		defer exitOnSignal(log)()
		srv.close()
		err := n.Close()
		stopEvents()
		<-logged
		return err
	}

	if err := n.Start(ctx); err != nil {
		shutdown()
		return fmt.Errorf("start: %w", err)
	}
	attrs := []any{"pid", os.Getpid(), "profile", dir, "socket", path}
	if st, err := n.Status(ctx); err == nil {
		attrs = append(attrs, "address", st.Address)
	}
	if testnet != "" {
		attrs = append(attrs, "tor_testnet", testnet)
	}
	log.Info("daemon running", attrs...)

	<-ctx.Done()
	log.Info("shutting down")
	if err := shutdown(); err != nil {
		log.Error("shutdown", "err", err)
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// exitOnSignal makes a second signal during shutdown mean "now": it exits
// at once. The returned function stops listening.
func exitOnSignal(log *slog.Logger) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		if _, ok := <-sigs; ok {
			log.Warn("second signal: exiting without a clean shutdown")
			os.Exit(exitError)
		}
	}()
	return func() { signal.Stop(sigs) }
}

// logEvents logs what the node does, without message text, greetings,
// keys or addresses: ids and states only. Contacts are named by their local
// id ("#3", which "chive contacts" shows), never by address or its prefix.
func logEvents(log *slog.Logger, api node.API, events <-chan node.Event) {
	var lastTor node.TorStatus
	reachable := false
	ids := map[string]int64{}
	short := func(a string) string {
		id, ok := ids[a]
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if c, err := api.Contact(ctx, a); err == nil {
				id = c.ID
			}
			cancel()
			ids[a] = id
		}
		if id == 0 {
			return "stranger"
		}
		return "#" + strconv.FormatInt(id, 10)
	}
	for ev := range events {
		switch ev := ev.(type) {
		case node.ContactRequestEvent:
			ids[ev.Contact.Address] = ev.Contact.ID
		case node.ContactEvent:
			ids[ev.Contact.Address] = ev.Contact.ID
		}
		switch ev := ev.(type) {
		case node.TorProgressEvent:
			t := ev.Tor
			if t.State == lastTor.State && t.Percent == lastTor.Percent {
				continue
			}
			lastTor = t
			if t.State == node.TorFailed {
				log.Error("tor failed", "error", t.Error)
				continue
			}
			if t.State == node.TorOffline {
				log.Warn("tor offline", "error", t.Error)
				continue
			}
			log.Info("tor", "state", t.State, "percent", t.Percent, "summary", t.Summary)
		case node.ReachableEvent:
			if ev.Reachable == reachable {
				continue
			}
			reachable = ev.Reachable
			if reachable {
				log.Info("onion service published: reachable")
			} else {
				log.Warn("onion service no longer reachable")
			}
		case node.PresenceEvent:
			log.Debug("presence", "contact", short(ev.Address), "presence", ev.Presence)
		case node.ContactRequestEvent:
			log.Info("contact request", "from", short(ev.Contact.Address))
		case node.ContactEvent:
			log.Info("contact", "contact", short(ev.Contact.Address), "state", ev.Contact.State, "removed", ev.Removed)
		case node.MessageEvent:
			log.Info("message", "id", ev.Message.ID, "contact", short(ev.Message.Address), "direction", ev.Message.Direction)
		case node.MessageStateEvent:
			if ev.Error != "" {
				log.Warn("message state", "id", ev.ID, "contact", short(ev.Address), "state", ev.State, "error", ev.Error)
			} else {
				log.Info("message state", "id", ev.ID, "contact", short(ev.Address), "state", ev.State)
			}
		case node.ErrorEvent:
			log.Warn("node", "error", ev.Message)
		case node.SessionEvent:
			log.Info("new session", "contact", short(ev.Contact.Address), "by_peer", ev.ByPeer, "safety_number_changed", ev.SafetyNumberChanged)
		}
	}
}

// socketServer serves a node's API on the profile's control socket: the
// daemon's, and the UI's while it runs its own node.
type socketServer struct {
	srv    *rpc.Server
	served chan error
}

// serveSocket serves api on <dir>/chive.sock until close. The caller holds
// the profile lock, so a socket found there is stale (rpc.Listen removes it).
func serveSocket(api node.API, dir string, log *slog.Logger) (*socketServer, error) {
	ln, err := rpc.Listen(rpc.SocketPath(dir))
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &socketServer{srv: rpc.NewServer(api, log), served: make(chan error, 1)}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// close stops serving, disconnects the clients and removes the socket.
func (s *socketServer) close() {
	s.srv.Close()
	<-s.served
}
