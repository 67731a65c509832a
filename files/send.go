package files

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chive-im/chive/internal/media"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Imported is a file copied into the chunk store by Import, ready to be
// offered. Discard it if the offer is not stored.
type Imported struct {
	ID        wire.ID
	Local     string
	Size      int64
	Name      string
	MediaType string
	SHA256    []byte
	Key       []byte
	Thumb     []byte
	Width     int
	Height    int
}

// thumbSide is the largest side of a thumbnail we make.
const thumbSide = 320

// Import copies the file at path into the chunk store, sealed, for the
// offer with id (the id of the message that will carry it): it reads the
// file once, hashing and sealing each chunk under a fresh key, so the
// offer stays valid whatever happens to the original afterwards. An image
// gets a thumbnail (decoded within media.DefaultLimits). Errors: the file
// is not regular, larger than maxSize (ErrTooLarge), or the profile's disk
// is full (ErrNoSpace); nothing is left behind.
func (m *Manager) Import(ctx context.Context, id wire.ID, path string, maxSize int64) (imp *Imported, err error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("files: import: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("files: import: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("files: import %s: %w", filepath.Base(path), ErrNotRegular)
	}
	if st.Size() > maxSize {
		return nil, fmt.Errorf("files: import %s: %w (%d bytes, at most %d)", filepath.Base(path), ErrTooLarge, st.Size(), maxSize)
	}
	if err := m.roomFor(int(min(st.Size()+st.Size()/1000+slotSize, 1<<62))); err != nil {
		return nil, fmt.Errorf("files: import %s: %w", filepath.Base(path), err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	local := newLocal()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	m.importing[local] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.importing, local)
		m.mu.Unlock()
	}()
	dstPath := filepath.Join(m.dir, local)
	dst, err := os.OpenFile(dstPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("files: import: %w", noSpace(err))
	}
	defer func() {
		if cerr := dst.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("files: import: %w", noSpace(cerr))
		}
		if err != nil {
			os.Remove(dstPath)
			imp = nil
		}
	}()

	// Read one chunk ahead: a chunk's "last" flag is sealed with it.
	h := sha256.New()
	bufs := [2][]byte{make([]byte, wire.ChunkSize), make([]byte, wire.ChunkSize)}
	sealed := make([]byte, 0, slotSize)
	var head []byte
	cur, err := readChunk(src, bufs[0])
	if err != nil {
		return nil, fmt.Errorf("files: import: %w", err)
	}
	var size int64
	for i := uint64(0); ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next, err := readChunk(src, bufs[(i+1)%2])
		if err != nil {
			return nil, fmt.Errorf("files: import: %w", err)
		}
		last := len(next) == 0
		if head == nil {
			head = append([]byte{}, cur[:min(len(cur), media.SniffLen)]...)
		}
		h.Write(cur)
		size += int64(len(cur))
		if size > maxSize {
			return nil, fmt.Errorf("files: import %s: %w (it grew while being read)", filepath.Base(path), ErrTooLarge)
		}
		sealed = sealWith(sealed[:0], aead, id, i, last, cur)
		if _, err := dst.WriteAt(sealed, int64(i)*slotSize); err != nil {
			return nil, fmt.Errorf("files: import: %w", noSpace(err))
		}
		if last {
			break
		}
		cur = next
	}
	if err := dst.Sync(); err != nil {
		return nil, fmt.Errorf("files: import: %w", noSpace(err))
	}
	imp = &Imported{
		ID: id, Local: local, Size: size, Name: SanitizeName(filepath.Base(path)),
		MediaType: media.Sniff(head, filepath.Base(path)), SHA256: h.Sum(nil), Key: key,
	}
	if media.IsImage(imp.MediaType) {
		m.thumbnail(src, imp)
	}
	return imp, nil
}

// readChunk fills buf from r; a short result means the end of the file.
func readChunk(r io.Reader, buf []byte) ([]byte, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return buf[:n], nil
	}
	return buf[:n], err
}

