package storage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ResolveDir returns the profile directory: flagDir if set, else
// $CHIVE_HOME, else $XDG_DATA_HOME/chive, else ~/.local/share/chive.
// getenv is usually os.Getenv; tests pass their own.
func ResolveDir(flagDir string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var dir string
	switch {
	case flagDir != "":
		dir = flagDir
	case getenv("CHIVE_HOME") != "":
		dir = getenv("CHIVE_HOME")
	case getenv("XDG_DATA_HOME") != "":
		dir = filepath.Join(getenv("XDG_DATA_HOME"), "chive")
	default:
		home := getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("storage: resolve profile dir: %w (set --profile or CHIVE_HOME)", err)
			}
			home = h
		}
		dir = filepath.Join(home, ".local", "share", "chive")
	}
	if strings.HasPrefix(dir, "~/") {
		if home := getenv("HOME"); home != "" {
			dir = filepath.Join(home, dir[2:])
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("storage: resolve profile dir: %w", err)
	}
	return abs, nil
}

// Exists reports whether dir holds a profile: a key file, or a database
// (whose key file may be missing: Open then says so, and Create refuses).
func Exists(dir string) bool {
	for _, name := range []string{keyFileName, dbFileName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// NeedsPassphrase reports whether opening the profile in dir needs a
// passphrase (false for a profile created with NoPassphrase). It reads only
// the key file; ErrNoProfile if there is none.
func NeedsPassphrase(dir string) (bool, error) {
	k, err := readKeyFile(dir)
	if err != nil {
		if errors.Is(err, ErrNoProfile) {
			return false, err
		}
		return false, fmt.Errorf("storage: needs passphrase: %w", err)
	}
	return k.KDF != kdfNone, nil
}

// Identity is the user's own identity: the onion service key and the
// ratchet identity (opaque bytes from ratchet.Identity.MarshalBinary).
type Identity struct {
	Name     string
	OnionKey ed25519.PrivateKey
	Ratchet  []byte
	Created  time.Time // set by Create if zero
}

// CreateOptions configure Create.
type CreateOptions struct {
	// NoPassphrase allows an empty passphrase: the database key is then
	// protected only by file permissions. The UI must warn about it.
	NoPassphrase bool
	// KDF overrides DefaultKDFParams (tests pass cheap parameters).
	KDF *KDFParams
}

// OpenOptions configure Open.
type OpenOptions struct {
	// WaitLock is called when another process holds the profile, after the
	// passphrase was checked (key stretching is done once, outside the
	// lock, so a one-shot command holds the lock only briefly). It decides:
	// return nil to try the lock again (after waiting a little, itself), or
	// an error to give up with. nil: give up at once with the *LockedError.
	WaitLock func(ctx context.Context, locked *LockedError) error
	// NoIdentityCheck opens the database even when its identity row does
	// not open (a damaged row, or a key file from another profile), for
	// DB.Check to say what is wrong. Nothing else may use such a DB.
	NoIdentityCheck bool
}

// ChangeOptions configure DB.ChangePassphrase.
type ChangeOptions struct {
	NoPassphrase bool       // allow an empty new passphrase
	KDF          *KDFParams // nil: DefaultKDFParams
}

// DB is an open profile. Its methods are safe for concurrent use.
type DB struct {
	dir  string
	sql  *sql.DB
	seal *sealer
	lock *os.File
	// stmts caches prepared statements by query (see stmt).
	stmts sync.Map

	damage damage // rows found unreadable since Open

	key []byte // the database key, for backups (archive.go)

	mu     sync.Mutex
	closed bool
}

// Dir is the profile directory.
func (db *DB) Dir() string { return db.dir }

// TorDir is the Tor data directory inside the profile (created 0700).
func (db *DB) TorDir() string { return filepath.Join(db.dir, torDirName) }

// Path is the SQLite database file.
func (db *DB) Path() string { return filepath.Join(db.dir, dbFileName) }

// Create makes a new profile in dir: the directory (0700), the key file and
// the database (0600), holding id. passphrase must be non-empty unless
// opts.NoPassphrase. The returned DB is open and holds the profile lock.
func Create(ctx context.Context, dir string, passphrase []byte, id Identity, opts CreateOptions) (db *DB, err error) {
	if len(id.OnionKey) != ed25519.PrivateKeySize {
		return nil, errors.New("storage: create: identity has no onion key")
	}
	if len(passphrase) == 0 && !opts.NoPassphrase {
		return nil, ErrEmptyPassphrase
	}
	params := DefaultKDFParams()
	if opts.KDF != nil {
		params = *opts.KDF
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create: %w", err)
	}
	for _, name := range []string{keyFileName, dbFileName, dbFileName + "-wal"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil, fmt.Errorf("%w in %s (%s present)", ErrProfileExists, dir, name)
		}
	}
	// The directory may predate us (mkdir by the user, umask 022). If it is
	// empty, tightening it is safe; if it holds other things (--profile ~ by
	// mistake), say so rather than chmod someone's directory.
	if checkPerms {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("storage: create: %w", err)
		}
		if len(ents) == 0 {
			if err := os.Chmod(dir, 0o700); err != nil {
				return nil, fmt.Errorf("storage: create: %w", err)
			}
		} else if err := CheckPermissions(dir); err != nil {
			return nil, err
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
		return nil, fmt.Errorf("storage: create: %w", err)
	}
	// Create the file ourselves so SQLite (and its -wal/-shm, which copy the
	// database file's mode) never exist with the umask's permissions.
	path := filepath.Join(dir, dbFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: create: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			for _, s := range []string{"", "-wal", "-shm", "-journal"} {
				os.Remove(path + s)
			}
		}
	}()
	db, err = openSQL(ctx, dir, dbKey, lock, createVersion)
	if err != nil {
		return nil, err
	}
	if id.Created.IsZero() {
		id.Created = time.Now()
	}
	if err := db.putIdentity(ctx, id); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("storage: create: %w", err)
	}
	if err := os.MkdirAll(db.TorDir(), 0o700); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("storage: create: %w", err)
	}
	// The key file is written last: its presence is what makes a profile.
	if err := writeKeyFile(dir, kf); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("storage: create: %w", err)
	}
	return db, nil
}

