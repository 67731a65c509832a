package wire

import (
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Limits on fields, checked on decode and encode. The frame cap bounds
// every byte string as well; these are tighter per field.
const (
	MaxGreeting   = 1 << 10  // bytes of UTF-8 in a contact request's greeting
	MaxBundle     = 8 << 10  // bytes of a serialized ratchet bundle
	MaxHandshake  = 16 << 10 // bytes of a ratchet acceptance handshake
	MaxCiphertext = 60 << 10 // bytes of one encrypted message
	MaxReceiptIDs = 256      // message ids in one receipt
	MaxText       = 16 << 10 // bytes of UTF-8 in one chat message (inside the ciphertext)
	MaxName       = 256      // bytes of UTF-8 in a display name (Request, Accept, Profile)

	x25519Size = 32
)

// ID is the 128-bit random id of a reliable frame (and of the chat message it
// carries). On the wire it is a CBOR byte string of exactly 16 bytes.
type ID [16]byte

// NewID returns a fresh random id.
func NewID() ID {
	var id ID
	rand.Read(id[:]) // never fails (crypto/rand)
	return id
}

// String is 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros, which no valid frame carries.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses what String produced.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("wire: parse id %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("wire: parse id %q: %w", s, err)
	}
	return id, nil
}

// MarshalCBOR encodes id as a 16-byte CBOR byte string.
func (id ID) MarshalCBOR() ([]byte, error) {
	return append([]byte{0x50}, id[:]...), nil
}

// UnmarshalCBOR accepts exactly a 16-byte byte string; the library default
// would silently truncate or zero-pad other lengths.
func (id *ID) UnmarshalCBOR(b []byte) error {
	if len(b) != 17 || b[0] != 0x50 {
		return fmt.Errorf("id is not a 16-byte byte string: %w", ErrMalformed)
	}
	copy(id[:], b[1:])
	return nil
}

// Msg is one decoded frame body. The concrete types are the pointers to the
// structs below; switch on them.
type Msg interface {
	Type() Type
	validate() error
}

// Hello is the listener's first frame: its ephemeral keys for this link.
type Hello struct {
	E  []byte `cbor:"1,keyasint"` // X25519 public key, 32 bytes
	EK []byte `cbor:"2,keyasint"` // ML-KEM-768 encapsulation key, 1184 bytes
}

// KeyShare is the dialer's answer to Hello: its ephemeral X25519 key and
// the ML-KEM-768 ciphertext for the listener's key.
type KeyShare struct {
	E  []byte `cbor:"1,keyasint"` // X25519 public key, 32 bytes
	CT []byte `cbor:"2,keyasint"` // ML-KEM-768 ciphertext, 1088 bytes
}

// Auth proves an onion key: Sig is its ed25519 signature over the
// handshake transcript and both keys (see authMessage). Each side sends one,
// sealed, as its first frame after the key exchange.
type Auth struct {
	Key []byte `cbor:"1,keyasint"` // the sender's ed25519 onion key
	Sig []byte `cbor:"2,keyasint"`
}

// Ping asks for a Pong with the same Seq.
type Ping struct {
	Seq uint64 `cbor:"1,keyasint"`
}

// Pong answers a Ping.
type Pong struct {
	Seq uint64 `cbor:"1,keyasint"`
}

// Request is a contact request: the requester's ratchet bundle and a greeting.
// The only frame a node accepts from a stranger.
type Request struct {
	ID       ID     `cbor:"1,keyasint"`
	Bundle   []byte `cbor:"2,keyasint"`
	Greeting string `cbor:"3,keyasint,omitempty"`
	Name     string `cbor:"4,keyasint,omitempty"` // the requester's display name
	// Invite is the token of the recipient's invite link, if the requester
	// has one: a valid one lets the request past the stranger limits.
	// (Keys 13 and 14: issue 13's, clear of the keys other features take.)
	Invite []byte `cbor:"13,keyasint,omitempty"`
	// Work is the proof of work a request without a valid invite needs.
	Work *Work `cbor:"14,keyasint,omitempty"`
}

// InviteSize is the length of an invite token.
const InviteSize = 16

// Accept is a contact acceptance carrying the ratchet handshake.
type Accept struct {
	ID        ID     `cbor:"1,keyasint"`
	Handshake []byte `cbor:"2,keyasint"`
	Name      string `cbor:"3,keyasint,omitempty"` // the accepter's display name
}

