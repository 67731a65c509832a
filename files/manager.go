package files

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Manager runs every transfer of one profile. Open it with the profile's
// database; Close it before closing the database.
type Manager struct {
	db   *storage.DB
	dir  string // <profile>/files
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	active    map[wire.ID]*transfer // transfers not ended
	wake      map[int64]chan struct{}
	importing map[string]bool  // chunk files being written by Import
	finished  map[wire.ID]bool // ended by Finish before Activate took them in
	rr        map[int64]int    // round robin over a contact's outgoing transfers
	openDir   string           // decrypted copies for OpenCopy; removed by Close
	pool      sync.Pool        // slot-sized buffers
}

// transfer is the live state of one transfer; fields below mu are
// guarded by Manager.mu.
type transfer struct {
	id      wire.ID
	contact int64
	dir     storage.Direction
	seq     int64
	local   string
	l       layout
	aead    cipher.AEAD
	created time.Time
	f       *os.File // the chunk file, open while the transfer is active

	// guarded by Manager.mu
	info       info
	state      State
	err        string
	have       bitset
	haveN      uint64
	bytes      int64
	sent       int64
	recv       int64
	dup        int64
	dirty      bool
	lastEvent  time.Time
	lastBytes  int64
	updated    time.Time
	ending     bool // Finish runs: nothing more is served or stored
	endAsked   bool // End was called for it
	bad        int  // chunks that failed authentication
	link       any  // in: the link inflight chunks were asked on
	inflight   bitset
	inflightN  int
	cursor     uint64
	stalled    bool // in: a disk error; Retry clears it
	verifying  bool
	qlink      any // out: the link queue was asked on
	queue      []wire.Range
	queued     int
	retryTimer *time.Timer
}

// maxQueued bounds the chunks a receiver may have asked for and not yet
// been sent, per transfer: a peer cannot make the queue grow without bound.
const maxQueued = 4096

// maxBad is how many chunks may fail authentication before the transfer
// is given up as corrupt: a sender that sends forgeries is not retried
// forever.
const maxBad = 16

// Open loads the profile's unfinished transfers, recovers the chunks an
// incoming one stored before a crash, removes chunk files whose
// conversation was deleted, and starts checkpointing.
func Open(ctx context.Context, db *storage.DB, o Options) (*Manager, error) {
	m := &Manager{
		db: db, dir: db.FilesDir(), opts: o.withDefaults(),
		active: map[wire.ID]*transfer{}, wake: map[int64]chan struct{}{},
		importing: map[string]bool{}, rr: map[int64]int{}, finished: map[wire.ID]bool{},
	}
	m.pool.New = func() any { b := make([]byte, slotSize); return &b }
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: open: %w", err)
	}
	if err := os.Chmod(m.dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: open: %w", err)
	}
	rows, err := db.Files(ctx, storage.FileQuery{States: []string{string(Offered), string(Accepted), string(Paused)}, Limit: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("files: open: %w", err)
	}
	for _, r := range rows {
		t, err := m.load(r)
		if err != nil {
			m.opts.Logger.Warn("files: cannot resume a transfer", "file", r.ID.String()[:8], "err", err)
			continue
		}
		m.active[t.id] = t
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.GC(ctx); err != nil {
		m.opts.Logger.Warn("files: cleaning up", "err", err)
	}
	m.wg.Add(1)
	go m.checkpointLoop()
	// A file whose last chunk arrived just before we stopped still needs
	// its check.
	m.mu.Lock()
	for _, t := range m.active {
		if t.dir == storage.Incoming && t.f != nil && t.haveN == t.l.chunks {
			t.verifying = true
			m.spawnLocked(func() { m.verify(t) })
		}
	}
	m.mu.Unlock()
	return m, nil
}

// load builds the live state of a stored transfer, opening its chunk file
// when it has one and recovering the chunks written after the last
// checkpoint (an incoming transfer).
func (m *Manager) load(r storage.FileRow) (*transfer, error) {
	in, err := parseInfo(r.Info)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(in.Key)
	if err != nil {
		return nil, err
	}
	t := &transfer{
		id: wire.ID(r.ID), contact: r.ContactID, dir: r.Direction, seq: r.MessageSeq, local: r.Local,
		l: newLayout(r.Size), aead: aead, created: r.Created, info: in, state: State(r.State), err: r.Error,
		sent: r.SentBytes, recv: r.RecvBytes, dup: r.DupBytes, updated: r.Updated,
	}
	t.have = bitsetFrom(r.Have, t.l.chunks)
	t.inflight = newBitset(t.l.chunks)
	t.haveN = t.have.count()
	t.bytes = t.bytesOf()
	if t.dir == storage.Incoming && t.state == Offered {
		return t, nil // nothing on disk yet
	}
	flags := os.O_RDWR
	if t.dir == storage.Incoming {
		flags |= os.O_CREATE
	}
	t.f, err = os.OpenFile(filepath.Join(m.dir, t.local), flags, 0o600)
	if err != nil {
		return nil, err
	}
	if t.dir == storage.Incoming {
		if err := m.recover(t); err != nil {
			t.f.Close()
			return nil, err
		}
	}
	return t, nil
}

// bytesOf is the plaintext size of the chunks in have.
func (t *transfer) bytesOf() int64 {
	n := int64(t.haveN) * wire.ChunkSize
	if t.haveN > 0 && t.have.has(t.l.chunks-1) {
		n -= int64(wire.ChunkSize - t.l.plainLen(t.l.chunks-1))
	}
	return n
}

// recover adds to have the chunks stored after the last checkpoint: a
// written slot that authenticates is a stored chunk (a slot never written
// reads as zeros; a torn one fails to open and is asked for again).
func (m *Manager) recover(t *transfer) error {
	bufp := m.pool.Get().(*[]byte)
	defer m.pool.Put(bufp)
	pt := make([]byte, 0, wire.ChunkSize)
	found := 0
	for i := range t.l.chunks {
		if t.have.has(i) {
			continue
		}
		ok, err := slotWritten(t.f, i)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		sealed, err := readSlot(t.f, t.l, i, *bufp)
		if err != nil {
			continue
		}
		if _, err := openChunk(pt[:0], t.aead, t.id, t.l, i, sealed); err != nil {
			continue
		}
		t.have.set(i)
		found++
	}
	if found > 0 {
		t.haveN = t.have.count()
		t.bytes = t.bytesOf()
		t.dirty = true
		m.opts.Logger.Debug("files: recovered chunks stored after the last checkpoint", "file", t.id.String()[:8], "chunks", found)
	}
	return nil
}

// Close stops checkpointing (after a last one), closes chunk files and
// removes decrypted copies made by OpenCopy. Idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, t := range m.active {
		if t.retryTimer != nil {
			t.retryTimer.Stop()
		}
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.checkpoint(context.Background())
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.active {
		if t.f != nil {
			t.f.Close()
		}
	}
	if m.openDir != "" {
		os.RemoveAll(m.openDir)
	}
	return nil
}

