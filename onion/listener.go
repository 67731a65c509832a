package onion

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
)

// Listener is a published onion service: it accepts connections that peers
// make to Addr():VirtualPort. It implements net.Listener.
type Listener struct {
	tor      *Tor
	local    net.Listener // tor forwards the service's streams here
	address  Address
	defences Defences

	closeOnce sync.Once
	closeErr  error
}

// ErrPublish is wrapped when tor could not upload the onion service's
// descriptor to any directory.
var ErrPublish = errors.New("onion service descriptor upload failed")

type hsResult struct {
	started  bool // an upload to one HSDir began
	uploaded bool
	reason   string
}

// publishGrace bounds how long Listen waits, after the first HSDir has the
// descriptor, for the other uploads tor started: a peer's tor asks one of
// several HSDirs, and one that lacks the descriptor answers "not found".
const publishGrace = 5 * time.Second

// Listen hosts the onion service of key on VirtualPort and returns once its
// descriptor is published (every upload tor started has finished, or at
// least one succeeded and publishGrace passed), so that peers can reach it; it fails when ctx ends first. The key is the user's
// identity: tor receives it over the control port only, it is not written
// to disk. Listen fails if this tor already hosts the same key.
func (t *Tor) Listen(ctx context.Context, key ed25519.PrivateKey) (*Listener, error) {
	if err := keyCheck(key); err != nil {
		return nil, err
	}
	select {
	case <-t.closing:
		return nil, ErrClosed
	default:
	}
	addr := AddressFromPublicKey(key.Public().(ed25519.PublicKey))
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("onion: listen %s: %w", addr.Short(), err)
	}
	l := &Listener{tor: t, local: local, address: addr}

	// Register for HS_DESC events before ADD_ONION: the first upload may be
	// reported before the reply is read.
	results := make(chan hsResult, 128)
	t.mu.Lock()
	t.hsWaiters[string(addr)] = append(t.hsWaiters[string(addr)], results)
	t.mu.Unlock()
	defer t.removeWaiter(addr, results)

	l.defences, err = t.addOnion(key, addr, local.Addr().String())
	if err != nil {
		local.Close()
		if strings.Contains(err.Error(), "collision") {
			return nil, fmt.Errorf("onion: listen %s: this tor already hosts this onion service: %w", addr.Short(), err)
		}
		return nil, fmt.Errorf("onion: listen %s: add onion: %w", addr.Short(), err)
	}
	t.mu.Lock()
	t.listeners[l] = struct{}{}
	t.mu.Unlock()

	var failures []string
	uploaded, pending := 0, 0
	var grace <-chan time.Time
	for {
		select {
		case r := <-results:
			switch {
			case r.started:
				pending++
			case r.uploaded:
				pending--
				uploaded++
			default:
				pending--
				// Tor retries uploads by itself, to other HSDirs and later;
				// we keep waiting until ctx ends and report what went wrong.
				failures = append(failures, r.reason)
			}
			if uploaded > 0 {
				if pending <= 0 {
					return l, nil
				}
				if grace == nil {
					grace = time.After(publishGrace)
				}
			}
		case <-grace:
			return l, nil
		case <-t.done:
			l.Close()
			return nil, fmt.Errorf("onion: listen %s: %w", addr.Short(), t.Err())
		case <-ctx.Done():
			l.Close()
			if len(failures) > 0 {
				return nil, fmt.Errorf("onion: listen %s: %w (%s): %w", addr.Short(), ErrPublish, strings.Join(failures, "; "), ctx.Err())
			}
			return nil, fmt.Errorf("onion: listen %s: waiting for publication (bootstrap %s): %w", addr.Short(), t.Progress(), ctx.Err())
		}
	}
}

func (t *Tor) removeWaiter(addr Address, ch chan hsResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ws := t.hsWaiters[string(addr)]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(t.hsWaiters, string(addr))
	} else {
		t.hsWaiters[string(addr)] = ws
	}
}

func (t *Tor) onHSDesc(ev *control.HSDescEvent) {
	var r hsResult
	switch ev.Action {
	case "UPLOAD":
		r.started = true
	case "UPLOADED":
		r.uploaded = true
	case "FAILED":
		r.reason = "hsdir " + ev.HSDir + ": " + strings.ToLower(ev.Reason)
		if ev.Reason == "" {
			r.reason = "hsdir " + ev.HSDir + ": failed"
		}
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range t.hsWaiters[ev.Address] {
		select {
		case ch <- r:
		default: // the waiter has enough results; never block the event loop
		}
	}
}

// Accept waits for the next connection to the onion service. Tor gives no
// information about the peer: RemoteAddr is a loopback address.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.local.Accept()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("onion: accept: %w", err)
	}
	return c, nil
}

// Close removes the onion service from tor and stops accepting.
// Connections already accepted stay open. Later calls return ErrClosed.
func (l *Listener) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		t := l.tor
		t.mu.Lock()
		delete(t.listeners, l)
		t.mu.Unlock()
		var errs []error
		select {
		case <-t.done:
		case <-t.closing:
			// Tor.Close: no DEL_ONION, which could hang on a wedged tor;
			// tor drops the service when it exits or our connection closes.
		default:
			err := t.request(func(c *control.Conn) error { return c.DelOnion(string(l.address)) })
			if err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("onion: close listener %s: %w", l.address.Short(), err))
			}
		}
		if err := l.local.Close(); err != nil {
			errs = append(errs, err)
		}
		l.closeErr = errors.Join(errs...)
	})
	if !first {
		return ErrClosed
	}
	return l.closeErr
}

// Defences says which of tor's flood defences protect this service.
func (l *Listener) Defences() Defences { return l.defences }

// Addr returns the onion address and virtual port (an *Addr).
func (l *Listener) Addr() net.Addr { return &Addr{Address: l.address, Port: VirtualPort} }

// Address is the onion address this listener serves.
func (l *Listener) Address() Address { return l.address }

// Addr is an onion service endpoint; it implements net.Addr.
type Addr struct {
	Address Address
	Port    int
}

// Network returns "onion".
func (a *Addr) Network() string { return "onion" }

func (a *Addr) String() string { return a.Address.Hostname() + ":" + strconv.Itoa(a.Port) }