// Message is one end-to-end encrypted chat message. ID is the message id,
// which the ratchet authenticates as associated data.
type Message struct {
	ID         ID     `cbor:"1,keyasint"`
	Ciphertext []byte `cbor:"2,keyasint"`
}

// Ack says the frame with this ID was received and durably stored (or was a
// duplicate of one that was). The sender may forget it.
type Ack struct {
	ID ID `cbor:"1,keyasint"`
}

// Receipt says the messages IDs were read. It is itself reliable: ID is acked.
type Receipt struct {
	ID   ID   `cbor:"1,keyasint"`
	IDs  []ID `cbor:"2,keyasint"`
	Read bool `cbor:"3,keyasint,omitempty"`
}

// Typing says the sender is typing now. Never acked, never stored.
type Typing struct{}

// Refuse answers a reliable frame that the receiver will never store,
// instead of an Ack: the sender stops resending it and tells its user why.
// Like an Ack it is not itself acknowledged.
type Refuse struct {
	ID     ID     `cbor:"1,keyasint"`
	Reason Reason `cbor:"2,keyasint"`
}

// Reason says why a frame was refused. Values this version does not know
// are valid (a newer peer's); treat them as a refusal without detail.
type Reason uint8

// ReasonExpired: the message's sender-declared expiry (Content.Expires) had
// passed when it arrived; it is not shown late.
const ReasonExpired Reason = 1

func (r Reason) String() string {
	if r == ReasonExpired {
		return "expired before it arrived"
	}
	return fmt.Sprintf("refused (reason %d)", uint8(r))
}

// Groups (issue 18). Group is the group's 16-byte id. A group-scoped
// session is a ratchet session between two members, made by
// GroupRequest/GroupAccept as Request/Accept make a contact's, and used
// only for that group's frames: it makes nobody a contact.

// GroupRequest asks a fellow member for a pairwise session for Group.
type GroupRequest struct {
	ID     ID     `cbor:"1,keyasint"`
	Group  ID     `cbor:"2,keyasint"`
	Bundle []byte `cbor:"3,keyasint"`
	Name   string `cbor:"4,keyasint,omitempty"` // the requester's display name
}

// GroupAccept answers a GroupRequest with the ratchet handshake.
type GroupAccept struct {
	ID        ID     `cbor:"1,keyasint"`
	Group     ID     `cbor:"2,keyasint"`
	Handshake []byte `cbor:"3,keyasint"`
	Name      string `cbor:"4,keyasint,omitempty"` // the accepter's display name
}

// GroupMessage carries one group payload (messages, membership changes, a
// sync or a receipt), encrypted under the pairwise session for Group with
// the group and frame ids as associated data.
type GroupMessage struct {
	ID         ID     `cbor:"1,keyasint"`
	Group      ID     `cbor:"2,keyasint"`
	Ciphertext []byte `cbor:"3,keyasint"`
}

// GroupAck says the group frame with this ID was received and what it
// carried stored. Group frames have their own acks: a member's link may be
// a stranger's to the contact book.
type GroupAck struct {
	ID ID `cbor:"1,keyasint"`
}

// GroupTyping says the sender is typing in Group. Never acked, never stored.
type GroupTyping struct {
	Group ID `cbor:"1,keyasint"`
}

func (*Hello) Type() Type    { return TypeHello }
func (*KeyShare) Type() Type { return TypeKeyShare }
func (*Auth) Type() Type     { return TypeAuth }
func (*Ping) Type() Type     { return TypePing }
func (*Pong) Type() Type     { return TypePong }
func (*Request) Type() Type  { return TypeRequest }
func (*Accept) Type() Type   { return TypeAccept }
func (*Message) Type() Type  { return TypeMessage }
func (*Ack) Type() Type      { return TypeAck }
func (*Receipt) Type() Type  { return TypeReceipt }
func (*Typing) Type() Type   { return TypeTyping }
func (*Refuse) Type() Type   { return TypeRefuse }

func (*GroupRequest) Type() Type { return TypeGroupRequest }
func (*GroupAccept) Type() Type  { return TypeGroupAccept }
func (*GroupMessage) Type() Type { return TypeGroupMessage }
func (*GroupAck) Type() Type     { return TypeGroupAck }
func (*GroupTyping) Type() Type  { return TypeGroupTyping }

func malformed(t Type, what string) error {
	return fmt.Errorf("wire: %s: %s: %w", t, what, ErrMalformed)
}

func (m *Hello) validate() error {
	switch {
	case len(m.E) != x25519Size:
		return malformed(TypeHello, "bad X25519 key length")
	case len(m.EK) != mlkem.EncapsulationKeySize768:
		return malformed(TypeHello, "bad ML-KEM key length")
	}
	return nil
}

