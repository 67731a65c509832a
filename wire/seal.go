package wire

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// SealOverhead is what sealing adds to a frame on the wire: the inner type
// byte and the Poly1305 tag (the outer header replaces the inner one).
const SealOverhead = 1 + chacha20poly1305.Overhead

// RekeyEvery is how many frames one direction of a link sends under one
// key; the key is then replaced by a one-way function of itself, so a key
// taken from a running node's memory opens at most this many earlier frames.
const RekeyEvery = 1024

// maxSealed ends a link long before a frame counter could wrap (it never
// does in practice: 2^48 frames).
const maxSealed = 1 << 48

const rekeyInfo = "chive link v2 rekey"

// ErrExhausted ends a link whose frame counter reached its limit.
var ErrExhausted = errors.New("link frame counter exhausted")

// sealer encrypts (or decrypts) one direction of a link: ChaCha20-Poly1305
// with the frame's number as the nonce, so a frame dropped, replayed,
// reordered or moved to the other direction fails to open. Not safe for
// concurrent use: each direction has one writer (or reader).
type sealer struct {
	key  [32]byte
	aead cipher.AEAD
	n    uint64 // frames sealed (opened) so far
}

func newSealer(key [32]byte) *sealer {
	s := &sealer{key: key}
	s.aead, _ = chacha20poly1305.New(s.key[:]) // a 32-byte key never fails
	return s
}

func (s *sealer) nonce() []byte {
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], s.n)
	return nonce[:]
}

// advance moves to the next frame number, replacing the key every
// RekeyEvery frames.
func (s *sealer) advance() error {
	s.n++
	if s.n >= maxSealed {
		return ErrExhausted
	}
	if s.n%RekeyEvery == 0 {
		next, err := hkdf.Expand(sha256.New, s.key[:], rekeyInfo, 32)
		if err != nil {
			return err
		}
		copy(s.key[:], next)
		clear(next)
		s.aead, _ = chacha20poly1305.New(s.key[:])
	}
	return nil
}

// seal turns a frame Marshal produced (length, version, type, body) into
// the sealed frame that goes on the wire: length, version, TypeSealed,
// then type and body encrypted, with the outer header as associated data.
func (s *sealer) seal(frame []byte) ([]byte, error) {
	pt := frame[frameHeader-1:] // type || body
	n := 2 + len(pt) + chacha20poly1305.Overhead
	if n > MaxFrameSize+SealOverhead {
		return nil, fmt.Errorf("wire: seal: %d bytes: %w", n, ErrFrameTooLarge)
	}
	out := make([]byte, frameHeader, 4+n)
	binary.BigEndian.PutUint32(out, uint32(n))
	out[4], out[5] = Version, byte(TypeSealed)
	out = s.aead.Seal(out, s.nonce(), pt, out[:frameHeader])
	if err := s.advance(); err != nil {
		return nil, err
	}
	return out, nil
}

// open authenticates and decrypts the body of a sealed frame whose header
// is hdr, returning the inner type and body.
func (s *sealer) open(hdr [frameHeader]byte, body []byte) (Type, []byte, error) {
	if Type(hdr[5]) != TypeSealed {
		return 0, nil, fmt.Errorf("wire: %s frame in the clear after the key exchange: %w", Type(hdr[5]), ErrUnexpected)
	}
	if len(body) < SealOverhead {
		return 0, nil, fmt.Errorf("wire: sealed frame of %d bytes: %w", len(body), ErrMalformed)
	}
	pt, err := s.aead.Open(body[:0], s.nonce(), body, hdr[:])
	if err != nil {
		return 0, nil, fmt.Errorf("wire: sealed frame: %w", ErrAuth)
	}
	if err := s.advance(); err != nil {
		return 0, nil, err
	}
	return Type(pt[0]), pt[1:], nil
}

// readSealed reads, opens and decodes the next frame from r. Frames of the
// link handshake inside are the caller's to refuse.
func readSealed(r io.Reader, s *sealer, max uint32) (Msg, error) {
	hdr, body, err := readFrame(r, max)
	if err != nil {
		return nil, err
	}
	t, inner, err := s.open(hdr, body)
	if err != nil {
		return nil, err
	}
	return Unmarshal(t, inner)
}
