package wire

import "fmt"

// The mailbox protocol (issue 16): frames between a chive mailbox and the
// clients that use it, its owner's node and the owner's contacts. They
// travel on an ordinary Link (same handshake, same framing); a node never
// accepts them from a peer, and a mailbox accepts nothing else (but Ack).
// See docs/protocol.md, "Mailbox".
const (
	TypeMailboxOpen    Type = 0x30 // client → mailbox: who I am (owner, pairing secret, or a contact's token)
	TypeMailboxOpened  Type = 0x31 // mailbox → client: the session is open, or why not
	TypeMailboxPut     Type = 0x32 // client → mailbox: store this item for the other side; Ack or MailboxRefused
	TypeMailboxRefused Type = 0x33 // mailbox → client: a put was not stored, and why
	TypeMailboxItem    Type = 0x34 // mailbox → client: an item stored for you
	TypeMailboxTaken   Type = 0x35 // client → mailbox: these items are durably processed; delete them
	TypeMailboxNotice  Type = 0x36 // mailbox → client: your items that were taken or expired; Ack
	TypeMailboxSlot    Type = 0x37 // owner → mailbox: add or remove a contact's slot; Ack
	TypeMailboxUnlink  Type = 0x38 // owner → mailbox: forget me and everything stored; Ack
)

// Mailbox limits.
const (
	MailboxSecretSize = 32       // pairing secret and upload token, bytes
	MailboxSlotSize   = 16       // slot id: a hash of the token
	MaxMailboxItem    = 63 << 10 // largest stored item (a padded frame)
	MaxMailboxIDs     = 256      // ids in one Taken or Notice list
)

// MailboxCode says why a mailbox refused something. 0 is success.
type MailboxCode uint8

const (
	MailboxOK          MailboxCode = 0
	MailboxDenied      MailboxCode = 1 // not the owner, a wrong secret or an unknown token
	MailboxFull        MailboxCode = 2 // a quota is reached; try later
	MailboxRateLimited MailboxCode = 3 // too many requests; try later
	MailboxBadItem     MailboxCode = 4 // not a padded Message or Receipt frame with this id
	MailboxUnknownSlot MailboxCode = 5 // the owner named a slot it never added
	MailboxNotPaired   MailboxCode = 6 // the mailbox has no owner (it was unlinked): pair again
	MailboxPaired      MailboxCode = 7 // pairing refused: the mailbox already has an owner
)

func (c MailboxCode) String() string {
	switch c {
	case MailboxOK:
		return "ok"
	case MailboxDenied:
		return "denied"
	case MailboxFull:
		return "mailbox full"
	case MailboxRateLimited:
		return "rate limited"
	case MailboxBadItem:
		return "bad item"
	case MailboxUnknownSlot:
		return "unknown slot"
	case MailboxNotPaired:
		return "the mailbox is not paired"
	case MailboxPaired:
		return "the mailbox is already paired with someone else"
	}
	return fmt.Sprintf("code %d", uint8(c))
}

// MailboxOpen is a client's first frame after the link handshake. With
// neither field, the client is the owner (the link's key must be the
// owner's); with Pair, it pairs an unpaired mailbox and becomes its owner;
// with Token, it is the contact holding that token (any link key: contacts
// use a fresh one per connection, so the mailbox never learns their
// address).
type MailboxOpen struct {
	Pair  []byte `cbor:"1,keyasint,omitempty"`
	Token []byte `cbor:"2,keyasint,omitempty"`
}

// MailboxOpened answers MailboxOpen. A code other than MailboxOK is
// followed by the mailbox closing the link.
type MailboxOpened struct {
	Code MailboxCode `cbor:"1,keyasint"`
}

// MailboxPut asks the mailbox to keep Item (a padded frame, see
// mailbox.Pad) for the other side. Slot names the contact when the owner
// puts; a contact leaves it empty.
type MailboxPut struct {
	ID   ID     `cbor:"1,keyasint"`
	Slot []byte `cbor:"2,keyasint,omitempty"`
	Item []byte `cbor:"3,keyasint"`
}

// MailboxRefused says the put with ID was not stored.
type MailboxRefused struct {
	ID   ID          `cbor:"1,keyasint"`
	Code MailboxCode `cbor:"2,keyasint"`
}

// MailboxItem is an item the other side put for the client. Slot says
// which contact it came from when the client is the owner.
type MailboxItem struct {
	ID   ID     `cbor:"1,keyasint"`
	Slot []byte `cbor:"2,keyasint,omitempty"`
	Item []byte `cbor:"3,keyasint"`
}

// MailboxTaken says the client has durably processed these items (of Slot,
// for the owner): the mailbox deletes them and tells their sender.
type MailboxTaken struct {
	Slot []byte `cbor:"1,keyasint,omitempty"`
	IDs  []ID   `cbor:"2,keyasint"`
}

// MailboxNotice tells the client what became of items it put (in Slot, for
// the owner): Delivered were taken by the other side, Expired were deleted
// unread when the mailbox's retention ran out. The client acknowledges ID.
type MailboxNotice struct {
	ID        ID     `cbor:"1,keyasint"`
	Slot      []byte `cbor:"2,keyasint,omitempty"`
	Delivered []ID   `cbor:"3,keyasint,omitempty"`
	Expired   []ID   `cbor:"4,keyasint,omitempty"`
}

// MailboxSlot adds (or, with Remove, removes with everything in it) the
// slot of one contact. Only the owner sends it; acknowledged by ID.
type MailboxSlot struct {
	ID     ID     `cbor:"1,keyasint"`
	Slot   []byte `cbor:"2,keyasint"`
	Remove bool   `cbor:"3,keyasint,omitempty"`
}

