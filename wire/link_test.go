package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

var fastCfg = &Config{
	KeepaliveInterval: 50 * time.Millisecond,
	Timeout:           300 * time.Millisecond,
	HandshakeTimeout:  2 * time.Second,
	WriteTimeout:      2 * time.Second,
}

// checkGoroutines fails the test if a goroutine started during it is still
// running once its cleanups are done (it registers its check first, so it
// runs last). The tests are not parallel: every new goroutine is the test's.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// TestMain also checks that no goroutine outlives the package's tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	l   *Link
	err error
}

// pair runs Server on one end of a pipe and Client on the other.
func pair(t *testing.T, srvKey, cliKey ed25519.PrivateKey, cliThinksPeer ed25519.PublicKey) (srv, cli result) {
	t.Helper()
	a, b := net.Pipe()
	return pairConns(t, a, b, srvKey, cliKey, cliThinksPeer)
}

// pairConns runs Server on a and Client on b.
func pairConns(t *testing.T, a, b net.Conn, srvKey, cliKey ed25519.PrivateKey, cliThinksPeer ed25519.PublicKey) (srv, cli result) {
	t.Helper()
	ctx := t.Context()
	ch := make(chan result, 1)
	go func() {
		l, err := Server(ctx, a, srvKey, fastCfg)
		ch <- result{l, err}
	}()
	l, err := Client(ctx, b, cliKey, cliThinksPeer, fastCfg)
	cli = result{l, err}
	srv = <-ch
	for _, r := range []result{srv, cli} {
		if r.l != nil {
			t.Cleanup(func() { r.l.Close() })
		}
	}
	return srv, cli
}

func TestHandshakeOK(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	srv, cli := pair(t, sk, ck, pub(sk))
	if srv.err != nil || cli.err != nil {
		t.Fatalf("server: %v, client: %v", srv.err, cli.err)
	}
	if !srv.l.Peer().Equal(pub(ck)) || !cli.l.Peer().Equal(pub(sk)) {
		t.Fatal("peer keys do not match")
	}
	if srv.l.Dialed() || !cli.l.Dialed() {
		t.Fatal("Dialed is wrong")
	}

	// Both directions carry messages, in order.
	ctx := t.Context()
	go func() {
		for i := range 10 {
			cli.l.Send(&Message{ID: ID{byte(i + 1)}, Ciphertext: []byte{byte(i)}})
		}
	}()
	for i := range 10 {
		m, err := srv.l.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg, ok := m.(*Message); !ok || msg.ID != (ID{byte(i + 1)}) {
			t.Fatalf("recv %d: %#v", i, m)
		}
	}
	go srv.l.Send(&Ack{ID: ID{9}})
	if m, err := cli.l.Recv(ctx); err != nil || m.(*Ack).ID != (ID{9}) {
		t.Fatalf("recv ack: %#v, %v", m, err)
	}
	rtt, err := cli.l.Ping(ctx)
	if err != nil || rtt <= 0 {
		t.Fatalf("Ping = %v, %v", rtt, err)
	}

	srv.l.Close()
	if _, err := cli.l.Recv(ctx); err == nil {
		t.Fatal("Recv after peer closed succeeded")
	}
	if err := srv.l.Send(&Typing{}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close: %v, want net.ErrClosed", err)
	}
}

func TestHandshakeWrongKey(t *testing.T) {
	checkGoroutines(t)
	// The client believes it reached someone else's onion: its signature binds
	// the other key, so the real listener rejects it.
	sk, ck, other := newKey(t), newKey(t), newKey(t)
	srv, cli := pair(t, sk, ck, pub(other))
	if !errors.Is(srv.err, ErrAuth) {
		t.Errorf("server err = %v, want ErrAuth", srv.err)
	}
	if cli.err == nil {
		t.Error("client handshake succeeded against a listener that rejected it")
	}
}

// rawClient does the dialer's side by hand so tests can misbehave.
type rawClient struct {
	conn   net.Conn
	br     *bufio.Reader
	hs     *clientHS
	tx, rx *sealer
}

