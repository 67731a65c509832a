package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"
)

const (
	handshakeVersion = 1
	// handshake: version | accepter bundle | ephemeral key | ML-KEM ciphertext | first ratchet key | confirmation
	handshakeSize = 1 + bundleSize + 32 + pqCTSize + 32 + 32

	transcriptLabel = "chive/v1 PQXDH transcript\x00"
	pqxdhInfo       = "chive/v1 PQXDH X25519 ML-KEM-768 HKDF-SHA-256"
	confirmLabel    = "chive/v1 handshake confirmation"
)

// handshakeKeys is what the key agreement yields.
type handshakeKeys struct {
	root      [32]byte // SK: the first root key
	hkAccept  [32]byte // header key of the accepter's first sending chain
	hkRequest [32]byte // header key of the requester's first sending chain
	confirm   [32]byte // key-confirmation MAC key
}

// transcript hashes everything both sides must agree on: both bundles (and
// so both onion addresses and all their public keys) and the accepter's
// public contributions.
func transcript(requesterBundle, accepterBundle, ek, ct, ratchetPub []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(transcriptLabel))
	for _, part := range [][]byte{requesterBundle, accepterBundle, ek, ct, ratchetPub} {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(part)))
		h.Write(l[:])
		h.Write(part)
	}
	var th [32]byte
	h.Sum(th[:0])
	return th
}

func deriveHandshake(dh1, dh2, dh3, ss []byte, th [32]byte) (handshakeKeys, error) {
	// The 32 0xFF bytes are X3DH/PQXDH's domain separator for X25519.
	ikm := make([]byte, 0, 32*4+len(ss))
	ikm = append(ikm, bytes.Repeat([]byte{0xFF}, 32)...)
	ikm = append(ikm, dh1...)
	ikm = append(ikm, dh2...)
	ikm = append(ikm, dh3...)
	ikm = append(ikm, ss...)
	out, err := hkdf.Key(sha256.New, ikm, th[:], pqxdhInfo, 128)
	clear(ikm)
	if err != nil {
		return handshakeKeys{}, err
	}
	var k handshakeKeys
	copy(k.root[:], out[0:32])
	copy(k.hkAccept[:], out[32:64])
	copy(k.hkRequest[:], out[64:96])
	copy(k.confirm[:], out[96:128])
	clear(out)
	return k, nil
}

func confirmTag(key [32]byte, th [32]byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(confirmLabel))
	m.Write(th[:])
	return m.Sum(nil)
}

func dh(priv *ecdh.PrivateKey, pub []byte) ([]byte, error) {
	p, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return priv.ECDH(p)
}

func accept(self *Identity, req *Bundle, now time.Time) (*State, []byte, error) {
	fail := func(err error) (*State, []byte, error) {
		return nil, nil, fmt.Errorf("ratchet: accept: %w", err)
	}
	if self == nil || req == nil {
		return fail(fmt.Errorf("nil identity or bundle"))
	}
	reqBytes, err := req.marshal()
	if err != nil {
		return fail(err)
	}
	ekA, err := mlkem.NewEncapsulationKey768(req.PQKey)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBundleMalformed, err))
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return fail(err)
	}
	rat, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return fail(err)
	}
	ss, ct := ekA.Encapsulate()
	dh1, err := dh(self.ik, req.PreKey)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBundleMalformed, err))
	}
	dh2, err := dh(eph, req.IdentityKey)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBundleMalformed, err))
	}
	dh3, err := dh(eph, req.PreKey)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBundleMalformed, err))
	}
	ephPub, ratPub := eph.PublicKey().Bytes(), rat.PublicKey().Bytes()
	th := transcript(reqBytes, self.bundleBytes, ephPub, ct, ratPub)
	keys, err := deriveHandshake(dh1, dh2, dh3, ss, th)
	clear(dh1)
	clear(dh2)
	clear(dh3)
	clear(ss)
	if err != nil {
		return fail(err)
	}

	hs := make([]byte, 0, handshakeSize)
	hs = append(hs, handshakeVersion)
	hs = append(hs, self.bundleBytes...)
	hs = append(hs, ephPub...)
	hs = append(hs, ct...)
	hs = append(hs, ratPub...)
	hs = append(hs, confirmTag(keys.confirm, th)...)

	// The accepter starts as Signal's "Alice": it knows the requester's
	// prekey, which serves as the requester's first ratchet public key, and
	// derives a sending chain at once.
	st := &State{}
	st.sessionID = th
	copy(st.selfOnion[:], self.bundle.OnionKey)
	copy(st.peerOnion[:], req.OnionKey)
	st.dhs = rat
	copy(st.dhsPub[:], ratPub)
	copy(st.dhr[:], req.PreKey)
	dhOut, err := dh(rat, req.PreKey)
	if err != nil {
		return fail(err)
	}
	st.rk, st.cks, st.nhks = kdfRK(keys.root, dhOut, nil)
	clear(dhOut)
	st.hks = keys.hkAccept
	st.nhkr = keys.hkRequest
	st.pqTime = now.Unix()
	return st, hs, nil
}

