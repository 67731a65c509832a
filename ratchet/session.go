package ratchet

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	msgVersion = 1
	nonceSize  = chacha20poly1305.NonceSizeX // 24
	tagSize    = chacha20poly1305.Overhead   // 16
	// header plaintext: ratchet public key | N | PN | flags
	hdrPlainSize = 32 + 4 + 4 + 1
	hdrSize      = nonceSize + hdrPlainSize + tagSize // encrypted header: 81
	hdrEnd       = 1 + hdrSize
	// message: version | encrypted header | PQ blob | body nonce | body ciphertext
	msgOverhead = 1 + hdrSize + nonceSize + tagSize

	flagPQKey        = 1 << 0 // the blob holds an ML-KEM-768 encapsulation key
	flagPQCiphertext = 1 << 1 // the blob holds an ML-KEM-768 ciphertext
	flagsKnown       = flagPQKey | flagPQCiphertext

	rootInfo   = "chive/v1 ratchet root"
	bodyADInfo = "chive/v1 message\x00"
)

type stateFields struct {
	sessionID            [32]byte
	selfOnion, peerOnion [32]byte

	dhs    *ecdh.PrivateKey // never mutated; shared between states
	dhsPub [32]byte
	dhr    [32]byte
	rk     [32]byte
	cks    [32]byte
	ckr    [32]byte
	hks    [32]byte
	hkr    [32]byte
	nhks   [32]byte
	nhkr   [32]byte
	hasCKr bool
	hasHKr bool
	ns     uint32
	nr     uint32
	pn     uint32

	skipped *skipStore // immutable; nil when empty

	// PQ ratchet. pqDK is the decapsulation key whose encapsulation key
	// (pqEK) every message of the current sending chain advertises; sendCT
	// is the ciphertext every message of the current sending chain
	// carries. Both are immutable and shared between states.
	pqDK    *mlkem.DecapsulationKey768
	pqEK    []byte
	sendCT  []byte
	pqCount uint32 // messages sent+received since the last PQ step
	pqTime  int64  // unix seconds of the last PQ step
}

type header struct {
	dh    [32]byte
	n, pn uint32
	flags byte
}

// kdfRK is the Double Ratchet's root KDF, extended with the optional ML-KEM
// shared secret of a PQ step: HKDF-SHA-256(salt = root key, ikm = dh || ss).
func kdfRK(rk [32]byte, dhOut, ss []byte) (root, ck, nhk [32]byte) {
	ikm := dhOut
	if len(ss) > 0 {
		ikm = make([]byte, 0, len(dhOut)+len(ss))
		ikm = append(append(ikm, dhOut...), ss...)
	}
	out, err := hkdf.Key(sha256.New, ikm, rk[:], rootInfo, 96)
	if err != nil {
		panic("ratchet: hkdf: " + err.Error()) // only on absurd lengths
	}
	copy(root[:], out[0:32])
	copy(ck[:], out[32:64])
	copy(nhk[:], out[64:96])
	clear(out)
	if len(ss) > 0 {
		clear(ikm)
	}
	return
}

// kdfCK is the symmetric-key ratchet: HMAC-SHA-256 keyed with the chain
// key, over the constant 0x01 for the message key and 0x02 for the next
// chain key (Signal's recommendation). HMAC is spelled out (RFC 2104) over
// sha256.Sum256 so the hot path allocates nothing; TestKDFCKIsHMAC checks it
// against crypto/hmac.
func kdfCK(ck [32]byte) (mk, next [32]byte) {
	return hmacByte(&ck, 0x01), hmacByte(&ck, 0x02)
}

func hmacByte(key *[32]byte, b byte) [32]byte {
	var inner [64 + 1]byte
	var outer [64 + 32]byte
	for i := range 64 {
		k := byte(0)
		if i < 32 {
			k = key[i]
		}
		inner[i] = k ^ 0x36
		outer[i] = k ^ 0x5c
	}
	inner[64] = b
	ih := sha256.Sum256(inner[:])
	copy(outer[64:], ih[:])
	out := sha256.Sum256(outer[:])
	clear(inner[:])
	clear(outer[:])
	return out
}

func (h *header) marshal() [hdrPlainSize]byte {
	var b [hdrPlainSize]byte
	copy(b[:32], h.dh[:])
	binary.BigEndian.PutUint32(b[32:], h.n)
	binary.BigEndian.PutUint32(b[36:], h.pn)
	b[40] = h.flags
	return b
}

// sealHeader appends the encrypted header to msg, which holds the version
// byte and the header nonce.
func sealHeader(hk *[32]byte, msg, plain []byte) []byte {
	aead, _ := chacha20poly1305.NewX(hk[:])
	return aead.Seal(msg, msg[1:1+nonceSize], plain, msg[:1])
}