// MailboxUnlink: the owner leaves; the mailbox deletes everything and
// waits to be paired again. Acknowledged by ID.
type MailboxUnlink struct {
	ID ID `cbor:"1,keyasint"`
}

func (*MailboxOpen) Type() Type    { return TypeMailboxOpen }
func (*MailboxOpened) Type() Type  { return TypeMailboxOpened }
func (*MailboxPut) Type() Type     { return TypeMailboxPut }
func (*MailboxRefused) Type() Type { return TypeMailboxRefused }
func (*MailboxItem) Type() Type    { return TypeMailboxItem }
func (*MailboxTaken) Type() Type   { return TypeMailboxTaken }
func (*MailboxNotice) Type() Type  { return TypeMailboxNotice }
func (*MailboxSlot) Type() Type    { return TypeMailboxSlot }
func (*MailboxUnlink) Type() Type  { return TypeMailboxUnlink }

func validSlot(s []byte, optional bool) bool {
	return len(s) == MailboxSlotSize || (optional && len(s) == 0)
}

func (m *MailboxOpen) validate() error {
	switch {
	case len(m.Pair) != 0 && len(m.Pair) != MailboxSecretSize:
		return malformed(TypeMailboxOpen, "bad pairing secret length")
	case len(m.Token) != 0 && len(m.Token) != MailboxSecretSize:
		return malformed(TypeMailboxOpen, "bad token length")
	case len(m.Pair) != 0 && len(m.Token) != 0:
		return malformed(TypeMailboxOpen, "both a pairing secret and a token")
	}
	return nil
}

func (*MailboxOpened) validate() error { return nil }

func (m *MailboxPut) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeMailboxPut, "zero id")
	case !validSlot(m.Slot, true):
		return malformed(TypeMailboxPut, "bad slot length")
	case len(m.Item) == 0 || len(m.Item) > MaxMailboxItem:
		return malformed(TypeMailboxPut, "bad item length")
	}
	return nil
}

func (m *MailboxRefused) validate() error {
	if m.ID.IsZero() {
		return malformed(TypeMailboxRefused, "zero id")
	}
	return nil
}

func (m *MailboxItem) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeMailboxItem, "zero id")
	case !validSlot(m.Slot, true):
		return malformed(TypeMailboxItem, "bad slot length")
	case len(m.Item) == 0 || len(m.Item) > MaxMailboxItem:
		return malformed(TypeMailboxItem, "bad item length")
	}
	return nil
}

func (m *MailboxTaken) validate() error {
	switch {
	case !validSlot(m.Slot, true):
		return malformed(TypeMailboxTaken, "bad slot length")
	case len(m.IDs) == 0 || len(m.IDs) > MaxMailboxIDs:
		return malformed(TypeMailboxTaken, "bad id count")
	}
	return nil
}

func (m *MailboxNotice) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeMailboxNotice, "zero id")
	case !validSlot(m.Slot, true):
		return malformed(TypeMailboxNotice, "bad slot length")
	case len(m.Delivered)+len(m.Expired) == 0 || len(m.Delivered) > MaxMailboxIDs || len(m.Expired) > MaxMailboxIDs:
		return malformed(TypeMailboxNotice, "bad id count")
	}
	return nil
}

func (m *MailboxSlot) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeMailboxSlot, "zero id")
	case !validSlot(m.Slot, false):
		return malformed(TypeMailboxSlot, "bad slot length")
	}
	return nil
}

func (m *MailboxUnlink) validate() error {
	if m.ID.IsZero() {
		return malformed(TypeMailboxUnlink, "zero id")
	}
	return nil
}

// newMailboxMsg returns an empty message of mailbox type t, or nil.
func newMailboxMsg(t Type) Msg {
	switch t {
	case TypeMailboxOpen:
		return new(MailboxOpen)
	case TypeMailboxOpened:
		return new(MailboxOpened)
	case TypeMailboxPut:
		return new(MailboxPut)
	case TypeMailboxRefused:
		return new(MailboxRefused)
	case TypeMailboxItem:
		return new(MailboxItem)
	case TypeMailboxTaken:
		return new(MailboxTaken)
	case TypeMailboxNotice:
		return new(MailboxNotice)
	case TypeMailboxSlot:
		return new(MailboxSlot)
	case TypeMailboxUnlink:
		return new(MailboxUnlink)
	}
	return nil
}

func mailboxTypeName(t Type) string {
	switch t {
	case TypeMailboxOpen:
		return "mailbox-open"
	case TypeMailboxOpened:
		return "mailbox-opened"
	case TypeMailboxPut:
		return "mailbox-put"
	case TypeMailboxRefused:
		return "mailbox-refused"
	case TypeMailboxItem:
		return "mailbox-item"
	case TypeMailboxTaken:
		return "mailbox-taken"
	case TypeMailboxNotice:
		return "mailbox-notice"
	case TypeMailboxSlot:
		return "mailbox-slot"
	case TypeMailboxUnlink:
		return "mailbox-unlink"
	}
	return ""
}

// MailboxInfo (Content key 30) tells a contact, inside the session, where
// to leave messages for us while we are offline: our mailbox's onion key
// and the token of the contact's slot there. Both empty: we have no
// mailbox (any more).
type MailboxInfo struct {
	Key   []byte `cbor:"1,keyasint,omitempty"` // the mailbox's ed25519 onion key (32 bytes)
	Token []byte `cbor:"2,keyasint,omitempty"` // the contact's upload token (32 bytes)
}

func (i *MailboxInfo) validate() error {
	switch {
	case len(i.Key) == 0 && len(i.Token) == 0:
		return nil
	case len(i.Key) != 32 || len(i.Token) != MailboxSecretSize:
		return fmt.Errorf("bad mailbox info: %w", ErrMalformed)
	}
	return nil
}