// thumbnail makes imp's thumbnail from the image in src, within limits;
// any failure just means no thumbnail.
func (m *Manager) thumbnail(src *os.File, imp *Imported) {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return
	}
	img, _, err := media.DecodeImage(src, media.DefaultLimits)
	if err != nil {
		m.opts.Logger.Debug("files: no thumbnail", "err", err)
		return
	}
	th, err := media.Thumbnail(img, thumbSide, wire.MaxThumbnail)
	if err != nil {
		return
	}
	imp.Thumb, imp.Width, imp.Height = th, img.Bounds().Dx(), img.Bounds().Dy()
}

// noSpace marks a "no space left on device" error as ErrNoSpace.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Discard removes an import whose offer was not stored.
func (m *Manager) Discard(imp *Imported) {
	if imp != nil {
		os.Remove(filepath.Join(m.dir, imp.Local))
	}
}

// Offer is the offer for imp, to put in the message's content.
func (imp *Imported) Offer() *wire.FileOffer {
	return &wire.FileOffer{ID: imp.ID, Name: imp.Name, Size: uint64(imp.Size), MediaType: imp.MediaType,
		SHA256: imp.SHA256, Key: imp.Key, Thumbnail: imp.Thumb}
}

// Offer rebuilds the offer of an outgoing file from its sealed row, as
// the message carrying it first had it (name, size, media type, hash, key,
// thumbnail), so the node can encrypt that message again under a new
// session. ErrNotFound if there is no such file; ErrState for an incoming
// one.
func (m *Manager) Offer(ctx context.Context, id wire.ID) (*wire.FileOffer, error) {
	r, err := m.db.File(ctx, storage.MessageID(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("files: offer %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if r.Direction != storage.Outgoing {
		return nil, fmt.Errorf("files: offer %s: %w (a file we received)", id, ErrState)
	}
	in, err := parseInfo(r.Info)
	if err != nil {
		return nil, err
	}
	thumb, err := m.db.FileThumb(ctx, storage.MessageID(id))
	if err != nil {
		return nil, err
	}
	return &wire.FileOffer{ID: id, Name: in.Name, Size: uint64(r.Size), MediaType: in.MediaType,
		SHA256: in.SHA256, Key: in.Key, Thumbnail: thumb}, nil
}

// InsertOutgoing stores imp as an outgoing transfer (state offered) of the
// message seq, inside the transaction that stores the message. After the
// commit, call Activate.
func (m *Manager) InsertOutgoing(tx *storage.Tx, contactID, seq int64, imp *Imported) error {
	in := info{Name: imp.Name, MediaType: imp.MediaType, SHA256: imp.SHA256, Key: imp.Key,
		Width: imp.Width, Height: imp.Height, Thumb: imp.Thumb != nil, Verified: true}
	return tx.InsertFile(storage.FileRow{
		ID: storage.MessageID(imp.ID), ContactID: contactID, Direction: storage.Outgoing, MessageSeq: seq,
		Local: imp.Local, Size: imp.Size, State: string(Offered), Info: in.marshal(), Thumb: imp.Thumb,
		Have: newBitset(wire.Chunks(uint64(imp.Size))).bytes(),
	})
}

// Activate takes a transfer stored by InsertOutgoing or InsertIncoming
// into service, before anyone learns of it (so accepting or cancelling it
// finds it live). It publishes no event: the caller publishes the first
// state with the message.
func (m *Manager) Activate(ctx context.Context, id wire.ID) (Transfer, error) {
	r, err := m.db.File(ctx, storage.MessageID(id))
	if err != nil {
		return Transfer{}, err
	}
	if State(r.State).Ended() {
		return fromRow(r)
	}
	t, err := m.load(r)
	if err != nil {
		return Transfer{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.finished[id] {
		if t.f != nil {
			t.f.Close()
		}
		delete(m.finished, id)
		if m.closed {
			return Transfer{}, ErrClosed
		}
		return m.getLocked(ctx, id)
	}
	m.active[id] = t
	t.lastEvent = time.Now()
	return t.snapshotLocked(), nil
}

// OnRequest queues the chunks a receiver asked for on link l. It returns
// a reason to tell the peer the transfer ended when there is nothing to
// serve (the file is unknown, ended or not theirs), else nil.
func (m *Manager) OnRequest(contactID int64, l any, req *wire.FileRequest) *wire.EndReason {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.active[req.File]
	if t == nil || t.contact != contactID || t.dir != storage.Outgoing || t.ending {
		r := wire.EndUnavailable
		return &r
	}
	if t.state == Offered {
		// Asking for chunks is accepting the offer.
		t.state, t.updated = Accepted, time.Now()
		m.spawnLocked(func() {
			m.db.SetFileState(m.ctx, storage.MessageID(t.id), string(Accepted), "", time.Now(), time.Time{})
		})
		m.stateEventLocked(t)
	}
	if t.qlink != l {
		t.qlink, t.queue, t.queued = l, nil, 0
	}
	for _, r := range req.Ranges {
		if r.First >= t.l.chunks {
			continue
		}
		n := min(r.Count, t.l.chunks-r.First)
		if t.queued+int(n) > maxQueued {
			break
		}
		t.queue = append(t.queue, wire.Range{First: r.First, Count: n})
		t.queued += int(n)
	}
	m.signalLocked(contactID)
	return nil
}

// spawnLocked is spawn for callers holding m.mu.
func (m *Manager) spawnLocked(f func()) {
	if m.closed {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// OnStop drops the chunks asked for on l and not yet sent.
func (m *Manager) OnStop(contactID int64, l any, s *wire.FileStop) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.active[s.File]; t != nil && t.contact == contactID && t.qlink == l {
		t.queue, t.queued = nil, 0
	}
}

// NextChunk returns the next chunk to send the contact on link l, read
// from the store into buf (slot-sized; reused by the caller once the
// frame is written), or false when nothing is asked for. Transfers of one
// contact take turns chunk by chunk.
func (m *Manager) NextChunk(contactID int64, l any, buf []byte) (*wire.FileChunk, bool) {
	for {
		m.mu.Lock()
		var ts []*transfer
		for _, t := range m.active {
			if t.contact == contactID && t.dir == storage.Outgoing && t.state == Accepted && !t.ending && t.qlink == l && t.queued > 0 {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			m.mu.Unlock()
			return nil, false
		}
		sortTransfers(ts)
		t := ts[m.rr[contactID]%len(ts)]
		m.rr[contactID]++
		i := t.queue[0].First
		t.queue[0].First++
		t.queue[0].Count--
		if t.queue[0].Count == 0 {
			t.queue = t.queue[1:]
		}
		t.queued--
		f := t.f
		m.mu.Unlock()

		sealed, err := readSlot(f, t.l, i, buf)
		if err != nil {
			m.opts.Logger.Warn("files: cannot read a chunk to send", "file", t.id.String()[:8], "err", err)
			m.endAsync(t, Failed, wire.EndUnavailable, "the stored copy cannot be read: "+err.Error())
			continue
		}
		m.mu.Lock()
		plain := int64(t.l.plainLen(i))
		t.sent += plain
		if !t.have.has(i) {
			t.have.set(i)
			t.haveN++
			t.bytes += plain
		}
		t.dirty = true
		m.progressEventLocked(t, t.haveN == t.l.chunks)
		m.mu.Unlock()
		return &wire.FileChunk{File: t.id, Index: i, Data: sealed}, true
	}
}

func sortTransfers(ts []*transfer) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].seq < ts[j-1].seq; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// endAsync asks the node to end t (it cannot go on), once.
func (m *Manager) endAsync(t *transfer, state State, reason wire.EndReason, errText string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.ending || t.endAsked {
		return
	}
	t.endAsked = true
	m.spawnLocked(func() { m.opts.End(t.id, state, reason, errText) })
}