// openHeader trial-decrypts the header of msg (at least hdrEnd bytes) with hk.
func openHeader(hk *[32]byte, msg []byte) (header, bool) {
	aead, err := chacha20poly1305.NewX(hk[:])
	if err != nil {
		return header{}, false
	}
	var buf [hdrPlainSize]byte
	pt, err := aead.Open(buf[:0], msg[1:1+nonceSize], msg[1+nonceSize:hdrEnd], msg[:1])
	if err != nil || len(pt) != hdrPlainSize {
		return header{}, false
	}
	var h header
	copy(h.dh[:], pt[:32])
	h.n = binary.BigEndian.Uint32(pt[32:])
	h.pn = binary.BigEndian.Uint32(pt[36:])
	h.flags = pt[40]
	return h, true
}

func blobSize(flags byte) int {
	n := 0
	if flags&flagPQKey != 0 {
		n += pqEKSize
	}
	if flags&flagPQCiphertext != 0 {
		n += pqCTSize
	}
	return n
}

// splitBlob returns the PQ key and ciphertext carried by msg (nil if
// absent) and the offset of the body, or ok=false if msg is too short.
func splitBlob(msg []byte, flags byte) (ek, ct []byte, bodyStart int, ok bool) {
	if flags&^flagsKnown != 0 {
		return nil, nil, 0, false
	}
	off := hdrEnd
	if len(msg) < off+blobSize(flags)+nonceSize+tagSize {
		return nil, nil, 0, false
	}
	if flags&flagPQKey != 0 {
		ek = msg[off : off+pqEKSize]
		off += pqEKSize
	}
	if flags&flagPQCiphertext != 0 {
		ct = msg[off : off+pqCTSize]
		off += pqCTSize
	}
	return ek, ct, off, true
}

// bodyAD binds the session, the caller's associated data and everything in
// the message before the body (version, encrypted header, PQ blob).
func bodyAD(sessionID *[32]byte, ad, prefix []byte) []byte {
	out := make([]byte, 0, len(bodyADInfo)+32+4+len(ad)+len(prefix))
	out = append(out, bodyADInfo...)
	out = append(out, sessionID[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(ad)))
	out = append(out, ad...)
	return append(out, prefix...)
}

func openBody(mk *[32]byte, sessionID *[32]byte, msg, ad []byte, bodyStart int) ([]byte, bool) {
	aead, err := chacha20poly1305.NewX(mk[:])
	if err != nil {
		return nil, false
	}
	body := msg[bodyStart:]
	pt, err := aead.Open(nil, body[:nonceSize], body[nonceSize:], bodyAD(sessionID, ad, msg[:bodyStart]))
	if err != nil {
		return nil, false
	}
	return pt, true
}

func (s *State) pqDue(now time.Time) bool {
	return s.pqCount >= PQInterval || now.Unix()-s.pqTime >= int64(PQMaxAge/time.Second)
}

// newSendingChain is the sending half of a DH ratchet step. If the peer
// advertised an ML-KEM key (peerEK) it encapsulates to it and mixes the
// secret in; otherwise, when a PQ step is due, it generates a key pair to
// advertise on this chain so the peer answers on its next chain.
func (s *State) newSendingChain(peerEK []byte, now time.Time) error {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	dhOut, err := dh(priv, s.dhr[:])
	if err != nil {
		return err
	}
	var ss []byte
	s.pqDK, s.pqEK, s.sendCT = nil, nil, nil
	if peerEK != nil {
		ek, err := mlkem.NewEncapsulationKey768(peerEK)
		if err != nil {
			return err
		}
		ss, s.sendCT = ek.Encapsulate()
		s.pqCount, s.pqTime = 0, now.Unix()
	} else if s.pqDue(now) {
		dk, err := mlkem.GenerateKey768()
		if err != nil {
			return err
		}
		s.pqDK, s.pqEK = dk, dk.EncapsulationKey().Bytes()
	}
	s.dhs = priv
	copy(s.dhsPub[:], priv.PublicKey().Bytes())
	s.rk, s.cks, s.nhks = kdfRK(s.rk, dhOut, ss)
	clear(dhOut)
	clear(ss)
	s.pn, s.ns = s.ns, 0
	return nil
}

var errUninitialized = errors.New("uninitialized state")

func (s *State) encrypt(plaintext, ad []byte, now time.Time) (*State, []byte, error) {
	if s == nil || s.dhs == nil {
		return nil, nil, fmt.Errorf("ratchet: encrypt: %w", errUninitialized)
	}
	if s.ns == math.MaxUint32 {
		return nil, nil, fmt.Errorf("ratchet: encrypt: sending chain exhausted")
	}
	st := *s
	mk, next := kdfCK(st.cks)
	h := header{dh: st.dhsPub, n: st.ns, pn: st.pn}
	blob := 0
	if st.pqDK != nil {
		h.flags |= flagPQKey
		blob += pqEKSize
	}
	if st.sendCT != nil {
		h.flags |= flagPQCiphertext
		blob += pqCTSize
	}
	var nonces [2 * nonceSize]byte
	rand.Read(nonces[:])
	hp := h.marshal()

	msg := make([]byte, 0, msgOverhead+blob+len(plaintext))
	msg = append(msg, msgVersion)
	msg = append(msg, nonces[:nonceSize]...)
	msg = sealHeader(&st.hks, msg, hp[:])
	if st.pqDK != nil {
		msg = append(msg, st.pqEK...)
	}
	if st.sendCT != nil {
		msg = append(msg, st.sendCT...)
	}
	bodyStart := len(msg)
	msg = append(msg, nonces[nonceSize:]...)
	bAEAD, _ := chacha20poly1305.NewX(mk[:])
	msg = bAEAD.Seal(msg, nonces[nonceSize:], plaintext, bodyAD(&st.sessionID, ad, msg[:bodyStart]))
	clear(mk[:])

	st.cks = next
	st.ns++
	if st.pqCount < math.MaxUint32 {
		st.pqCount++
	}
	return &st, msg, nil
}

