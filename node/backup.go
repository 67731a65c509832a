package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/storage"
)

// Backups (issue 17): the whole profile in one file encrypted under a
// passphrase (storage/archive.go), and a new profile made from one. A
// restored ratchet state is stale by design (the contact's side has moved
// on since), so the restored node asks every contact for a fresh session
// when it first starts (restoredSessions).

// ErrBackupExists: Backup to a path that exists; it is never replaced.
var ErrBackupExists = errors.New("the backup file exists")

// Backup implements API.
func (n *Node) Backup(ctx context.Context, o BackupOptions) (BackupInfo, error) {
	if err := n.checkOpen(); err != nil {
		return BackupInfo{}, err
	}
	if o.Path == "" {
		return BackupInfo{}, errors.New("node: backup: no file to write to")
	}
	if err := CheckPassphrase([]byte(o.Passphrase), false); err != nil {
		return BackupInfo{}, fmt.Errorf("node: backup: %w", err)
	}
	path, err := filepath.Abs(o.Path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("node: backup: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return BackupInfo{}, fmt.Errorf("node: backup: %w: %s", ErrBackupExists, path)
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("node: backup: %w", err)
	}
	info, size, err := writeBackup(ctx, n.db, f, []byte(o.Passphrase), n.backupKDF)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return BackupInfo{}, fmt.Errorf("node: backup: %w", err)
	}
	return BackupInfo{Path: path, Bytes: size, Contacts: info.Contacts, Messages: info.Messages, Created: info.Created}, nil
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeBackup(ctx context.Context, db *storage.DB, f *os.File, pass []byte, kdf *storage.KDFParams) (storage.ArchiveInfo, int64, error) {
	bw := bufio.NewWriterSize(f, 256<<10)
	cw := &countingWriter{w: bw}
	info, err := db.WriteArchive(ctx, cw, pass, kdf)
	if err != nil {
		return info, 0, err
	}
	if err := bw.Flush(); err != nil {
		return info, 0, err
	}
	return info, cw.n, f.Sync()
}

// RestoreOptions configure RestoreProfile.
type RestoreOptions struct {
	// BackupPassphrase opens the backup.
	BackupPassphrase []byte
	// Passphrase locks the new profile (MinPassphrase characters at least,
	// unless NoPassphrase and empty).
	Passphrase   []byte
	NoPassphrase bool
	KDF          *storage.KDFParams // nil: storage.DefaultKDFParams (also for reading the backup's)
	// InsecureFastKDF: the cheapest key stretching for the new profile, for
	// tests that cannot import storage. Never in a real profile.
	InsecureFastKDF bool
}

// ErrBackupPassphrase: the backup passphrase does not open the backup (or
// the file is not a chive backup).
var ErrBackupPassphrase = errors.New("wrong backup passphrase, or not a chive backup")

// ErrBadBackup: the file is a chive backup, but damaged or cut short.
var ErrBadBackup = errors.New("the backup is damaged or incomplete")

// RestoreProfile makes a new profile in dir from the backup file: the same
// identity (address), contacts, sessions and history. When the restored
// node first starts it asks every contact for a new session. It returns
// what the backup held. dir must not hold a profile (ErrProfileExists);
// on error nothing is left there.
func RestoreProfile(ctx context.Context, file, dir string, o RestoreOptions) (BackupInfo, error) {
	if err := CheckPassphrase(o.Passphrase, o.NoPassphrase); err != nil {
		return BackupInfo{}, fmt.Errorf("node: restore: %w", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("node: restore: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("node: restore: %w", err)
	}
	kdf := o.KDF
	if o.InsecureFastKDF {
		kdf = &storage.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	}
	info, err := storage.RestoreArchive(ctx, bufio.NewReaderSize(f, 256<<10), dir, o.BackupPassphrase, o.Passphrase,
		storage.RestoreOptions{NoPassphrase: o.NoPassphrase, KDF: kdf})
	switch {
	case errors.Is(err, storage.ErrWrongPassphrase):
		return BackupInfo{}, fmt.Errorf("node: restore %s: %w", file, ErrBackupPassphrase)
	case errors.Is(err, storage.ErrArchive):
		return BackupInfo{}, fmt.Errorf("node: restore %s: %w: %w", file, ErrBadBackup, err)
	case errors.Is(err, storage.ErrProfileExists):
		return BackupInfo{}, fmt.Errorf("node: restore: %w", ErrProfileExists)
	case err != nil:
		return BackupInfo{}, fmt.Errorf("node: restore: %w", err)
	}
	return BackupInfo{Path: file, Bytes: st.Size(), Contacts: info.Contacts, Messages: info.Messages, Created: info.Created}, nil
}

// ErrProfileExists: a profile is already in the directory.
var ErrProfileExists = storage.ErrProfileExists

// restoredSessions runs at Start in a profile made by RestoreProfile: its
// sessions are as old as the backup, so each accepted contact is asked for
// a new one (ResetSession, session.go); then the mark is cleared.
func (n *Node) restoredSessions() {
	v, ok, err := n.db.Setting(n.ctx, storage.SettingRestored)
	if err != nil || !ok {
		return
	}
	cs, err := n.book.List(n.ctx)
	if err != nil {
		n.log.Warn("listing contacts after a restore", "err", err)
		return
	}
	for _, c := range cs {
		if c.State != contacts.Accepted {
			continue
		}
		if _, err := n.ResetSession(n.ctx, string(c.Address)); err != nil {
			n.log.Warn("asking for a new session after a restore", "peer", c.Address.Short(), "err", err)
			return // tried again at the next start
		}
	}
	if err := n.db.DeleteSetting(n.ctx, storage.SettingRestored); err != nil {
		n.log.Warn("clearing the restored mark", "err", err)
		return
	}
	n.log.Info("restored profile: asked contacts for new sessions", "restored", v, "at", time.Now().UTC().Format(time.RFC3339))
}

// CheckProfilePassphrase reports whether passphrase unlocks the profile in
// dir (ErrWrongPassphrase if not), without opening it.
func CheckProfilePassphrase(dir string, passphrase []byte) error {
	return storage.CheckPassphrase(dir, passphrase)
}