func (m *Manager) checkpointLoop() {
	defer m.wg.Done()
	tick := time.NewTicker(m.opts.Checkpoint)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
			m.checkpoint(m.ctx)
		}
	}
}

// checkpoint makes the progress of every changed transfer durable: chunk
// files are synced first, so a stored bitmap never names a chunk that
// power loss could take back.
func (m *Manager) checkpoint(ctx context.Context) {
	type cp struct {
		t *transfer
		p storage.FileProgress
	}
	m.mu.Lock()
	var cps []cp
	for _, t := range m.active {
		if !t.dirty || t.ending {
			continue
		}
		t.dirty = false
		cps = append(cps, cp{t, t.progressLocked()})
	}
	m.mu.Unlock()
	if len(cps) == 0 {
		return
	}
	for _, c := range cps {
		if c.t.dir == storage.Incoming && c.t.f != nil {
			c.t.f.Sync()
		}
	}
	now := time.Now()
	err := m.db.Update(ctx, func(tx *storage.Tx) error {
		for _, c := range cps {
			if err := tx.SetFileProgress(storage.MessageID(c.t.id), c.p, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The database is full or closing: try again next time.
		m.mu.Lock()
		for _, c := range cps {
			c.t.dirty = true
		}
		m.mu.Unlock()
		if ctx.Err() == nil {
			m.opts.Logger.Warn("files: checkpoint", "err", err)
		}
	}
}

func (t *transfer) progressLocked() storage.FileProgress {
	return storage.FileProgress{Have: t.have.bytes(), Bytes: t.bytes, SentBytes: t.sent, RecvBytes: t.recv, DupBytes: t.dup}
}

func (t *transfer) snapshotLocked() Transfer {
	return Transfer{
		ID: t.id, ContactID: t.contact, Direction: t.dir, MessageSeq: t.seq,
		Name: t.info.Name, MediaType: t.info.MediaType, Size: t.l.size, SHA256: t.info.SHA256,
		State: t.state, Error: t.err, Bytes: t.bytes, SentBytes: t.sent, RecvBytes: t.recv, DupBytes: t.dup,
		Thumbnail: t.info.Thumb, Width: t.info.Width, Height: t.info.Height,
		Created: t.created, Updated: t.updated,
	}
}

// stateEventLocked publishes t's state (never dropped).
func (m *Manager) stateEventLocked(t *transfer) {
	t.lastEvent, t.lastBytes = time.Now(), t.bytes
	m.opts.Event(Event{Transfer: t.snapshotLocked()})
}

// progressEventLocked publishes t's progress, at most every ProgressEvery
// unless force.
func (m *Manager) progressEventLocked(t *transfer, force bool) {
	now := time.Now()
	el := now.Sub(t.lastEvent)
	if !force && el < m.opts.ProgressEvery {
		return
	}
	var rate float64
	if el > 0 && !t.lastEvent.IsZero() {
		rate = float64(t.bytes-t.lastBytes) / el.Seconds()
	}
	t.lastEvent, t.lastBytes = now, t.bytes
	m.opts.Event(Event{Transfer: t.snapshotLocked(), Progress: true, Rate: max(rate, 0)})
}

func (m *Manager) wakeLocked(contact int64) chan struct{} {
	ch := m.wake[contact]
	if ch == nil {
		ch = make(chan struct{})
		m.wake[contact] = ch
	}
	return ch
}

// signalLocked wakes everyone waiting on the contact's Wake channel.
func (m *Manager) signalLocked(contact int64) {
	close(m.wakeLocked(contact))
	m.wake[contact] = make(chan struct{})
}

// Wake returns a channel closed when the contact's outgoing transfers may
// have chunks to send. A pump takes it before calling NextChunk and waits
// on it when NextChunk has nothing, so no wake-up is lost.
func (m *Manager) Wake(contactID int64) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wakeLocked(contactID)
}

// newLocal returns a fresh random name for a chunk file.
func newLocal() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Active reports whether the contact has a transfer that needs a link:
// an accepted one, in either direction, not paused, not ended.
func (m *Manager) Active(contactID int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.active {
		if t.contact == contactID && t.state == Accepted && !t.ending && !t.verifying {
			return true
		}
	}
	return false
}

// ActiveContacts lists the contacts for which Active holds.
func (m *Manager) ActiveContacts() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[int64]bool{}
	var out []int64
	for _, t := range m.active {
		if t.state == Accepted && !t.ending && !seen[t.contact] {
			seen[t.contact] = true
			out = append(out, t.contact)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Get returns a transfer, live progress included.
func (m *Manager) Get(ctx context.Context, id wire.ID) (Transfer, error) {
	m.mu.Lock()
	if t := m.active[id]; t != nil {
		s := t.snapshotLocked()
		m.mu.Unlock()
		return s, nil
	}
	m.mu.Unlock()
	r, err := m.db.File(ctx, storage.MessageID(id))
	if errors.Is(err, storage.ErrNotFound) {
		return Transfer{}, fmt.Errorf("files: %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Transfer{}, err
	}
	return fromRow(r)
}

func fromRow(r storage.FileRow) (Transfer, error) {
	in, err := parseInfo(r.Info)
	if err != nil {
		return Transfer{}, err
	}
	return Transfer{
		ID: wire.ID(r.ID), ContactID: r.ContactID, Direction: r.Direction, MessageSeq: r.MessageSeq,
		Name: in.Name, MediaType: in.MediaType, Size: r.Size, SHA256: in.SHA256,
		State: State(r.State), Error: r.Error, Bytes: r.Bytes, SentBytes: r.SentBytes, RecvBytes: r.RecvBytes, DupBytes: r.DupBytes,
		Thumbnail: in.Thumb, Width: in.Width, Height: in.Height, Created: r.Created, Updated: r.Updated, Done: r.Done,
	}, nil
}

// List returns transfers newest first, live progress included.
func (m *Manager) List(ctx context.Context, q storage.FileQuery) ([]Transfer, error) {
	rows, err := m.db.Files(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]Transfer, 0, len(rows))
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		if t := m.active[wire.ID(r.ID)]; t != nil {
			out = append(out, t.snapshotLocked())
			continue
		}
		tr, err := fromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, tr)
	}
	return out, nil
}

// Thumbnail returns the thumbnail the sender made (an incoming one was
// checked with media limits when the offer arrived), or nil.
func (m *Manager) Thumbnail(ctx context.Context, id wire.ID) ([]byte, error) {
	th, err := m.db.FileThumb(ctx, storage.MessageID(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("files: %s: %w", id, ErrNotFound)
	}
	return th, err
}

// Finish ends a transfer in state (Completed, Failed or Cancelled) with
// errText, running then in the same transaction (the node queues the
// FileEnd that tells the peer, or marks the peer's FileEnd seen). Data of
// a transfer that did not complete is deleted. When the transfer had
// already ended nothing changes, then does not run, and changed is false.
func (m *Manager) Finish(ctx context.Context, id wire.ID, state State, errText string, then func(tx *storage.Tx, t Transfer) error) (tr Transfer, changed bool, err error) {
	if !state.Ended() {
		return Transfer{}, false, fmt.Errorf("files: finish in state %s", state)
	}
	m.mu.Lock()
	t := m.active[id]
	if t != nil && t.ending {
		m.mu.Unlock()
		return Transfer{}, false, fmt.Errorf("files: %s: %w (ending)", id, ErrState)
	}
	if t != nil {
		t.ending = true
		t.queue, t.queued = nil, 0
	}
	m.mu.Unlock()

	now := time.Now()
	if t == nil {
		return m.finishStored(ctx, id, state, errText, then)
	}

	if t.f != nil && state == Completed {
		t.f.Sync()
	}
	m.mu.Lock()
	p := t.progressLocked()
	in := t.info
	snap := t.snapshotLocked()
	m.mu.Unlock()
	snap.State, snap.Error, snap.Done = state, errText, now
	err = m.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.SetFileProgress(storage.MessageID(id), p, now); err != nil {
			return err
		}
		if err := tx.SetFileInfo(storage.MessageID(id), in.marshal(), now); err != nil {
			return err
		}
		if err := tx.SetFileState(storage.MessageID(id), string(state), errText, now, now); err != nil {
			return err
		}
		if then != nil {
			return then(tx, snap)
		}
		return nil
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		t.ending = false
		return Transfer{}, false, err
	}
	delete(m.active, id)
	if t.retryTimer != nil {
		t.retryTimer.Stop()
	}
	t.state, t.err, t.updated = state, errText, now
	if t.f != nil {
		t.f.Close()
	}
	if state != Completed {
		os.Remove(filepath.Join(m.dir, t.local))
	}
	tr = t.snapshotLocked()
	tr.Done = now
	m.opts.Event(Event{Transfer: tr})
	return tr, true, nil
}

// finishStored is Finish for a transfer not live: ended already (nothing
// changes), or stored and not yet activated.
func (m *Manager) finishStored(ctx context.Context, id wire.ID, state State, errText string, then func(tx *storage.Tx, t Transfer) error) (Transfer, bool, error) {
	r, err := m.db.File(ctx, storage.MessageID(id))
	if errors.Is(err, storage.ErrNotFound) {
		return Transfer{}, false, fmt.Errorf("files: %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Transfer{}, false, err
	}
	tr, err := fromRow(r)
	if err != nil || tr.State.Ended() {
		return tr, false, err
	}
	now := time.Now()
	tr.State, tr.Error, tr.Done, tr.Updated = state, errText, now, now
	err = m.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.SetFileState(storage.MessageID(id), string(state), errText, now, now); err != nil {
			return err
		}
		if then != nil {
			return then(tx, tr)
		}
		return nil
	})
	if err != nil {
		return Transfer{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finished[id] = true
	if state != Completed {
		os.Remove(filepath.Join(m.dir, r.Local))
	}
	m.opts.Event(Event{Transfer: tr})
	return tr, true, nil
}

// getLocked is Get for a transfer that is not live.
func (m *Manager) getLocked(ctx context.Context, id wire.ID) (Transfer, error) {
	r, err := m.db.File(ctx, storage.MessageID(id))
	if err != nil {
		return Transfer{}, err
	}
	return fromRow(r)
}

// setState changes an active transfer's state in the database and in
// memory; check says whether the change is allowed.
func (m *Manager) setState(ctx context.Context, id wire.ID, to State, check func(t *transfer) error) (*transfer, error) {
	m.mu.Lock()
	t := m.active[id]
	if t == nil {
		m.mu.Unlock()
		if _, err := m.db.File(ctx, storage.MessageID(id)); errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("files: %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("files: %s: %w (the transfer has ended)", id, ErrState)
	}
	if t.ending {
		m.mu.Unlock()
		return nil, fmt.Errorf("files: %s: %w (ending)", id, ErrState)
	}
	if err := check(t); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.mu.Unlock()
	now := time.Now()
	if err := m.db.SetFileState(ctx, storage.MessageID(id), string(to), "", now, time.Time{}); err != nil {
		return nil, err
	}
	m.mu.Lock()
	t.state, t.err, t.updated = to, "", now
	m.stateEventLocked(t)
	m.mu.Unlock()
	return t, nil
}

// Pause pauses a transfer on this side. For an incoming one the node
// sends the FileStop it returns on the contact's link, if any.
func (m *Manager) Pause(ctx context.Context, id wire.ID) (*wire.FileStop, Transfer, error) {
	t, err := m.setState(ctx, id, Paused, func(t *transfer) error {
		if t.state != Accepted {
			return fmt.Errorf("files: pause: %w (%s)", ErrState, t.state)
		}
		return nil
	})
	if err != nil {
		return nil, Transfer{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.dir == storage.Outgoing {
		return nil, t.snapshotLocked(), nil
	}
	t.inflight.reset()
	t.inflightN, t.link = 0, nil
	return &wire.FileStop{File: t.id}, t.snapshotLocked(), nil
}

// Resume undoes Pause (and retries a transfer stalled by a disk error).
func (m *Manager) Resume(ctx context.Context, id wire.ID) (Transfer, error) {
	m.mu.Lock()
	if t := m.active[id]; t != nil && t.state == Accepted && t.stalled {
		t.stalled = false
		s := t.snapshotLocked()
		m.mu.Unlock()
		m.opts.Poke(t.contact)
		return s, nil
	}
	m.mu.Unlock()
	t, err := m.setState(ctx, id, Accepted, func(t *transfer) error {
		if t.state != Paused {
			return fmt.Errorf("files: resume: %w (%s)", ErrState, t.state)
		}
		return nil
	})
	if err != nil {
		return Transfer{}, err
	}
	m.mu.Lock()
	s := t.snapshotLocked()
	if t.dir == storage.Outgoing {
		m.signalLocked(t.contact)
	}
	m.mu.Unlock()
	if t.dir == storage.Incoming {
		m.opts.Poke(t.contact)
	}
	return s, nil
}

// LinkDown forgets what was asked on the contact's link l: chunks asked
// for and not received are asked again on the next link, and the chunks a
// peer asked for on l are not sent on another.
func (m *Manager) LinkDown(contactID int64, l any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.active {
		if t.contact != contactID {
			continue
		}
		if t.link == l {
			t.link = nil
			t.inflight.reset()
			t.inflightN = 0
		}
		if t.qlink == l {
			t.qlink, t.queue, t.queued = nil, nil, 0
		}
	}
}

// GC removes chunk files without a file row (their conversation or contact
// was deleted) and forgets live transfers whose row is gone.
func (m *Manager) GC(ctx context.Context) error {
	locals, err := m.db.FileLocals(ctx)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return fmt.Errorf("files: gc: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range m.active {
		if !locals[t.local] && !t.ending {
			delete(m.active, id)
			if t.f != nil {
				t.f.Close()
			}
			if t.retryTimer != nil {
				t.retryTimer.Stop()
			}
		}
	}
	for _, e := range ents {
		if locals[e.Name()] || m.importing[e.Name()] {
			continue
		}
		os.Remove(filepath.Join(m.dir, e.Name()))
	}
	return nil
}

func (m *Manager) buf() *[]byte  { return m.pool.Get().(*[]byte) }
func (m *Manager) put(b *[]byte) { m.pool.Put(b) }

// Live returns the transfer with id if it is live: not ended, nor ending.
func (m *Manager) Live(id wire.ID) (Transfer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.active[id]
	if t == nil || t.ending {
		return Transfer{}, false
	}
	return t.snapshotLocked(), true
}

// Forget drops the transfers of files whose rows were deleted with their
// messages (erased, deleted for everyone, disappeared): a live one stops
// at once (nothing more is served, asked for or stored) and its chunk
// file is removed, as is every chunk file named in locals (FileRow.Local).
// Call it once the transaction that deleted the rows has committed.
func (m *Manager) Forget(ids []wire.ID, locals []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		t := m.active[id]
		if t == nil {
			continue
		}
		// A Finish under way fails to store (the row is gone); a chunk
		// being read or written fails on the closed file and, ending, is
		// not reported.
		t.ending = true
		t.queue, t.queued = nil, 0
		delete(m.active, id)
		if t.retryTimer != nil {
			t.retryTimer.Stop()
		}
		if t.f != nil {
			t.f.Close()
		}
		locals = append(locals, t.local)
	}
	for _, l := range locals {
		if l != "" && filepath.Base(l) == l {
			os.Remove(filepath.Join(m.dir, l))
		}
	}
}
