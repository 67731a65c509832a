package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/chive-im/chive/internal/media"
	"github.com/chive-im/chive/node"
)

// Files (issue 15): transfers kept in memory with their content. Sim*
// methods play the peer and the network: an offer arriving, progress, a
// state change.

type fakeFile struct {
	t       node.Transfer
	data    []byte // nil once cancelled or failed
	thumb   []byte
	caption string
}

func (f *Fake) fileLocked(id string) (*fakeFile, error) {
	ff := f.files[id]
	if ff == nil {
		return nil, fmt.Errorf("file %q: %w", id, node.ErrUnknownFile)
	}
	return ff, nil
}

// syncFileLocked copies the transfer's file object into its message and
// publishes the new state.
func (f *Fake) syncFileLocked(ff *fakeFile, publish bool) {
	ff.t.Updated = f.Now()
	ms := f.messages[ff.t.Address]
	for i := range ms {
		if ms[i].ID == ff.t.ID {
			file := ff.t.File
			ms[i].File = &file
		}
	}
	if publish {
		f.publishLocked(node.FileStateEvent{Transfer: ff.t})
	}
}

// newFileLocked records a file message and its transfer.
func (f *Fake) newFileLocked(c *node.Contact, dir node.Direction, name string, data, thumb []byte, caption string, st node.FileState) node.Message {
	f.seq++
	id := newID()
	mt := media.Sniff(data, name)
	ff := &fakeFile{data: data, thumb: thumb, caption: caption, t: node.Transfer{
		File:    node.File{ID: id, Name: name, Size: int64(len(data)), MediaType: mt, State: st, Thumbnail: thumb != nil},
		Contact: c.Name, Address: c.Address, Direction: dir, SHA256: "fake", Created: f.Now(), Updated: f.Now(),
	}}
	f.files[id] = ff
	m := node.Message{ID: id, Seq: f.seq, Contact: c.Name, Address: c.Address, Direction: dir, Text: caption, Time: f.Now()}
	if dir == node.Outgoing {
		m.State = node.Queued
	} else {
		m.State = node.Received
		c.Unread++
	}
	file := ff.t.File
	m.File = &file
	f.messages[c.Address] = append(f.messages[c.Address], m)
	// As the node's contact preview: the file's name, then the caption.
	c.LastMessage, c.LastAt = strings.TrimSpace("["+name+"] "+caption), m.Time
	return m
}

func (f *Fake) SendFile(ctx context.Context, ref, path, caption string) (node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SendFile")
	c, err := f.findLocked(ref)
	if err != nil {
		return node.Message{}, err
	}
	if c.State != node.StateAccepted {
		return node.Message{}, fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
	}
	if !filepath.IsAbs(path) {
		return node.Message{}, fmt.Errorf("send file: %q: the path must be absolute", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return node.Message{}, err
	}
	if !st.Mode().IsRegular() {
		return node.Message{}, fmt.Errorf("send file: %s: not a regular file", path)
	}
	if st.Size() > f.settings.MaxFileSize {
		return node.Message{}, fmt.Errorf("send file: %w", node.ErrFileTooLarge)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return node.Message{}, err
	}
	var thumb []byte
	if img, _, err := media.DecodeImage(bytes.NewReader(data), media.DefaultLimits); err == nil {
		thumb, _ = media.Thumbnail(img, 320, 16<<10)
	}
	m := f.newFileLocked(c, node.Outgoing, filepath.Base(path), data, thumb, caption, node.FileOffered)
	f.publishLocked(node.MessageEvent{Message: m})
	f.publishLocked(node.FileStateEvent{Transfer: f.files[m.ID].t})
	return m, nil
}

func (f *Fake) Files(ctx context.Context, q node.FileQuery) ([]node.Transfer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Files")
	var addr string
	if q.Contact != "" {
		c, err := f.findLocked(q.Contact)
		if err != nil {
			return nil, err
		}
		addr = c.Address
	}
	out := []node.Transfer{}
	for _, ff := range f.files {
		t := ff.t
		if (addr != "" && t.Address != addr) || (q.Direction != "" && t.Direction != q.Direction) ||
			(q.Active && ended(t.State)) {
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.After(out[j].Created) || out[i].Created.Equal(out[j].Created) && out[i].ID > out[j].ID
	})
	if limit := q.Limit; limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func ended(s node.FileState) bool {
	return s == node.FileCompleted || s == node.FileFailed || s == node.FileCancelled
}

func (f *Fake) File(ctx context.Context, id string) (node.Transfer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("File")
	ff, err := f.fileLocked(id)
	if err != nil {
		return node.Transfer{}, err
	}
	return ff.t, nil
}

// change moves a transfer from one of the states in from to st.
func (f *Fake) change(name, id string, st node.FileState, from ...node.FileState) (node.Transfer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call(name)
	ff, err := f.fileLocked(id)
	if err != nil {
		return node.Transfer{}, err
	}
	ok := false
	for _, s := range from {
		ok = ok || ff.t.State == s
	}
	if !ok {
		return node.Transfer{}, fmt.Errorf("%s %s: %w (%s)", name, ff.t.Name, node.ErrFileState, ff.t.State)
	}
	ff.t.State, ff.t.Error = st, ""
	if st == node.FileCancelled {
		ff.data = nil
		ff.t.Done = f.Now()
	}
	f.syncFileLocked(ff, true)
	return ff.t, nil
}

func (f *Fake) AcceptFile(ctx context.Context, id string) (node.Transfer, error) {
	f.mu.Lock()
	if ff := f.files[id]; ff != nil && ff.t.Direction == node.Outgoing {
		f.mu.Unlock()
		return node.Transfer{}, fmt.Errorf("accept: %w (an outgoing file)", node.ErrFileState)
	}
	f.mu.Unlock()
	return f.change("AcceptFile", id, node.FileAccepted, node.FileOffered)
}

func (f *Fake) CancelFile(ctx context.Context, id string) (node.Transfer, error) {
	return f.change("CancelFile", id, node.FileCancelled, node.FileOffered, node.FileAccepted, node.FilePaused)
}

func (f *Fake) PauseFile(ctx context.Context, id string) (node.Transfer, error) {
	return f.change("PauseFile", id, node.FilePaused, node.FileAccepted)
}

func (f *Fake) ResumeFile(ctx context.Context, id string) (node.Transfer, error) {
	return f.change("ResumeFile", id, node.FileAccepted, node.FilePaused)
}

// completeLocked returns the content of a file that can be saved.
func (f *Fake) completeLocked(id string) (*fakeFile, error) {
	ff, err := f.fileLocked(id)
	if err != nil {
		return nil, err
	}
	if ff.data == nil || (ff.t.Direction == node.Incoming && ff.t.State != node.FileCompleted) {
		return nil, fmt.Errorf("%s: %w (%s)", ff.t.Name, node.ErrFileNotReady, ff.t.State)
	}
	return ff, nil
}

func (f *Fake) SaveFile(ctx context.Context, id, path string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SaveFile")
	ff, err := f.completeLocked(id)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("save file: %q: the path must be absolute", path)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, ff.t.Name)
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("save to %s: %w", path, node.ErrFileExists)
	}
	if err != nil {
		return "", err
	}
	if _, err := out.Write(ff.data); err != nil {
		out.Close()
		return "", err
	}
	return path, out.Close()
}

