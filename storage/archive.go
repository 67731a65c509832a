package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// A backup archive is a whole profile in one file, encrypted under a
// passphrase (issue 17: "chive backup", "chive restore"):
//
//	header (plain, 55 bytes):
//	  "chive backup\x00" (13) | version 1 (1) |
//	  Argon2id time (4) | memory KiB (4) | threads (1) | salt (16) | nonce prefix (16)
//	body: the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár) over
//	  XChaCha20-Poly1305 with key = Argon2id(passphrase, salt): chunks of 64 KiB
//	  of plaintext (the last may be shorter), each sealed with the nonce
//	  prefix || chunk counter (7 bytes) || 1 for the last chunk else 0, and
//	  the header as associated data. Reordered, dropped, truncated or
//	  appended chunks and an edited header all fail to open.
//	plaintext: manifest length (4) | manifest (JSON) | the database file
//
// The database file is a VACUUM INTO copy: only live rows, whose sealed
// columns stay sealed under the profile's database key, which the manifest
// carries. Restoring writes that file and a key file wrapping the same
// database key under the new profile's passphrase. Both directions stream:
// memory use does not grow with the profile.

const (
	archiveMagic     = "chive backup\x00"
	archiveVersion   = 1
	archiveHeader    = len(archiveMagic) + 1 + 4 + 4 + 1 + 16 + 16
	archiveChunk     = 64 << 10
	archiveMaxMemKiB = 1 << 20           // a backup may not ask a restore for more than 1 GiB...
	archiveMaxCost   = 8 * 24 * 64 << 10 // ...nor more than 8 times the default work (passes × KiB)
	maxManifest      = 64 << 10
)

// ErrArchive: the file is not a chive backup, or it is damaged or
// truncated (authentication failed after the first chunk opened).
var ErrArchive = errors.New("storage: not a chive backup, or a damaged one")

// ArchiveInfo describes a backup.
type ArchiveInfo struct {
	Format   int       `json:"format"`
	Created  time.Time `json:"created"`
	Schema   int       `json:"schema"` // database version
	Contacts int       `json:"contacts"`
	Messages int       `json:"messages"`
	DBKey    []byte    `json:"db_key"`
}

