package wire

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net"
	"time"
)

// transcriptLabel separates link signatures from every other use of an onion
// key. The version is part of it so a v1 signature never verifies in v2.
const transcriptLabel = "chive link auth v1\x00"

// transcript is what the dialer signs. Every field has a fixed length, so
// plain concatenation is unambiguous. Both onion keys are in it, so a
// signature made for one listener is useless against another; the listener's
// fresh nonce makes an old signature useless against the same listener.
func transcript(dialer, listener ed25519.PublicKey, listenerNonce, dialerNonce []byte) []byte {
	t := make([]byte, 0, len(transcriptLabel)+2*ed25519.PublicKeySize+2*nonceSize)
	t = append(t, transcriptLabel...)
	t = append(t, dialer...)
	t = append(t, listener...)
	t = append(t, listenerNonce...)
	return append(t, dialerNonce...)
}

// aLongTimeAgo is a deadline in the past, used to unblock I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// handshakeDeadline bounds the handshake by ctx and cfg.HandshakeTimeout,
// unblocking conn's I/O when ctx is cancelled. Call the returned stop when done.
func handshakeDeadline(ctx context.Context, conn net.Conn, cfg *Config) (stop func() bool) {
	deadline := time.Now().Add(cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	return context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
}

// Server runs the listener's side of the link handshake on conn, a connection
// accepted on our onion service, and returns the authenticated link. The
// peer's key (Link.Peer) is proven: the dialer signed the transcript with it.
// The handshake is bounded by ctx and cfg.HandshakeTimeout. On error conn is
// closed; authentication failures wrap ErrAuth. cfg may be nil for defaults.
func Server(ctx context.Context, conn net.Conn, self ed25519.PrivateKey, cfg *Config) (*Link, error) {
	c := cfg.withDefaults()
	l, err := server(ctx, conn, self, &c)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return nil, fmt.Errorf("wire: accept link: %w", err)
	}
	return l, nil
}

func server(ctx context.Context, conn net.Conn, self ed25519.PrivateKey, cfg *Config) (*Link, error) {
	stop := handshakeDeadline(ctx, conn, cfg)
	defer stop()
	br := bufio.NewReader(conn)

	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	if err := writeMsg(conn, &Hello{Nonce: nonce}); err != nil {
		return nil, err
	}
	m, err := readMsg(br)
	if err != nil {
		return nil, err
	}
	auth, ok := m.(*Auth)
	if !ok {
		return nil, fmt.Errorf("%s during handshake: %w", m.Type(), ErrUnexpected)
	}
	pub := self.Public().(ed25519.PublicKey)
	if !ed25519.Verify(auth.Key, transcript(auth.Key, pub, nonce, auth.Nonce), auth.Sig) {
		return nil, ErrAuth
	}
	if err := writeMsg(conn, &Welcome{}); err != nil {
		return nil, err
	}
	if err := clearDeadline(ctx, conn, stop); err != nil {
		return nil, err
	}
	return newLink(conn, br, ed25519.PublicKey(auth.Key), false, cfg), nil
}

// Client runs the dialer's side of the link handshake on conn, a connection
// to peer's onion service, proving our key self. peer is authenticated by Tor
// (we reached its onion address), and its key is bound into the signature.
// Bounded by ctx and cfg.HandshakeTimeout; on error conn is closed. cfg may
// be nil for defaults.
func Client(ctx context.Context, conn net.Conn, self ed25519.PrivateKey, peer ed25519.PublicKey, cfg *Config) (*Link, error) {
	c := cfg.withDefaults()
	l, err := client(ctx, conn, self, peer, &c)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return nil, fmt.Errorf("wire: dial link: %w", err)
	}
	return l, nil
}

func client(ctx context.Context, conn net.Conn, self ed25519.PrivateKey, peer ed25519.PublicKey, cfg *Config) (*Link, error) {
	if len(peer) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("bad peer key length %d", len(peer))
	}
	stop := handshakeDeadline(ctx, conn, cfg)
	defer stop()
	br := bufio.NewReader(conn)

	m, err := readMsg(br)
	if err != nil {
		return nil, err
	}
	hello, ok := m.(*Hello)
	if !ok {
		return nil, fmt.Errorf("%s during handshake: %w", m.Type(), ErrUnexpected)
	}
	pub := self.Public().(ed25519.PublicKey)
	if subtle.ConstantTimeCompare(pub, peer) == 1 {
		return nil, fmt.Errorf("dialing ourselves: %w", ErrAuth)
	}
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	sig := ed25519.Sign(self, transcript(pub, peer, hello.Nonce, nonce))
	if err := writeMsg(conn, &Auth{Key: pub, Nonce: nonce, Sig: sig}); err != nil {
		return nil, err
	}
	m, err = readMsg(br)
	if err != nil {
		return nil, err
	}
	if _, ok := m.(*Welcome); !ok {
		return nil, fmt.Errorf("%s during handshake: %w", m.Type(), ErrUnexpected)
	}
	if err := clearDeadline(ctx, conn, stop); err != nil {
		return nil, err
	}
	return newLink(conn, br, peer, true, cfg), nil
}

// clearDeadline ends the handshake's deadline and cancellation watch.
func clearDeadline(ctx context.Context, conn net.Conn, stop func() bool) error {
	if !stop() {
		return fmt.Errorf("handshake: %w", context.Cause(ctx))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return err
	}
	return nil
}

func writeMsg(conn net.Conn, m Msg) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	_, err = conn.Write(b)
	return err
}

func readMsg(br *bufio.Reader) (Msg, error) {
	t, body, err := ReadFrame(br)
	if err != nil {
		return nil, err
	}
	return Unmarshal(t, body)
}