func (f *Fake) OpenFile(ctx context.Context, id string) (string, error) {
	f.mu.Lock()
	f.call("OpenFile")
	_, err := f.completeLocked(id)
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "chive-fake-open-")
	if err != nil {
		return "", err
	}
	return f.SaveFile(ctx, id, dir)
}

func (f *Fake) Thumbnail(ctx context.Context, id string) (node.Thumbnail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Thumbnail")
	ff, err := f.fileLocked(id)
	if err != nil {
		return node.Thumbnail{}, err
	}
	if ff.thumb == nil {
		return node.Thumbnail{}, nil
	}
	mt := "image/jpeg"
	if bytes.HasPrefix(ff.thumb, []byte("\x89PNG")) {
		mt = "image/png"
	}
	return node.Thumbnail{MediaType: mt, Data: ff.thumb}, nil
}

// SimFile simulates a contact offering a file (data is its content, thumb
// the sender's thumbnail or nil) and publishes the message and the
// transfer's state: accepted at once for images and voice up to the
// auto-download size, offered otherwise, failed over the size limit.
func (f *Fake) SimFile(ref, name string, data []byte, caption string, thumb []byte) node.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	st := node.FileOffered
	mt := media.Sniff(data, name)
	s := f.settings
	switch {
	case int64(len(data)) > s.MaxFileSize:
		st = node.FileFailed
	case s.AutoDownload > 0 && int64(len(data)) <= s.AutoDownload && (media.IsImage(mt) || media.IsVoice(mt)):
		st = node.FileAccepted
	}
	m := f.newFileLocked(c, node.Incoming, name, data, thumb, caption, st)
	if st == node.FileFailed {
		ff := f.files[m.ID]
		ff.t.Error, ff.data = "refused: larger than your limit", nil
		f.syncFileLocked(ff, false)
		m.File.Error = ff.t.Error
	}
	f.publishLocked(node.MessageEvent{Message: m})
	f.publishLocked(node.FileStateEvent{Transfer: f.files[m.ID].t})
	return m
}

// SimFileProgress sets a transfer's progress and publishes it (droppable).
func (f *Fake) SimFileProgress(id string, bytes int64) { f.SimFileProgressRate(id, bytes, 0) }

// SimFileProgressRate is SimFileProgress with the recent speed, in bytes
// per second, as the node reports it.
func (f *Fake) SimFileProgressRate(id string, bytes int64, rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ff, err := f.fileLocked(id)
	if err != nil {
		panic(err)
	}
	ff.t.Bytes = bytes
	f.syncFileLocked(ff, false)
	f.publishLocked(node.FileProgressEvent{ID: id, Address: ff.t.Address, Direction: ff.t.Direction, Bytes: bytes, Size: ff.t.Size, Rate: rate})
}

// SimFileState sets a transfer's state (and error) and publishes it; a
// completed transfer has all its bytes.
func (f *Fake) SimFileState(id string, st node.FileState, errText string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ff, err := f.fileLocked(id)
	if err != nil {
		panic(err)
	}
	ff.t.State, ff.t.Error = st, errText
	switch st {
	case node.FileCompleted:
		ff.t.Bytes, ff.t.Done = ff.t.Size, f.Now()
	case node.FileFailed, node.FileCancelled:
		ff.data, ff.t.Done = nil, f.Now()
	}
	f.syncFileLocked(ff, true)
}

// withFileDefaults fills the file settings left 0, as the node does.
func withFileDefaults(s node.Settings) node.Settings {
	if s.MaxFileSize == 0 {
		s.MaxFileSize = 1 << 30
	}
	if s.AutoDownload == 0 {
		s.AutoDownload = 10 << 20
	}
	if s.FileQuota == 0 {
		s.FileQuota = 4 << 30
	}
	return s
}
