// Package groups is the pure logic of chive's private groups: no links, no
// storage, no clock of its own.
//
// A group is a set of members (onion keys) with admins, defined by its
// membership log: signed, numbered changes (Op) whose set, not arrival
// order, decides the state (Log.State), so every member holding the same
// ops sees the same members. Messages are Envelopes signed by their author,
// carried to each member in a Payload under the pairwise, group-scoped
// ratchet session the two share (Seal, Open): a member that is removed gets
// no ciphertext made after its removal was known, and no session to read
// one. Members hold each other's messages and forward what a peer's Sync
// says it lacks; Before is the causal order every screen shows.
//
// The path most callers want: NewLog to create a group, Log.Sign for a
// change, Log.Merge for changes a peer sent, Log.State for the members;
// SignEnvelope and ParseEnvelope for messages; Seal and Open around the
// pairwise ratchet. node wires it to links, storage and events.
package groups

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Limits. MaxMembers is the product's limit (see docs/protocol.md: every
// message costs a ratchet step and a frame per member); the others bound
// what a peer can make us store or parse.
const (
	MaxMembers  = 50
	MaxOps      = 1024     // changes in one group's log
	MaxName     = 256      // bytes of UTF-8 in a group's name
	MaxText     = 16 << 10 // bytes of UTF-8 in one message, as in 1:1
	MaxEnvelope = 20 << 10 // bytes of one signed message
	MaxOp       = 1 << 10  // bytes of one signed change
	// MaxOpsPerPayload and MaxMessagesPerPayload bound one payload; more
	// travel in several.
	MaxOpsPerPayload      = 64
	MaxMessagesPerPayload = 16
	MaxReceiptIDs         = 256
	// MaxLamport bounds the clock a message may claim, so no member can
	// push the others' clocks to overflow.
	MaxLamport = 1 << 53
)

// Errors; test them with errors.Is.
var (
	ErrMalformed = errors.New("groups: malformed")
	ErrSignature = errors.New("groups: bad signature")
	ErrNotGroup  = errors.New("groups: belongs to another group")
	ErrNotAdmin  = errors.New("groups: not an admin")
	ErrNotMember = errors.New("groups: not a member")
	ErrMember    = errors.New("groups: already a member")
	ErrFull      = errors.New("groups: the group is full")
	ErrLogFull   = errors.New("groups: too many membership changes")
	ErrUnknown   = errors.New("groups: signed by someone who was never a member")
	ErrCreator   = errors.New("groups: the creator cannot be removed")
	ErrDecrypt   = errors.New("groups: message authentication failed")
)

// ID names a group: the first 16 bytes of a hash of its creating change,
// so the creator's key and a random nonce fix it and nobody can make
// another group with the same id.
type ID [16]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the 32 hex digits String returns.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("groups: parse id %q: want %d hex digits", s, 2*len(id))
	}
	copy(id[:], b)
	return id, nil
}

// Key is a member's ed25519 onion key.
type Key [32]byte

// KeyOf converts an ed25519 public key.
func KeyOf(pub ed25519.PublicKey) Key {
	var k Key
	copy(k[:], pub)
	return k
}

// Public is k as an ed25519 public key.
func (k Key) Public() ed25519.PublicKey { return ed25519.PublicKey(k[:]) }

func (k Key) String() string { return hex.EncodeToString(k[:4]) }

func keyFrom(b []byte) (Key, bool) {
	var k Key
	if len(b) != len(k) {
		return k, false
	}
	copy(k[:], b)
	return k, true
}

var (
	encMode cbor.EncMode
	// decMode is strict about structure and sizes but skips unknown keys:
	// signed bodies stay readable by older members when fields are added.
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	opts := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: 256,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}
	if decMode, err = opts.DecMode(); err != nil {
		panic(err)
	}
}

func malformed(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return fmt.Errorf("%w: %s", ErrMalformed, what)
}

// signed is the wire form of anything signed: the body as it was signed
// (hashed and verified as bytes, never re-encoded) and the signature.
type signed struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

func decodeSigned(b []byte, max int) (signed, error) {
	var s signed
	if len(b) > max {
		return s, malformed(fmt.Sprintf("%d bytes", len(b)), nil)
	}
	if err := decMode.Unmarshal(b, &s); err != nil {
		return s, malformed("signed", err)
	}
	if len(s.Sig) != ed25519.SignatureSize || len(s.Body) == 0 {
		return s, malformed("signed: bad sizes", nil)
	}
	return s, nil
}

func sign(key ed25519.PrivateKey, label string, body []byte) []byte {
	return ed25519.Sign(key, append([]byte(label), body...))
}

// Labels keep a group signature from being taken for any other: onion
// keys also sign links and ratchet bundles under their own labels.
const (
	labelOp       = "chive group op v1\x00"
	labelEnvelope = "chive group message v1\x00"
	labelID       = "chive group id v1\x00"
	labelAD       = "chive group frame v1\x00"
)
