package groups

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/wire"
)

// Envelope is one group message as its author signed it. Members store
// the signed bytes and forward them as they are, so whoever delivers it,
// the recipient checks it is the author's (ParseEnvelope).
type Envelope struct {
	Group  ID
	ID     [16]byte // the message id, random, the same on every member
	Author Key
	// Seq numbers the author's messages in the group from 1, in sending
	// order: a peer's Sync says which it holds.
	Seq uint64
	// Lamport is the author's clock: one more than the highest it had seen
	// in the group. Before orders messages by it.
	Lamport uint64
	// Epoch is the highest change Number of the author's log when it sent:
	// the members of that state are the message's recipients, and a member
	// who joined later (Since > Epoch) is not given it by others.
	Epoch uint64
	Time  time.Time // the author's clock; shown, never trusted for order
	Text  string

	raw []byte
}

// Bytes is the signed encoding, what members store and forward.
func (e *Envelope) Bytes() []byte { return e.raw }

type envelopeBody struct {
	Group   []byte `cbor:"1,keyasint"`
	ID      []byte `cbor:"2,keyasint"`
	Author  []byte `cbor:"3,keyasint"`
	Seq     uint64 `cbor:"4,keyasint"`
	Lamport uint64 `cbor:"5,keyasint"`
	Epoch   uint64 `cbor:"6,keyasint"`
	Time    int64  `cbor:"7,keyasint"`
	Text    string `cbor:"8,keyasint,omitempty"`
}

// SignEnvelope signs e with the author's key (e.Author is set from it)
// and returns it with its encoding.
func SignEnvelope(key ed25519.PrivateKey, e Envelope) (Envelope, error) {
	e.Author = KeyOf(key.Public().(ed25519.PublicKey))
	b := envelopeBody{
		Group: e.Group[:], ID: e.ID[:], Author: e.Author[:], Seq: e.Seq,
		Lamport: e.Lamport, Epoch: e.Epoch, Time: e.Time.UnixMilli(), Text: e.Text,
	}
	if err := b.check(); err != nil {
		return Envelope{}, fmt.Errorf("groups: sign message: %w", err)
	}
	body, err := encMode.Marshal(b)
	if err != nil {
		return Envelope{}, fmt.Errorf("groups: sign message: %w", err)
	}
	raw, err := encMode.Marshal(signed{Body: body, Sig: sign(key, labelEnvelope, body)})
	if err != nil {
		return Envelope{}, fmt.Errorf("groups: sign message: %w", err)
	}
	if len(raw) > MaxEnvelope {
		return Envelope{}, fmt.Errorf("groups: sign message: %w: %d bytes", ErrMalformed, len(raw))
	}
	e.raw = raw
	return e, nil
}

func (b *envelopeBody) check() error {
	switch {
	case len(b.Group) != 16 || len(b.ID) != 16 || len(b.Author) != 32:
		return malformed("message: bad sizes", nil)
	case bytes.Equal(b.ID, make([]byte, 16)):
		return malformed("message: zero id", nil)
	case b.Seq == 0 || b.Lamport == 0 || b.Lamport > MaxLamport:
		return malformed("message: bad numbers", nil)
	case len(b.Text) > MaxText || !utf8.ValidString(b.Text):
		return malformed("message: bad text", nil)
	}
	return nil
}

// ParseEnvelope decodes a signed message of group gid and verifies it is
// its author's (strict ed25519 under the author's key). Whether the author
// may write to the group is the caller's to check against the log.
func ParseEnvelope(b []byte, gid ID) (Envelope, error) {
	s, err := decodeSigned(b, MaxEnvelope)
	if err != nil {
		return Envelope{}, err
	}
	var eb envelopeBody
	if err := decMode.Unmarshal(s.Body, &eb); err != nil {
		return Envelope{}, malformed("message", err)
	}
	if err := eb.check(); err != nil {
		return Envelope{}, err
	}
	e := Envelope{Seq: eb.Seq, Lamport: eb.Lamport, Epoch: eb.Epoch, Text: eb.Text, raw: b}
	copy(e.Group[:], eb.Group)
	copy(e.ID[:], eb.ID)
	copy(e.Author[:], eb.Author)
	if eb.Time != 0 {
		e.Time = time.UnixMilli(eb.Time)
	}
	if e.Group != gid {
		return Envelope{}, ErrNotGroup
	}
	if !wire.VerifyStrict(e.Author.Public(), append([]byte(labelEnvelope), s.Body...), s.Sig) {
		return Envelope{}, ErrSignature
	}
	return e, nil
}

// Before is the order of messages on every member's screen: by Lamport
// clock, ties broken by message id. A reply comes after what its author
// had seen; each author's messages come in the order sent (their clock
// only grows); concurrent messages take the same place everywhere.
func Before(aLamport uint64, aID [16]byte, bLamport uint64, bID [16]byte) bool {
	if aLamport != bLamport {
		return aLamport < bLamport
	}
	return bytes.Compare(aID[:], bID[:]) < 0
}
