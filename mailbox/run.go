package mailbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chive-im/chive/onion"
)

// RunOptions configure Run.
type RunOptions struct {
	// Tor is how to run tor; DataDir defaults to the store's tor directory.
	Tor    onion.Config
	Server ServerOptions
	// OnReachable is called each time the onion service is published.
	OnReachable func(onion.Address)
	// OnPairing is called with the pairing link whenever the mailbox
	// waits to be paired (at start if unpaired, and after an unlink).
	OnPairing func(link string)
}

// ControlSocket is the control socket's path in a mailbox directory.
func ControlSocket(dir string) string { return filepath.Join(dir, "mailbox.sock") }

// Run is the mailbox role: it runs tor (restarting it if it exits),
// publishes the mailbox's onion service, serves owner and contacts, and
// answers "chive mailbox status" and "unlink" on the control socket, until
// ctx ends.
func Run(ctx context.Context, store *Store, o RunOptions) error {
	log := o.Server.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		o.Server.Logger = log
	}
	notifyPairing := func() {
		if link, err := store.PairingLink(ctx); err == nil && link != "" && o.OnPairing != nil {
			o.OnPairing(link)
		}
	}
	o.Server.OnUnlink = notifyPairing
	srv := NewServer(store, o.Server)
	ctl, err := serveControl(ControlSocket(store.Dir()), store, srv, notifyPairing)
	if err != nil {
		return err
	}
	defer ctl.close()
	notifyPairing()

	cfg := o.Tor
	if cfg.DataDir == "" {
		cfg.DataDir = store.TorDir()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("mailbox: run: %w", err)
	}
	delay := time.Second
	for ctx.Err() == nil {
		err := runOnce(ctx, store, srv, cfg, o.OnReachable)
		if ctx.Err() != nil {
			break
		}
		log.Warn("tor stopped; restarting it", "err", err, "in", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(2*delay, time.Minute)
	}
	return nil
}

// runOnce runs one tor process and serves on it until it exits.
func runOnce(ctx context.Context, store *Store, srv *Server, cfg onion.Config, onReachable func(onion.Address)) error {
	t, err := onion.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := t.WaitReady(ctx); err != nil {
		return err
	}
	var ln net.Listener
	for {
		lctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		l, err := t.Listen(lctx, store.Key())
		cancel()
		if err == nil {
			ln = l
			break
		}
		select {
		case <-t.Done():
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if onReachable != nil {
		onReachable(store.Address())
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	select {
	case <-t.Done():
		cancel()
		<-served
		return t.Err()
	case <-ctx.Done():
		<-served
		return ctx.Err()
	case err := <-served:
		return err
	}
}

// ControlReply is the control socket's answer.
type ControlReply struct {
	Error       string `json:"error,omitempty"`
	Status      *Stats `json:"status,omitempty"`
	PairingLink string `json:"pairing_link,omitempty"` // while unpaired
}

// ErrNotRunning: no mailbox runs on that directory.
var ErrNotRunning = errors.New("mailbox: not running")

type control struct {
	ln   net.Listener
	wg   sync.WaitGroup
	path string
}

func serveControl(path string, store *Store, srv *Server, onUnlink func()) (*control, error) {
	// The store's lock is ours: a socket left here is stale.
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("mailbox: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("mailbox: control socket: %w", err)
	}
	c := &control{ln: ln, path: path}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				ctx := context.Background()
				var r ControlReply
				switch strings.TrimSpace(line) {
				case "status":
				case "unlink":
					if err := srv.Unlink(ctx); err != nil {
						r.Error = err.Error()
					} else {
						onUnlink()
					}
				default:
					r.Error = "unknown command"
				}
				if r.Error == "" {
					st, err := store.Stats(ctx)
					if err != nil {
						r.Error = err.Error()
					} else {
						r.Status = &st
					}
					r.PairingLink, _ = store.PairingLink(ctx)
				}
				json.NewEncoder(conn).Encode(r)
			}()
		}
	}()
	return c, nil
}

func (c *control) close() {
	c.ln.Close()
	c.wg.Wait()
	os.Remove(c.path)
}

// Control asks the mailbox running on dir: "status" or "unlink".
func Control(ctx context.Context, dir, cmd string) (ControlReply, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", ControlSocket(dir))
	if err != nil {
		return ControlReply{}, fmt.Errorf("%w (%w)", ErrNotRunning, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintln(conn, cmd); err != nil {
		return ControlReply{}, fmt.Errorf("mailbox: control: %w", err)
	}
	var r ControlReply
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&r); err != nil {
		return ControlReply{}, fmt.Errorf("mailbox: control: %w", err)
	}
	if r.Error != "" {
		return r, fmt.Errorf("mailbox: %s", r.Error)
	}
	return r, nil
}
