package wire

import (
	"bufio"
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

// Link is an authenticated connection to one peer. Send, Post and Recv may
// be called from different goroutines, Send and Post concurrently. A
// background reader answers pings and notices a dead peer; a background
// writer is the only one to write to the connection.
type Link struct {
	conn   net.Conn
	br     *bufio.Reader
	peer   ed25519.PublicKey
	dialed bool
	cfg    Config
	tx     *sealer // used by writeLoop only (after the handshake)
	rx     *sealer // used by readLoop only

	recv      chan Msg
	done      chan struct{}
	closeOnce sync.Once
	err       error // set once before done is closed

	lastRecv atomic.Int64 // unix nanoseconds of the last frame received

	data    chan outFrame // frames Send waits for, to the writer
	qmu     sync.Mutex
	ctrl    [][]byte      // frames Post queued, written before data frames
	ctrlWak chan struct{} // cap 1

	pingMu  sync.Mutex
	pingSeq uint64
	pings   map[uint64]chan struct{}
}

func newLink(conn net.Conn, br *bufio.Reader, peer ed25519.PublicKey, dialed bool, cfg *Config, tx, rx *sealer) *Link {
	l := &Link{
		conn:    conn,
		br:      br,
		peer:    peer,
		dialed:  dialed,
		cfg:     *cfg,
		tx:      tx,
		rx:      rx,
		recv:    make(chan Msg, 16),
		done:    make(chan struct{}),
		pings:   make(map[uint64]chan struct{}),
		data:    make(chan outFrame),
		ctrlWak: make(chan struct{}, 1),
	}
	l.lastRecv.Store(time.Now().UnixNano())
	go l.readLoop()
	go l.writeLoop()
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

// MaxQueued is how many frames Post may have waiting; a peer that makes us
// queue more (sending frames while not reading our acks) loses the link.
const MaxQueued = 16384

// ErrQueueFull ends a link whose peer does not read what we queue for it.
var ErrQueueFull = errors.New("send queue full (peer not reading)")

type outFrame struct {
	b    []byte
	done chan error
}

// Send writes one frame and waits until it is written, bounded by
// Config.WriteTimeout. A failed write closes the link, since a partial frame
// cannot be taken back.
func (l *Link) Send(m Msg) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	return l.write(b)
}

// Post queues a frame and returns at once; queued frames go out before
// frames given to Send. It is for replies from a receive loop (acks): a
// reader that waited for its own writes could deadlock with a peer doing
// the same.
func (l *Link) Post(m Msg) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	select {
	case <-l.done:
		return fmt.Errorf("wire: post: %w", l.err)
	default:
	}
	l.qmu.Lock()
	full := len(l.ctrl) >= MaxQueued
	if !full {
		l.ctrl = append(l.ctrl, b)
	}
	l.qmu.Unlock()
	if full {
		l.closeWith(ErrQueueFull)
		return fmt.Errorf("wire: post: %w", ErrQueueFull)
	}
	select {
	case l.ctrlWak <- struct{}{}:
	default:
	}
	return nil
}

// SendFrame writes a frame Marshal produced earlier (e.g. one stored in an
// outbox, possibly by an older chive). It checks the frame is one whole,
// well-formed frame of a type callers may send.
func (l *Link) SendFrame(frame []byte) error {
	t, body, err := parseStored(frame)
	if err == nil {
		_, err = Unmarshal(t, body)
	}
	if err != nil {
		return fmt.Errorf("wire: send frame: %w", err)
	}
	switch t {
	case TypeHello, TypeKeyShare, TypeAuth, TypePing, TypePong:
		return fmt.Errorf("wire: send frame: %s: %w", t, ErrUnexpected)
	}
	return l.write(frame)
}

func (l *Link) write(frame []byte) error {
	f := outFrame{b: frame, done: make(chan error, 1)}
	select {
	case l.data <- f:
	case <-l.done:
		return fmt.Errorf("wire: send: %w", l.err)
	}
	select {
	case err := <-f.done:
		return err
	case <-l.done:
		return fmt.Errorf("wire: send: %w", l.err)
	}
}

// writeLoop is the only writer of conn: queued control frames first, then
// data frames one at a time.
func (l *Link) writeLoop() {
	for {
		l.qmu.Lock()
		var next []byte
		if len(l.ctrl) > 0 {
			next = l.ctrl[0]
			l.ctrl[0] = nil
			l.ctrl = l.ctrl[1:]
		}
		l.qmu.Unlock()
		if next != nil {
			if l.writeConn(next) != nil {
				return
			}
			continue
		}
		select {
		case <-l.ctrlWak:
		case f := <-l.data:
			err := l.writeConn(f.b)
			f.done <- err
			if err != nil {
				return
			}
		case <-l.done:
			return
		}
	}
}

// writeConn seals the frame b and writes it.
func (l *Link) writeConn(b []byte) error {
	sealed, err := l.tx.seal(b)
	if err != nil {
		l.closeWith(err)
		return fmt.Errorf("wire: send: %w", err)
	}
	l.conn.SetWriteDeadline(time.Now().Add(l.cfg.WriteTimeout))
	if _, err := l.conn.Write(sealed); err != nil {
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
	if err := l.Post(&Ping{Seq: seq}); err != nil {
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
		m, err := readSealed(l.br, l.rx, MaxFrameSize+SealOverhead)
		if err != nil {
			l.closeWith(err)
			return
		}
		l.lastRecv.Store(time.Now().UnixNano())
		switch m := m.(type) {
		case *Ping:
			if l.Post(&Pong{Seq: m.Seq}) != nil {
				return
			}
		case *Pong:
			l.pingMu.Lock()
			if ch, ok := l.pings[m.Seq]; ok {
				close(ch)
				delete(l.pings, m.Seq)
			}
			l.pingMu.Unlock()
		case *Hello, *KeyShare, *Auth:
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
			if err := l.Post(&Ping{}); err != nil {
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
