package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func testIdentity(t testing.TB) (*Identity, ed25519.PrivateKey) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity(k, t0)
	if err != nil {
		t.Fatal(err)
	}
	return id, k
}

func TestBundleRoundTrip(t *testing.T) {
	id, _ := testIdentity(t)
	data, err := id.Bundle().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != BundleSize {
		t.Fatalf("bundle is %d bytes, want %d", len(data), BundleSize)
	}
	b, err := ParseBundle(data, id.OnionKey())
	if err != nil {
		t.Fatal(err)
	}
	if !b.Created.Equal(t0) || !bytes.Equal(b.OnionKey, id.OnionKey()) {
		t.Fatalf("round trip: %+v", b)
	}
	again, _ := b.MarshalBinary()
	if !bytes.Equal(again, data) {
		t.Fatal("re-marshaled bundle differs")
	}
}

func TestBundleRejected(t *testing.T) {
	id, key := testIdentity(t)
	other, otherKey := testIdentity(t)
	good, _ := id.Bundle().MarshalBinary()

	resign := func(b *Bundle, k ed25519.PrivateKey) []byte {
		b.Signature = ed25519.Sign(k, signedMessage(b.appendUnsigned(nil)))
		out, err := b.marshal()
		if err != nil {
			// A stripped bundle cannot be marshaled; build it by hand.
			out = append(b.appendUnsigned(nil), b.Signature...)
		}
		return out
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }

	// A downgrade: the PQ key removed, even re-signed by the real key (as a
	// buggy or old client would), is refused.
	stripped := *id.Bundle()
	stripped.PQKey = nil
	strippedBytes := resign(&stripped, key)
	// The same with the PQ key zeroed in place.
	zeroed := *id.Bundle()
	zeroed.PQKey = make([]byte, pqEKSize)
	zeroedBytes := resign(&zeroed, key)
	// Stripping without re-signing.
	strippedUnsigned := append(bytes.Clone(good[:1+96]), good[1+96+pqEKSize:]...)

	// Another address's key substituted, signed by that key: a valid bundle,
	// but not for the address we expected.
	swapped := *id.Bundle()
	swapped.OnionKey = other.OnionKey()
	swappedBytes := resign(&swapped, otherKey)

	// Our keys, signed by the wrong onion key but claiming ours: a forgery.
	forged := *id.Bundle()
	forgedBytes := resign(&forged, otherKey)

	for _, tc := range []struct {
		name  string
		data  []byte
		onion ed25519.PublicKey
		want  error
	}{
		{"empty", nil, id.OnionKey(), ErrBundleMalformed},
		{"short", good[:100], id.OnionKey(), ErrBundleMalformed},
		{"long", append(bytes.Clone(good), 0), id.OnionKey(), ErrBundleMalformed},
		{"version", flip(0), id.OnionKey(), ErrBundleVersion},
		{"downgrade re-signed", strippedBytes, id.OnionKey(), ErrBundleDowngrade},
		{"downgrade unsigned", strippedUnsigned, id.OnionKey(), ErrBundleDowngrade},
		{"downgrade zeroed", zeroedBytes, id.OnionKey(), ErrBundleDowngrade},
		{"other address", good, other.OnionKey(), ErrBundleAddress},
		{"swapped onion key", swappedBytes, id.OnionKey(), ErrBundleAddress},
		{"no expected key", good, nil, ErrBundleAddress},
		{"forged signature", forgedBytes, id.OnionKey(), ErrBundleSignature},
		{"flipped identity key", flip(1 + 32), id.OnionKey(), ErrBundleSignature},
		{"flipped prekey", flip(1 + 64), id.OnionKey(), ErrBundleSignature},
		{"flipped PQ key", flip(1 + 96 + 5), id.OnionKey(), ErrBundleSignature},
		{"flipped time", flip(BundleSize - 64 - 1), id.OnionKey(), ErrBundleSignature},
		{"flipped signature", flip(BundleSize - 1), id.OnionKey(), ErrBundleSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBundle(tc.data, tc.onion)
			if !errors.Is(err, tc.want) || b != nil {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "ratchet: parse bundle: ") {
				t.Fatalf("error %q lacks the operation prefix", err)
			}
		})
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	id, _ := testIdentity(t)
	data, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	id2, err := UnmarshalIdentity(data)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := id.Bundle().MarshalBinary()
	b2, _ := id2.Bundle().MarshalBinary()
	if !bytes.Equal(b1, b2) {
		t.Fatal("bundle changed across identity round trip")
	}
	// The reloaded identity still completes handshakes made for the old one.
	peer, _ := testIdentity(t)
	sp, hs, err := Accept(peer, id.Bundle(), t0)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := Complete(id2, peer.OnionKey(), hs, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, msg, _ := sa.Encrypt([]byte("x"), nil, t0)
	if _, pt, err := sp.Decrypt(msg, nil, t0); err != nil || string(pt) != "x" {
		t.Fatal(err)
	}
	// Garbage.
	for i, bad := range [][]byte{nil, []byte("CHID"), data[:len(data)-1], append(bytes.Clone(data), 1)} {
		if _, err := UnmarshalIdentity(bad); !errors.Is(err, ErrIdentity) {
			t.Errorf("case %d: err = %v", i, err)
		}
	}
	corrupt := bytes.Clone(data)
	corrupt[5+40] ^= 1 // identity private key: bundle no longer verifies
	if _, err := UnmarshalIdentity(corrupt); !errors.Is(err, ErrIdentity) {
		t.Errorf("corrupt key: err = %v", err)
	}
	if _, err := NewIdentity(ed25519.PrivateKey{1, 2}, t0); err == nil {
		t.Error("NewIdentity accepted a short key")
	}
}

func TestHandshakeRejected(t *testing.T) {
	a, _ := testIdentity(t)
	b, _ := testIdentity(t)
	c, _ := testIdentity(t)
	_, hs, err := Accept(b, a.Bundle(), t0)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { h := bytes.Clone(hs); h[i] ^= 1; return h }
	for _, tc := range []struct {
		name  string
		self  *Identity
		peer  ed25519.PublicKey
		hs    []byte
		want  error
		check bool
	}{
		{"empty", a, b.OnionKey(), nil, ErrHandshake, true},
		{"short", a, b.OnionKey(), hs[:100], ErrHandshake, true},
		{"version", a, b.OnionKey(), flip(0), ErrHandshake, true},
		{"wrong peer", a, c.OnionKey(), hs, ErrBundleAddress, true},
		{"peer bundle forged", a, b.OnionKey(), flip(1 + 40), ErrBundleSignature, true},
		{"not for us", c, b.OnionKey(), hs, ErrHandshake, true},
		{"ephemeral key", a, b.OnionKey(), flip(1 + BundleSize + 3), ErrHandshake, true},
		{"kem ciphertext", a, b.OnionKey(), flip(1 + BundleSize + 32 + 7), ErrHandshake, true},
		{"ratchet key", a, b.OnionKey(), flip(1 + BundleSize + 32 + pqCTSize + 1), ErrHandshake, true},
		{"confirmation", a, b.OnionKey(), flip(HandshakeSize - 1), ErrHandshake, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Complete(tc.self, tc.peer, tc.hs, t0)
			if !errors.Is(err, tc.want) || st != nil {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The requester may be offline for days: the handshake does not expire.
	if _, err := Complete(a, b.OnionKey(), hs, t0.Add(72*time.Hour)); err != nil {
		t.Fatalf("completing days later: %v", err)
	}
}

func TestSessionBinding(t *testing.T) {
	a, b, sa, sb := newPair(t)
	if sa.SessionID() != sb.SessionID() {
		t.Fatal("session ids differ")
	}
	if !bytes.Equal(sa.PeerOnionKey(), b.OnionKey()) || !bytes.Equal(sb.PeerOnionKey(), a.OnionKey()) {
		t.Fatal("peer keys wrong")
	}
	// Two acceptances of the same bundle are distinct sessions.
	sb2, _, err := Accept(b, a.Bundle(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if sb2.SessionID() == sb.SessionID() {
		t.Fatal("session id repeated")
	}
}

func TestSafetyNumber(t *testing.T) {
	a, _ := testIdentity(t)
	b, _ := testIdentity(t)
	ab := SafetyNumber(a.OnionKey(), b.OnionKey())
	ba := SafetyNumber(b.OnionKey(), a.OnionKey())
	if ab != ba {
		t.Fatalf("order dependent: %q vs %q", ab, ba)
	}
	groups := strings.Split(ab, " ")
	if len(groups) != 12 {
		t.Fatalf("%q: %d groups", ab, len(groups))
	}
	for _, g := range groups {
		if len(g) != 5 || strings.Trim(g, "0123456789") != "" {
			t.Fatalf("bad group %q in %q", g, ab)
		}
	}
	c, _ := testIdentity(t)
	if SafetyNumber(a.OnionKey(), c.OnionKey()) == ab {
		t.Fatal("different pairs, same number")
	}
}
