package wire

import (
	"bytes"
	"crypto/ed25519"

	"filippo.io/edwards25519"
)

// ratchet/edkey.go has the same checks: wire and ratchet import nothing of
// ours, and these few lines are not worth a package.

// lMinusOne is the group order L minus one, as a canonical scalar.
var lMinusOne = func() *edwards25519.Scalar {
	b := [32]byte{
		0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic(err)
	}
	return s
}()

// validKey reports whether pub is a canonical encoding of a point of order
// exactly L: what Tor requires of an onion key. crypto/ed25519 checks
// none of it, so a key of small order (the identity, say) "verifies"
// forged signatures, and a key with a torsion component is a second
// encoding of someone's identity.
func validKey(pub []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil || !bytes.Equal(p.Bytes(), pub) {
		return false // not on the curve, or not canonical
	}
	if p.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return false
	}
	// [L]P = O  ⇔  [L-1]P = -P: P has no small-order component. The key
	// is public, so variable time is fine (and twice as fast).
	lp := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinusOne, p, edwards25519.NewScalar())
	return lp.Equal(new(edwards25519.Point).Negate(p)) == 1
}

// canonicalSig reports whether sig's R is a canonical point that is not of
// small order and its S is reduced (S < L): the strict form of RFC 8032
// that libsodium also enforces. crypto/ed25519 already rejects S ≥ L; the
// check is explicit so it cannot silently go away.
func canonicalSig(sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	r, err := new(edwards25519.Point).SetBytes(sig[:32])
	if err != nil || !bytes.Equal(r.Bytes(), sig[:32]) {
		return false
	}
	if new(edwards25519.Point).MultByCofactor(r).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return false
	}
	_, err = edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	return err == nil
}

// verify is ed25519.Verify for keys and signatures that pass validKey and
// canonicalSig.
func verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	return validKey(pub) && canonicalSig(sig) && ed25519.Verify(pub, msg, sig)
}

// VerifyStrict is the one strict ed25519 check for packages above wire
// (groups): canonical key and signature, no small-order key, cofactorless.
func VerifyStrict(pub ed25519.PublicKey, msg, sig []byte) bool { return verify(pub, msg, sig) }
