package storage

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/chive-im/chive/internal/shell"
)

var (
	// ErrWrongPassphrase: the passphrase does not unwrap the database key.
	// Nothing on disk was modified.
	ErrWrongPassphrase = errors.New("storage: wrong passphrase")
	// ErrEmptyPassphrase: an empty passphrase without NoPassphrase.
	ErrEmptyPassphrase = errors.New("storage: empty passphrase (choose one, or explicitly no passphrase)")
	// ErrNoProfile: the directory holds no profile (no key file).
	ErrNoProfile = errors.New("storage: no profile")
	// ErrProfileExists: Create on a directory that already holds a profile.
	ErrProfileExists = errors.New("storage: profile already exists")
	// ErrNewerVersion: the database (or key file) was written by a newer chive.
	ErrNewerVersion = errors.New("storage: profile is from a newer version of chive")
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists: a contact with that address is already in the book.
	ErrExists = errors.New("storage: already exists")
	// ErrDuplicate: an inbound message id was already received from this
	// contact; nothing was changed.
	ErrDuplicate = errors.New("storage: duplicate message")
	// ErrTampered: a row does not hold what its lookup key says (an address
	// MAC copied onto another contact's row): the database was modified
	// outside chive.
	ErrTampered = errors.New("storage: database modified outside chive")
	// ErrClosed: the DB was closed.
	ErrClosed = errors.New("storage: closed")
)

// LockedError means another process holds the profile open.
type LockedError struct {
	Dir string
	PID int // 0 if the lock file held no readable pid
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("storage: profile %s is already in use by another process", e.Dir)
	}
	return fmt.Sprintf("storage: profile %s: already running (pid %d)", e.Dir, e.PID)
}

// PermissionError means a profile file or directory is readable by group or
// others. chive refuses to open it; Fix is the command that repairs it.
type PermissionError struct {
	Path string
	Mode fs.FileMode // what it is
	Want fs.FileMode // 0700 for directories, 0600 for files
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("storage: %s has mode %04o, readable by other users; fix with: %s", e.Path, e.Mode.Perm(), e.Fix())
}

// Fix is the shell command that gives the path the permissions chive wants.
func (e *PermissionError) Fix() string {
	return fmt.Sprintf("chmod %o %s", e.Want.Perm(), shell.Quote(e.Path))
}
