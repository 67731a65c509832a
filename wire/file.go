package wire

import "fmt"

// File transfer frames (issue 15). The offer travels inside the ratchet as
// Content.File; the chunks and their control frames travel outside it,
// each chunk sealed under the file key the offer carried (see
// docs/protocol.md, "Files").

// Limits of file transfer, part of the protocol.
const (
	// ChunkSize is the plaintext size of every chunk but the last (which
	// holds the rest, 0..ChunkSize bytes). A chunk frame then stays ~4 KiB
	// under MaxFrameSize, with room to spare for the link's sealing.
	ChunkSize = 60 << 10
	// ChunkOverhead is what sealing adds to a chunk: a 24-byte
	// XChaCha20-Poly1305 nonce and a 16-byte tag.
	ChunkOverhead = 24 + 16
	// MaxChunkData is the largest sealed chunk.
	MaxChunkData = ChunkSize + ChunkOverhead
	// MaxFileSize is the protocol's cap on a file's size (1 TiB); a
	// receiver's own limit is usually far lower.
	MaxFileSize = 1 << 40
	// MaxChunks is the number of chunks of a MaxFileSize file.
	MaxChunks = (MaxFileSize + ChunkSize - 1) / ChunkSize
	// MaxFileName is the longest file name in an offer, in bytes of UTF-8.
	MaxFileName = 255
	// MaxMediaType is the longest media type in an offer.
	MaxMediaType = 255
	// MaxThumbnail is the largest thumbnail in an offer.
	MaxThumbnail = 16 << 10
	// MaxRanges is the number of ranges in one FileRequest.
	MaxRanges = 64
)

// FileOffer is a file carried by a message (Content.File): what the
// receiver needs to fetch, check and decrypt it. ID equals the id of the
// message carrying it.
type FileOffer struct {
	ID        ID     `cbor:"1,keyasint"`
	Name      string `cbor:"2,keyasint"` // the sender's file name; sanitize before use
	Size      uint64 `cbor:"3,keyasint"`
	MediaType string `cbor:"4,keyasint"` // the sender's claim; not trusted
	SHA256    []byte `cbor:"5,keyasint"` // of the plaintext
	Key       []byte `cbor:"6,keyasint"` // 256-bit key sealing the chunks
	Thumbnail []byte `cbor:"7,keyasint,omitempty"`
}

func (o *FileOffer) validate() error {
	const what = "file offer"
	switch {
	case o.ID.IsZero():
		return malformedf(what, "zero id")
	case len(o.Name) == 0 || len(o.Name) > MaxFileName:
		return malformedf(what, "bad name length")
	case o.Size > MaxFileSize:
		return malformedf(what, "file too large")
	case len(o.MediaType) > MaxMediaType:
		return malformedf(what, "media type too long")
	case len(o.SHA256) != 32:
		return malformedf(what, "bad hash length")
	case len(o.Key) != 32:
		return malformedf(what, "bad key length")
	case len(o.Thumbnail) > MaxThumbnail:
		return malformedf(what, "thumbnail too large")
	}
	return nil
}

// Chunks is the number of chunks of a file of size bytes: at least one,
// so an empty file has one empty (last) chunk.
func Chunks(size uint64) uint64 {
	if size == 0 {
		return 1
	}
	return (size + ChunkSize - 1) / ChunkSize
}

// FileChunk is chunk Index of file File, sealed (see docs/protocol.md).
// It is not acknowledged: the receiver asks again for what it misses.
type FileChunk struct {
	File  ID     `cbor:"1,keyasint"`
	Index uint64 `cbor:"2,keyasint"`
	Data  []byte `cbor:"3,keyasint"`
}

// Range is Count chunks from First, encoded as a two-element array.
type Range struct {
	_     struct{} `cbor:",toarray"`
	First uint64
	Count uint64
}

// FileRequest asks the sender of File for the chunks in Ranges, in
// addition to those asked for earlier on the same link.
type FileRequest struct {
	File   ID      `cbor:"1,keyasint"`
	Ranges []Range `cbor:"2,keyasint"`
}

// FileStop asks the sender of File to drop what it was asked for on this
// link and not yet sent (the receiver paused).
type FileStop struct {
	File ID `cbor:"1,keyasint"`
}

// EndReason says why a transfer ended.
type EndReason uint8

const (
	EndCompleted   EndReason = 0 // receiver: every chunk stored, the hash matches
	EndCancelled   EndReason = 1 // either side cancelled (or declined)
	EndTooLarge    EndReason = 2 // receiver refused: over its size limit
	EndQuota       EndReason = 3 // receiver refused: over its quota for the sender
	EndUnavailable EndReason = 4 // sender: the file is gone (deleted)
	EndCorrupt     EndReason = 5 // receiver: the hash does not match the offer
)

func (r EndReason) String() string {
	switch r {
	case EndCompleted:
		return "completed"
	case EndCancelled:
		return "cancelled"
	case EndTooLarge:
		return "too large"
	case EndQuota:
		return "over quota"
	case EndUnavailable:
		return "unavailable"
	case EndCorrupt:
		return "corrupt"
	}
	return "failed"
}

// FileEnd says the transfer of File ended for Reason. It is reliable (ID
// is acknowledged); either side may send it. Unknown reasons are failures.
type FileEnd struct {
	ID     ID        `cbor:"1,keyasint"`
	File   ID        `cbor:"2,keyasint"`
	Reason EndReason `cbor:"3,keyasint"`
}

func (*FileChunk) Type() Type   { return TypeFileChunk }
func (*FileRequest) Type() Type { return TypeFileRequest }
func (*FileStop) Type() Type    { return TypeFileStop }
func (*FileEnd) Type() Type     { return TypeFileEnd }

func newFileMsg(t Type) Msg {
	switch t {
	case TypeFileChunk:
		return new(FileChunk)
	case TypeFileRequest:
		return new(FileRequest)
	case TypeFileStop:
		return new(FileStop)
	}
	return new(FileEnd)
}

func malformedf(what, detail string) error {
	return fmt.Errorf("wire: %s: %s: %w", what, detail, ErrMalformed)
}

func (m *FileChunk) validate() error {
	switch {
	case m.File.IsZero():
		return malformed(TypeFileChunk, "zero file id")
	case m.Index >= MaxChunks:
		return malformed(TypeFileChunk, "index out of range")
	case len(m.Data) < ChunkOverhead || len(m.Data) > MaxChunkData:
		return malformed(TypeFileChunk, "bad data length")
	}
	return nil
}

func (m *FileRequest) validate() error {
	if m.File.IsZero() {
		return malformed(TypeFileRequest, "zero file id")
	}
	if len(m.Ranges) == 0 || len(m.Ranges) > MaxRanges {
		return malformed(TypeFileRequest, "bad range count")
	}
	for _, r := range m.Ranges {
		if r.Count == 0 || r.First >= MaxChunks || r.Count > MaxChunks-r.First {
			return malformed(TypeFileRequest, "bad range")
		}
	}
	return nil
}

func (m *FileStop) validate() error {
	if m.File.IsZero() {
		return malformed(TypeFileStop, "zero file id")
	}
	return nil
}

func (m *FileEnd) validate() error {
	switch {
	case m.ID.IsZero():
		return malformed(TypeFileEnd, "zero id")
	case m.File.IsZero():
		return malformed(TypeFileEnd, "zero file id")
	}
	return nil
}
