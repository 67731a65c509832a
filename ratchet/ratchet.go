// Package ratchet implements chive's end-to-end encryption: a post-quantum
// hybrid key agreement (X25519 + ML-KEM-768, PQXDH-style) followed by a Double
// Ratchet with header encryption and a periodic ML-KEM ratchet step.
//
// The package is pure: no I/O, no goroutines, no clock (callers pass now), no
// logging. Every operation takes a state and returns a new one; the input
// state is never modified, so a caller persists the returned state and the
// resulting message (or plaintext) in one transaction, and an error leaves
// nothing to undo.
//
// The path most callers want:
//
//	id, _ := ratchet.NewIdentity(onionKey, now)       // once per profile
//	bundle, _ := id.Bundle().MarshalBinary()         // sent in a contact request
//
//	// The accepter, holding the requester's bundle:
//	b, _ := ratchet.ParseBundle(bundleBytes, requesterOnionKey)
//	st, handshake, _ := ratchet.Accept(id, b, now)   // send handshake to the requester
//
//	// The requester, whenever the handshake arrives:
//	st, _ := ratchet.Complete(id, accepterOnionKey, handshake, now)
//
//	// Either side, at once and thereafter:
//	st2, msg, _ := st.Encrypt(plaintext, messageID[:], now)
//	st3, plaintext, _ := st2.Decrypt(msg, messageID[:], now)
//
// The wire formats are specified in docs/protocol.md ("Handshake and ratchet").
package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"time"
)

// Errors. Each is tested with errors.Is; returned errors wrap them with the
// operation that failed ("ratchet: decrypt: ...").
var (
	// ErrDecrypt is the one error for every message that fails
	// authentication: forged, tampered, wrong associated data, replayed, or
	// simply not for this session. It never says which check failed.
	ErrDecrypt = errors.New("message authentication failed")
	// ErrTooManySkipped means an authentic message would require skipping
	// more than MaxSkip message keys in one chain. The state is unchanged.
	ErrTooManySkipped = errors.New("too many skipped messages")

	// ErrBundleMalformed: the bundle bytes do not parse (length, encoding,
	// invalid ML-KEM key).
	ErrBundleMalformed = errors.New("malformed key bundle")
	// ErrBundleVersion: a bundle format this version does not know.
	ErrBundleVersion = errors.New("unsupported key bundle version")
	// ErrBundleDowngrade: the bundle lacks its post-quantum (ML-KEM-768)
	// key. chive never falls back to a classical-only handshake.
	ErrBundleDowngrade = errors.New("key bundle without post-quantum key (downgrade)")
	// ErrBundleAddress: the bundle belongs to another onion address than the
	// one it was received from / expected for.
	ErrBundleAddress = errors.New("key bundle is for another address")
	// ErrBundleSignature: the bundle's signature does not verify under the
	// onion key it names (forged or corrupted).
	ErrBundleSignature = errors.New("key bundle signature invalid")

	// ErrHandshake: a handshake that does not parse, does not match our own
	// bundle, or fails key confirmation.
	ErrHandshake = errors.New("invalid handshake")
	// ErrIdentity: serialized identity bytes that do not decode.
	ErrIdentity = errors.New("invalid identity encoding")
	// ErrState: serialized session state that does not decode.
	ErrState = errors.New("invalid session state encoding")
)

// Limits.
const (
	// MaxSkip is the most message keys skipped (and stored) in one
	// receiving chain by a single message.
	MaxSkip = 1000
	// MaxSkippedTotal caps the stored skipped keys over all chains; beyond
	// it the oldest are evicted first (messages that old become undecryptable).
	MaxSkippedTotal = 2000
	// PQInterval is how many messages (sent plus received, as seen by one
	// side) may pass before that side asks for a fresh ML-KEM step, on its
	// next DH ratchet step.
	PQInterval = 50
	// PQMaxAge is the time after which a side asks for a fresh ML-KEM step
	// on its next DH ratchet step even if few messages were exchanged.
	PQMaxAge = 7 * 24 * time.Hour
	// MaxRetired is the most retired prekey and ML-KEM key sets an
	// Identity keeps after rotations (see Identity.Rotate).
	MaxRetired = 16
)