func decryptErr(err error) (*State, []byte, error) {
	return nil, nil, fmt.Errorf("ratchet: decrypt: %w", err)
}

func (s *State) decrypt(msg, ad []byte, now time.Time) (*State, []byte, error) {
	if s == nil || s.dhs == nil {
		return decryptErr(errUninitialized)
	}
	if len(msg) < msgOverhead || msg[0] != msgVersion {
		return decryptErr(ErrDecrypt)
	}

	// A message of a chain we have skipped keys for.
	if s.skipped != nil {
		for ci, ch := range s.skipped.chains {
			h, ok := openHeader(&ch.hk, msg)
			if !ok {
				continue
			}
			bi, ki := ch.find(h.n)
			if ki < 0 {
				// Same header key as the current receiving chain, or a
				// replay: handled below.
				continue
			}
			_, _, bodyStart, ok := splitBlob(msg, h.flags)
			if !ok {
				return decryptErr(ErrDecrypt)
			}
			pt, ok := openBody(ch.key(bi, ki), &s.sessionID, msg, ad, bodyStart)
			if !ok {
				return decryptErr(ErrDecrypt)
			}
			st := *s
			st.skipped = s.skipped.without(ci, bi, ki)
			st.countReceived()
			return &st, pt, nil
		}
	}

	st := *s
	var h header
	ok, dhStep := false, false
	if st.hasHKr {
		h, ok = openHeader(&st.hkr, msg)
		if ok && h.dh != st.dhr {
			return decryptErr(ErrDecrypt)
		}
	}
	if !ok {
		h, ok = openHeader(&st.nhkr, msg)
		if !ok {
			return decryptErr(ErrDecrypt)
		}
		dhStep = true
	}
	ek, ct, bodyStart, ok := splitBlob(msg, h.flags)
	if !ok || h.n == math.MaxUint32 {
		return decryptErr(ErrDecrypt)
	}
	if dhStep {
		if err := st.skip(h.pn); err != nil {
			return decryptErr(err)
		}
		var ss []byte
		if ct != nil {
			if st.pqDK == nil {
				return decryptErr(ErrDecrypt)
			}
			var err error
			if ss, err = st.pqDK.Decapsulate(ct); err != nil {
				return decryptErr(ErrDecrypt)
			}
			st.pqCount, st.pqTime = 0, now.Unix()
		}
		st.hks, st.hkr, st.hasHKr = st.nhks, st.nhkr, true
		st.dhr = h.dh
		dhOut, err := dh(st.dhs, st.dhr[:])
		if err != nil {
			return decryptErr(ErrDecrypt)
		}
		st.rk, st.ckr, st.nhkr = kdfRK(st.rk, dhOut, ss)
		clear(dhOut)
		clear(ss)
		st.hasCKr = true
		st.nr = 0
		if err := st.newSendingChain(ek, now); err != nil {
			return decryptErr(ErrDecrypt)
		}
	} else if h.n < st.nr {
		return decryptErr(ErrDecrypt) // replay: the key is gone
	}
	if err := st.skip(h.n); err != nil {
		return decryptErr(err)
	}
	mk, next := kdfCK(st.ckr)
	pt, ok := openBody(&mk, &st.sessionID, msg, ad, bodyStart)
	clear(mk[:])
	if !ok {
		return decryptErr(ErrDecrypt)
	}
	st.ckr = next
	st.nr = h.n + 1
	st.countReceived()
	return &st, pt, nil
}

func (s *State) countReceived() {
	if s.pqCount < math.MaxUint32 {
		s.pqCount++
	}
}

// skip stores the message keys of the current receiving chain up to (not
// including) until.
func (s *State) skip(until uint32) error {
	if !s.hasCKr || until <= s.nr {
		return nil
	}
	if uint64(until)-uint64(s.nr) > MaxSkip {
		return ErrTooManySkipped
	}
	keys := make([]skippedKey, 0, until-s.nr)
	ck := s.ckr
	for n := s.nr; n < until; n++ {
		var mk [32]byte
		mk, ck = kdfCK(ck)
		keys = append(keys, skippedKey{n: n, mk: mk})
	}
	s.ckr = ck
	s.nr = until
	s.skipped = s.skipped.with(s.hkr, keys)
	return nil
}
