// Package memnet is an in-memory stand-in for Tor, for unit tests of nodes:
// each transport listens on the onion address of its key, and a dial is a
// net.Pipe pair. It has the shape of node.Transport without importing node,
// so node's own white-box tests can use it (node/nodetest imports node and
// so cannot be imported by them). Adapt it with a node.StartTransport:
//
//	func(ctx context.Context, progress func(node.TorStatus)) (node.Transport, error) {
//		progress(node.TorStatus{State: node.TorReady, Percent: 100})
//		return mem.NewTransport(), nil
//	}
//
// Tests that claim to test Tor use the private Tor network instead.
package memnet

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/chive-im/chive/onion"
)

// ErrUnreachable is what dialing an address nobody listens on (or one set
// offline) returns. It wraps onion.ErrNotFound, as tor's answer would.
var ErrUnreachable = fmt.Errorf("memnet: %w", onion.ErrNotFound)

// Network is one in-memory network. Fail simulates tor exiting under a
// node; SetOffline makes an address unreachable.
type Network struct {
	mu        sync.Mutex
	listeners map[onion.Address]*listener
	down      map[onion.Address]bool // addresses whose dials fail (offline)
	dials     map[onion.Address]int  // dial attempts per destination
	conns     map[onion.Address]int  // dials that connected, per destination

	delay             time.Duration          // every dial takes this long (SetDialDelay)
	inflight, maxBusy int                    // dials in progress now, and at most so far
	watch             map[onion.Address]bool // if set, only dials to these count in inflight
}

// New returns an empty network.
func New() *Network {
	return &Network{listeners: make(map[onion.Address]*listener), down: make(map[onion.Address]bool),
		dials: make(map[onion.Address]int), conns: make(map[onion.Address]int)}
}

// NewTransport returns a transport on the network: one "tor process".
func (m *Network) NewTransport() *Transport {
	return &Transport{net: m, done: make(chan struct{})}
}

// Fail makes the transport serving addr fail, as if its tor had exited:
// its listener, its connections and its Done channel close.
func (m *Network) Fail(addr onion.Address) {
	m.mu.Lock()
	l := m.listeners[addr]
	m.mu.Unlock()
	if l != nil {
		l.tr.Close()
	}
}

// SetOffline makes dials to addr fail (true) or work again (false) without
// touching the transport serving it.
func (m *Network) SetOffline(addr onion.Address, off bool) {
	m.mu.Lock()
	m.down[addr] = off
	m.mu.Unlock()
}

// SetDialDelay makes every dial take d before it connects or fails, as
// tor's descriptor fetch and circuits do: then dials overlap, and
// MaxConcurrentDials means something.
func (m *Network) SetDialDelay(d time.Duration) {
	m.mu.Lock()
	m.delay = d
	m.mu.Unlock()
}

// WatchDials makes MaxConcurrentDials count only dials to addrs (from
// now on, starting from zero): the dials of one node to its contacts,
// without the other nodes' dials or a node's dials to itself.
func (m *Network) WatchDials(addrs []onion.Address) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watch = make(map[onion.Address]bool, len(addrs))
	for _, a := range addrs {
		m.watch[a] = true
	}
	m.inflight, m.maxBusy = 0, 0
}

// MaxConcurrentDials reports the most dials that were in progress at once.
func (m *Network) MaxConcurrentDials() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxBusy
}

// Dials reports how many dials to addr were attempted.
func (m *Network) Dials(addr onion.Address) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dials[addr]
}

// Connects reports how many dials to addr connected (the listener took
// the connection).
func (m *Network) Connects(addr onion.Address) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conns[addr]
}

// Transport is one node's access to the network; it has node.Transport's
// methods.
type Transport struct {
	net       *Network
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	lns       []*listener
	conns     []net.Conn
}

// Listen publishes key's onion address. Only one live listener per address.
func (t *Transport) Listen(ctx context.Context, key ed25519.PrivateKey) (net.Listener, error) {
	addr := onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey))
	l := &listener{tr: t, addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	if old := t.net.listeners[addr]; old != nil && !old.isClosed() {
		return nil, fmt.Errorf("memnet: %s is already listening", addr.Short())
	}
	t.net.listeners[addr] = l
	t.mu.Lock()
	t.lns = append(t.lns, l)
	t.mu.Unlock()
	return l, nil
}

// Dial connects to addr's listener, bounded by ctx.
func (t *Transport) Dial(ctx context.Context, addr onion.Address) (net.Conn, error) {
	select {
	case <-t.done:
		return nil, onion.ErrClosed
	default:
	}
	t.net.mu.Lock()
	t.net.dials[addr]++
	counted := t.net.watch == nil || t.net.watch[addr]
	if counted {
		t.net.inflight++
		t.net.maxBusy = max(t.net.maxBusy, t.net.inflight)
	}
	delay := t.net.delay
	t.net.mu.Unlock()
	defer func() {
		if counted {
			t.net.mu.Lock()
			t.net.inflight--
			t.net.mu.Unlock()
		}
	}()
	if delay > 0 {
		tm := time.NewTimer(delay)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return nil, ctx.Err()
		}
	}
	t.net.mu.Lock()
	l, down := t.net.listeners[addr], t.net.down[addr]
	t.net.mu.Unlock()
	if l == nil || down {
		return nil, ErrUnreachable
	}
	a, b := net.Pipe()
	select {
	case l.conns <- b:
		t.net.mu.Lock()
		t.net.conns[addr]++
		t.net.mu.Unlock()
		t.track(a)
		l.tr.track(b)
		return a, nil
	case <-l.closed:
		return nil, ErrUnreachable
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *Transport) track(c net.Conn) {
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
}

// Done is closed when the transport has failed or closed.
func (t *Transport) Done() <-chan struct{} { return t.done }

// Close closes the transport's listeners and every connection through it,
// as a dying tor would. Idempotent.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		t.mu.Lock()
		lns, conns := t.lns, t.conns
		t.lns, t.conns = nil, nil
		t.mu.Unlock()
		for _, l := range lns {
			l.Close()
		}
		for _, c := range conns {
			c.Close()
		}
	})
	return nil
}

type listener struct {
	tr        *Transport
	addr      onion.Address
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *listener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, onion.ErrClosed
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.tr.net.mu.Lock()
		if l.tr.net.listeners[l.addr] == l {
			delete(l.tr.net.listeners, l.addr)
		}
		l.tr.net.mu.Unlock()
	})
	return nil
}

func (l *listener) Addr() net.Addr { return &onion.Addr{Address: l.addr, Port: onion.VirtualPort} }
