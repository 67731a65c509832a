package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the link protocol version carried in every frame. A frame
// with any other version is rejected with ErrVersion. Version 1 (a
// handshake in which only the dialer proved its key, and frames in the
// clear inside Tor) is no longer spoken.
const Version = 2

// MaxFrameSize is the largest frame a caller can build: the version and type
// bytes and the body, not the 4-byte length prefix. Sealing a frame on a
// link adds SealOverhead bytes on the wire, which the frame cap does not
// count: a body of MaxFrameSize-2 bytes still travels.
const MaxFrameSize = 64 << 10

// frameHeader is the length prefix plus the version and type bytes.
const frameHeader = 4 + 1 + 1

// Type identifies what a frame's body is.
type Type uint8

// Frame types. Hello, KeyShare and Auth appear only during the link
// handshake; every frame after the key exchange travels as a Sealed frame
// that carries one of the others. Ping and Pong are handled inside Link and
// never returned by Recv. 0x01–0x03 were link protocol 1's handshake.
const (
	TypePing     Type = 0x04 // keepalive / echo request
	TypePong     Type = 0x05 // keepalive / echo reply
	TypeHello    Type = 0x06 // listener → dialer, clear: ephemeral X25519 and ML-KEM-768 keys
	TypeKeyShare Type = 0x07 // dialer → listener, clear: ephemeral X25519 key, ML-KEM ciphertext
	TypeAuth     Type = 0x08 // both ways, sealed: onion key and signature over the transcript
	TypeSealed   Type = 0x09 // an encrypted, authenticated frame
	TypeRequest  Type = 0x10 // contact request
	TypeAccept   Type = 0x11 // contact acceptance
	TypeMessage  Type = 0x12 // encrypted chat message
	TypeAck      Type = 0x13 // acknowledges a reliable frame by id
	TypeReceipt  Type = 0x14 // read receipts for message ids
	TypeTyping   Type = 0x15 // the peer is typing (ephemeral)
	TypeRefuse   Type = 0x1f // refuses a reliable frame by id, with a reason

	// File transfer (issue 15; 0x20–0x2f are reserved for it).
	TypeFileChunk   Type = 0x20 // one sealed chunk of a file
	TypeFileRequest Type = 0x21 // the receiver asks for chunks
	TypeFileStop    Type = 0x22 // the receiver wants no more chunks for now
	TypeFileEnd     Type = 0x23 // a transfer ended (completed, cancelled, refused); reliable

	// Groups (issue 18): frames between two members of a group, about that
	// group only (docs/protocol.md, "Groups").
	TypeGroupRequest Type = 0x40 // opens a group-scoped pairwise session
	TypeGroupAccept  Type = 0x41 // accepts it
	TypeGroupMessage Type = 0x42 // a payload sealed under that session
	TypeGroupAck     Type = 0x43 // acknowledges a group frame by id
	TypeGroupTyping  Type = 0x44 // the peer is typing in the group (ephemeral)
)

