package mailbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/wire"
)

// A pairing link is the mailbox's address with a one-time secret:
//
//	chive:<56-character address>?pair=<52 base32 characters>
//
// It is shown once by the mailbox; whoever presents the secret first over
// Tor becomes the owner. A contact's address (chive:<address>) is not a
// pairing link, and a pairing link is not an address: each parser refuses
// the other.

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrNotPairingLink: the text is not a mailbox pairing link.
var ErrNotPairingLink = errors.New("not a mailbox pairing link")

// PairingLink returns the link for a mailbox address and its secret.
func PairingLink(addr onion.Address, secret []byte) string {
	return addr.URI() + "?pair=" + strings.ToLower(b32.EncodeToString(secret))
}

// ParsePairingLink returns the mailbox's address and the pairing secret.
// It accepts what people paste: surrounding space, any case, "chive://".
func ParsePairingLink(s string) (onion.Address, []byte, error) {
	s = strings.TrimSpace(s)
	base, query, ok := strings.Cut(s, "?")
	if !ok {
		if _, err := onion.ParseAddress(s); err == nil {
			return "", nil, fmt.Errorf("%w: that is an address, without the pairing secret (?pair=…) the mailbox shows", ErrNotPairingLink)
		}
		return "", nil, fmt.Errorf("%w: want chive:ADDRESS?pair=SECRET, as \"chive mailbox run\" shows it", ErrNotPairingLink)
	}
	addr, err := onion.ParseAddress(base)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrNotPairingLink, err)
	}
	key, val, ok := strings.Cut(query, "=")
	if strings.EqualFold(strings.TrimSpace(key), "invite") {
		return "", nil, fmt.Errorf("%w: that is an invite to add a contact (chive contacts add LINK)", ErrNotPairingLink)
	}
	if !ok || !strings.EqualFold(key, "pair") {
		return "", nil, fmt.Errorf("%w: want ?pair=SECRET after the address", ErrNotPairingLink)
	}
	secret, err := b32.DecodeString(strings.ToUpper(strings.TrimSpace(val)))
	if err != nil || len(secret) != wire.MailboxSecretSize {
		return "", nil, fmt.Errorf("%w: the secret is damaged (copy the whole link)", ErrNotPairingLink)
	}
	return addr, secret, nil
}

// NewSecret returns a fresh pairing secret or upload token.
func NewSecret() []byte {
	b := make([]byte, wire.MailboxSecretSize)
	rand.Read(b)
	return b
}

// SlotOf is the slot id of an upload token: what the owner registers and
// the mailbox stores, so the mailbox never holds a token itself.
func SlotOf(token []byte) []byte {
	h := sha256.Sum256(append([]byte("chive mailbox slot v1\x00"), token...))
	return h[:wire.MailboxSlotSize]
}
