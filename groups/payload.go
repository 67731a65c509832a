package groups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/wire"
)

// MaxPayload bounds an encoded, padded payload, so its ciphertext (the
// ratchet adds 122 bytes, and up to 2,272 on a post-quantum step) fits a
// frame (wire.MaxCiphertext).
const MaxPayload = 48 << 10

// Payload is what one group frame carries between two members, encrypted
// under their pairwise session for the group: messages (the authors'
// signed envelopes, the sender's own or forwarded), membership changes, a
// Sync (what the sender holds) or a Receipt (to an author).
type Payload struct {
	Messages [][]byte // signed envelopes
	Ops      [][]byte // signed changes
	Sync     *Sync
	Receipt  *Receipt
}

// Sync tells a peer what the sender holds, so the peer can send what it
// lacks (its messages, others' it holds, its changes) and forget what the
// sender has.
type Sync struct {
	Have     []Have
	OpCount  int
	OpDigest [32]byte
}

// Have says the sender holds every message of Author numbered First to
// Last (the contiguous run from the first one it got).
type Have struct {
	Author      Key
	First, Last uint64
}

// Receipt tells an author that the sender read (Read) or received these
// messages of theirs.
type Receipt struct {
	IDs  [][16]byte
	Read bool
}

type payloadWire struct {
	Messages [][]byte     `cbor:"1,keyasint,omitempty"`
	Ops      [][]byte     `cbor:"2,keyasint,omitempty"`
	Sync     *syncWire    `cbor:"3,keyasint,omitempty"`
	Receipt  *receiptWire `cbor:"4,keyasint,omitempty"`
	Padding  []byte       `cbor:"15,keyasint,omitempty"`
}

type syncWire struct {
	Have     [][]byte `cbor:"1,keyasint,omitempty"` // author (32) || first (8) || last (8)
	OpCount  uint64   `cbor:"2,keyasint"`
	OpDigest []byte   `cbor:"3,keyasint"`
}

type receiptWire struct {
	IDs  [][]byte `cbor:"1,keyasint"`
	Read bool     `cbor:"2,keyasint,omitempty"`
}

const haveSize = 32 + 8 + 8

func (p Payload) toWire() (payloadWire, error) {
	w := payloadWire{Messages: p.Messages, Ops: p.Ops}
	if p.Sync != nil {
		s := &syncWire{OpCount: uint64(p.Sync.OpCount), OpDigest: p.Sync.OpDigest[:]}
		for _, h := range p.Sync.Have {
			b := make([]byte, 0, haveSize)
			b = append(b, h.Author[:]...)
			b = binary.BigEndian.AppendUint64(b, h.First)
			b = binary.BigEndian.AppendUint64(b, h.Last)
			s.Have = append(s.Have, b)
		}
		w.Sync = s
	}
	if p.Receipt != nil {
		r := &receiptWire{Read: p.Receipt.Read}
		for _, id := range p.Receipt.IDs {
			r.IDs = append(r.IDs, append([]byte(nil), id[:]...))
		}
		w.Receipt = r
	}
	return w, w.check()
}

func (w *payloadWire) check() error {
	switch {
	case len(w.Messages) == 0 && len(w.Ops) == 0 && w.Sync == nil && w.Receipt == nil:
		return malformed("payload: empty", nil)
	case len(w.Messages) > MaxMessagesPerPayload || len(w.Ops) > MaxOpsPerPayload:
		return malformed("payload: too many items", nil)
	}
	for _, m := range w.Messages {
		if len(m) == 0 || len(m) > MaxEnvelope {
			return malformed("payload: bad message size", nil)
		}
	}
	for _, o := range w.Ops {
		if len(o) == 0 || len(o) > MaxOp {
			return malformed("payload: bad change size", nil)
		}
	}
	if s := w.Sync; s != nil {
		if len(s.OpDigest) != 32 || s.OpCount > MaxOps {
			return malformed("sync: bad digest", nil)
		}
		for _, h := range s.Have {
			if len(h) != haveSize {
				return malformed("sync: bad entry", nil)
			}
		}
	}
	if r := w.Receipt; r != nil {
		if len(r.IDs) == 0 || len(r.IDs) > MaxReceiptIDs {
			return malformed("receipt: bad id count", nil)
		}
		for _, id := range r.IDs {
			if len(id) != 16 {
				return malformed("receipt: bad id", nil)
			}
		}
	}
	return nil
}

func (w payloadWire) payload() Payload {
	p := Payload{Messages: w.Messages, Ops: w.Ops}
	if s := w.Sync; s != nil {
		ps := &Sync{OpCount: int(s.OpCount)}
		copy(ps.OpDigest[:], s.OpDigest)
		for _, b := range s.Have {
			var h Have
			copy(h.Author[:], b)
			h.First = binary.BigEndian.Uint64(b[32:])
			h.Last = binary.BigEndian.Uint64(b[40:])
			ps.Have = append(ps.Have, h)
		}
		p.Sync = ps
	}
	if r := w.Receipt; r != nil {
		pr := &Receipt{Read: r.Read}
		for _, b := range r.IDs {
			var id [16]byte
			copy(id[:], b)
			pr.IDs = append(pr.IDs, id)
		}
		p.Receipt = pr
	}
	return p
}

