package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// A Vault is a small sealed SQLite store for a role other than the user's
// profile (a chive mailbox keeps its items in one). It is made of the same
// parts as a profile: a random database key wrapped under the passphrase
// with Argon2id in key.json, a lock file, the permission checks, forward-
// only migrations run in one transaction, and column sealing
// (XChaCha20-Poly1305 with table, column and row key as associated data).
// The schema is the caller's.
type Vault struct {
	dir  string
	kind string
	sql  *sql.DB
	seal *sealer
	lock *os.File

	mu     sync.Mutex
	closed bool
}

// VaultSchema says what a vault holds.
type VaultSchema struct {
	// Kind names the role ("mailbox"); the database file is <Kind>.db. A
	// vault opened with another kind, or a profile, is refused.
	Kind string
	// Migrations holds NNNN_name.sql files at its root, versions 1..n.
	Migrations fs.FS
}

// ErrNoVault: the directory holds no vault of that kind.
var ErrNoVault = errors.New("storage: no such store")

func (s VaultSchema) file() string { return s.Kind + ".db" }

// VaultExists reports whether dir holds a vault of the schema's kind.
func VaultExists(dir string, s VaultSchema) bool {
	if _, err := os.Stat(filepath.Join(dir, keyFileName)); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, s.file()))
	return err == nil
}

// CreateVault makes a new vault in dir (created 0700; it must be empty or
// absent) and returns it open and locked.
func CreateVault(ctx context.Context, dir string, passphrase []byte, s VaultSchema, opts CreateOptions) (v *Vault, err error) {
	if s.Kind == "" || s.Kind == "chive" {
		return nil, fmt.Errorf("storage: create vault: bad kind %q", s.Kind)
	}
	if len(passphrase) == 0 && !opts.NoPassphrase {
		return nil, ErrEmptyPassphrase
	}
	params := DefaultKDFParams()
	if opts.KDF != nil {
		params = *opts.KDF
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create vault: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: create vault: %w", err)
	}
	if len(ents) > 0 {
		return nil, fmt.Errorf("%w: %s is not empty", ErrProfileExists, dir)
	}
	if checkPerms {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("storage: create vault: %w", err)
		}
	}
	lock, err := acquireLock(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			releaseLock(lock)
		}
	}()
	dbKey := make([]byte, 32)
	rand.Read(dbKey)
	defer clear(dbKey)
	kf, err := wrapKey(dbKey, passphrase, opts.NoPassphrase, params)
	if err != nil {
		return nil, fmt.Errorf("storage: create vault: %w", err)
	}
	path := filepath.Join(dir, s.file())
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: create vault: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			for _, sfx := range []string{"", "-wal", "-shm", "-journal"} {
				os.Remove(path + sfx)
			}
		}
	}()
	v, err = openVaultSQL(ctx, dir, dbKey, lock, s)
	if err != nil {
		return nil, err
	}
	// The check row proves, at every open, that the key file belongs to
	// this database and that it is a vault of this kind.
	_, err = v.sql.ExecContext(ctx, `INSERT INTO vault (id, kind, check_sealed) VALUES (1, ?, ?)`,
		s.Kind, v.seal.seal("vault", "check", []byte(s.Kind), []byte(s.Kind)))
	if err == nil {
		err = writeKeyFile(dir, kf) // last: its presence makes the vault
	}
	if err != nil {
		v.sql.Close()
		return nil, fmt.Errorf("storage: create vault: %w", err)
	}
	return v, nil
}