func (t Type) String() string {
	switch t {
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeHello:
		return "hello"
	case TypeKeyShare:
		return "keyshare"
	case TypeAuth:
		return "auth"
	case TypeSealed:
		return "sealed"
	case TypeRequest:
		return "request"
	case TypeAccept:
		return "accept"
	case TypeMessage:
		return "message"
	case TypeAck:
		return "ack"
	case TypeReceipt:
		return "receipt"
	case TypeTyping:
		return "typing"
	case TypeRefuse:
		return "refuse"
	case TypeFileChunk:
		return "file-chunk"
	case TypeFileRequest:
		return "file-request"
	case TypeFileStop:
		return "file-stop"
	case TypeFileEnd:
		return "file-end"
	case TypeGroupRequest:
		return "group-request"
	case TypeGroupAccept:
		return "group-accept"
	case TypeGroupMessage:
		return "group-message"
	case TypeGroupAck:
		return "group-ack"
	case TypeGroupTyping:
		return "group-typing"
	}
	if s := mailboxTypeName(t); s != "" {
		return s
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Errors returned for bad input; test them with errors.Is. Any of them ends
// a link: a peer that sends a malformed frame is not worth talking to.
var (
	ErrFrameTooLarge = errors.New("frame too large")
	ErrVersion       = errors.New("unsupported protocol version")
	ErrMalformed     = errors.New("malformed frame")
	ErrUnexpected    = errors.New("unexpected frame")
	// ErrAuth: the peer did not prove its onion key, or a sealed frame did
	// not authenticate (forged, replayed, reordered or cut).
	ErrAuth = errors.New("link authentication failed")
	// ErrOlderPeer and ErrNewerPeer come with ErrVersion and say which side
	// has to upgrade.
	ErrOlderPeer = errors.New("the peer runs an older chive and must upgrade")
	ErrNewerPeer = errors.New("the peer runs a newer chive: upgrade chive")
)

func versionError(v byte) error {
	which := ErrOlderPeer
	if v > Version {
		which = ErrNewerPeer
	}
	return fmt.Errorf("wire: read frame: link protocol %d (this chive speaks %d): %w: %w", v, Version, ErrVersion, which)
}

// ReadFrame reads one frame from r. The length is checked against
// MaxFrameSize before the body is allocated. The returned body is freshly
// allocated and owned by the caller.
func ReadFrame(r io.Reader) (Type, []byte, error) {
	hdr, body, err := readFrame(r, MaxFrameSize)
	if err != nil {
		return 0, nil, err
	}
	return Type(hdr[5]), body, nil
}

// readFrame reads one frame of at most max bytes after the length prefix
// and returns its header (length, version, type) and body.
func readFrame(r io.Reader, max uint32) ([frameHeader]byte, []byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return hdr, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n > max {
		return hdr, nil, fmt.Errorf("wire: read frame: %d bytes: %w", n, ErrFrameTooLarge)
	}
	if n < 2 {
		return hdr, nil, fmt.Errorf("wire: read frame: length %d: %w", n, ErrMalformed)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return hdr, nil, unexpectedEOF(err)
	}
	if hdr[4] != Version {
		return hdr, nil, versionError(hdr[4])
	}
	body := make([]byte, n-2)
	if _, err := io.ReadFull(r, body); err != nil {
		return hdr, nil, unexpectedEOF(err)
	}
	return hdr, body, nil
}

// unexpectedEOF turns a clean EOF inside a frame into io.ErrUnexpectedEOF so
// a truncated frame is not mistaken for an orderly close.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends a frame of type t with the given body to dst.
func AppendFrame(dst []byte, t Type, body []byte) ([]byte, error) {
	if len(body)+2 > MaxFrameSize {
		return dst, fmt.Errorf("wire: write frame: %d bytes: %w", len(body)+2, ErrFrameTooLarge)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)+2))
	dst = append(dst, Version, byte(t))
	return append(dst, body...), nil
}

// parseStored splits a frame Marshal produced, possibly by an older chive
// (an outbox keeps frames across upgrades), into its type and body. The
// version byte of a stored frame says nothing about the link it goes out
// on: the frame is sealed afresh.
func parseStored(frame []byte) (Type, []byte, error) {
	if len(frame) < frameHeader {
		return 0, nil, fmt.Errorf("short frame: %w", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(frame[:4])
	switch {
	case n > MaxFrameSize:
		return 0, nil, fmt.Errorf("%d bytes: %w", n, ErrFrameTooLarge)
	case int(n) != len(frame)-4:
		return 0, nil, fmt.Errorf("length %d for %d bytes: %w", n, len(frame)-4, ErrMalformed)
	case frame[4] != 1 && frame[4] != Version:
		return 0, nil, versionError(frame[4])
	}
	return Type(frame[5]), frame[frameHeader:], nil
}
