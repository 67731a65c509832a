package wire

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// These tests play a compromised Tor: it carries the link's bytes and may
// read, drop, inject or replay them. The link must not rest on it.

// quietCfg has no keepalive traffic during a test, so frames the test
// injects fall between the links' own frames.
var quietCfg = &Config{KeepaliveInterval: time.Minute, HandshakeTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}

// mitm relays bytes between a dialer's and a listener's end, recording
// them, and can inject bytes in either direction between two writes.
type mitm struct {
	mu         sync.Mutex
	toListener net.Conn // the proxy's end facing the listener
	toDialer   net.Conn // the proxy's end facing the dialer
	seen       [2]bytes.Buffer
	frames     [2][][]byte // every write relayed, per direction
}

const (
	dirToListener = 0
	dirToDialer   = 1
)

// newMITM returns the conns the dialer and the listener use.
func newMITM(t *testing.T) (m *mitm, dialerConn, listenerConn net.Conn) {
	d1, d2 := net.Pipe() // dialer ↔ proxy
	l1, l2 := net.Pipe() // proxy ↔ listener
	m = &mitm{toListener: l1, toDialer: d2}
	var wg sync.WaitGroup
	relay := func(dir int, from, to net.Conn) {
		defer wg.Done()
		buf := make([]byte, 256<<10)
		for {
			n, err := from.Read(buf)
			if err != nil {
				to.Close()
				return
			}
			m.mu.Lock()
			m.seen[dir].Write(buf[:n])
			m.frames[dir] = append(m.frames[dir], bytes.Clone(buf[:n]))
			_, err = to.Write(buf[:n])
			m.mu.Unlock()
			if err != nil {
				from.Close()
				return
			}
		}
	}
	wg.Add(2)
	go relay(dirToListener, d2, l1)
	go relay(dirToDialer, l1, d2)
	t.Cleanup(func() { d1.Close(); l2.Close(); d2.Close(); l1.Close(); wg.Wait() })
	return m, d1, l2
}

func (m *mitm) inject(dir int, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	to := m.toListener
	if dir == dirToDialer {
		to = m.toDialer
	}
	to.Write(b)
}

func (m *mitm) saw(dir int, b []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Contains(m.seen[dir].Bytes(), b)
}

func (m *mitm) lastFrame(dir int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.frames[dir][len(m.frames[dir])-1]
}

func mitmPair(t *testing.T) (m *mitm, srv, cli *Link) {
	sk, ck := newKey(t), newKey(t)
	m, dc, lc := newMITM(t)
	ch := make(chan result, 1)
	go func() {
		l, err := Server(t.Context(), lc, sk, quietCfg)
		ch <- result{l, err}
	}()
	cl, err := Client(t.Context(), dc, ck, pub(sk), quietCfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { cl.Close(); r.l.Close() })
	return m, r.l, cl
}

// TestLinkForgedAck: a tor that injects an Ack could make the sender drop a
// message from its outbox that never arrived. The injected frame must end
// the link instead of reaching the node. (Link protocol 1 delivered it.)
func TestLinkForgedAck(t *testing.T) {
	checkGoroutines(t)
	m, _, cli := mitmPair(t)
	forged, err := Marshal(&Ack{ID: ID{0xac, 0x4}})
	if err != nil {
		t.Fatal(err)
	}
	m.inject(dirToDialer, forged)
	got, err := cli.Recv(t.Context())
	if err == nil {
		t.Fatalf("the dialer received an injected %T", got)
	}
	if !errors.Is(cli.Err(), ErrAuth) && !errors.Is(cli.Err(), ErrUnexpected) {
		t.Fatalf("link ended with %v, want an authentication failure", cli.Err())
	}
}

// TestLinkReplayedFrame: a frame relayed twice (or out of order) ends the
// link; the receiver never sees a frame twice from the wire.
func TestLinkReplayedFrame(t *testing.T) {
	checkGoroutines(t)
	m, srv, cli := mitmPair(t)
	ctx := t.Context()
	msg := &Message{ID: ID{0x11, 1}, Ciphertext: []byte("only once")}
	go cli.Send(msg)
	if got, err := srv.Recv(ctx); err != nil || got.(*Message).ID != msg.ID {
		t.Fatalf("Recv = %v, %v", got, err)
	}
	m.inject(dirToListener, m.lastFrame(dirToListener))
	if got, err := srv.Recv(ctx); err == nil {
		t.Fatalf("the listener received a replayed %T", got)
	}
	if !errors.Is(srv.Err(), ErrAuth) {
		t.Fatalf("link ended with %v, want ErrAuth", srv.Err())
	}
}

// TestLinkTrafficIsSealed: nothing a frame carries (ids, ciphertexts,
// greetings) is visible to the tor that relays it.
func TestLinkTrafficIsSealed(t *testing.T) {
	checkGoroutines(t)
	m, srv, cli := mitmPair(t)
	ctx := t.Context()
	secret := []byte("a greeting only bob may read")
	id := ID{0x5e, 0xc7, 0xe7}
	go cli.Send(&Request{ID: id, Bundle: []byte("bundle"), Greeting: string(secret)})
	if _, err := srv.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	go srv.Send(&Ack{ID: id})
	if _, err := cli.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	for dir, what := range map[int][]byte{dirToListener: secret, dirToDialer: id[:]} {
		if m.saw(dir, what) || m.saw(dir, id[:]) {
			t.Errorf("direction %d: %q visible on the wire", dir, what)
		}
	}
}