// Sizes of the wire formats (docs/protocol.md ("Handshake and ratchet") has the layouts).
const (
	// BundleSize is the length of a marshaled Bundle.
	BundleSize = bundleSize
	// HandshakeSize is the length of the handshake Accept returns.
	HandshakeSize = handshakeSize
	// Overhead is what Encrypt adds to a plaintext in an ordinary message.
	Overhead = msgOverhead
	// PQKeyOverhead is added to every message of a sending chain that
	// advertises an ML-KEM-768 encapsulation key (about every PQInterval
	// messages, for one chain).
	PQKeyOverhead = pqEKSize
	// PQCiphertextOverhead is added to every message of the answering
	// sending chain, which carries the ML-KEM-768 ciphertext.
	PQCiphertextOverhead = pqCTSize
)

// Identity is one user's long-term ratchet identity: the public half of the
// onion service's ed25519 key (the address), an X25519 identity key, a signed
// X25519 prekey, an ML-KEM-768 decapsulation key, the creation time, and the
// onion key's signature over the resulting bundle. The onion private key is
// used by NewIdentity to sign and is not retained (storage keeps it once).
type Identity struct {
	identityFields
}

// NewIdentity generates a fresh identity bound to onionKey and signs its
// bundle with it.
func NewIdentity(onionKey ed25519.PrivateKey, now time.Time) (*Identity, error) {
	return newIdentity(onionKey, now)
}

// MarshalBinary encodes the identity, private keys included; seal it before
// storing.
func (id *Identity) MarshalBinary() ([]byte, error) { return id.marshal() }

// UnmarshalIdentity decodes what Identity.MarshalBinary produced, rejecting
// anything else with ErrIdentity.
func UnmarshalIdentity(data []byte) (*Identity, error) { return unmarshalIdentity(data) }

// Rotate returns a new identity with a fresh signed prekey and ML-KEM key
// (a new bundle, signed by onionKey, created now). The identity key stays.
// The replaced keys are kept, retired, for keep: a contact's acceptance made
// for an older bundle (a request sent before the rotation) still completes
// within that time. Retired keys older than keep are dropped, and at most
// MaxRetired are kept. id itself is unchanged.
func (id *Identity) Rotate(onionKey ed25519.PrivateKey, now time.Time, keep time.Duration) (*Identity, error) {
	return id.rotate(onionKey, now, keep)
}

// Created is when the current bundle was made (at creation or the last
// Rotate).
func (id *Identity) Created() time.Time { return id.bundle.Created }

// Retired is how many retired key sets id keeps.
func (id *Identity) Retired() int { return len(id.retired) }

// OnionKey returns the onion ed25519 public key the identity is bound to.
func (id *Identity) OnionKey() ed25519.PublicKey { return id.bundle.OnionKey }

// Bundle returns the identity's signed public bundle.
func (id *Identity) Bundle() *Bundle {
	b := id.bundle
	b.OnionKey = bytes.Clone(b.OnionKey)
	b.IdentityKey = bytes.Clone(b.IdentityKey)
	b.PreKey = bytes.Clone(b.PreKey)
	b.PQKey = bytes.Clone(b.PQKey)
	b.Signature = bytes.Clone(b.Signature)
	return &b
}

// Bundle is the public part of an Identity that a user hands a new contact:
// everything needed to run Accept against them, signed by the onion key.
type Bundle struct {
	OnionKey    ed25519.PublicKey // 32 bytes: the address's key, which signed the rest
	IdentityKey []byte            // 32 bytes: X25519 identity public key
	PreKey      []byte            // 32 bytes: signed X25519 prekey
	PQKey       []byte            // 1184 bytes: ML-KEM-768 encapsulation key
	Created     time.Time         // creation time, second precision
	Signature   []byte            // 64 bytes: ed25519 by OnionKey over the above
}

