package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"time"
)

// Labels. The version is part of each, so nothing of link protocol 2 is
// valid in another protocol or use of the same keys (onion keys also sign
// ratchet bundles, under their own label).
const (
	transcriptLabel = "chive link v2 transcript\x00"
	keysInfo        = "chive link v2 keys"
	authLabel       = "chive link v2 auth\x00"

	roleDialer   = 'D'
	roleListener = 'L'

	// maxHandshakeFrame bounds what a stranger can make us allocate before
	// it has proven anything. Hello is the largest handshake frame (~1.2 KiB).
	maxHandshakeFrame = 4 << 10
)

// linkKeys are the two directions' keys.
type linkKeys struct {
	dl, ld [32]byte // dialer → listener, listener → dialer
}

// transcript hashes what both sides said in the clear, and the key of the
// onion the dialer asked Tor for. Every field has a fixed length.
func transcript(listener ed25519.PublicKey, h *Hello, ks *KeyShare) [32]byte {
	d := sha256.New()
	d.Write([]byte(transcriptLabel))
	d.Write(listener)
	d.Write(h.E)
	d.Write(h.EK)
	d.Write(ks.E)
	d.Write(ks.CT)
	var th [32]byte
	d.Sum(th[:0])
	return th
}

// deriveKeys is the hybrid key schedule: both the X25519 and the ML-KEM
// secret go into HKDF, so the link key stays secret unless both fall
// (recorded traffic stays safe from a future quantum computer).
func deriveKeys(dh, ss []byte, th [32]byte) linkKeys {
	ikm := append(append(make([]byte, 0, len(dh)+len(ss)), dh...), ss...)
	out, err := hkdf.Key(sha256.New, ikm, th[:], keysInfo, 64)
	clear(ikm)
	if err != nil {
		panic("wire: hkdf: " + err.Error()) // only on absurd lengths
	}
	var k linkKeys
	copy(k.dl[:], out[:32])
	copy(k.ld[:], out[32:])
	clear(out)
	return k
}

// authMessage is what each side signs: its role, the transcript (which
// fixes both ephemeral keys, hence the link keys) and both onion keys.
func authMessage(role byte, th [32]byte, dialer, listener ed25519.PublicKey) []byte {
	m := make([]byte, 0, len(authLabel)+1+len(th)+2*ed25519.PublicKeySize)
	m = append(m, authLabel...)
	m = append(m, role)
	m = append(m, th[:]...)
	m = append(m, dialer...)
	return append(m, listener...)
}

// serverHS is the listener's handshake, step by step (no I/O).
type serverHS struct {
	self  ed25519.PrivateKey
	pub   ed25519.PublicKey
	e     *ecdh.PrivateKey
	dk    *mlkem.DecapsulationKey768
	hello Hello
	th    [32]byte
	keys  linkKeys
}

func newServerHS(self ed25519.PrivateKey) (*serverHS, error) {
	e, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, err
	}
	s := &serverHS{self: self, pub: self.Public().(ed25519.PublicKey), e: e, dk: dk}
	s.hello = Hello{E: e.PublicKey().Bytes(), EK: dk.EncapsulationKey().Bytes()}
	return s, nil
}

// keyShare derives the link keys from the dialer's KeyShare.
func (s *serverHS) keyShare(ks *KeyShare) error {
	pe, err := ecdh.X25519().NewPublicKey(ks.E)
	if err != nil {
		return fmt.Errorf("dialer's X25519 key: %w", ErrAuth)
	}
	dh, err := s.e.ECDH(pe) // fails on a low-order key (all-zero secret)
	if err != nil {
		return fmt.Errorf("dialer's X25519 key: %w", ErrAuth)
	}
	ss, err := s.dk.Decapsulate(ks.CT)
	if err != nil {
		clear(dh)
		return fmt.Errorf("ML-KEM ciphertext: %w", ErrAuth)
	}
	s.th = transcript(s.pub, &s.hello, ks)
	s.keys = deriveKeys(dh, ss, s.th)
	clear(dh)
	clear(ss)
	return nil
}

// verify checks the dialer's Auth and returns its proven key.
func (s *serverHS) verify(a *Auth) (ed25519.PublicKey, error) {
	key := ed25519.PublicKey(bytes.Clone(a.Key))
	if !verify(key, authMessage(roleDialer, s.th, key, s.pub), a.Sig) {
		return nil, ErrAuth
	}
	return key, nil
}

// auth is the listener's own Auth for the dialer with key peer.
func (s *serverHS) auth(peer ed25519.PublicKey) *Auth {
	return &Auth{Key: s.pub, Sig: ed25519.Sign(s.self, authMessage(roleListener, s.th, peer, s.pub))}
}

// clientHS is the dialer's handshake, step by step (no I/O).
type clientHS struct {
	self ed25519.PrivateKey
	pub  ed25519.PublicKey
	peer ed25519.PublicKey
	th   [32]byte
	keys linkKeys
}