func startServer(t *testing.T, sk ed25519.PrivateKey) (*rawClient, <-chan result) {
	a, b := net.Pipe()
	ch := make(chan result, 1)
	go func() {
		l, err := Server(t.Context(), a, sk, fastCfg)
		if l != nil {
			t.Cleanup(func() { l.Close() })
		}
		ch <- result{l, err}
	}()
	t.Cleanup(func() { b.Close() })
	b.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawClient{conn: b, br: bufio.NewReader(b)}, ch
}

func (c *rawClient) hello(t *testing.T) *Hello {
	t.Helper()
	m, err := readMsg(c.br, MaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*Hello)
}

// keyShare answers h as self dialing peer and sends the KeyShare; the
// sealed frames after it are the test's.
func (c *rawClient) keyShare(t *testing.T, h *Hello, self ed25519.PrivateKey, peer ed25519.PublicKey) {
	t.Helper()
	c.hs = &clientHS{self: self, pub: pub(self), peer: peer}
	ks, err := c.hs.hello(h)
	if err != nil {
		t.Fatal(err)
	}
	c.tx, c.rx = newSealer(c.hs.keys.dl), newSealer(c.hs.keys.ld)
	c.send(t, ks)
}

// handshake completes an honest handshake as self.
func (c *rawClient) handshake(t *testing.T, self ed25519.PrivateKey, peer ed25519.PublicKey) {
	t.Helper()
	c.keyShare(t, c.hello(t), self, peer)
	c.sendSealed(t, c.hs.auth())
	m, err := readSealed(c.br, c.rx, MaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hs.verify(m.(*Auth)); err != nil {
		t.Fatal(err)
	}
}

func (c *rawClient) send(t *testing.T, m Msg) {
	t.Helper()
	if err := writeMsg(c.conn, m); err != nil {
		t.Fatal(err)
	}
}

func (c *rawClient) sendSealed(t *testing.T, m Msg) {
	t.Helper()
	if err := writeSealed(c.conn, c.tx, m); err != nil {
		t.Fatal(err)
	}
}

// drain reads (and drops) whatever the server sends until the pipe closes.
func (c *rawClient) drain() {
	go func() {
		for {
			if _, _, err := readFrame(c.br, MaxFrameSize+SealOverhead); err != nil {
				return
			}
		}
	}()
}

func TestHandshakeBadSignature(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	c, ch := startServer(t, sk)
	c.keyShare(t, c.hello(t), ck, pub(sk))
	a := c.hs.auth()
	a.Sig[10] ^= 1
	c.sendSealed(t, a)
	if r := <-ch; !errors.Is(r.err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", r.err)
	}

	// Claiming someone else's key with our own signature fails the same way.
	c, ch = startServer(t, sk)
	c.keyShare(t, c.hello(t), ck, pub(sk))
	victim := newKey(t)
	c.sendSealed(t, &Auth{Key: pub(victim), Sig: c.hs.auth().Sig})
	if r := <-ch; !errors.Is(r.err, ErrAuth) {
		t.Fatalf("claimed key: err = %v, want ErrAuth", r.err)
	}

	// So does a genuine signature of the listener's role (a reflection).
	c, ch = startServer(t, sk)
	c.keyShare(t, c.hello(t), ck, pub(sk))
	c.sendSealed(t, &Auth{Key: pub(ck), Sig: ed25519.Sign(ck, authMessage(roleListener, c.hs.th, pub(ck), pub(sk)))})
	if r := <-ch; !errors.Is(r.err, ErrAuth) {
		t.Fatalf("reflected role: err = %v, want ErrAuth", r.err)
	}
}

// TestHandshakeForgedIdentityKey is the review's forgery: an Auth whose key
// is the identity point with the signature R = identity, S = 0, which
// crypto/ed25519 accepts for any message: a link "authenticated" without
// any private key. (Link protocol 1 accepted it; the test failed then.)
func TestHandshakeForgedIdentityKey(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	key := make([]byte, 32)
	key[0] = 1
	sig := make([]byte, 64)
	sig[0] = 1
	c, ch := startServer(t, sk)
	c.keyShare(t, c.hello(t), ck, pub(sk))
	if !ed25519.Verify(key, authMessage(roleDialer, c.hs.th, key, pub(sk)), sig) {
		t.Fatal("crypto/ed25519 rejects the forgery by itself now; keep the explicit checks anyway")
	}
	c.sendSealed(t, &Auth{Key: key, Sig: sig})
	if r := <-ch; !errors.Is(r.err, ErrAuth) {
		t.Fatalf("forged auth: err = %v, want ErrAuth", r.err)
	}
}

func TestHandshakeWeakKeys(t *testing.T) {
	sk, ck := newKey(t), newKey(t)
	for name, key := range weakKeys(t, pub(ck)) {
		t.Run(name, func(t *testing.T) {
			checkGoroutines(t)
			c, ch := startServer(t, sk)
			c.keyShare(t, c.hello(t), ck, pub(sk))
			sig := make([]byte, 64)
			sig[0] = 1
			c.sendSealed(t, &Auth{Key: key, Sig: sig})
			if r := <-ch; !errors.Is(r.err, ErrAuth) {
				t.Fatalf("err = %v, want ErrAuth", r.err)
			}
		})
	}
}

// TestHandshakeListenerMustProveKey: a tor that answers for bob's onion
// without bob's key (a compromised tor, or a stolen descriptor) cannot
// complete the handshake: the listener signs the transcript too. Link
// protocol 1 took the listener on Tor's word; the test failed then.
func TestHandshakeListenerMustProveKey(t *testing.T) {
	checkGoroutines(t)
	bob, alice, mallory := newKey(t), newKey(t), newKey(t)
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		// Everything a listener does, honestly, except that it cannot sign
		// as bob: it signs with its own key, or claims bob's.
		br := bufio.NewReader(a)
		hs, err := newServerHS(mallory)
		if err != nil {
			return
		}
		hs.pub = pub(bob) // the transcript names the onion alice dialed
		writeMsg(a, &hs.hello)
		m, err := readMsg(br, maxHandshakeFrame)
		if err != nil || hs.keyShare(m.(*KeyShare)) != nil {
			return
		}
		rx, tx := newSealer(hs.keys.dl), newSealer(hs.keys.ld)
		if m, err = readSealed(br, rx, maxHandshakeFrame); err != nil {
			return
		}
		writeSealed(a, tx, &Auth{Key: pub(bob), Sig: ed25519.Sign(mallory, authMessage(roleListener, hs.th, m.(*Auth).Key, pub(bob)))})
		br.Peek(1)
	}()
	l, err := Client(t.Context(), b, alice, pub(bob), fastCfg)
	if err == nil {
		l.Close()
		t.Fatal("the dialer accepted a listener that never proved bob's key")
	}
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
}