// MarshalBinary encodes the bundle in its signed wire form (BundleSize bytes).
func (b *Bundle) MarshalBinary() ([]byte, error) { return b.marshal() }

// ParseBundle decodes and verifies a bundle that must belong to onionKey.
// Errors: ErrBundleMalformed, ErrBundleVersion, ErrBundleDowngrade,
// ErrBundleAddress, ErrBundleSignature (checked in that order).
func ParseBundle(data []byte, onionKey ed25519.PublicKey) (*Bundle, error) {
	return parseBundle(data, onionKey)
}

// State is one side of a session. It is immutable: Encrypt and Decrypt return
// a new State and leave the receiver as it was, so a State may be shared and
// kept as a rollback point. The zero State is not usable.
type State struct {
	stateFields
}

// Accept runs the accepter's side of the key agreement against the
// requester's verified bundle. It returns the accepter's session state and
// the handshake (HandshakeSize bytes) to send to the requester. The accepter
// may Encrypt immediately; the requester can decrypt those messages once it
// has run Complete, however much later.
func Accept(self *Identity, requester *Bundle, now time.Time) (st *State, handshake []byte, err error) {
	return accept(self, requester, now)
}

// Complete runs the requester's side: it verifies the handshake (which
// carries the accepter's bundle, checked against peerOnionKey) against
// self's own bundle, or a retired one (see Rotate), and returns the
// requester's session state. The requester may Encrypt immediately.
func Complete(self *Identity, peerOnionKey ed25519.PublicKey, handshake []byte, now time.Time) (*State, error) {
	return complete(self, peerOnionKey, handshake, now)
}

// Encrypt seals plaintext for the peer. ad is bound to the message and must
// be passed identically to Decrypt (chive passes the 128-bit message id).
// The returned next state must replace s; s itself is unchanged.
func (s *State) Encrypt(plaintext, ad []byte, now time.Time) (next *State, msg []byte, err error) {
	return s.encrypt(plaintext, ad, now)
}

// Decrypt opens a message from the peer, in any order, within the skipped-key
// bounds. On success it returns the state to persist in s's place; on any
// error s is unchanged and next is nil. Authentication failures of any kind,
// replays included, return ErrDecrypt: a message decrypts once, so a caller
// that may see duplicates (retransmissions) deduplicates by message id first.
func (s *State) Decrypt(msg, ad []byte, now time.Time) (next *State, plaintext []byte, err error) {
	return s.decrypt(msg, ad, now)
}

// MarshalBinary encodes the whole state, secrets included; seal it before
// storing. The encoding is deterministic and versioned.
func (s *State) MarshalBinary() ([]byte, error) { return s.marshal() }

// UnmarshalState decodes what State.MarshalBinary produced, rejecting anything
// else with ErrState.
func UnmarshalState(data []byte) (*State, error) { return unmarshalState(data) }

// PeerOnionKey returns the peer's onion ed25519 public key: the key whose
// bundle the session was made with.
func (s *State) PeerOnionKey() ed25519.PublicKey { return ed25519.PublicKey(s.peerOnion[:]) }

// SelfOnionKey returns our own onion key as the session knows it.
func (s *State) SelfOnionKey() ed25519.PublicKey { return ed25519.PublicKey(s.selfOnion[:]) }

// SessionID returns a 32-byte value that identifies the session (the
// handshake transcript hash); the same on both sides.
func (s *State) SessionID() [32]byte { return s.sessionID }

// SafetyNumber returns a fingerprint of the two onion keys for out-of-band
// comparison: 60 decimal digits in 12 groups of 5, identical on both sides
// whatever the argument order.
func SafetyNumber(a, b ed25519.PublicKey) string { return safetyNumber(a, b) }
