package files

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/chive-im/chive/wire"
)

// slotSize is the space a chunk takes in a chunk file: chunk i starts at
// i × slotSize, so any chunk can be written or read without an index.
const slotSize = wire.MaxChunkData

const nonceSize = chacha20poly1305.NonceSizeX

// errChunk is the one error for a chunk that does not authenticate:
// tampered, truncated, reordered, or moved from another file.
var errChunk = errors.New("chunk failed authentication")

// chunkAD binds a sealed chunk to its file, its place and whether it is the
// last: a chunk cannot be moved, reordered or used to truncate the file.
func chunkAD(file wire.ID, index uint64, last bool) []byte {
	ad := make([]byte, 0, 20+16+8+1)
	ad = append(ad, "chive/v1 file chunk\x00"...)
	ad = append(ad, file[:]...)
	ad = binary.BigEndian.AppendUint64(ad, index)
	if last {
		return append(ad, 1)
	}
	return append(ad, 0)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("files: key: %w", err)
	}
	return a, nil
}

// layout is a file's chunking.
type layout struct {
	size   int64
	chunks uint64
}

func newLayout(size int64) layout { return layout{size: size, chunks: wire.Chunks(uint64(size))} }

func (l layout) last(i uint64) bool { return i == l.chunks-1 }

// plainLen is the plaintext length of chunk i.
func (l layout) plainLen(i uint64) int {
	if !l.last(i) {
		return wire.ChunkSize
	}
	return int(l.size - int64(i)*wire.ChunkSize)
}

// sealedLen is the stored (and sent) length of chunk i.
func (l layout) sealedLen(i uint64) int { return l.plainLen(i) + wire.ChunkOverhead }

// sealWith appends chunk i of file, sealed under aead, to dst. last says
// whether it is the file's last chunk (Import learns it by reading ahead,
// before it knows the size).
func sealWith(dst []byte, aead cipher.AEAD, file wire.ID, i uint64, last bool, plain []byte) []byte {
	off := len(dst)
	dst = append(dst, make([]byte, nonceSize)...)
	rand.Read(dst[off:])
	return aead.Seal(dst, dst[off:off+nonceSize], plain, chunkAD(file, i, last))
}

// openChunk checks and decrypts sealed chunk i, appending the plaintext to
// dst. Any failure is errChunk.
func openChunk(dst []byte, aead cipher.AEAD, file wire.ID, l layout, i uint64, sealed []byte) ([]byte, error) {
	if i >= l.chunks || len(sealed) != l.sealedLen(i) {
		return nil, errChunk
	}
	out, err := aead.Open(dst, sealed[:nonceSize], sealed[nonceSize:], chunkAD(file, i, l.last(i)))
	if err != nil {
		return nil, errChunk
	}
	return out, nil
}

// writeSlot stores sealed chunk i.
func writeSlot(f *os.File, i uint64, sealed []byte) error {
	_, err := f.WriteAt(sealed, int64(i)*slotSize)
	return err
}

// readSlot reads the sealed chunk i into buf (which must hold slotSize).
func readSlot(f *os.File, l layout, i uint64, buf []byte) ([]byte, error) {
	b := buf[:l.sealedLen(i)]
	if _, err := f.ReadAt(b, int64(i)*slotSize); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// slotWritten reports whether slot i holds anything: a slot never written
// reads as zeros (a hole), and a random nonce is never all zeros.
func slotWritten(f *os.File, i uint64) (bool, error) {
	var nonce [nonceSize]byte
	n, err := f.ReadAt(nonce[:], int64(i)*slotSize)
	if n < nonceSize {
		if err == nil || errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return nonce != [nonceSize]byte{}, nil
}

// reader decrypts a complete file's chunks in order: what Save, OpenCopy
// and the final hash check read. It holds one chunk in memory.
type reader struct {
	f    *os.File
	aead cipher.AEAD
	id   wire.ID
	l    layout
	next uint64
	buf  []byte // sealed
	pt   []byte // plaintext not yet returned
	err  error
}

func newReader(f *os.File, aead cipher.AEAD, id wire.ID, l layout) *reader {
	return &reader{f: f, aead: aead, id: id, l: l, buf: make([]byte, slotSize), pt: make([]byte, 0, wire.ChunkSize)}
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.pt) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next >= r.l.chunks {
			r.err = io.EOF
			return 0, io.EOF
		}
		sealed, err := readSlot(r.f, r.l, r.next, r.buf)
		if err == nil {
			r.pt, err = openChunk(r.pt[:0], r.aead, r.id, r.l, r.next, sealed)
		}
		if err != nil {
			r.err = fmt.Errorf("chunk %d: %w", r.next, err)
			return 0, r.err
		}
		r.next++
	}
	n := copy(p, r.pt)
	r.pt = r.pt[n:]
	return n, nil
}
