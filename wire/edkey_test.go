package wire

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"filippo.io/edwards25519"
)

// The same cases as ratchet's: the two copies of validKey must agree.

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

func TestValidKey(t *testing.T) {
	real := pub(newKey(t))
	if !validKey(real) {
		t.Fatal("a real key is rejected")
	}
	for name, key := range weakKeys(t, real) {
		if validKey(key) {
			t.Errorf("%s (%x) accepted", name, key)
		}
	}
}