func (m *KeyShare) validate() error {
	switch {
	case len(m.E) != x25519Size:
		return malformed(TypeKeyShare, "bad X25519 key length")
	case len(m.CT) != mlkem.CiphertextSize768:
		return malformed(TypeKeyShare, "bad ML-KEM ciphertext length")
	}
	return nil
}

func (m *Auth) validate() error {
	switch {
	case len(m.Key) != ed25519.PublicKeySize:
		return malformed(TypeAuth, "bad key length")
	case len(m.Sig) != ed25519.SignatureSize:
		return malformed(TypeAuth, "bad signature length")
	}
	return nil
}

func (*Ping) validate() error   { return nil }
func (*Pong) validate() error   { return nil }
func (*Typing) validate() error { return nil }

func (m *Request) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeRequest, "zero id")
	case len(m.Bundle) == 0 || len(m.Bundle) > MaxBundle:
		return malformed(TypeRequest, "bad bundle length")
	case len(m.Greeting) > MaxGreeting:
		return malformed(TypeRequest, "greeting too long")
	case len(m.Name) > MaxName:
		return malformed(TypeRequest, "name too long")
	case m.Invite != nil && len(m.Invite) != InviteSize:
		return malformed(TypeRequest, "bad invite length")
	case m.Work != nil && m.Work.Time <= 0:
		return malformed(TypeRequest, "bad work time")
	}
	return nil
}

func (m *Accept) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeAccept, "zero id")
	case len(m.Handshake) == 0 || len(m.Handshake) > MaxHandshake:
		return malformed(TypeAccept, "bad handshake length")
	case len(m.Name) > MaxName:
		return malformed(TypeAccept, "name too long")
	}
	return nil
}

func (m *Message) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeMessage, "zero id")
	case len(m.Ciphertext) == 0 || len(m.Ciphertext) > MaxCiphertext:
		return malformed(TypeMessage, "bad ciphertext length")
	}
	return nil
}

func (m *Ack) validate() error {
	if m.ID.IsZero() {
		return malformed(TypeAck, "zero id")
	}
	return nil
}

func (m *Refuse) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeRefuse, "zero id")
	case m.Reason == 0:
		return malformed(TypeRefuse, "no reason")
	}
	return nil
}

func (m *Receipt) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeReceipt, "zero id")
	case len(m.IDs) == 0 || len(m.IDs) > MaxReceiptIDs:
		return malformed(TypeReceipt, "bad id count")
	}
	return nil
}

func (m *GroupRequest) validate() error {
	switch {
	case m.ID.IsZero() || m.Group.IsZero():
		return malformed(TypeGroupRequest, "zero id")
	case len(m.Bundle) == 0 || len(m.Bundle) > MaxBundle:
		return malformed(TypeGroupRequest, "bad bundle length")
	case len(m.Name) > MaxName:
		return malformed(TypeGroupRequest, "name too long")
	}
	return nil
}

func (m *GroupAccept) validate() error {
	switch {
	case m.ID.IsZero() || m.Group.IsZero():
		return malformed(TypeGroupAccept, "zero id")
	case len(m.Handshake) == 0 || len(m.Handshake) > MaxHandshake:
		return malformed(TypeGroupAccept, "bad handshake length")
	case len(m.Name) > MaxName:
		return malformed(TypeGroupAccept, "name too long")
	}
	return nil
}

func (m *GroupMessage) validate() error {
	switch {
	case m.ID.IsZero() || m.Group.IsZero():
		return malformed(TypeGroupMessage, "zero id")
	case len(m.Ciphertext) == 0 || len(m.Ciphertext) > MaxCiphertext:
		return malformed(TypeGroupMessage, "bad ciphertext length")
	}
	return nil
}

func (m *GroupAck) validate() error {
	if m.ID.IsZero() {
		return malformed(TypeGroupAck, "zero id")
	}
	return nil
}

func (m *GroupTyping) validate() error {
	if m.Group.IsZero() {
		return malformed(TypeGroupTyping, "zero group")
	}
	return nil
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
	// contentDecMode decodes Content: as strict as decMode, except that
	// unknown keys are skipped, so a newer peer can add kinds of content.
	contentDecMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	// Explicit limits for untrusted input. Byte and text strings are bounded
	// by the frame (MaxFrameSize) and then per field by validate.
	opts := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   4,
		MaxArrayElements:  MaxReceiptIDs,
		MaxMapPairs:       16,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}
	if decMode, err = opts.DecMode(); err != nil {
		panic(err)
	}
	opts.ExtraReturnErrors = cbor.ExtraDecErrorNone
	if contentDecMode, err = opts.DecMode(); err != nil {
		panic(err)
	}
}

