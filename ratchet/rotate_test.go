package ratchet

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

const week = 7 * 24 * time.Hour

// reloadIdentity round-trips id through its encoding, as storage would.
func reloadIdentity(t *testing.T, id *Identity) *Identity {
	t.Helper()
	b, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := out.MarshalBinary()
	if !bytes.Equal(again, b) {
		t.Fatal("identity encoding is not canonical")
	}
	return out
}

// TestRotate: the new bundle has a fresh prekey and ML-KEM key, the same
// identity key, and verifies; an acceptance made for the bundle before the
// rotation still completes (within the grace period), and the session works.
func TestRotate(t *testing.T) {
	alice, ka := testIdentity(t)
	bob, _ := testIdentity(t)
	oldBundle, _ := alice.Bundle().MarshalBinary() // sent in a request

	rotated, err := alice.Rotate(ka, t0.Add(week), 4*week)
	if err != nil {
		t.Fatal(err)
	}
	rotated = reloadIdentity(t, rotated)
	nb := rotated.Bundle()
	ob := alice.Bundle()
	if bytes.Equal(nb.PreKey, ob.PreKey) || bytes.Equal(nb.PQKey, ob.PQKey) || !bytes.Equal(nb.IdentityKey, ob.IdentityKey) {
		t.Fatal("rotation must replace the prekey and ML-KEM key and keep the identity key")
	}
	if !rotated.Created().Equal(t0.Add(week)) || rotated.Retired() != 1 {
		t.Fatalf("created %v, %d retired", rotated.Created(), rotated.Retired())
	}
	nbBytes, _ := nb.MarshalBinary()
	if _, err := ParseBundle(nbBytes, alice.OnionKey()); err != nil {
		t.Fatal(err)
	}
	if _, otherKey := testIdentity(t); func() error { _, err := alice.Rotate(otherKey, t0, week); return err }() == nil {
		t.Fatal("rotated with another onion key")
	}

	// Bob accepts the request that carried the old bundle.
	pb, err := ParseBundle(oldBundle, alice.OnionKey())
	if err != nil {
		t.Fatal(err)
	}
	sb, hs, err := Accept(bob, pb, t0.Add(8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := Complete(rotated, bob.OnionKey(), hs, t0.Add(9*24*time.Hour))
	if err != nil {
		t.Fatalf("complete with a retired bundle: %v", err)
	}
	converse(t, sa, sb)

	// And one made for the new bundle completes too.
	pn, _ := ParseBundle(nbBytes, alice.OnionKey())
	sb2, hs2, err := Accept(bob, pn, t0.Add(8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sa2, err := Complete(rotated, bob.OnionKey(), hs2, t0.Add(9*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	converse(t, sa2, sb2)

	// After the grace period the old keys are gone: the old acceptance no
	// longer completes (forward secrecy for the handshake).
	later, err := rotated.Rotate(ka, t0.Add(6*week), 4*week)
	if err != nil {
		t.Fatal(err)
	}
	if later.Retired() != 1 {
		t.Fatalf("%d retired after the grace period, want 1 (the last bundle)", later.Retired())
	}
	if _, err := Complete(reloadIdentity(t, later), bob.OnionKey(), hs, t0.Add(6*week)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("complete after the grace period: %v, want ErrHandshake", err)
	}
}

func TestRotateKeepsAtMostMaxRetired(t *testing.T) {
	id, k := testIdentity(t)
	for i := range MaxRetired + 3 {
		var err error
		if id, err = id.Rotate(k, t0.Add(time.Duration(i+1)*time.Hour), 365*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if id.Retired() != MaxRetired {
		t.Fatalf("%d retired, want %d", id.Retired(), MaxRetired)
	}
	reloadIdentity(t, id)
}

func TestIdentityEncodingVersions(t *testing.T) {
	id, k := testIdentity(t)
	v1, _ := id.MarshalBinary()
	if v1[4] != identityVersion || len(v1) != identitySize {
		t.Fatalf("an identity without retired keys is written as version %d, %d bytes", v1[4], len(v1))
	}
	rot, _ := id.Rotate(k, t0.Add(week), 4*week)
	v2, _ := rot.MarshalBinary()
	if v2[4] != identityVersion2 || len(v2) != identitySize+1+retiredSize {
		t.Fatalf("rotated: version %d, %d bytes", v2[4], len(v2))
	}
	bad := map[string][]byte{
		"v2 without retired keys": append(append([]byte{}, v2[:4]...), append([]byte{identityVersion2}, v1[5:]...)...),
		"v2 count 0":              append(bytes.Clone(v2[:identitySize]), 0),
		"v2 truncated":            v2[:len(v2)-1],
		"v2 count too high":       append(append(bytes.Clone(v2[:identitySize]), 2), v2[identitySize+1:]...),
		"v1 with trailing bytes":  append(bytes.Clone(v1), 0),
		"retired signature":       func() []byte { b := bytes.Clone(v2); b[len(b)-9] ^= 1; return b }(),
	}
	for name, b := range bad {
		if _, err := UnmarshalIdentity(b); !errors.Is(err, ErrIdentity) {
			t.Errorf("%s: err = %v, want ErrIdentity", name, err)
		}
	}
}

// converse checks two states talk both ways.
func converse(t *testing.T, a, b *State) {
	t.Helper()
	b1, m1, err := b.Encrypt([]byte("from the accepter"), []byte("1"), t0)
	if err != nil {
		t.Fatal(err)
	}
	a1, pt, err := a.Decrypt(m1, []byte("1"), t0)
	if err != nil || string(pt) != "from the accepter" {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
	_, m2, err := a1.Encrypt([]byte("from the requester"), []byte("2"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, pt, err := b1.Decrypt(m2, []byte("2"), t0); err != nil || string(pt) != "from the requester" {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
}