// hello answers the listener's Hello: the KeyShare to send, and the keys.
func (c *clientHS) hello(h *Hello) (*KeyShare, error) {
	pe, err := ecdh.X25519().NewPublicKey(h.E)
	if err != nil {
		return nil, fmt.Errorf("listener's X25519 key: %w", ErrAuth)
	}
	ek, err := mlkem.NewEncapsulationKey768(h.EK)
	if err != nil {
		return nil, fmt.Errorf("listener's ML-KEM key: %w", ErrAuth)
	}
	e, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	dh, err := e.ECDH(pe)
	if err != nil {
		return nil, fmt.Errorf("listener's X25519 key: %w", ErrAuth)
	}
	ss, ct := ek.Encapsulate()
	ks := &KeyShare{E: e.PublicKey().Bytes(), CT: ct}
	c.th = transcript(c.peer, h, ks)
	c.keys = deriveKeys(dh, ss, c.th)
	clear(dh)
	clear(ss)
	return ks, nil
}

// auth is the dialer's Auth.
func (c *clientHS) auth() *Auth {
	return &Auth{Key: c.pub, Sig: ed25519.Sign(c.self, authMessage(roleDialer, c.th, c.pub, c.peer))}
}

// verify checks the listener's Auth: the onion we dialed, signing this link.
func (c *clientHS) verify(a *Auth) error {
	if !bytes.Equal(a.Key, c.peer) || !verify(c.peer, authMessage(roleListener, c.th, c.pub, c.peer), a.Sig) {
		return ErrAuth
	}
	return nil
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
// peer's key (Link.Peer) is proven: the dialer signed the transcript with it,
// and we signed it with ours. The handshake is bounded by ctx and
// cfg.HandshakeTimeout. On error conn is closed; authentication failures
// wrap ErrAuth, a peer of another protocol version ErrVersion. cfg may be
// nil for defaults.
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

	hs, err := newServerHS(self)
	if err != nil {
		return nil, err
	}
	if err := writeMsg(conn, &hs.hello); err != nil {
		return nil, err
	}
	m, err := readMsg(br, maxHandshakeFrame)
	if err != nil {
		return nil, err
	}
	ks, ok := m.(*KeyShare)
	if !ok {
		return nil, fmt.Errorf("%s during handshake: %w", m.Type(), ErrUnexpected)
	}
	if err := hs.keyShare(ks); err != nil {
		return nil, err
	}
	rx, tx := newSealer(hs.keys.dl), newSealer(hs.keys.ld)
	if m, err = readSealed(br, rx, maxHandshakeFrame); err != nil {
		return nil, err
	}
	auth, ok := m.(*Auth)
	if !ok {
		return nil, fmt.Errorf("%s during handshake: %w", m.Type(), ErrUnexpected)
	}
	peer, err := hs.verify(auth)
	if err != nil {
		return nil, err
	}
	if err := writeSealed(conn, tx, hs.auth(peer)); err != nil {
		return nil, err
	}
	if err := clearDeadline(ctx, conn, stop); err != nil {
		return nil, err
	}
	return newLink(conn, br, peer, false, cfg, tx, rx), nil
}

// Client runs the dialer's side of the link handshake on conn, a connection
// to peer's onion service, proving our key self. The listener proves peer
// in turn, so a link never rests on Tor alone to know who is at the other
// end. Bounded by ctx and cfg.HandshakeTimeout; on error conn is closed.
// cfg may be nil for defaults.
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
	pub := self.Public().(ed25519.PublicKey)
	if bytes.Equal(pub, peer) {
		return nil, fmt.Errorf("dialing ourselves: %w", ErrAuth)
	}
	stop := handshakeDeadline(ctx, conn, cfg)
	defer stop()
	br := bufio.NewReader(conn)

	m, err := readMsg(br, maxHandshakeFrame)
	if err != nil {
		return nil, err
	}
	hello, ok := m.(*Hello)
	if !ok {
		return nil, fmt.Errorf("%s during handshake: %w", m.Type(), ErrUnexpected)
	}
	hs := &clientHS{self: self, pub: pub, peer: peer}
	ks, err := hs.hello(hello)
	if err != nil {
		return nil, err
	}
	tx, rx := newSealer(hs.keys.dl), newSealer(hs.keys.ld)
	// KeyShare and our Auth go out together: one flight.
	out, err := Marshal(ks)
	if err != nil {
		return nil, err
	}
	auth, err := sealMsg(tx, hs.auth())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(append(out, auth...)); err != nil {
		return nil, err
	}
	if m, err = readSealed(br, rx, maxHandshakeFrame); err != nil {
		return nil, err
	}
	la, ok := m.(*Auth)
	if !ok {
		return nil, fmt.Errorf("%s during handshake: %w", m.Type(), ErrUnexpected)
	}
	if err := hs.verify(la); err != nil {
		return nil, err
	}
	if err := clearDeadline(ctx, conn, stop); err != nil {
		return nil, err
	}
	return newLink(conn, br, peer, true, cfg, tx, rx), nil
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

func sealMsg(s *sealer, m Msg) ([]byte, error) {
	b, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	return s.seal(b)
}

func writeSealed(conn net.Conn, s *sealer, m Msg) error {
	b, err := sealMsg(s, m)
	if err != nil {
		return err
	}
	_, err = conn.Write(b)
	return err
}

// readMsg reads and decodes one frame in the clear.
func readMsg(br *bufio.Reader, max uint32) (Msg, error) {
	hdr, body, err := readFrame(br, max)
	if err != nil {
		return nil, err
	}
	return Unmarshal(Type(hdr[5]), body)
}
