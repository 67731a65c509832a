package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// TestBundleForgedWithIdentityKey is the review's forgery: a bundle whose
// onion key is the identity point, signed with R = identity and S = 0. A
// lax (cofactorless, no key check) verifier accepts it for any message, so
// anyone could hand out bundles for that "address" without a private key.
// crypto/ed25519 is such a verifier: this test failed before validKey.
func TestBundleForgedWithIdentityKey(t *testing.T) {
	id, _ := testIdentity(t)
	b := id.Bundle()
	b.OnionKey = identityPoint()
	b.Signature = identitySig()
	data := append(b.appendUnsigned(nil), b.Signature...)
	if !ed25519.Verify(b.OnionKey, signedMessage(b.appendUnsigned(nil)), b.Signature) {
		t.Fatal("crypto/ed25519 rejects the forgery by itself now; the explicit checks stay anyway")
	}
	if _, err := ParseBundle(data, b.OnionKey); !errors.Is(err, ErrBundleSignature) {
		t.Fatalf("forged bundle: err = %v, want ErrBundleSignature", err)
	}
}

func identityPoint() []byte { k := make([]byte, 32); k[0] = 1; return k }
func identitySig() []byte   { s := make([]byte, 64); s[0] = 1; return s }

// weakKeys are encodings no onion key may have: the 8 points of small
// order, non-canonical encodings, and a real key plus a point of order 8.
func weakKeys(t testing.TB, real ed25519.PublicKey) map[string][]byte {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p, err := new(edwards25519.Point).SetBytes(real)
	if err != nil {
		t.Fatal(err)
	}
	t8, err := new(edwards25519.Point).SetBytes(h("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"identity":                   h("0100000000000000000000000000000000000000000000000000000000000000"),
		"order 2":                    h("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		"order 4":                    h("0000000000000000000000000000000000000000000000000000000000000000"),
		"order 4, x < 0":             h("0000000000000000000000000000000000000000000000000000000000000080"),
		"order 8":                    h("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
		"order 8, x < 0":             h("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
		"order 8 (2)":                h("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
		"order 8 (2), x < 0":         h("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
		"identity as y = p+1":        h("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		"identity with x sign":       h("0100000000000000000000000000000000000000000000000000000000000080"),
		"order 2 with x sign":        h("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
		"not on the curve":           h("0200000000000000000000000000000000000000000000000000000000000000"),
		"real key + order-8 (mixed)": new(edwards25519.Point).Add(p, t8).Bytes(),
		"order 4 as y = p":           h("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

func TestValidKey(t *testing.T) {
	_, k := testIdentity(t)
	real := k.Public().(ed25519.PublicKey)
	if !validKey(real) {
		t.Fatal("a real key is rejected")
	}
	for name, key := range weakKeys(t, real) {
		if validKey(key) {
			t.Errorf("%s (%x) accepted", name, key)
		}
	}
}

// TestBundleWeakKeys: a bundle claiming any weak key fails, even with a
// signature that crypto/ed25519 alone would take.
func TestBundleWeakKeys(t *testing.T) {
	id, k := testIdentity(t)
	for name, key := range weakKeys(t, k.Public().(ed25519.PublicKey)) {
		b := id.Bundle()
		b.OnionKey = key
		b.Signature = identitySig()
		data := append(b.appendUnsigned(nil), b.Signature...)
		if _, err := ParseBundle(data, key); !errors.Is(err, ErrBundleSignature) {
			t.Errorf("%s: err = %v, want ErrBundleSignature", name, err)
		}
	}
}

// TestBundleNonCanonicalSignature: S + L (the same signature, unreduced)
// and small-order or non-canonical R are refused. crypto/ed25519 already
// refused S ≥ L before; R of small order with a valid key cannot verify
// anyway. The checks are explicit so they stay.
func TestBundleNonCanonicalSignature(t *testing.T) {
	id, k := testIdentity(t)
	good, _ := id.Bundle().MarshalBinary()
	sigAt := len(good) - ed25519.SignatureSize
	L := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 252), mustInt("27742317777372353535851937790883648493"))
	s := new(big.Int).SetBytes(reverse(good[sigAt+32:]))
	sPlusL := reverse(new(big.Int).Add(s, L).FillBytes(make([]byte, 32)))

	bad := map[string][]byte{
		"S + L":            append(bytes.Clone(good[:sigAt+32]), sPlusL...),
		"R of small order": append(append(bytes.Clone(good[:sigAt]), identityPoint()...), good[sigAt+32:]...),
		"R non-canonical":  append(append(bytes.Clone(good[:sigAt]), weakKeys(t, k.Public().(ed25519.PublicKey))["identity as y = p+1"]...), good[sigAt+32:]...),
	}
	for name, data := range bad {
		if _, err := ParseBundle(data, id.OnionKey()); !errors.Is(err, ErrBundleSignature) {
			t.Errorf("%s: err = %v, want ErrBundleSignature", name, err)
		}
	}
	if _, err := ParseBundle(good, id.OnionKey()); err != nil {
		t.Fatal(err)
	}
}

func mustInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return v
}