// Marshal encodes m as a complete frame, length prefix included.
func Marshal(m Msg) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("wire: marshal: %w", err)
	}
	body, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("wire: marshal %s: %w", m.Type(), err)
	}
	return AppendFrame(make([]byte, 0, frameHeader+len(body)), m.Type(), body)
}

// Unmarshal decodes the body of a frame of type t. Unknown types, unknown
// fields, duplicate keys, trailing bytes and out-of-range fields are errors
// wrapping ErrMalformed.
func Unmarshal(t Type, body []byte) (Msg, error) {
	var m Msg
	switch t {
	case TypeHello:
		m = new(Hello)
	case TypeAuth:
		m = new(Auth)
	case TypeKeyShare:
		m = new(KeyShare)
	case TypePing:
		m = new(Ping)
	case TypePong:
		m = new(Pong)
	case TypeRequest:
		m = new(Request)
	case TypeAccept:
		m = new(Accept)
	case TypeMessage:
		m = new(Message)
	case TypeAck:
		m = new(Ack)
	case TypeReceipt:
		m = new(Receipt)
	case TypeTyping:
		m = new(Typing)
	case TypeRefuse:
		m = new(Refuse)
	case TypeFileChunk, TypeFileRequest, TypeFileStop, TypeFileEnd:
		m = newFileMsg(t)
	case TypeGroupRequest:
		m = new(GroupRequest)
	case TypeGroupAccept:
		m = new(GroupAccept)
	case TypeGroupMessage:
		m = new(GroupMessage)
	case TypeGroupAck:
		m = new(GroupAck)
	case TypeGroupTyping:
		m = new(GroupTyping)
	default:
		if m = newMailboxMsg(t); m == nil {
			return nil, fmt.Errorf("wire: unmarshal: unknown %s: %w", t, ErrMalformed)
		}
	}
	if err := decMode.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("wire: unmarshal %s: %w: %w", t, ErrMalformed, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Content is the plaintext inside a Message's ciphertext. A content with a
// kind field set (Profile, …) is not a chat message: its Text is empty and
// the receiver applies it instead of showing it. Keys a reader does not
// know are skipped (see docs/protocol.md for who owns which keys).
type Content struct {
	Text string `cbor:"1,keyasint"`
	Time int64  `cbor:"2,keyasint"` // sender's clock, Unix milliseconds
	// Expires (key 3) is when the message stops being worth showing, on
	// the sender's clock, Unix milliseconds; 0: never. The receiver refuses
	// a message that arrives after it (ReasonExpired). (issue 12)
	Expires int64 `cbor:"3,keyasint,omitempty"`

	// Profile (key 10) is the sender's new display name. (issue 11)
	Profile *Profile `cbor:"10,keyasint,omitempty"`

	// Padding (key 15) brings the encoding to its size bucket
	// (PaddedSize), so the ciphertext's length tells little about the
	// text's. MarshalContent sets it; UnmarshalContent drops it. (issue 13)
	Padding []byte `cbor:"15,keyasint,omitempty"`
	// Mailbox (key 30) is where to leave messages for the sender while it
	// is offline (issue 16).
	Mailbox *MailboxInfo `cbor:"30,keyasint,omitempty"`

	// File offer (issue 15): the message carries a file; Text is its caption.
	File *FileOffer `cbor:"20,keyasint,omitempty"`
	// Conversation features (keys 40–59, issue 17; convo.go). ReplyTo,
	// Quote and Disappear go with a chat message's text; Reaction, Edit, Delete
	// and Timer are kinds of their own (Text empty).
	ReplyTo  *Ref      `cbor:"40,keyasint,omitempty"` // the message this one answers
	Quote    string    `cbor:"41,keyasint,omitempty"` // an excerpt of it, as the sender saw it
	Reaction *Reaction `cbor:"42,keyasint,omitempty"`
	Edit     *Edit     `cbor:"43,keyasint,omitempty"`
	Delete   *Delete   `cbor:"44,keyasint,omitempty"`
	Timer    *Timer    `cbor:"45,keyasint,omitempty"`
	// Disappear (seconds) makes a chat message disappear this long after it was
	// read: the conversation's timer when it was sent.
	Disappear uint32 `cbor:"46,keyasint,omitempty"`
	// GroupInvite (key 60) invites the recipient into a group: the inviter
	// introduces the group inside the 1:1 session, then opens a
	// group-scoped session with them, which carries the group's membership
	// log. (issue 18)
	GroupInvite *GroupInvite `cbor:"60,keyasint,omitempty"`
}

// GroupInvite names a group the sender (an admin of it) added the
// recipient to.
type GroupInvite struct {
	Group ID     `cbor:"1,keyasint"`
	Name  string `cbor:"2,keyasint"` // the group's name when invited
}

// Profile is what the sender tells its contacts about itself.
type Profile struct {
	Name string `cbor:"1,keyasint"` // display name, at most MaxName bytes
}

// Padding buckets: an encoded Content is padded to the smallest power of
// two from MinPadded up to MaxBucket that holds it, and beyond that to a
// multiple of BucketStep.
const (
	MinPadded  = 256
	MaxBucket  = 32 << 10
	BucketStep = 8 << 10
)

// PaddedSize is the size an encoding of n bytes is padded to.
func PaddedSize(n int) int {
	if n > MaxBucket {
		return (n + BucketStep - 1) / BucketStep * BucketStep
	}
	size := MinPadded
	for size < n {
		size *= 2
	}
	return size
}

// MarshalContent encodes c for encryption, padded to its bucket.
func MarshalContent(c Content) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("wire: marshal content: %w", err)
	}
	c.Padding = nil
	b, err := encMode.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("wire: marshal content: %w", err)
	}
	// The padding field costs its key (1 byte), its length head (1 to 3
	// bytes) and its bytes. Try the sizes that could land exactly on the
	// bucket; a bucket that cannot be hit exactly (1 byte short) gives way
	// to the next one.
	for target := PaddedSize(len(b)); ; target = PaddedSize(target + 1) {
		need := target - len(b)
		if need == 0 {
			return b, nil
		}
		for head := 1; head <= 3; head++ {
			if need-1-head < 0 {
				break
			}
			c.Padding = make([]byte, need-1-head)
			out, err := encMode.Marshal(c)
			if err != nil {
				return nil, fmt.Errorf("wire: marshal content: %w", err)
			}
			if len(out) == target {
				return out, nil
			}
		}
	}
}