// WriteArchive writes a backup of the profile to w, encrypted under
// passphrase with kdf (nil: DefaultKDFParams). It returns what it holds
// (without the key).
func (db *DB) WriteArchive(ctx context.Context, w io.Writer, passphrase []byte, kdf *KDFParams) (ArchiveInfo, error) {
	if err := db.check(); err != nil {
		return ArchiveInfo{}, err
	}
	if len(passphrase) == 0 {
		return ArchiveInfo{}, ErrEmptyPassphrase
	}
	params := DefaultKDFParams()
	if kdf != nil {
		params = *kdf
	}
	if err := params.validate(); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	// A consistent copy of the live rows, beside the database (same
	// protection: a 0600 file in the 0700 profile), removed when done.
	tmp, err := os.CreateTemp(db.dir, "backup-*.db.tmp")
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	tmp.Close()
	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, tmpPath); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: copy the database: %w", err)
	}
	db.mu.Lock()
	key := bytes.Clone(db.key)
	db.mu.Unlock()
	defer clear(key)
	info := ArchiveInfo{Format: archiveVersion, Created: time.Now().UTC(), DBKey: key}
	if err := db.sql.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM contacts WHERE removed = 0),
		(SELECT count(*) FROM messages), (SELECT user_version FROM pragma_user_version)`).Scan(&info.Contacts, &info.Messages, &info.Schema); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	manifest, err := json.Marshal(info)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	defer clear(manifest)
	f, err := os.Open(tmpPath)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	defer f.Close()

	sw, err := newStreamWriter(w, passphrase, params)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	if _, err := sw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(manifest)))); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	if _, err := sw.Write(manifest); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	if _, err := io.Copy(sw, ctxReader{ctx, f}); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	if err := sw.Close(); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: backup: %w", err)
	}
	info.DBKey = nil
	return info, nil
}

// RestoreOptions configure RestoreArchive.
type RestoreOptions struct {
	NoPassphrase bool       // the new profile has no passphrase
	KDF          *KDFParams // of the new key file; nil: DefaultKDFParams
}

// SettingRestored is set (to the time) in a profile RestoreArchive made,
// until the node has asked its contacts for new sessions.
const SettingRestored = "restored"

// RestoreArchive makes a new profile in dir from the backup r, which
// backupPass opens; the new profile is locked with passphrase. dir must not
// hold a profile. Errors: ErrWrongPassphrase (the first chunk does not
// open: a wrong passphrase, or not a backup), ErrArchive, ErrNewerVersion,
// ErrProfileExists. On error nothing is left in dir but what was there.
func RestoreArchive(ctx context.Context, r io.Reader, dir string, backupPass, passphrase []byte, o RestoreOptions) (info ArchiveInfo, err error) {
	if len(passphrase) == 0 && !o.NoPassphrase {
		return ArchiveInfo{}, ErrEmptyPassphrase
	}
	params := DefaultKDFParams()
	if o.KDF != nil {
		params = *o.KDF
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: restore: %w", err)
	}
	for _, name := range []string{keyFileName, dbFileName, dbFileName + "-wal"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return ArchiveInfo{}, fmt.Errorf("%w in %s (%s present)", ErrProfileExists, dir, name)
		}
	}
	if checkPerms {
		if err := os.Chmod(dir, 0o700); err != nil {
			return ArchiveInfo{}, fmt.Errorf("storage: restore: %w", err)
		}
	}
	lock, err := acquireLock(dir)
	if err != nil {
		return ArchiveInfo{}, err
	}
	defer releaseLock(lock)

	sr, err := newStreamReader(r, backupPass)
	if err != nil {
		return ArchiveInfo{}, err
	}
	var n [4]byte
	if _, err := io.ReadFull(sr, n[:]); err != nil {
		return ArchiveInfo{}, archiveErr(err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > maxManifest {
		return ArchiveInfo{}, fmt.Errorf("%w: manifest of %d bytes", ErrArchive, size)
	}
	manifest := make([]byte, size)
	defer clear(manifest)
	if _, err := io.ReadFull(sr, manifest); err != nil {
		return ArchiveInfo{}, archiveErr(err)
	}
	if err := json.Unmarshal(manifest, &info); err != nil {
		return ArchiveInfo{}, fmt.Errorf("%w: manifest: %v", ErrArchive, err)
	}
	defer clear(info.DBKey)
	if info.Format != archiveVersion {
		return ArchiveInfo{}, fmt.Errorf("%w: backup format %d", ErrNewerVersion, info.Format)
	}
	if len(info.DBKey) != 32 {
		return ArchiveInfo{}, fmt.Errorf("%w: manifest without a key", ErrArchive)
	}
	if info.Schema > SchemaVersion() {
		return ArchiveInfo{}, fmt.Errorf("%w: the backup's database is version %d, this chive knows up to %d; upgrade chive",
			ErrNewerVersion, info.Schema, SchemaVersion())
	}

	path := filepath.Join(dir, dbFileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: restore: %w", err)
	}
	defer func() {
		if err != nil {
			for _, s := range []string{"", "-wal", "-shm", "-journal"} {
				os.Remove(path + s)
			}
		}
	}()
	_, err = io.Copy(f, ctxReader{ctx, sr})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ArchiveInfo{}, archiveErr(err)
	}
	kf, err := wrapKey(info.DBKey, passphrase, o.NoPassphrase, params)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: restore: %w", err)
	}
	// Open it as a profile: migrations (a backup of an older chive), the
	// identity check, the restored mark.
	db, err := openSQL(ctx, dir, info.DBKey, nil, -1)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: restore: %w", err)
	}
	_, err = db.Identity(ctx)
	if err == nil {
		err = db.SetSetting(ctx, SettingRestored, time.Now().UTC().Format(time.RFC3339))
	}
	if err == nil {
		err = db.Scrub(ctx) // one file, no log: ready to be copied or opened
	}
	if cerr := db.sql.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: restore: the backup's database: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, torDirName), 0o700); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: restore: %w", err)
	}
	// Last, as in Create: the key file is what makes a profile.
	if err := writeKeyFile(dir, kf); err != nil {
		return ArchiveInfo{}, fmt.Errorf("storage: restore: %w", err)
	}
	out := info
	out.DBKey = nil
	return out, nil
}

// archiveErr says what a failure while reading a backup means.
func archiveErr(err error) error {
	if errors.Is(err, ErrArchive) || errors.Is(err, ErrWrongPassphrase) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: it ends early", ErrArchive)
	}
	return fmt.Errorf("storage: restore: %w", err)
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// --- the STREAM encryption ---

type streamHeader struct {
	params KDFParams
	salt   [16]byte
	prefix [16]byte
}

func (h streamHeader) marshal() []byte {
	b := make([]byte, 0, archiveHeader)
	b = append(b, archiveMagic...)
	b = append(b, archiveVersion)
	b = binary.BigEndian.AppendUint32(b, h.params.Time)
	b = binary.BigEndian.AppendUint32(b, h.params.MemoryKiB)
	b = append(b, h.params.Threads)
	b = append(b, h.salt[:]...)
	return append(b, h.prefix[:]...)
}

func parseStreamHeader(b []byte) (streamHeader, error) {
	var h streamHeader
	if len(b) != archiveHeader || !bytes.HasPrefix(b, []byte(archiveMagic)) {
		return h, fmt.Errorf("%w: no backup header", ErrArchive)
	}
	b = b[len(archiveMagic):]
	if b[0] != archiveVersion {
		return h, fmt.Errorf("%w: backup format %d", ErrNewerVersion, b[0])
	}
	h.params = KDFParams{Time: binary.BigEndian.Uint32(b[1:5]), MemoryKiB: binary.BigEndian.Uint32(b[5:9]), Threads: b[9]}
	if err := h.params.validate(); err != nil || h.params.MemoryKiB > archiveMaxMemKiB ||
		uint64(h.params.Time)*uint64(h.params.MemoryKiB) > archiveMaxCost {
		return h, fmt.Errorf("%w: key stretching parameters t=%d m=%d p=%d", ErrArchive, h.params.Time, h.params.MemoryKiB, h.params.Threads)
	}
	copy(h.salt[:], b[10:26])
	copy(h.prefix[:], b[26:42])
	return h, nil
}

func (h streamHeader) aead(passphrase []byte) (cipher.AEAD, error) {
	key := argon2.IDKey(passphrase, h.salt[:], h.params.Time, h.params.MemoryKiB, h.params.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	return chacha20poly1305.NewX(key)
}

func (h streamHeader) nonce(counter uint64, last bool) []byte {
	n := make([]byte, chacha20poly1305.NonceSizeX)
	copy(n, h.prefix[:])
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	copy(n[16:23], c[1:]) // 7 bytes: 2^56 chunks
	if last {
		n[23] = 1
	}
	return n
}

// streamWriter encrypts what is written to it in chunks. It holds one full
// chunk back, so the last chunk (flagged) is never empty unless all is.
type streamWriter struct {
	w       io.Writer
	h       streamHeader
	hdr     []byte
	aead    cipher.AEAD
	buf     []byte
	counter uint64
	out     []byte
}

func newStreamWriter(w io.Writer, passphrase []byte, params KDFParams) (*streamWriter, error) {
	h := streamHeader{params: params}
	rand.Read(h.salt[:])
	rand.Read(h.prefix[:])
	aead, err := h.aead(passphrase)
	if err != nil {
		return nil, err
	}
	s := &streamWriter{w: w, h: h, hdr: h.marshal(), aead: aead, buf: make([]byte, 0, archiveChunk)}
	if _, err := w.Write(s.hdr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *streamWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(s.buf) == archiveChunk {
			if err := s.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(s.buf[len(s.buf):archiveChunk], p)
		s.buf = s.buf[:len(s.buf)+k]
		p, n = p[k:], n+k
	}
	return n, nil
}

func (s *streamWriter) flush(last bool) error {
	if s.counter >= 1<<56-1 {
		return errors.New("backup too large")
	}
	s.out = s.aead.Seal(s.out[:0], s.h.nonce(s.counter, last), s.buf, s.hdr)
	clear(s.buf)
	s.buf = s.buf[:0]
	s.counter++
	_, err := s.w.Write(s.out)
	return err
}

// Close writes the last chunk.
func (s *streamWriter) Close() error { return s.flush(true) }

// streamReader decrypts a stream, chunk by chunk.
type streamReader struct {
	r       *bufio.Reader
	h       streamHeader
	hdr     []byte
	aead    cipher.AEAD
	counter uint64
	buf     []byte // ciphertext read
	pbuf    []byte // what plain is decrypted into
	plain   []byte // decrypted, not yet returned
	done    bool
	err     error
}

// newStreamReader reads the header, derives the key and opens the first
// chunk: ErrWrongPassphrase if it does not open.
func newStreamReader(r io.Reader, passphrase []byte) (*streamReader, error) {
	br := bufio.NewReaderSize(r, archiveChunk+chacha20poly1305.Overhead+1)
	hdr := make([]byte, archiveHeader)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%w: no backup header", ErrArchive)
	}
	h, err := parseStreamHeader(hdr)
	if err != nil {
		return nil, err
	}
	aead, err := h.aead(passphrase)
	if err != nil {
		return nil, err
	}
	s := &streamReader{r: br, h: h, hdr: hdr, aead: aead, buf: make([]byte, archiveChunk+aead.Overhead()), pbuf: make([]byte, 0, archiveChunk)}
	if err := s.next(); err != nil {
		if errors.Is(err, ErrArchive) && s.counter == 0 {
			return nil, fmt.Errorf("%w (or not a chive backup)", ErrWrongPassphrase)
		}
		return nil, err
	}
	return s, nil
}

// next reads and opens the next chunk into s.plain.
func (s *streamReader) next() error {
	n, err := io.ReadFull(s.r, s.buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// A short chunk is the last.
	case err != nil:
		return err
	}
	if n < s.aead.Overhead() {
		return fmt.Errorf("%w: it ends early", ErrArchive)
	}
	last := n < len(s.buf)
	if !last {
		// A full chunk is the last one if nothing follows.
		if _, err := s.r.Peek(1); errors.Is(err, io.EOF) {
			last = true
		} else if err != nil {
			return err
		}
	}
	plain, err := s.aead.Open(s.pbuf[:0], s.h.nonce(s.counter, last), s.buf[:n], s.hdr)
	if err != nil {
		return fmt.Errorf("%w: chunk %d does not open", ErrArchive, s.counter)
	}
	if last && len(plain) == 0 && s.counter > 0 {
		return fmt.Errorf("%w: an empty last chunk", ErrArchive)
	}
	s.plain, s.done = plain, last
	s.counter++
	return nil
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		if s.err = s.next(); s.err != nil {
			return 0, s.err
		}
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}

// CheckPassphrase reports whether passphrase unlocks the profile in dir
// (ErrWrongPassphrase if not), without opening it: a backup "under the
// profile's passphrase" is made with the right one even while a daemon
// holds the profile.
func CheckPassphrase(dir string, passphrase []byte) error {
	kf, err := readKeyFile(dir)
	if err != nil {
		return err
	}
	key, err := kf.unwrap(passphrase)
	clear(key)
	return err
}