// Open unlocks the profile in dir. Errors: ErrNoProfile, *PermissionError,
// *LockedError, ErrWrongPassphrase (nothing modified), ErrNewerVersion.
// A profile created with NoPassphrase ignores passphrase.
func Open(ctx context.Context, dir string, passphrase []byte, opts OpenOptions) (db *DB, err error) {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoProfile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("storage: open: %s is not a directory", dir)
	}
	kf, err := readKeyFile(dir)
	if err != nil {
		if errors.Is(err, ErrNoProfile) {
			return nil, err
		}
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	if err := CheckPermissions(dir); err != nil {
		return nil, err
	}
	// The key first, then the lock: stretching the passphrase takes a second
	// or more, and holding the lock through it made a daemon starting
	// beside a one-shot command fail. Another process changing the
	// passphrase meanwhile rewraps the same database key.
	dbKey, err := kf.unwrap(passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(dbKey)
	lock, err := acquireLockWaiting(ctx, dir, opts.WaitLock)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			releaseLock(lock)
		}
	}()
	path := filepath.Join(dir, dbFileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("storage: open: database missing: %w", err)
	}
	db, err = openSQL(ctx, dir, dbKey, lock, -1)
	if err != nil {
		return nil, err
	}
	// The identity row is the key check: a key file from another profile
	// unwraps fine but fails here.
	if _, err := db.Identity(ctx); err != nil && !opts.NoIdentityCheck {
		damaged := errors.Is(err, ErrUnreadable) && db.anyRowOpens(ctx)
		db.sql.Close()
		if damaged {
			return nil, fmt.Errorf("storage: open: %w (%w)", ErrIdentityDamaged, err)
		}
		return nil, fmt.Errorf("storage: open: key file does not match the database: %w", err)
	}
	if err := os.MkdirAll(db.TorDir(), 0o700); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	return db, nil
}