// UnmarshalContent decodes a decrypted Message body. Unknown keys are
// ignored (a newer sender's message kinds); sizes are strict.
func UnmarshalContent(b []byte) (Content, error) {
	var c Content
	if err := contentDecMode.Unmarshal(b, &c); err != nil {
		return Content{}, fmt.Errorf("wire: unmarshal content: %w: %w", ErrMalformed, err)
	}
	if err := c.validate(); err != nil {
		return Content{}, fmt.Errorf("wire: unmarshal content: %w", err)
	}
	c.Padding = nil
	return c, nil
}

func (c Content) validate() error {
	switch {
	case len(c.Text) > MaxText || !utf8.ValidString(c.Text):
		return fmt.Errorf("bad text (%d bytes): %w", len(c.Text), ErrMalformed)
	case c.Profile != nil && (len(c.Profile.Name) > MaxName || !utf8.ValidString(c.Profile.Name)):
		return fmt.Errorf("bad profile name: %w", ErrMalformed)
	case c.Profile != nil && c.Text != "":
		return fmt.Errorf("profile with text: %w", ErrMalformed)
	case c.Expires < 0:
		return fmt.Errorf("negative expiry: %w", ErrMalformed)
	case c.Mailbox != nil && c.Text != "":
		return fmt.Errorf("mailbox info with text: %w", ErrMalformed)
	case c.Mailbox != nil && c.File != nil:
		return fmt.Errorf("mailbox info with a file: %w", ErrMalformed)
	case c.Profile != nil && c.File != nil:
		return fmt.Errorf("profile with a file: %w", ErrMalformed)
	case c.GroupInvite != nil && (c.Text != "" || c.GroupInvite.Group.IsZero() || len(c.GroupInvite.Name) > MaxName || !utf8.ValidString(c.GroupInvite.Name)):
		return fmt.Errorf("bad group invite: %w", ErrMalformed)
	}
	if c.Mailbox != nil {
		if err := c.Mailbox.validate(); err != nil {
			return err
		}
	}
	if c.File != nil {
		if err := c.File.validate(); err != nil {
			return err
		}
	}
	return c.validateConvo() // also: one kind per message (a mailbox info is one)
}