// OpenVault unlocks the vault in dir. Errors: ErrNoVault, *PermissionError,
// *LockedError, ErrWrongPassphrase, ErrNewerVersion.
func OpenVault(ctx context.Context, dir string, passphrase []byte, s VaultSchema) (v *Vault, err error) {
	if !VaultExists(dir, s) {
		return nil, fmt.Errorf("%w: no %s in %s", ErrNoVault, s.Kind, dir)
	}
	kf, err := readKeyFile(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", s.Kind, err)
	}
	if err := checkVaultPermissions(dir, s); err != nil {
		return nil, err
	}
	lock, err := acquireLock(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			releaseLock(lock)
		}
	}()
	dbKey, err := kf.unwrap(passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(dbKey)
	v, err = openVaultSQL(ctx, dir, dbKey, lock, s)
	if err != nil {
		return nil, err
	}
	var kind string
	var check []byte
	err = v.sql.QueryRowContext(ctx, `SELECT kind, check_sealed FROM vault WHERE id = 1`).Scan(&kind, &check)
	if err == nil && kind != s.Kind {
		err = fmt.Errorf("%w: a %s, not a %s", ErrNoVault, kind, s.Kind)
	}
	if err == nil {
		_, err = v.seal.open("vault", "check", []byte(kind), check)
	}
	if err != nil {
		v.sql.Close()
		return nil, fmt.Errorf("storage: open %s: key file does not match the database: %w", s.Kind, err)
	}
	return v, nil
}

func checkVaultPermissions(dir string, s VaultSchema) error {
	if err := CheckPermissions(dir); err != nil {
		return err
	}
	if !checkPerms {
		return nil
	}
	for _, sfx := range []string{"", "-wal", "-shm", "-journal"} {
		p := filepath.Join(dir, s.file()+sfx)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return &PermissionError{Path: p, Mode: st.Mode().Perm(), Want: 0o600}
		}
	}
	return nil
}

func openVaultSQL(ctx context.Context, dir string, dbKey []byte, lock *os.File, s VaultSchema) (*Vault, error) {
	ms, err := loadMigrations(s.Migrations)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", s.Kind, err)
	}
	sl, err := newSealer(dbKey)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", s.Kind, err)
	}
	sdb, err := sql.Open("sqlite", sqliteDSN(filepath.Join(dir, s.file())))
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", s.Kind, err)
	}
	sdb.SetMaxOpenConns(4)
	v := &Vault{dir: dir, kind: s.Kind, sql: sdb, seal: sl, lock: lock}
	_, err = sdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS vault (
		id INTEGER PRIMARY KEY CHECK (id = 1), kind TEXT NOT NULL, check_sealed BLOB NOT NULL) STRICT`)
	if err == nil {
		err = applyMigrations(ctx, sdb, ms, -1, nil, func(string) error { return nil })
	}
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("storage: open %s: %w", s.Kind, err)
	}
	return v, nil
}

// sqliteDSN is how a vault's database is opened, with the profile's
// pragmas (openSQL). synchronous=FULL: what
// was acknowledged survives power loss. _txlock=immediate: write
// transactions take the write lock up front, so two writers wait on
// busy_timeout instead of failing on lock upgrade.
func sqliteDSN(path string) string {
	return "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(ON)" +
		"&_pragma=secure_delete(ON)"
}

// Dir is the vault's directory.
func (v *Vault) Dir() string { return v.dir }

// Path is the vault's database file.
func (v *Vault) Path() string { return filepath.Join(v.dir, v.kind+".db") }

// SQL is the database, for the caller's own schema. Write transactions
// take the write lock at BEGIN.
func (v *Vault) SQL() *sql.DB { return v.sql }

// Seal encrypts a column value; the row's identity (table, column, rowKey)
// is bound to it, so a value moved to another row fails to open.
func (v *Vault) Seal(table, column string, rowKey, plaintext []byte) []byte {
	return v.seal.seal(table, column, rowKey, plaintext)
}

// Unseal opens what Seal returned for the same table, column and row key.
func (v *Vault) Unseal(table, column string, rowKey, sealed []byte) ([]byte, error) {
	return v.seal.open(table, column, rowKey, sealed)
}

// Close closes the database and releases the lock. Idempotent.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	err := v.sql.Close()
	releaseLock(v.lock)
	if err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}
