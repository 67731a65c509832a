package storage

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// KDFParams are the Argon2id parameters that stretch the passphrase. They are
// stored in the key file, so a profile keeps the cost it was created with.
type KDFParams struct {
	Time      uint32 `json:"time"`       // passes over memory
	MemoryKiB uint32 `json:"memory_kib"` // memory in KiB
	Threads   uint8  `json:"threads"`    // lanes; part of the result, not only speed
}

// DefaultKDFParams returns the parameters new profiles get: 64 MiB and
// enough passes for about half a second on the machine chive was tuned on
// (2 cores, 2026; measured with BenchmarkUnlock).
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 24, MemoryKiB: 64 * 1024, Threads: 2}
}

func (p KDFParams) validate() error {
	if p.Time < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.Threads < 1 {
		return fmt.Errorf("invalid argon2id parameters t=%d m=%d p=%d", p.Time, p.MemoryKiB, p.Threads)
	}
	if p.MemoryKiB > 4<<20 || p.Time > 1000 {
		return fmt.Errorf("argon2id parameters too large t=%d m=%d", p.Time, p.MemoryKiB)
	}
	return nil
}

const (
	keyFileName = "key.json"
	dbFileName  = "chive.db"
	lockName    = "lock"
	torDirName  = "tor"

	kdfArgon2id = "argon2id"
	kdfNone     = "none" // --no-passphrase: the key file alone opens the profile
)

// keyFile is the small header readable without the database key: enough to
// know whether a passphrase is needed and to unwrap the database key.
type keyFile struct {
	Version int       `json:"version"`
	KDF     string    `json:"kdf"`
	Params  KDFParams `json:"params,omitzero"`
	Salt    []byte    `json:"salt,omitempty"`
	Nonce   []byte    `json:"nonce"`
	Wrapped []byte    `json:"wrapped"` // XChaCha20-Poly1305(KEK, database key)
}

// noPassphraseKEK wraps the database key of a profile created with
// NoPassphrase. It is public: such a profile is protected only by file
// permissions, which docs/threat-model.md says plainly.
var noPassphraseKEK = sha256.Sum256([]byte("chive no-passphrase key v1"))

func (k *keyFile) ad() []byte {
	// The parameters are bound to the wrapped key so an edited header fails
	// like a wrong passphrase rather than silently weakening anything.
	return fmt.Appendf(nil, "chive key file v%d|%s|%d|%d|%d", k.Version, k.KDF, k.Params.Time, k.Params.MemoryKiB, k.Params.Threads)
}

func (k *keyFile) kek(passphrase []byte) []byte {
	if k.KDF == kdfNone {
		kek := noPassphraseKEK // a copy: callers clear what they get
		return kek[:]
	}
	return argon2.IDKey(passphrase, k.Salt, k.Params.Time, k.Params.MemoryKiB, k.Params.Threads, 32)
}

// wrapKey builds a key file holding dbKey under passphrase.
func wrapKey(dbKey, passphrase []byte, noPassphrase bool, params KDFParams) (*keyFile, error) {
	k := &keyFile{Version: 1, KDF: kdfArgon2id, Params: params}
	if noPassphrase {
		if len(passphrase) != 0 {
			return nil, errors.New("a passphrase was given together with NoPassphrase")
		}
		k.KDF, k.Params = kdfNone, KDFParams{}
	} else {
		if len(passphrase) == 0 {
			return nil, ErrEmptyPassphrase
		}
		if err := params.validate(); err != nil {
			return nil, err
		}
		k.Salt = make([]byte, 16)
		rand.Read(k.Salt)
	}
	kek := k.kek(passphrase)
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	k.Nonce = make([]byte, aead.NonceSize())
	rand.Read(k.Nonce)
	k.Wrapped = aead.Seal(nil, k.Nonce, dbKey, k.ad())
	return k, nil
}

// unwrap returns the database key, or ErrWrongPassphrase.
func (k *keyFile) unwrap(passphrase []byte) ([]byte, error) {
	kek := k.kek(passphrase)
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	if len(k.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: bad nonce", ErrKeyFileDamaged)
	}
	key, err := aead.Open(nil, k.Nonce, k.Wrapped, k.ad())
	if err != nil || len(key) != 32 {
		if k.KDF == kdfNone {
			// No passphrase was involved, so none can be wrong.
			return nil, fmt.Errorf("%w: the wrapped key does not open", ErrKeyFileDamaged)
		}
		return nil, ErrWrongPassphrase
	}
	return key, nil
}

func readKeyFile(dir string) (*keyFile, error) {
	path := filepath.Join(dir, keyFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(dir, dbFileName)); serr == nil {
			return nil, fmt.Errorf("%w in %s (the database %s is there)", ErrKeyFileMissing, dir, dbFileName)
		}
		return nil, fmt.Errorf("%w in %s", ErrNoProfile, dir)
	}
	if err != nil {
		return nil, err
	}
	k := new(keyFile)
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(k); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFileDamaged, path, err)
	}
	if k.Version > 1 {
		return nil, fmt.Errorf("key file version %d: %w", k.Version, ErrNewerVersion)
	}
	if k.Version != 1 {
		return nil, fmt.Errorf("%w: %s: version %d", ErrKeyFileDamaged, path, k.Version)
	}
	switch k.KDF {
	case kdfNone:
	case kdfArgon2id:
		if err := k.Params.validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrKeyFileDamaged, path, err)
		}
	default:
		return nil, fmt.Errorf("%w: %s: unknown kdf %q", ErrKeyFileDamaged, path, k.KDF)
	}
	return k, nil
}

// writeKeyFile replaces the key file atomically: a crash leaves either the
// old or the new one, never a torn file that would lose the database key.
func writeKeyFile(dir string, k *keyFile) error {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp := filepath.Join(dir, keyFileName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, keyFileName)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some platforms (Windows) cannot fsync a directory; the rename is still atomic.
	_ = d.Sync()
	return nil
}
