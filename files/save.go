package files

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// complete opens the chunk file of a transfer whose every chunk is stored
// (a completed incoming file, or any outgoing one) for reading.
func (m *Manager) complete(ctx context.Context, id wire.ID) (Transfer, *reader, *os.File, error) {
	r, err := m.db.File(ctx, storage.MessageID(id))
	if errors.Is(err, storage.ErrNotFound) {
		return Transfer{}, nil, nil, fmt.Errorf("files: %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Transfer{}, nil, nil, err
	}
	tr, err := fromRow(r)
	if err != nil {
		return Transfer{}, nil, nil, err
	}
	in, _ := parseInfo(r.Info)
	switch {
	case tr.Direction == storage.Incoming && tr.State != Completed:
		return tr, nil, nil, fmt.Errorf("files: %s: %w (%s)", tr.Name, ErrNotReady, tr.State)
	case tr.State == Cancelled || tr.State == Failed:
		return tr, nil, nil, fmt.Errorf("files: %s: %w (%s; its data was deleted)", tr.Name, ErrNotReady, tr.State)
	}
	f, err := os.Open(filepath.Join(m.dir, r.Local))
	if err != nil {
		return tr, nil, nil, fmt.Errorf("files: open the stored copy of %s: %w", tr.Name, err)
	}
	aead, err := newAEAD(in.Key)
	if err != nil {
		f.Close()
		return tr, nil, nil, err
	}
	return tr, newReader(f, aead, tr.ID, newLayout(tr.Size)), f, nil
}

// Save decrypts a complete file to path, mode 0600: written to a
// temporary file beside it, checked against the offer's hash, then renamed
// into place. If path is a directory the file goes in it under its
// (sanitized) name, with " (2)", " (3)" … added if that name is taken; an
// existing file is never overwritten (ErrExists). It returns the path
// written.
func (m *Manager) Save(ctx context.Context, id wire.ID, path string) (string, error) {
	tr, r, f, err := m.complete(ctx, id)
	if err != nil {
		return "", err
	}
	defer f.Close()
	dest := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		dest = freeName(path, tr.Name)
	} else if err == nil {
		return "", fmt.Errorf("files: save to %s: %w", path, ErrExists)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".chive-save-*")
	if err != nil {
		return "", fmt.Errorf("files: save: %w", noSpace(err))
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return "", fmt.Errorf("files: save: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r}); err != nil {
		return "", fmt.Errorf("files: save %s: %w", tr.Name, noSpace(err))
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), tr.SHA256) != 1 {
		return "", fmt.Errorf("files: save %s: the stored copy does not match its hash", tr.Name)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("files: save: %w", noSpace(err))
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("files: save: %w", noSpace(err))
	}
	// Link, not rename: it fails rather than replace a file that appeared
	// meanwhile.
	if err := os.Link(tmp.Name(), dest); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("files: save to %s: %w", dest, ErrExists)
		}
		if err := os.Rename(tmp.Name(), dest); err != nil { // no hard links here
			return "", fmt.Errorf("files: save: %w", err)
		}
	}
	os.Remove(tmp.Name())
	ok = true
	return dest, nil
}

// freeName is dir/name, or dir/"base (n).ext" for the first n not taken.
func freeName(dir, name string) string {
	p := filepath.Join(dir, name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return p
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for n := 2; ; n++ {
		p = filepath.Join(dir, base+" ("+strconv.Itoa(n)+")"+ext)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
}

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

// OpenCopy decrypts a complete file to a private directory (0700, under
// the system's temporary directory) for a viewer to open, and returns its
// path. Copies are removed when the Manager closes, and at its next start
// after a crash.
func (m *Manager) OpenCopy(ctx context.Context, id wire.ID) (string, error) {
	dir, err := m.openCopyDir()
	if err != nil {
		return "", err
	}
	sub, err := os.MkdirTemp(dir, "f")
	if err != nil {
		return "", fmt.Errorf("files: open: %w", err)
	}
	p, err := m.Save(ctx, id, sub)
	if err != nil {
		os.RemoveAll(sub)
		return "", err
	}
	return p, nil
}

// openCopyDir is this profile's directory of decrypted copies, created
// once per Manager: <tmp>/chive-<uid>-<profile hash>, 0700 and ours (a
// directory someone else made there is refused, not used).
func (m *Manager) openCopyDir() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.openDir != "" {
		return m.openDir, nil
	}
	h := sha256.Sum256([]byte(m.dir))
	d := filepath.Join(os.TempDir(), fmt.Sprintf("chive-%d-%x", os.Getuid(), h[:6]))
	os.RemoveAll(d) // copies left by a crash
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", fmt.Errorf("files: open: %w", err)
	}
	m.openDir = d
	return d, nil
}
