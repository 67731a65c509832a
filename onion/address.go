package onion

import (
	"crypto/ed25519"
	"crypto/sha3"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// VirtualPort is the one virtual port every chive onion service listens on,
// and the port Dial connects to. It is part of the protocol: changing it
// makes every existing contact unreachable.
const VirtualPort = 7467

// URIScheme prefixes an address in its shareable form: "chive:<address>".
// ParseAddress also accepts "chive://<address>".
const URIScheme = "chive:"

// Address is a Tor v3 onion address in canonical form: 56 lower-case base32
// characters, without ".onion". The zero value is not a valid address; get
// one from ParseAddress or AddressFromPublicKey.
type Address string

// addressLen is the length of the base32 text of a v3 address:
// base32(32-byte key || 2-byte checksum || 1-byte version) = 56 characters.
const addressLen = 56

const addressVersion = 3

// Errors returned by ParseAddress, matched with errors.Is. Their text is
// for the user who typed or pasted the address: ParseAddress's error reads
// "that is not a chive address: it has 55 characters; an address has 56".
var (
	ErrAddressLength   = errors.New("an address has 56 characters")
	ErrAddressEncoding = errors.New("an address has only the letters a to z and the digits 2 to 7")
	ErrAddressVersion  = errors.New("a character is mistyped (it is no Tor v3 address); copy the address again")
	ErrAddressChecksum = errors.New("a character is mistyped (the address does not check out); copy the address again")
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// AddressFromPublicKey returns the v3 onion address of an ed25519 public key.
// It panics if pub is not ed25519.PublicKeySize bytes, as crypto/ed25519 does.
func AddressFromPublicKey(pub ed25519.PublicKey) Address {
	if len(pub) != ed25519.PublicKeySize {
		panic(fmt.Sprintf("onion: bad ed25519 public key length %d", len(pub)))
	}
	var raw [ed25519.PublicKeySize + 3]byte
	copy(raw[:], pub)
	sum := checksum(pub)
	raw[32], raw[33] = sum[0], sum[1]
	raw[34] = addressVersion
	return Address(strings.ToLower(b32.EncodeToString(raw[:])))
}

// checksum is SHA3-256(".onion checksum" || pubkey || version)[:2], from
// Tor's rend-spec-v3 section 6.
func checksum(pub []byte) [2]byte {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{addressVersion})
	var sum [2]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// ParseAddress validates s as a v3 onion address and returns it in canonical
// form. It accepts what people paste: surrounding or embedded white space,
// upper case, a ".onion" suffix, and the "chive:" or "chive://" URI forms.
// The error wraps one of ErrAddressLength, ErrAddressEncoding,
// ErrAddressVersion or ErrAddressChecksum.
func ParseAddress(s string) (Address, error) {
	norm := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		if 'A' <= r && r <= 'Z' { // ASCII only: no Unicode case folding tricks
			return r + 'a' - 'A'
		}
		return r
	}, s)
	if rest, ok := strings.CutPrefix(norm, URIScheme); ok {
		norm = strings.TrimPrefix(rest, "//")
		norm = strings.TrimSuffix(norm, "/")
	}
	norm = strings.TrimSuffix(norm, ".onion")
	if _, err := decode(norm); err != nil {
		return "", fmt.Errorf("that is not a chive address: %w", err)
	}
	return Address(norm), nil
}

// decode checks a normalized address and returns its public key.
func decode(s string) (ed25519.PublicKey, error) {
	if len(s) != addressLen {
		switch n := utf8.RuneCountInString(s); n {
		case 0:
			return nil, fmt.Errorf("it is empty; %w", ErrAddressLength)
		case 16:
			return nil, fmt.Errorf("it is an old (v2) Tor address, retired in 2021; %w", ErrAddressLength)
		default:
			return nil, fmt.Errorf("it has %d characters; %w", n, ErrAddressLength)
		}
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return nil, fmt.Errorf("%q (character %d) cannot be in it: %w", c, utf8.RuneCountInString(s[:i])+1, ErrAddressEncoding)
		}
	}
	raw, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil || len(raw) != ed25519.PublicKeySize+3 {
		// Unreachable after the checks above, but never trust a decoder blindly.
		return nil, fmt.Errorf("%w: %v", ErrAddressEncoding, err)
	}
	pub := ed25519.PublicKey(raw[:ed25519.PublicKeySize])
	if v := raw[34]; v != addressVersion {
		return nil, ErrAddressVersion
	}
	if sum := checksum(pub); sum[0] != raw[32] || sum[1] != raw[33] {
		return nil, ErrAddressChecksum
	}
	return pub, nil
}

// truncate keeps error messages readable when someone pastes a whole page.
func truncate(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// PublicKey returns the ed25519 public key the address encodes. It fails,
// like ParseAddress, if a is not a canonical v3 address.
func (a Address) PublicKey() (ed25519.PublicKey, error) {
	pub, err := decode(string(a))
	if err != nil {
		return nil, fmt.Errorf("onion: address %q: %w", truncate(string(a)), err)
	}
	return pub, nil
}

// String returns the canonical address (56 characters, no ".onion").
func (a Address) String() string { return string(a) }

// Hostname returns the address with ".onion", as Tor's SOCKS port wants it.
func (a Address) Hostname() string { return string(a) + ".onion" }

// URI returns the shareable form "chive:<address>".
func (a Address) URI() string { return URIScheme + string(a) }

// Short returns the first 8 characters, for status lines. It is not unique
// enough to identify a peer; never use it as a key.
func (a Address) Short() string {
	if len(a) <= 8 {
		return string(a)
	}
	return string(a[:8])
}