// ErrTooBig: a payload whose padded encoding exceeds MaxPayload; split it.
var ErrTooBig = errors.New("groups: payload too big")

// MarshalPayload encodes p padded to a size bucket (wire.PaddedSize), as
// 1:1 messages are, so a frame's size says little about what it holds.
func MarshalPayload(p Payload) ([]byte, error) {
	w, err := p.toWire()
	if err != nil {
		return nil, fmt.Errorf("groups: marshal payload: %w", err)
	}
	b, err := encMode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("groups: marshal payload: %w", err)
	}
	// The padding field costs its key, a length head of 1 to 3 bytes and
	// its bytes; a bucket that cannot be hit exactly gives way to the next.
	for target := wire.PaddedSize(len(b)); ; target = wire.PaddedSize(target + 1) {
		if target > MaxPayload {
			return nil, fmt.Errorf("%w: %d bytes", ErrTooBig, len(b))
		}
		need := target - len(b)
		if need == 0 {
			return b, nil
		}
		for head := 1; head <= 3; head++ {
			if need-1-head < 0 {
				break
			}
			w.Padding = make([]byte, need-1-head)
			out, err := encMode.Marshal(w)
			if err != nil {
				return nil, fmt.Errorf("groups: marshal payload: %w", err)
			}
			if len(out) == target {
				return out, nil
			}
		}
	}
}

// UnmarshalPayload decodes a decrypted payload. Unknown keys are skipped
// (a later version may add kinds); sizes and structure are strict.
func UnmarshalPayload(b []byte) (Payload, error) {
	if len(b) > MaxPayload {
		return Payload{}, malformed(fmt.Sprintf("payload: %d bytes", len(b)), nil)
	}
	var w payloadWire
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Payload{}, malformed("payload", err)
	}
	if err := w.check(); err != nil {
		return Payload{}, err
	}
	return w.payload(), nil
}

// ad binds a frame's ciphertext to its group and frame id: it cannot be
// replayed under another id or taken for another group's frame.
func ad(gid ID, frameID [16]byte) []byte {
	b := make([]byte, 0, len(labelAD)+32)
	b = append(b, labelAD...)
	b = append(b, gid[:]...)
	return append(b, frameID[:]...)
}

// Seal encrypts p for one member under st, the pairwise session the two
// share for group gid, and returns the next state (store it before the
// ciphertext leaves) and the ciphertext of the frame frameID.
func Seal(st *ratchet.State, gid ID, frameID [16]byte, p Payload, now time.Time) (*ratchet.State, []byte, error) {
	pt, err := MarshalPayload(p)
	if err != nil {
		return nil, nil, err
	}
	next, ct, err := st.Encrypt(pt, ad(gid, frameID), now)
	if err != nil {
		return nil, nil, fmt.Errorf("groups: seal: %w", err)
	}
	return next, ct, nil
}

// Open decrypts a frame under the pairwise session st. Any failure to
// authenticate is ErrDecrypt, and st is unchanged (the ratchet never
// modifies its receiver); a payload that opens but does not decode is
// ErrMalformed (the returned state is still the one to keep: the
// ciphertext was the peer's).
func Open(st *ratchet.State, gid ID, frameID [16]byte, ct []byte, now time.Time) (*ratchet.State, Payload, error) {
	next, pt, err := st.Decrypt(ct, ad(gid, frameID), now)
	if err != nil {
		return nil, Payload{}, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	p, err := UnmarshalPayload(pt)
	if err != nil {
		return next, Payload{}, err
	}
	return next, p, nil
}

// Sealed is one member's copy of a fanned-out payload.
type Sealed struct {
	FrameID    [16]byte
	Ciphertext []byte
}

// FanOut encrypts p for every recipient of s (every member but self)
// under the session self shares with each, and returns the new sessions
// and the copies. A member is left out, with no ciphertext at all, unless
// the state says it is one: what a removed member's node receives after
// its removal is known is nothing. A recipient without a session is an
// error (ErrNotMember wrapped): nothing is sealed then.
func FanOut(s *State, self Key, sessions map[Key]*ratchet.State, gid ID, p Payload, now time.Time) (map[Key]*ratchet.State, map[Key]Sealed, error) {
	to := s.Recipients(self)
	if len(to) == 0 && !s.IsMember(self) {
		return nil, nil, fmt.Errorf("groups: fan out: %w", ErrNotMember)
	}
	next := make(map[Key]*ratchet.State, len(to))
	out := make(map[Key]Sealed, len(to))
	for _, k := range to {
		st := sessions[k]
		if st == nil {
			return nil, nil, fmt.Errorf("groups: fan out: no session with %s: %w", k, ErrNotMember)
		}
		id := wire.NewID()
		n, ct, err := Seal(st, gid, id, p, now)
		if err != nil {
			return nil, nil, err
		}
		next[k], out[k] = n, Sealed{FrameID: id, Ciphertext: ct}
	}
	return next, out, nil
}