// anyRowOpens reports whether the key opens some sealed value besides the
// identity: then the key is right and the identity row is what is damaged.
func (db *DB) anyRowOpens(ctx context.Context) bool {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, address_sealed FROM contacts LIMIT 50`)
	if err != nil {
		return false
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var sealed []byte
		if rows.Scan(&id, &sealed) == nil {
			if _, err := db.seal.open("contacts", "address", int64Key(id), sealed); err == nil {
				return true
			}
		}
	}
	return false
}

// CheckPermissions returns a *PermissionError if the profile directory, the
// Tor directory or any profile file is accessible to group or others.
func CheckPermissions(dir string) error {
	if !checkPerms {
		return nil
	}
	check := func(path string, want fs.FileMode) error {
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return &PermissionError{Path: path, Mode: st.Mode().Perm(), Want: want}
		}
		return nil
	}
	if err := check(dir, 0o700); err != nil {
		return err
	}
	if err := check(filepath.Join(dir, torDirName), 0o700); err != nil {
		return err
	}
	if err := check(filepath.Join(dir, filesDirName), 0o700); err != nil {
		return err
	}
	for _, name := range []string{keyFileName, dbFileName, dbFileName + "-wal", dbFileName + "-shm", dbFileName + "-journal", lockName} {
		if err := check(filepath.Join(dir, name), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func acquireLock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: lock: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: lock: %w", err)
	}
	if !held {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return nil, &LockedError{Dir: dir, PID: pid}
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// acquireLockWaiting is acquireLock, asking wait what to do while another
// process holds the lock.
func acquireLockWaiting(ctx context.Context, dir string, wait func(context.Context, *LockedError) error) (*os.File, error) {
	for {
		lock, err := acquireLock(dir)
		var locked *LockedError
		if err == nil || wait == nil || !errors.As(err, &locked) {
			return lock, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := wait(ctx, locked); err != nil {
			return nil, err
		}
	}
}

func releaseLock(f *os.File) {
	if f == nil {
		return
	}
	// Leave the file: removing it would race with a process that just
	// opened it. Its pid is only read while it is locked.
	unlock(f)
	f.Close()
}

func openSQL(ctx context.Context, dir string, dbKey []byte, lock *os.File, version int) (*DB, error) {
	s, err := newSealer(dbKey)
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	path := filepath.Join(dir, dbFileName)
	// synchronous=FULL: a message shown as queued survives power loss.
	// _txlock=immediate: write transactions take the write lock up front, so
	// two writers wait on busy_timeout instead of failing on lock upgrade.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(ON)" +
		"&_pragma=secure_delete(ON)"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	sdb.SetMaxOpenConns(4)
	db := &DB{dir: dir, sql: sdb, seal: s, lock: lock, key: bytes.Clone(dbKey)}
	if err := db.migrateTo(ctx, version); err != nil {
		sdb.Close()
		return nil, err
	}
	if version < 0 || version == SchemaVersion() { // fixtures of older versions lack the columns
		if err := db.prepareHot(ctx); err != nil {
			sdb.Close()
			return nil, err
		}
	}
	return db, nil
}

// Close closes the database and releases the profile lock. It is
// idempotent; later calls return nil, and other methods return ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	db.closeStmts()
	clear(db.key)
	err := db.sql.Close()
	releaseLock(db.lock)
	if err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// ChangePassphrase rewraps the database key under newPass; no row changes.
// old must be the current passphrase (ignored for a NoPassphrase profile).
func (db *DB) ChangePassphrase(ctx context.Context, old, newPass []byte, opts ChangeOptions) error {
	if err := db.check(); err != nil {
		return err
	}
	if len(newPass) == 0 && !opts.NoPassphrase {
		return ErrEmptyPassphrase
	}
	kf, err := readKeyFile(db.dir)
	if err != nil {
		return fmt.Errorf("storage: change passphrase: %w", err)
	}
	dbKey, err := kf.unwrap(old)
	if err != nil {
		return err
	}
	defer clear(dbKey)
	params := DefaultKDFParams()
	if opts.KDF != nil {
		params = *opts.KDF
	}
	nk, err := wrapKey(dbKey, newPass, opts.NoPassphrase, params)
	if err != nil {
		return fmt.Errorf("storage: change passphrase: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := writeKeyFile(db.dir, nk); err != nil {
		return fmt.Errorf("storage: change passphrase: %w", err)
	}
	return nil
}

func (db *DB) check() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	return nil
}
