package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
)

// ResolveProfile returns the profile directory: flagDir if set, else
// $CHIVE_HOME, else $XDG_DATA_HOME/chive, else ~/.local/share/chive.
func ResolveProfile(flagDir string, getenv func(string) string) (string, error) {
	return storage.ResolveDir(flagDir, getenv)
}

// ProfileExists reports whether dir holds a profile.
func ProfileExists(dir string) bool { return storage.Exists(dir) }

// NeedsPassphrase reports whether opening the profile in dir needs a passphrase.
func NeedsPassphrase(dir string) (bool, error) { return storage.NeedsPassphrase(dir) }

// ProfileOptions configure CreateProfileWith.
type ProfileOptions struct {
	Name         string
	Passphrase   []byte
	NoPassphrase bool               // allow an empty passphrase (the UI must warn)
	KDF          *storage.KDFParams // nil: storage.DefaultKDFParams; tests pass cheap ones
	// InsecureFastKDF uses the cheapest key stretching there is, for tests
	// that cannot import storage (tui). Never in a real profile.
	InsecureFastKDF bool
}

// CreateProfile makes a new profile in dir: a fresh onion key (the address)
// and ratchet identity, sealed under passphrase. It returns the address.
func CreateProfile(ctx context.Context, dir, name string, passphrase []byte, noPassphrase bool) (address string, err error) {
	return CreateProfileWith(ctx, dir, ProfileOptions{Name: name, Passphrase: passphrase, NoPassphrase: noPassphrase})
}

// CreateProfileWith is CreateProfile with every option. A passphrase must
// have at least MinPassphrase characters (else the error wraps
// ErrShortPassphrase), unless NoPassphrase and it is empty.
func CreateProfileWith(ctx context.Context, dir string, o ProfileOptions) (address string, err error) {
	if err := CheckPassphrase(o.Passphrase, o.NoPassphrase); err != nil {
		return "", fmt.Errorf("node: create profile: %w", err)
	}
	name, err := checkName(o.Name)
	if err != nil {
		return "", fmt.Errorf("node: create profile: %w", err)
	}
	o.Name = name
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return "", fmt.Errorf("node: create profile: %w", err)
	}
	now := time.Now()
	id, err := ratchet.NewIdentity(key, now)
	if err != nil {
		return "", fmt.Errorf("node: create profile: %w", err)
	}
	idBytes, err := id.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("node: create profile: %w", err)
	}
	kdf := o.KDF
	if o.InsecureFastKDF {
		kdf = &storage.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	}
	db, err := storage.Create(ctx, dir, o.Passphrase, storage.Identity{
		Name:     o.Name,
		OnionKey: key,
		Ratchet:  idBytes,
		Created:  now,
	}, storage.CreateOptions{NoPassphrase: o.NoPassphrase, KDF: kdf})
	if err != nil {
		return "", fmt.Errorf("node: create profile: %w", err)
	}
	if err := db.Close(); err != nil {
		return "", fmt.Errorf("node: create profile: %w", err)
	}
	return string(onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey))), nil
}

// CheckPassphrase applies the passphrase policy of new profiles: at least
// MinPassphrase characters, or empty with noPassphrase. The error wraps
// ErrShortPassphrase and says how long it is; a UI may call it as the user
// types.
func CheckPassphrase(passphrase []byte, noPassphrase bool) error {
	if len(passphrase) == 0 && noPassphrase {
		return nil
	}
	if n := utf8.RuneCount(passphrase); n < MinPassphrase {
		return fmt.Errorf("%w: %d characters, at least %d", ErrShortPassphrase, n, MinPassphrase)
	}
	return nil
}