// recordConn records everything written through it.
type recordConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func TestHandshakeReplay(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)

	// A genuine handshake, recorded on the dialer's side.
	a, b := net.Pipe()
	rec := &recordConn{Conn: b}
	ch := make(chan result, 1)
	go func() {
		l, err := Server(t.Context(), a, sk, fastCfg)
		ch <- result{l, err}
	}()
	cl, err := Client(t.Context(), rec, ck, pub(sk), fastCfg)
	if err != nil {
		t.Fatal(err)
	}
	sl := (<-ch).l
	cl.Close()
	sl.Close()
	rec.mu.Lock()
	captured := bytes.Clone(rec.buf.Bytes())
	rec.mu.Unlock()

	// Replaying the dialer's bytes to the same listener fails: its
	// ephemeral keys are fresh, so the recorded Auth does not even open.
	c, ch2 := startServer(t, sk)
	c.hello(t)
	go c.conn.Write(captured)
	if r := <-ch2; !errors.Is(r.err, ErrAuth) {
		t.Fatalf("replay: err = %v, want ErrAuth", r.err)
	}
}

func TestHandshakeHostileInput(t *testing.T) {
	sk := newKey(t)
	oversized := binary.BigEndian.AppendUint32(nil, maxHandshakeFrame+1)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversized frame", append(oversized, Version, byte(TypeKeyShare)), ErrFrameTooLarge},
		{"garbage", []byte(strings.Repeat("GET / HTTP/1.1\r\n", 4)), nil},
		{"link protocol 1", []byte{0, 0, 0, 3, 1, 0x02, 0xa0}, ErrVersion},
		{"cbor garbage", []byte{0, 0, 0, 5, Version, byte(TypeKeyShare), 0xff, 0xff, 0xff}, ErrMalformed},
		{"wrong frame", func() []byte { b, _ := Marshal(&Message{ID: ID{1}, Ciphertext: []byte{1}}); return b }(), ErrUnexpected},
		{"auth in the clear", func() []byte { b, _ := Marshal(&Auth{Key: make([]byte, 32), Sig: make([]byte, 64)}); return b }(), ErrUnexpected},
		{"low-order X25519 key", func() []byte {
			b, _ := Marshal(&KeyShare{E: make([]byte, 32), CT: make([]byte, 1088)})
			return b
		}(), ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			c, ch := startServer(t, sk)
			c.hello(t)
			go c.conn.Write(tt.in)
			r := <-ch
			if r.err == nil || (tt.want != nil && !errors.Is(r.err, tt.want)) {
				t.Fatalf("err = %v, want %v", r.err, tt.want)
			}
		})
	}
}

