package groups

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/wire"
)

// Kind is what a membership change does.
type Kind uint8

// Kinds of change. Create is the first change of every group; the others
// need an admin's signature, except Leave, which the leaving member signs.
const (
	KindCreate  Kind = 1 // the signer creates the group, named Name
	KindInvite  Kind = 2 // Target joins
	KindRemove  Kind = 3 // Target is removed (never the creator)
	KindLeave   Kind = 4 // the signer leaves
	KindPromote Kind = 5 // Target becomes an admin
	KindRename  Kind = 6 // the group is named Name
)

func (k Kind) String() string {
	switch k {
	case KindCreate:
		return "create"
	case KindInvite:
		return "invite"
	case KindRemove:
		return "remove"
	case KindLeave:
		return "leave"
	case KindPromote:
		return "promote"
	case KindRename:
		return "rename"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Op is one signed membership change. Number orders it: a new change is
// numbered one more than the highest its signer had seen, so changes made
// knowing of others come after them; concurrent ones tie and are ordered by
// signer and hash (Log.State).
type Op struct {
	Group  ID // zero in the creating change (the id is its hash)
	Number uint64
	Kind   Kind
	Signer Key
	Target Key    // invite, remove, promote
	Name   string // create, rename
	Time   time.Time

	raw  []byte   // the signed encoding, as received
	body []byte   // the signed bytes
	hash [32]byte // SHA-256 of body
}

// Hash identifies the op.
func (o *Op) Hash() [32]byte { return o.hash }

// Bytes is the op's signed encoding, what peers exchange.
func (o *Op) Bytes() []byte { return o.raw }

type opBody struct {
	Group  []byte `cbor:"1,keyasint,omitempty"`
	Number uint64 `cbor:"2,keyasint"`
	Kind   uint8  `cbor:"3,keyasint"`
	Signer []byte `cbor:"4,keyasint"`
	Target []byte `cbor:"5,keyasint,omitempty"`
	Name   string `cbor:"6,keyasint,omitempty"`
	Nonce  []byte `cbor:"7,keyasint,omitempty"` // create only: makes the id unique
	Time   int64  `cbor:"8,keyasint,omitempty"` // Unix ms, the signer's clock; shown, never trusted
}

func checkName(name string) error {
	if name == "" || len(name) > MaxName || !utf8.ValidString(name) {
		return fmt.Errorf("%w: bad group name (%d bytes)", ErrMalformed, len(name))
	}
	return nil
}

// newOp signs an op. The caller checks it makes sense.
func newOp(key ed25519.PrivateKey, b opBody) (*Op, error) {
	body, err := encMode.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("groups: sign change: %w", err)
	}
	raw, err := encMode.Marshal(signed{Body: body, Sig: sign(key, labelOp, body)})
	if err != nil {
		return nil, fmt.Errorf("groups: sign change: %w", err)
	}
	var gid ID
	copy(gid[:], b.Group)
	if b.Kind == uint8(KindCreate) {
		gid = ID{}
	}
	return parseOp(raw, gid, b.Kind == uint8(KindCreate))
}

// groupID is the id of the group created by a Create op with this body.
func groupID(body []byte) ID {
	h := sha256.Sum256(append([]byte(labelID), body...))
	var id ID
	copy(id[:], h[:])
	return id
}

// ParseOp decodes and verifies one signed change of group gid: its
// signature (strict ed25519, under the signer's key), its fields, and that
// it belongs to gid. It does not say whether the signer may make it: that
// depends on the other changes (Log.State).
func ParseOp(b []byte, gid ID) (*Op, error) {
	return parseOp(b, gid, false)
}

func parseOp(b []byte, gid ID, genesis bool) (*Op, error) {
	s, err := decodeSigned(b, MaxOp)
	if err != nil {
		return nil, err
	}
	var ob opBody
	if err := decMode.Unmarshal(s.Body, &ob); err != nil {
		return nil, malformed("change", err)
	}
	o := &Op{Number: ob.Number, Kind: Kind(ob.Kind), Name: ob.Name, raw: b, body: s.Body, hash: sha256.Sum256(s.Body)}
	var ok bool
	if o.Signer, ok = keyFrom(ob.Signer); !ok {
		return nil, malformed("change: signer", nil)
	}
	if ob.Time != 0 {
		o.Time = time.UnixMilli(ob.Time)
	}
	if o.Kind == KindCreate {
		if len(ob.Group) != 0 || ob.Number != 0 || len(ob.Nonce) != 16 || ob.Target != nil {
			return nil, malformed("create: bad fields", nil)
		}
		if err := checkName(ob.Name); err != nil {
			return nil, err
		}
		o.Group = groupID(s.Body)
		if !genesis && o.Group != gid {
			return nil, fmt.Errorf("%w: created another group", ErrNotGroup)
		}
	} else {
		if len(ob.Group) != len(gid) || ob.Number == 0 || ob.Nonce != nil {
			return nil, malformed("change: bad fields", nil)
		}
		copy(o.Group[:], ob.Group)
		if o.Group != gid {
			return nil, ErrNotGroup
		}
		switch o.Kind {
		case KindInvite, KindRemove, KindPromote:
			if o.Target, ok = keyFrom(ob.Target); !ok || ob.Name != "" {
				return nil, malformed(o.Kind.String()+": bad fields", nil)
			}
		case KindLeave:
			if ob.Target != nil || ob.Name != "" {
				return nil, malformed("leave: bad fields", nil)
			}
		case KindRename:
			if ob.Target != nil {
				return nil, malformed("rename: bad fields", nil)
			}
			if err := checkName(ob.Name); err != nil {
				return nil, err
			}
		default:
			// A kind of a later version: kept (the set must stay the same on
			// every member) but never applied.
			if len(ob.Target) != 0 && len(ob.Target) != 32 || len(ob.Name) > MaxName {
				return nil, malformed("change: bad fields", nil)
			}
		}
	}
	if !wire.VerifyStrict(o.Signer.Public(), append([]byte(labelOp), s.Body...), s.Sig) {
		return nil, ErrSignature
	}
	return o, nil
}

// NewLog creates a group: its log holds the signed Create op of key's
// owner, who is its first member and admin.
func NewLog(key ed25519.PrivateKey, name string, now time.Time) (*Log, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	o, err := newOp(key, opBody{
		Number: 0, Kind: uint8(KindCreate), Signer: key.Public().(ed25519.PublicKey),
		Name: name, Nonce: nonce, Time: now.UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	l := &Log{id: o.Group, ops: map[[32]byte]*Op{o.hash: o}}
	return l, nil
}
