package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version carried in every frame. A frame with any
// other version is rejected with ErrVersion.
const Version = 1

// MaxFrameSize is the largest frame, counting the version and type bytes and
// the body but not the 4-byte length prefix.
const MaxFrameSize = 64 << 10

// frameHeader is the length prefix plus the version and type bytes.
const frameHeader = 4 + 1 + 1

// Type identifies what a frame's body is.
type Type uint8

// Frame types. Hello, Auth and Welcome appear only during the link
// handshake; Ping and Pong are handled inside Link and never returned by Recv.
const (
	TypeHello   Type = 0x01 // listener → dialer: fresh nonce
	TypeAuth    Type = 0x02 // dialer → listener: key, nonce, signature
	TypeWelcome Type = 0x03 // listener → dialer: handshake accepted
	TypePing    Type = 0x04 // keepalive / echo request
	TypePong    Type = 0x05 // keepalive / echo reply
	TypeRequest Type = 0x10 // contact request
	TypeAccept  Type = 0x11 // contact acceptance
	TypeMessage Type = 0x12 // encrypted chat message
	TypeAck     Type = 0x13 // acknowledges a reliable frame by id
	TypeReceipt Type = 0x14 // read receipts for message ids
	TypeTyping  Type = 0x15 // the peer is typing (ephemeral)

	// File transfer (issue 15; 0x20–0x2f are reserved for it).
	TypeFileChunk   Type = 0x20 // one sealed chunk of a file
	TypeFileRequest Type = 0x21 // the receiver asks for chunks
	TypeFileStop    Type = 0x22 // the receiver wants no more chunks for now
	TypeFileEnd     Type = 0x23 // a transfer ended (completed, cancelled, refused); reliable
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeAuth:
		return "auth"
	case TypeWelcome:
		return "welcome"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
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
	case TypeFileChunk:
		return "file-chunk"
	case TypeFileRequest:
		return "file-request"
	case TypeFileStop:
		return "file-stop"
	case TypeFileEnd:
		return "file-end"
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
	ErrAuth          = errors.New("link authentication failed")
)

// ReadFrame reads one frame from r. The length is checked against
// MaxFrameSize before the body is allocated. The returned body is freshly
// allocated and owned by the caller.
func ReadFrame(r io.Reader) (Type, []byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n > MaxFrameSize {
		return 0, nil, fmt.Errorf("wire: read frame: %d bytes: %w", n, ErrFrameTooLarge)
	}
	if n < 2 {
		return 0, nil, fmt.Errorf("wire: read frame: length %d: %w", n, ErrMalformed)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	if hdr[4] != Version {
		return 0, nil, fmt.Errorf("wire: read frame: version %d: %w", hdr[4], ErrVersion)
	}
	body := make([]byte, n-2)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	return Type(hdr[5]), body, nil
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