func complete(self *Identity, peerOnionKey ed25519.PublicKey, hs []byte, now time.Time) (*State, error) {
	fail := func(err error) (*State, error) {
		return nil, fmt.Errorf("ratchet: complete: %w", err)
	}
	if self == nil {
		return fail(fmt.Errorf("nil identity"))
	}
	if len(hs) == 0 || hs[0] != handshakeVersion {
		return fail(fmt.Errorf("%w: unknown version", ErrHandshake))
	}
	if len(hs) != handshakeSize {
		return fail(fmt.Errorf("%w: %d bytes, want %d", ErrHandshake, len(hs), handshakeSize))
	}
	p := hs[1:]
	next := func(n int) []byte { v := p[:n]; p = p[n:]; return v }
	peerBundleBytes := next(bundleSize)
	ephPub := next(32)
	ct := next(pqCTSize)
	ratPub := next(32)
	tag := next(32)
	peer, err := parseBundle(peerBundleBytes, peerOnionKey)
	if err != nil {
		return fail(err)
	}
	// The accepter used whichever bundle of ours it had: the current one,
	// or one retired since (a request sent before a rotation). The
	// confirmation tag tells which.
	var keys handshakeKeys
	var th [32]byte
	var spk *ecdh.PrivateKey
	for _, own := range self.keySets() {
		k, t, ok, err := tryComplete(own, peer, peerBundleBytes, ephPub, ct, ratPub, tag, self.ik)
		if err != nil {
			return fail(err)
		}
		if ok {
			keys, th, spk = k, t, own.spk
			break
		}
	}
	if spk == nil {
		// Also what happens if the accepter used a bundle of ours retired
		// longer ago than the grace period.
		return fail(fmt.Errorf("%w: key confirmation failed", ErrHandshake))
	}

	// The requester is Signal's "Bob" with its prekey as first ratchet key.
	// It performs the DH ratchet step for the accepter's first ratchet key
	// right away, so it has a sending chain before any message arrives.
	st := &State{}
	st.sessionID = th
	copy(st.selfOnion[:], self.bundle.OnionKey)
	copy(st.peerOnion[:], peer.OnionKey)
	st.hkr = keys.hkAccept
	st.hasHKr = true
	st.hks = keys.hkRequest
	copy(st.dhr[:], ratPub)
	dhOut, err := dh(spk, ratPub)
	if err != nil {
		return fail(fmt.Errorf("%w: bad ratchet key", ErrHandshake))
	}
	st.rk, st.ckr, st.nhkr = kdfRK(keys.root, dhOut, nil)
	st.hasCKr = true
	clear(dhOut)
	st.pqTime = now.Unix() // the handshake was a PQ step
	if err := st.newSendingChain(nil, now); err != nil {
		return fail(err)
	}
	return st, nil
}

// ownKeys is one of our prekey and ML-KEM key sets with the bundle that
// published it.
type ownKeys struct {
	spk         *ecdh.PrivateKey
	pq          *mlkem.DecapsulationKey768
	bundleBytes []byte
}

// keySets are the identity's key sets, current first, then the retired
// ones newest first.
func (id *Identity) keySets() []ownKeys {
	sets := []ownKeys{{id.spk, id.pq, id.bundleBytes}}
	for _, r := range id.retired {
		sets = append(sets, ownKeys{r.spk, r.pq, r.bundleBytes})
	}
	return sets
}

// tryComplete derives the handshake keys as if the accepter used own, and
// reports whether the confirmation tag matches. err is for a handshake that
// cannot match any of our bundles (a bad public key).
func tryComplete(own ownKeys, peer *Bundle, peerBytes, ephPub, ct, ratPub, tag []byte, ik *ecdh.PrivateKey) (handshakeKeys, [32]byte, bool, error) {
	ss, err := own.pq.Decapsulate(ct)
	if err != nil {
		return handshakeKeys{}, [32]byte{}, false, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	dh1, err1 := dh(own.spk, peer.IdentityKey)
	dh2, err2 := dh(ik, ephPub)
	dh3, err3 := dh(own.spk, ephPub)
	if err1 != nil || err2 != nil || err3 != nil {
		return handshakeKeys{}, [32]byte{}, false, fmt.Errorf("%w: bad public key", ErrHandshake)
	}
	th := transcript(own.bundleBytes, peerBytes, ephPub, ct, ratPub)
	keys, err := deriveHandshake(dh1, dh2, dh3, ss, th)
	clear(dh1)
	clear(dh2)
	clear(dh3)
	clear(ss)
	if err != nil {
		return handshakeKeys{}, [32]byte{}, false, err
	}
	if subtle.ConstantTimeCompare(tag, confirmTag(keys.confirm, th)) != 1 {
		return handshakeKeys{}, [32]byte{}, false, nil
	}
	return keys, th, true, nil
}
