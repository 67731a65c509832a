package onion

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cretz/bine/control"
)

// Dial errors, matched with errors.Is on what Dial returns. They come from
// tor's SOCKS extended error codes (SocksPort ExtendedErrors, which a managed
// tor always has; an attached tor may only say ErrUnreachable).
var (
	// ErrNotFound: no HSDir has a descriptor for the address: the peer has
	// not been online recently, or the address is wrong.
	ErrNotFound = errors.New("onion service not found (offline or unknown address)")
	// ErrUnreachable: the descriptor was found but the service could not be
	// reached (introduction or rendezvous failed, timed out).
	ErrUnreachable = errors.New("onion service unreachable")
)

// DialError is what Dial returns when tor refuses the connection. Code is
// the SOCKS5 reply code (0xF0-0xF7 are tor's extended codes).
type DialError struct {
	Address Address
	Code    byte
	err     error // ErrNotFound or ErrUnreachable
}

func (e *DialError) Error() string {
	return fmt.Sprintf("onion: dial %s: %v (%s, socks code %#02x)", e.Address.Short(), e.err, socksReason(e.Code), e.Code)
}

func (e *DialError) Unwrap() error { return e.err }

// socksReason names a SOCKS5 reply code, including tor's extended ones
// (tor's socks-extensions.txt).
func socksReason(code byte) string {
	switch code {
	case 0x01:
		return "general failure"
	case 0x02:
		return "not allowed by ruleset"
	case 0x03:
		return "network unreachable"
	case 0x04:
		return "host unreachable"
	case 0x05:
		return "connection refused"
	case 0x06:
		return "timed out"
	case 0x07:
		return "command not supported"
	case 0x08:
		return "address type not supported"
	case 0xF0:
		return "descriptor not found"
	case 0xF1:
		return "descriptor invalid"
	case 0xF2:
		return "introduction failed"
	case 0xF3:
		return "rendezvous failed"
	case 0xF4:
		return "client authorization missing"
	case 0xF5:
		return "client authorization wrong"
	case 0xF6:
		return "bad onion address"
	case 0xF7:
		return "introduction timed out"
	}
	return "unknown error"
}

// Dial connects to addr:VirtualPort through tor. ctx bounds the whole
// dial, including tor's descriptor fetch and circuit building (which can
// take tens of seconds); cancelling ctx aborts it at once.
func (t *Tor) Dial(ctx context.Context, addr Address) (net.Conn, error) {
	if _, err := addr.PublicKey(); err != nil {
		return nil, fmt.Errorf("onion: dial: %w", err)
	}
	select {
	case <-t.done:
		return nil, fmt.Errorf("onion: dial %s: %w", addr.Short(), t.Err())
	default:
	}
	socks, err := t.socks()
	if err != nil {
		return nil, fmt.Errorf("onion: dial %s: %w", addr.Short(), err)
	}
	c, err := dialSOCKS(ctx, socks, addr)
	if errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		go t.forget(addr)
	}
	return c, err
}

// forget makes tor start over with addr after a failed or timed-out dial.
// A peer that restarted has new introduction points, but our tor may keep
// its cached descriptor for minutes, and worse, keep attaching every new
// stream to a rendezvous circuit that got an introduction ack (sent by a
// stale introduction circuit of the dead instance) and waits forever for
// the rendezvous. Seen on the private network: every dial for 150 s
// stalled on one such circuit while a fresh descriptor sat in the cache.
// So: fetch a fresh descriptor, and close our client circuits for addr.
func (t *Tor) forget(addr Address) {
	t.request(func(c *control.Conn) error {
		c.GetHiddenServiceDescriptorAsync(string(addr), "")
		kvs, err := c.GetInfo("circuit-status")
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			for _, id := range staleCircuits(kv.Val, addr) {
				c.CloseCircuit(id, nil)
			}
		}
		return nil
	})
}

// staleCircuits picks, from GETINFO circuit-status, the ids of our client
// introduction and rendezvous circuits for addr.
func staleCircuits(status string, addr Address) []string {
	var ids []string
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var client, ours bool
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "PURPOSE":
				client = strings.HasPrefix(v, "HS_CLIENT_")
			case "REND_QUERY":
				ours = strings.TrimSuffix(v, ".onion") == string(addr)
			}
		}
		if client && ours {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// dialSOCKS is a SOCKS5 CONNECT written for cancellation: the connection's
// deadline follows ctx and cancelling ctx closes it, so no goroutine is left
// behind (bine's and x/net's dialers keep dialing after ctx is done).
func dialSOCKS(ctx context.Context, socksAddr string, addr Address) (_ net.Conn, err error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", socksAddr)
	if err != nil {
		return nil, fmt.Errorf("onion: dial %s: connect to tor: %w", addr.Short(), err)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			err = fmt.Errorf("onion: dial %s: %w", addr.Short(), ctx.Err())
		}
		if err != nil {
			c.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	wrap := func(step string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("onion: dial %s: %w", addr.Short(), ctx.Err())
		}
		// The connection's deadline is ctx's and may fire a moment before
		// ctx's own timer: report it as ctx's.
		if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("onion: dial %s: %w", addr.Short(), context.DeadlineExceeded)
		}
		return fmt.Errorf("onion: dial %s: socks %s: %w", addr.Short(), step, err)
	}

	// Greeting: version 5, one method, "no authentication".
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return nil, wrap("greeting", err)
	}
	var buf [262]byte
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return nil, wrap("greeting", err)
	}
	if buf[0] != 5 || buf[1] != 0 {
		return nil, wrap("greeting", fmt.Errorf("unexpected reply %x", buf[:2]))
	}
	// CONNECT to the onion by name: tor resolves it, we never do.
	host := addr.Hostname()
	req := append([]byte{5, 1, 0, 3, byte(len(host))}, host...)
	req = binary.BigEndian.AppendUint16(req, VirtualPort)
	if _, err := c.Write(req); err != nil {
		return nil, wrap("connect", err)
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		return nil, wrap("connect", err)
	}
	if buf[0] != 5 {
		return nil, wrap("connect", fmt.Errorf("unexpected reply version %d", buf[0]))
	}
	if code := buf[1]; code != 0 {
		target := ErrUnreachable
		if code == 0xF0 {
			target = ErrNotFound
		}
		return nil, &DialError{Address: addr, Code: code, err: target}
	}
	// Skip the bound address tor reports.
	var n int
	switch buf[3] {
	case 1:
		n = 4 + 2
	case 4:
		n = 16 + 2
	case 3:
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return nil, wrap("connect", err)
		}
		n = int(buf[0]) + 2
	default:
		return nil, wrap("connect", fmt.Errorf("bad address type %d", buf[3]))
	}
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		return nil, wrap("connect", err)
	}
	c.SetDeadline(time.Time{})
	return &conn{Conn: c, remote: &Addr{Address: addr, Port: VirtualPort}}, nil
}

// conn reports the onion peer as its remote address.
type conn struct {
	net.Conn
	remote *Addr
}

func (c *conn) RemoteAddr() net.Addr { return c.remote }
