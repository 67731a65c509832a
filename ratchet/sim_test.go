package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0).UTC()

// newPair returns identities and fresh sessions: a is the requester
// (Complete), b the accepter (Accept).
func newPair(t testing.TB) (a, b *Identity, sa, sb *State) {
	t.Helper()
	_, ka, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, kb, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = NewIdentity(ka, t0); err != nil {
		t.Fatal(err)
	}
	if b, err = NewIdentity(kb, t0); err != nil {
		t.Fatal(err)
	}
	bundle, err := a.Bundle().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ParseBundle(bundle, a.OnionKey())
	if err != nil {
		t.Fatal(err)
	}
	sb, hs, err := Accept(b, pb, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != HandshakeSize {
		t.Fatalf("handshake is %d bytes, want %d", len(hs), HandshakeSize)
	}
	sa, err = Complete(a, b.OnionKey(), hs, t0)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, sa, sb
}

func mustMarshal(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reload round-trips a state through its encoding, as the node does between
// any two operations.
func reload(t testing.TB, s *State) *State {
	t.Helper()
	b := mustMarshal(t, s)
	r, err := UnmarshalState(b)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if b2 := mustMarshal(t, r); !bytes.Equal(b, b2) {
		t.Fatal("reload: encoding not stable")
	}
	return r
}

type flight struct {
	id      int
	msg, ad []byte
	pt      []byte
}

// sim is two parties and the messages in flight between them. Party 0 is
// the requester, 1 the accepter. Every failed Decrypt is checked to leave the
// state byte-identical, and (with reload) both states go through
// MarshalBinary/UnmarshalState after every step.
type sim struct {
	t         testing.TB
	st        [2]*State
	pending   [2][]*flight // messages addressed to party i, not yet delivered
	delivered [2][]*flight
	now       time.Time
	seq       int
	reload    bool
	log       []string
}

func newSim(t testing.TB, reload bool) *sim {
	_, _, sa, sb := newPair(t)
	return &sim{t: t, st: [2]*State{sa, sb}, now: t0, reload: reload}
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s\nafter steps: %v", fmt.Sprintf(format, args...), s.log)
}

func (s *sim) step(name string) {
	s.log = append(s.log, name)
	if len(s.log) > 40 {
		s.log = s.log[len(s.log)-40:]
	}
	if s.reload {
		s.st[0] = reload(s.t, s.st[0])
		s.st[1] = reload(s.t, s.st[1])
	}
}

// send makes party from encrypt a new message.
func (s *sim) send(from int) *flight {
	s.t.Helper()
	s.seq++
	f := &flight{id: s.seq, pt: fmt.Appendf(nil, "message %d from %d", s.seq, from), ad: fmt.Appendf(nil, "id-%d", s.seq)}
	before := mustMarshal(s.t, s.st[from])
	next, msg, err := s.st[from].Encrypt(f.pt, f.ad, s.now)
	if err != nil {
		s.fatalf("send %d: %v", from, err)
	}
	if !bytes.Equal(before, mustMarshal(s.t, s.st[from])) {
		s.fatalf("Encrypt modified its receiver")
	}
	f.msg = msg
	s.st[from] = next
	s.pending[1-from] = append(s.pending[1-from], f)
	s.step(fmt.Sprintf("send%d#%d", from, f.id))
	return f
}

// deliver hands party to its i-th pending message, which must decrypt.
func (s *sim) deliver(to, i int) {
	s.t.Helper()
	f := s.pending[to][i]
	next, pt := s.decryptOK(to, f)
	s.st[to] = next
	_ = pt
	s.pending[to] = append(s.pending[to][:i:i], s.pending[to][i+1:]...)
	s.delivered[to] = append(s.delivered[to], f)
	s.step(fmt.Sprintf("deliver%d#%d", to, f.id))
}

// peek decrypts the i-th pending message and discards the result, as a node
// that crashes before committing would; the message stays pending.
func (s *sim) peek(to, i int) {
	s.t.Helper()
	s.decryptOK(to, s.pending[to][i])
	s.step(fmt.Sprintf("peek%d#%d", to, s.pending[to][i].id))
}

func (s *sim) decryptOK(to int, f *flight) (*State, []byte) {
	s.t.Helper()
	before := mustMarshal(s.t, s.st[to])
	next, pt, err := s.st[to].Decrypt(f.msg, f.ad, s.now)
	if err != nil {
		s.fatalf("deliver #%d to %d: %v", f.id, to, err)
	}
	if !bytes.Equal(pt, f.pt) {
		s.fatalf("deliver #%d to %d: got %q, want %q", f.id, to, pt, f.pt)
	}
	if !bytes.Equal(before, mustMarshal(s.t, s.st[to])) {
		s.fatalf("Decrypt modified its receiver")
	}
	return next, pt
}

// drop loses the i-th pending message for party to.
func (s *sim) drop(to, i int) {
	f := s.pending[to][i]
	s.pending[to] = append(s.pending[to][:i:i], s.pending[to][i+1:]...)
	s.step(fmt.Sprintf("drop%d#%d", to, f.id))
}

// duplicate redelivers an already delivered message: it must fail with
// ErrDecrypt and change nothing.
func (s *sim) duplicate(to, i int) {
	s.t.Helper()
	f := s.delivered[to][i]
	s.expectFail(to, f.msg, f.ad, ErrDecrypt, fmt.Sprintf("duplicate #%d", f.id))
	s.step(fmt.Sprintf("dup%d#%d", to, f.id))
}

func (s *sim) expectFail(to int, msg, ad []byte, want error, what string) {
	s.t.Helper()
	before := mustMarshal(s.t, s.st[to])
	next, pt, err := s.st[to].Decrypt(msg, ad, s.now)
	if !errors.Is(err, want) {
		s.fatalf("%s to %d: err = %v, want %v", what, to, err, want)
	}
	if next != nil || pt != nil {
		s.fatalf("%s: failed Decrypt returned a state or plaintext", what)
	}
	if !bytes.Equal(before, mustMarshal(s.t, s.st[to])) {
		s.fatalf("%s: failed Decrypt changed the state", what)
	}
}

// flush delivers everything pending, oldest first, then checks the session
// works both ways.
func (s *sim) converge() {
	s.t.Helper()
	for to := range 2 {
		for len(s.pending[to]) > 0 {
			s.deliver(to, 0)
		}
	}
	for _, from := range []int{0, 1, 0} {
		s.send(from)
		s.deliver(1-from, len(s.pending[1-from])-1)
	}
}
