package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"encoding/binary"
	"fmt"
)

const (
	stateMagic   = "CHRS"
	stateVersion = 1

	stFlagCKr    = 1 << 0
	stFlagHKr    = 1 << 1
	stFlagPQDK   = 1 << 2
	stFlagSendCT = 1 << 3
	stFlagsKnown = stFlagCKr | stFlagHKr | stFlagPQDK | stFlagSendCT
)

// marshal writes the state in a fixed order; equal states give equal bytes,
// which the tests rely on to prove a failed Decrypt changed nothing.
func (s *State) marshal() ([]byte, error) {
	if s == nil || s.dhs == nil {
		return nil, fmt.Errorf("ratchet: marshal state: %w", errUninitialized)
	}
	size := 4 + 1 + 12*32 + 1 + 4*4 + 8 + 4
	if s.pqDK != nil {
		size += mlkem.SeedSize
	}
	size += len(s.sendCT)
	if s.skipped != nil {
		size += len(s.skipped.chains)*(32+4) + s.skipped.total*(4+32)
	}
	out := make([]byte, 0, size)
	out = append(out, stateMagic...)
	out = append(out, stateVersion)
	for _, k := range [][]byte{s.sessionID[:], s.selfOnion[:], s.peerOnion[:], s.dhs.Bytes(), s.dhr[:], s.rk[:],
		s.cks[:], s.ckr[:], s.hks[:], s.hkr[:], s.nhks[:], s.nhkr[:]} {
		out = append(out, k...)
	}
	var flags byte
	if s.hasCKr {
		flags |= stFlagCKr
	}
	if s.hasHKr {
		flags |= stFlagHKr
	}
	if s.pqDK != nil {
		flags |= stFlagPQDK
	}
	if s.sendCT != nil {
		flags |= stFlagSendCT
	}
	out = append(out, flags)
	for _, v := range []uint32{s.ns, s.nr, s.pn, s.pqCount} {
		out = binary.BigEndian.AppendUint32(out, v)
	}
	out = binary.BigEndian.AppendUint64(out, uint64(s.pqTime))
	if s.pqDK != nil {
		out = append(out, s.pqDK.Bytes()...)
	}
	out = append(out, s.sendCT...)
	if s.skipped == nil {
		return binary.BigEndian.AppendUint32(out, 0), nil
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(s.skipped.chains)))
	for _, c := range s.skipped.chains {
		out = append(out, c.hk[:]...)
		out = binary.BigEndian.AppendUint32(out, uint32(c.count))
		for _, b := range c.blocks {
			for _, k := range b.keys {
				out = binary.BigEndian.AppendUint32(out, k.n)
				out = append(out, k.mk[:]...)
			}
		}
	}
	return out, nil
}

type reader struct {
	p   []byte
	bad bool
}

func (r *reader) next(n int) []byte {
	if r.bad || n < 0 || len(r.p) < n {
		r.bad = true
		return make([]byte, n&0xffff)
	}
	v := r.p[:n]
	r.p = r.p[n:]
	return v
}

func (r *reader) key(dst *[32]byte) { copy(dst[:], r.next(32)) }
func (r *reader) u32() uint32       { return binary.BigEndian.Uint32(r.next(4)) }

func unmarshalState(data []byte) (*State, error) {
	fail := func(why string) (*State, error) {
		return nil, fmt.Errorf("ratchet: unmarshal state: %w: %s", ErrState, why)
	}
	if len(data) < 5 || string(data[:4]) != stateMagic {
		return fail("bad magic")
	}
	if data[4] != stateVersion {
		return fail(fmt.Sprintf("unknown version %d", data[4]))
	}
	r := &reader{p: data[5:]}
	s := &State{}
	r.key(&s.sessionID)
	r.key(&s.selfOnion)
	r.key(&s.peerOnion)
	dhsBytes := r.next(32)
	for _, k := range []*[32]byte{&s.dhr, &s.rk, &s.cks, &s.ckr, &s.hks, &s.hkr, &s.nhks, &s.nhkr} {
		r.key(k)
	}
	flags := r.next(1)[0]
	s.ns, s.nr, s.pn, s.pqCount = r.u32(), r.u32(), r.u32(), r.u32()
	s.pqTime = int64(binary.BigEndian.Uint64(r.next(8)))
	if r.bad {
		return fail("truncated")
	}
	if flags&^stFlagsKnown != 0 {
		return fail("unknown flags")
	}
	s.hasCKr = flags&stFlagCKr != 0
	s.hasHKr = flags&stFlagHKr != 0
	priv, err := ecdh.X25519().NewPrivateKey(dhsBytes)
	if err != nil {
		return fail("ratchet key")
	}
	s.dhs = priv
	copy(s.dhsPub[:], priv.PublicKey().Bytes())
	if _, err := ecdh.X25519().NewPublicKey(s.dhr[:]); err != nil {
		return fail("peer ratchet key")
	}
	if flags&stFlagPQDK != 0 {
		dk, err := mlkem.NewDecapsulationKey768(r.next(mlkem.SeedSize))
		if r.bad || err != nil {
			return fail("ML-KEM key")
		}
		s.pqDK, s.pqEK = dk, dk.EncapsulationKey().Bytes()
	}
	if flags&stFlagSendCT != 0 {
		s.sendCT = bytes.Clone(r.next(pqCTSize))
	}
	nchains := r.u32()
	if r.bad {
		return fail("truncated")
	}
	if nchains > MaxSkippedTotal {
		return fail("too many skipped chains")
	}
	if nchains > 0 {
		st := &skipStore{chains: make([]*skipChain, 0, nchains)}
		for range nchains {
			c := &skipChain{}
			r.key(&c.hk)
			nkeys := r.u32()
			if r.bad || nkeys == 0 || uint64(st.total)+uint64(nkeys) > MaxSkippedTotal {
				return fail("bad skipped keys")
			}
			keys := make([]skippedKey, nkeys)
			for i := range keys {
				keys[i].n = r.u32()
				r.key(&keys[i].mk)
				if i > 0 && keys[i].n <= keys[i-1].n {
					return fail("skipped keys out of order")
				}
			}
			if r.bad {
				return fail("truncated")
			}
			c.blocks, c.count = appendBlocks(nil, keys), int(nkeys)
			st.total += int(nkeys)
			st.chains = append(st.chains, c)
		}
		s.skipped = st
	}
	if len(r.p) != 0 {
		return fail("trailing bytes")
	}
	return s, nil
}