// TestHandshakeOlderPeer: a listener of link protocol 1 greets with a
// version-1 Hello; the dialer says the peer must upgrade.
func TestHandshakeOlderPeer(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		// Link protocol 1's Hello: {1: nonce (32 bytes)}.
		body := append([]byte{0xa1, 0x01, 0x58, 0x20}, make([]byte, 32)...)
		frame := binary.BigEndian.AppendUint32(nil, uint32(2+len(body)))
		a.Write(append(append(frame, 1, 0x01), body...))
	}()
	_, err := Client(t.Context(), b, newKey(t), pub(newKey(t)), fastCfg)
	if !errors.Is(err, ErrVersion) || !errors.Is(err, ErrOlderPeer) || !strings.Contains(err.Error(), "older chive") {
		t.Fatalf("err = %v, want ErrVersion saying the peer is older", err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	checkGoroutines(t)
	sk := newKey(t)
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		// Read the hello, then say nothing.
		bufio.NewReader(b).Peek(1)
	}()
	start := time.Now()
	cfg := *fastCfg
	cfg.HandshakeTimeout = 200 * time.Millisecond
	_, err := Server(t.Context(), a, sk, &cfg)
	if !IsTimeout(err) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("handshake timeout took %v", d)
	}

	// Cancelling the context ends it too.
	a, b = net.Pipe()
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := Client(ctx, a, sk, pub(newKey(t)), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestKeepalive(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	a, b := net.Pipe()
	a, srvPongs := countPongs(a)
	b, cliPongs := countPongs(b)
	srv, cli := pairConns(t, a, b, sk, ck, pub(sk))
	if srv.err != nil || cli.err != nil {
		t.Fatal(srv.err, cli.err)
	}
	// Idle (no Send) for twice the Timeout: keepalive pings and their pongs
	// (counted together: both are small sealed frames) keep both ends up. Watch both links end and count the pongs, rather
	// than sleep and look once.
	var pongs int
	idle := time.NewTimer(2 * fastCfg.Timeout)
	defer idle.Stop()
	for waiting := true; waiting; {
		select {
		case <-srvPongs:
			pongs++
		case <-cliPongs:
			pongs++
		case <-srv.l.Done():
			t.Fatalf("idle server link died after %d pongs: %v", pongs, srv.l.Err())
		case <-cli.l.Done():
			t.Fatalf("idle client link died after %d pongs: %v", pongs, cli.l.Err())
		case <-idle.C:
			waiting = false
		}
	}
	t.Logf("%d pongs", pongs)
	// At least one ping per KeepaliveInterval from one end or the other.
	if want := int(2*fastCfg.Timeout/fastCfg.KeepaliveInterval) / 2; pongs < 2*want {
		t.Errorf("%d keepalive pongs in %v, want at least %d", pongs, 2*fastCfg.Timeout, want)
	}
	if srv.l.Err() != nil || cli.l.Err() != nil {
		t.Fatalf("idle link died: %v / %v", srv.l.Err(), cli.l.Err())
	}
}

// pongCounter reports, on its channel, every sealed frame written through
// it after the handshake: on an idle link those are pings and pongs (the
// type is sealed; the Link writes one whole frame per Write).
type pongCounter struct {
	net.Conn
	pongs chan struct{}
}

func countPongs(c net.Conn) (net.Conn, <-chan struct{}) {
	pc := &pongCounter{Conn: c, pongs: make(chan struct{}, 1024)}
	return pc, pc.pongs
}

func (c *pongCounter) Write(b []byte) (int, error) {
	if len(b) >= frameHeader && Type(b[frameHeader-1]) == TypeSealed && len(b) < 64 {
		select {
		case c.pongs <- struct{}{}:
		default:
		}
	}
	return c.Conn.Write(b)
}

func TestKeepaliveDeadPeer(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	a, b := net.Pipe()
	ch := make(chan result, 1)
	go func() {
		l, err := Server(t.Context(), a, sk, fastCfg)
		ch <- result{l, err}
	}()
	// The peer completes the handshake by hand, then keeps reading (so our
	// pings are written) but never answers: a silent, dead peer.
	c := &rawClient{conn: b, br: bufio.NewReader(b)}
	defer b.Close()
	c.handshake(t, ck, pub(sk))
	c.drain()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.l.Close()
	start := time.Now()
	select {
	case <-r.l.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("dead peer not noticed")
	}
	if !IsTimeout(r.l.Err()) {
		t.Errorf("Err = %v, want a timeout", r.l.Err())
	}
	if d := time.Since(start); d < fastCfg.Timeout/2 || d > fastCfg.Timeout+5*time.Second {
		t.Errorf("noticed after %v; Timeout is %v", d, fastCfg.Timeout)
	}
}

func TestHandshakeFrameAfterHandshake(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	a, b := net.Pipe()
	ch := make(chan result, 1)
	go func() {
		l, err := Server(t.Context(), a, sk, fastCfg)
		ch <- result{l, err}
	}()
	c := &rawClient{conn: b, br: bufio.NewReader(b)}
	defer b.Close()
	c.handshake(t, ck, pub(sk))
	c.drain()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.l.Close()
	c.sendSealed(t, &Auth{Key: pub(ck), Sig: make([]byte, 64)})
	<-r.l.Done()
	if !errors.Is(r.l.Err(), ErrUnexpected) {
		t.Fatalf("Err = %v, want ErrUnexpected", r.l.Err())
	}
}

func TestSendFrame(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	srv, cli := pair(t, sk, ck, pub(sk))
	if srv.err != nil || cli.err != nil {
		t.Fatal(srv.err, cli.err)
	}
	frame, _ := Marshal(&Message{ID: ID{1}, Ciphertext: []byte("x")})
	for _, bad := range [][]byte{frame[:len(frame)-1], append(append([]byte{}, frame...), 0), nil, func() []byte { b, _ := Marshal(&Ping{}); return b }()} {
		if err := cli.l.SendFrame(bad); err == nil {
			t.Errorf("SendFrame(%x) succeeded", bad)
		}
	}
	go cli.l.SendFrame(frame)
	m, err := srv.l.Recv(t.Context())
	if err != nil || m.(*Message).ID != (ID{1}) {
		t.Fatalf("Recv = %#v, %v", m, err)
	}
	if srv.l.Err() != nil || cli.l.Err() != nil {
		t.Fatal("a rejected frame broke the link")
	}
}

// TestBidirectionalFlood: both sides send many frames at once and ack every
// one from their receive loop. Over net.Pipe (no buffering at all) this
// deadlocks unless replies never wait for the link's own writes.
func TestBidirectionalFlood(t *testing.T) {
	checkGoroutines(t)
	sk, ck := newKey(t), newKey(t)
	srv, cli := pair(t, sk, ck, pub(sk))
	if srv.err != nil || cli.err != nil {
		t.Fatal(srv.err, cli.err)
	}
	const n = 500
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, l := range []*Link{srv.l, cli.l} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range n {
				id := ID{byte(i), byte(i >> 8), 1}
				if err := l.Send(&Message{ID: id, Ciphertext: bytes.Repeat([]byte{1}, 1000)}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			msgs, acks := 0, 0
			for msgs < n || acks < n {
				m, err := l.Recv(t.Context())
				if err != nil {
					errs <- err
					return
				}
				switch m := m.(type) {
				case *Message:
					msgs++
					l.Post(&Ack{ID: m.ID})
				case *Ack:
					acks++
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock: flood did not complete")
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}
