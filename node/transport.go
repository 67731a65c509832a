package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"sync"

	"github.com/chive-im/chive/onion"
)

// Transport is the node's network: Tor in production, memory in unit tests
// (MemNetwork). One Transport lives as long as the network under it; when
// Done closes (tor exited) the node starts a new one.
type Transport interface {
	// Listen publishes our onion service and accepts peers' connections.
	Listen(ctx context.Context, key ed25519.PrivateKey) (net.Listener, error)
	// Dial connects to addr's onion service, bounded by ctx.
	Dial(ctx context.Context, addr onion.Address) (net.Conn, error)
	// Done is closed when the transport has failed and must be replaced.
	Done() <-chan struct{}
	// Close stops the transport. Idempotent.
	Close() error
}

// StartTransport brings a network up, reporting Tor's progress, and returns
// once it is usable (bootstrapped). Options.Transport defaults to Tor.
type StartTransport func(ctx context.Context, progress func(TorStatus)) (Transport, error)

// torTransport is a Transport over one tor process.
type torTransport struct{ t *onion.Tor }

func (tt torTransport) Listen(ctx context.Context, key ed25519.PrivateKey) (net.Listener, error) {
	return tt.t.Listen(ctx, key)
}

func (tt torTransport) Dial(ctx context.Context, addr onion.Address) (net.Conn, error) {
	return tt.t.Dial(ctx, addr)
}

func (tt torTransport) Done() <-chan struct{} { return tt.t.Done() }
func (tt torTransport) Close() error          { return tt.t.Close() }

// torStarter returns a StartTransport that runs (or attaches to) tor as cfg
// says and waits for its bootstrap.
func torStarter(cfg onion.Config) StartTransport {
	return func(ctx context.Context, progress func(TorStatus)) (Transport, error) {
		c := cfg
		c.OnProgress = func(p onion.Progress) {
			st := TorStatus{State: TorBootstrapping, Percent: p.Percent, Summary: p.Summary}
			if p.Percent >= 100 {
				st.State = TorReady
			}
			progress(st)
		}
		progress(TorStatus{State: TorStarting})
		t, err := onion.Start(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := t.WaitReady(ctx); err != nil {
			t.Close()
			return nil, err
		}
		return torTransport{t}, nil
	}
}

// MemNetwork is an in-memory stand-in for Tor, for unit tests of nodes: each
// node's Transport listens on its address, and dials are net.Pipe pairs.
// Fail simulates tor exiting under a node.
type MemNetwork struct {
	mu        sync.Mutex
	listeners map[onion.Address]*memListener
	down      map[onion.Address]bool // addresses whose dials fail (offline)
	dials     map[onion.Address]int  // dial attempts per destination
}

// NewMemNetwork returns an empty in-memory network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{listeners: make(map[onion.Address]*memListener), down: make(map[onion.Address]bool), dials: make(map[onion.Address]int)}
}

// errMemUnreachable is what dialing an address nobody listens on returns.
var errMemUnreachable = fmt.Errorf("memnet: %w", onion.ErrNotFound)

// Transport returns a StartTransport for Options.Transport. Every transport
// it starts is tracked so Fail can kill it.
func (m *MemNetwork) Transport() StartTransport {
	return func(ctx context.Context, progress func(TorStatus)) (Transport, error) {
		progress(TorStatus{State: TorReady, Percent: 100, Summary: "Done"})
		return &memTransport{net: m, done: make(chan struct{})}, nil
	}
}

// Fail makes the transport serving addr fail, as if its tor had exited:
// its listener closes and its Done channel closes. The node starts a new one.
func (m *MemNetwork) Fail(addr onion.Address) {
	m.mu.Lock()
	l := m.listeners[addr]
	m.mu.Unlock()
	if l != nil {
		l.tr.Close()
	}
}

// SetOffline makes dials to addr fail (true) or work again (false) without
// touching the node serving it.
func (m *MemNetwork) SetOffline(addr onion.Address, off bool) {
	m.mu.Lock()
	m.down[addr] = off
	m.mu.Unlock()
}

// Dials reports how many dials to addr were attempted.
func (m *MemNetwork) Dials(addr onion.Address) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dials[addr]
}

// Dial connects to addr as a stranger would, without a node: for tests that
// speak the wire protocol by hand.
func (m *MemNetwork) Dial(ctx context.Context, addr onion.Address) (net.Conn, error) {
	return (&memTransport{net: m, done: make(chan struct{})}).Dial(ctx, addr)
}

type memTransport struct {
	net       *MemNetwork
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	lns       []*memListener
	conns     []net.Conn
}

func (t *memTransport) Listen(ctx context.Context, key ed25519.PrivateKey) (net.Listener, error) {
	addr := onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey))
	l := &memListener{tr: t, addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
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

func (t *memTransport) Dial(ctx context.Context, addr onion.Address) (net.Conn, error) {
	select {
	case <-t.done:
		return nil, onion.ErrClosed
	default:
	}
	t.net.mu.Lock()
	l, down := t.net.listeners[addr], t.net.down[addr]
	t.net.dials[addr]++
	t.net.mu.Unlock()
	if l == nil || down {
		return nil, errMemUnreachable
	}
	a, b := net.Pipe()
	select {
	case l.conns <- b:
		t.mu.Lock()
		t.conns = append(t.conns, a)
		t.mu.Unlock()
		l.tr.track(b)
		return a, nil
	case <-l.closed:
		return nil, errMemUnreachable
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *memTransport) track(c net.Conn) {
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
}

func (t *memTransport) Done() <-chan struct{} { return t.done }

// Close closes the transport's listeners and every connection through it,
// as a dying tor would.
func (t *memTransport) Close() error {
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

type memListener struct {
	tr        *memTransport
	addr      onion.Address
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *memListener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, onion.ErrClosed
	}
}

func (l *memListener) Close() error {
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

func (l *memListener) Addr() net.Addr { return &onion.Addr{Address: l.addr, Port: onion.VirtualPort} }
