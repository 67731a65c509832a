package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a link's timers. The zero value (or a nil *Config) means the
// defaults, which suit Tor's multi-second round trips; tests shorten them.
type Config struct {
	// KeepaliveInterval: ping the peer after this long without receiving
	// anything. Default 30s.
	KeepaliveInterval time.Duration
	// Timeout: the link is dead (closed with an error wrapping
	// os.ErrDeadlineExceeded) after this long without receiving anything.
	// Default 3×KeepaliveInterval, and at least 2×KeepaliveInterval.
	Timeout time.Duration
	// HandshakeTimeout bounds Server and Client. Default 60s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each Send; a peer that stops reading is dead.
	// Default 60s.
	WriteTimeout time.Duration
}

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.KeepaliveInterval <= 0 {
		d.KeepaliveInterval = 30 * time.Second
	}
	if d.Timeout <= 0 {
		d.Timeout = 3 * d.KeepaliveInterval
	}
	if d.Timeout < 2*d.KeepaliveInterval {
		d.Timeout = 2 * d.KeepaliveInterval
	}
	if d.HandshakeTimeout <= 0 {
		d.HandshakeTimeout = 60 * time.Second
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 60 * time.Second
	}
	return d
}

// Link is an authenticated connection to one peer. Send and Recv may be
// called from different goroutines; Send is safe for concurrent use. A
// background reader answers pings and notices a dead peer.
type Link struct {
	conn   net.Conn
	br     *bufio.Reader
	peer   ed25519.PublicKey
	dialed bool
	cfg    Config

	recv      chan Msg
	done      chan struct{}
	closeOnce sync.Once
	err       error // set once before done is closed

	lastRecv atomic.Int64 // unix nanoseconds of the last frame received

	wmu sync.Mutex // serializes frame writes

	pingMu  sync.Mutex
	pingSeq uint64
	pings   map[uint64]chan struct{}
}

func newLink(conn net.Conn, br *bufio.Reader, peer ed25519.PublicKey, dialed bool, cfg *Config) *Link {
	l := &Link{
		conn:   conn,
		br:     br,
		peer:   peer,
		dialed: dialed,
		cfg:    *cfg,
		recv:   make(chan Msg, 16),
		done:   make(chan struct{}),
		pings:  make(map[uint64]chan struct{}),
	}
	l.lastRecv.Store(time.Now().UnixNano())
	go l.readLoop()
	go l.keepalive()
	return l
}

// Peer is the peer's ed25519 onion key.
func (l *Link) Peer() ed25519.PublicKey { return l.peer }

// Dialed reports whether we dialed this link (we are the handshake's client).
func (l *Link) Dialed() bool { return l.dialed }

// Done is closed when the link is closed, by either side or by a failure.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err is why the link closed: net.ErrClosed after Close, or the read, write
// or protocol error that ended it. Nil while the link is up.
func (l *Link) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// Close closes the link. Idempotent.
func (l *Link) Close() error {
	l.closeWith(net.ErrClosed)
	return nil
}

func (l *Link) closeWith(err error) {
	l.closeOnce.Do(func() {
		l.err = err
		close(l.done)
		l.conn.Close()
	})
}

// Send writes one frame, bounded by Config.WriteTimeout. A failed write
// closes the link, since a partial frame cannot be taken back.
func (l *Link) Send(m Msg) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	return l.write(b)
}

// SendFrame writes a frame Marshal produced earlier (e.g. one stored in an
// outbox). It checks the frame is one whole, well-formed frame, so a corrupt
// buffer cannot desynchronize the stream.
func (l *Link) SendFrame(frame []byte) error {
	t, body, err := ReadFrame(bytes.NewReader(frame))
	if err == nil && frameHeader+len(body) != len(frame) {
		err = fmt.Errorf("trailing bytes: %w", ErrMalformed)
	}
	if err == nil {
		_, err = Unmarshal(t, body)
	}
	if err != nil {
		return fmt.Errorf("wire: send frame: %w", err)
	}
	switch t {
	case TypeHello, TypeAuth, TypeWelcome, TypePing, TypePong:
		return fmt.Errorf("wire: send frame: %s: %w", t, ErrUnexpected)
	}
	return l.write(frame)
}

func (l *Link) write(frame []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	select {
	case <-l.done:
		return fmt.Errorf("wire: send: %w", l.err)
	default:
	}
	l.conn.SetWriteDeadline(time.Now().Add(l.cfg.WriteTimeout))
	if _, err := l.conn.Write(frame); err != nil {
		l.closeWith(err)
		return fmt.Errorf("wire: send: %w", err)
	}
	return nil
}

// Recv returns the next frame from the peer: one of *Request, *Accept,
// *Message, *Ack, *Receipt or *Typing. It fails once the link is closed
// (with the reason, see Err) or ctx is done.
func (l *Link) Recv(ctx context.Context) (Msg, error) {
	select {
	case m := <-l.recv:
		return m, nil
	default:
	}
	select {
	case m := <-l.recv:
		return m, nil
	case <-l.done:
		return nil, fmt.Errorf("wire: recv: %w", l.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("wire: recv: %w", context.Cause(ctx))
	}
}

// Ping sends a ping and waits for its pong: the raw round-trip time of the
// link, without any processing by the peer's node.
func (l *Link) Ping(ctx context.Context) (time.Duration, error) {
	ch := make(chan struct{})
	l.pingMu.Lock()
	l.pingSeq++
	seq := l.pingSeq
	l.pings[seq] = ch
	l.pingMu.Unlock()
	defer func() {
		l.pingMu.Lock()
		delete(l.pings, seq)
		l.pingMu.Unlock()
	}()
	start := time.Now()
	if err := l.Send(&Ping{Seq: seq}); err != nil {
		return 0, err
	}
	select {
	case <-ch:
		return time.Since(start), nil
	case <-l.done:
		return 0, fmt.Errorf("wire: ping: %w", l.err)
	case <-ctx.Done():
		return 0, fmt.Errorf("wire: ping: %w", context.Cause(ctx))
	}
}

func (l *Link) readLoop() {
	for {
		l.conn.SetReadDeadline(time.Now().Add(l.cfg.Timeout))
		t, body, err := ReadFrame(l.br)
		if err != nil {
			l.closeWith(err)
			return
		}
		l.lastRecv.Store(time.Now().UnixNano())
		m, err := Unmarshal(t, body)
		if err != nil {
			l.closeWith(err)
			return
		}
		switch m := m.(type) {
		case *Ping:
			if l.Send(&Pong{Seq: m.Seq}) != nil {
				return
			}
		case *Pong:
			l.pingMu.Lock()
			if ch, ok := l.pings[m.Seq]; ok {
				close(ch)
				delete(l.pings, m.Seq)
			}
			l.pingMu.Unlock()
		case *Hello, *Auth, *Welcome:
			l.closeWith(fmt.Errorf("wire: %s after handshake: %w", m.Type(), ErrUnexpected))
			return
		default:
			select {
			case l.recv <- m:
			case <-l.done:
				return
			}
		}
	}
}

// keepalive pings the peer whenever nothing has been received for
// KeepaliveInterval; the reader's deadline (Timeout) ends a dead link.
func (l *Link) keepalive() {
	t := time.NewTimer(l.cfg.KeepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, l.lastRecv.Load()))
		if idle >= l.cfg.KeepaliveInterval {
			if err := l.Send(&Ping{}); err != nil {
				return
			}
			idle = 0
		}
		t.Reset(l.cfg.KeepaliveInterval - idle)
	}
}

// IsTimeout reports whether err means the peer went silent (a dead link).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
