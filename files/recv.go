package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chive-im/chive/internal/media"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// thumbLimits bound a peer's thumbnail: it is decoded for display.
var thumbLimits = media.Limits{MaxSide: 1024, MaxPixels: 1 << 20}

// Decision is what InsertIncoming decided about an offer.
type Decision struct {
	State  State
	Reason wire.EndReason // for a refused offer (State Failed): tell the sender
	Error  string
}

// Refused reports whether the offer was refused (the node tells the sender).
func (d Decision) Refused() bool { return d.State == Failed }

// InsertIncoming stores the offer carried by message seq from the contact,
// inside the transaction that stores the message, and decides by pol:
// refused when larger than pol.MaxSize or beyond the contact's quota
// (usage is what counts against it now), accepted at once when it is a
// small enough image or voice note, else offered to the user. The name is
// sanitized, the claimed media type kept only as a claim, and a thumbnail
// kept only if it decodes within limits. After the commit, call Activate.
func (m *Manager) InsertIncoming(tx *storage.Tx, contactID, seq int64, o *wire.FileOffer, pol Policy, usage int64) (Decision, error) {
	pol = pol.WithDefaults()
	size := int64(o.Size)
	claimed := cleanType(o.MediaType)
	d := Decision{State: Offered}
	switch {
	case size > pol.MaxSize:
		d = Decision{State: Failed, Reason: wire.EndTooLarge, Error: fmt.Sprintf("refused: larger than your limit of %s", HumanSize(pol.MaxSize))}
	case usage+size > pol.Quota:
		d = Decision{State: Failed, Reason: wire.EndQuota, Error: fmt.Sprintf("refused: over your quota of %s for this contact", HumanSize(pol.Quota))}
	case pol.AutoDownload > 0 && size <= pol.AutoDownload && (media.IsImage(claimed) || media.IsVoice(claimed)):
		d.State = Accepted
	}
	thumb := o.Thumbnail
	if thumb != nil {
		if _, format, err := media.DecodeConfig(bytes.NewReader(thumb), thumbLimits); err != nil || (format != "jpeg" && format != "png" && format != "gif") {
			thumb = nil // shown as a file without a preview
		}
	}
	in := info{Name: SanitizeName(o.Name), MediaType: claimed, Claimed: claimed, SHA256: o.SHA256, Key: o.Key, Thumb: thumb != nil}
	now := time.Now()
	row := storage.FileRow{
		ID: storage.MessageID(o.ID), ContactID: contactID, Direction: storage.Incoming, MessageSeq: seq,
		Local: newLocal(), Size: size, State: string(d.State), Info: in.marshal(), Thumb: thumb,
		Have: newBitset(wire.Chunks(o.Size)).bytes(), Error: d.Error, Created: now,
	}
	if d.State == Failed {
		row.Done = now
	}
	if err := tx.InsertFile(row); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// cleanType keeps a claimed media type only if it parses as one.
func cleanType(t string) string {
	mt, _, err := mime.ParseMediaType(t)
	if err != nil || !strings.Contains(mt, "/") {
		return "application/octet-stream"
	}
	return mt
}

// Usage is what counts against the contact's quota: the sizes of files
// accepted from them and not deleted.
func (m *Manager) Usage(ctx context.Context, contactID int64) (int64, error) {
	return m.db.FileUsage(ctx, contactID, storage.Incoming, []string{string(Accepted), string(Paused), string(Completed)})
}

// Accept starts fetching an offered file, within pol; the node then sends
// what Requests returns on the contact's link (Poke).
func (m *Manager) Accept(ctx context.Context, id wire.ID, pol Policy) (Transfer, error) {
	pol = pol.WithDefaults()
	m.mu.Lock()
	t := m.active[id]
	m.mu.Unlock()
	if t != nil && t.dir == storage.Incoming && t.state == Offered {
		if t.l.size > pol.MaxSize {
			return Transfer{}, fmt.Errorf("files: accept: %w (%s, your limit is %s)", ErrTooLarge, HumanSize(t.l.size), HumanSize(pol.MaxSize))
		}
		usage, err := m.Usage(ctx, t.contact)
		if err != nil {
			return Transfer{}, err
		}
		if usage+t.l.size > pol.Quota {
			return Transfer{}, fmt.Errorf("files: accept: %w (%s used of %s)", ErrQuota, HumanSize(usage), HumanSize(pol.Quota))
		}
	}
	t, err := m.setState(ctx, id, Accepted, func(t *transfer) error {
		if t.dir != storage.Incoming || t.state != Offered {
			return fmt.Errorf("files: accept: %w (%s %s)", ErrState, t.dir, t.state)
		}
		return nil
	})
	if err != nil {
		return Transfer{}, err
	}
	f, err := os.OpenFile(filepath.Join(m.dir, t.local), os.O_RDWR|os.O_CREATE, 0o600)
	m.mu.Lock()
	if err == nil {
		t.f = f
	} else {
		t.stalled, t.err = true, "cannot store the file: "+noSpace(err).Error()
		m.retryLocked(t)
		m.stateEventLocked(t)
	}
	s := t.snapshotLocked()
	m.mu.Unlock()
	m.opts.Poke(t.contact)
	return s, nil
}

// Requests returns what to ask the contact for on link l now: for each
// accepted incoming transfer, chunks it misses up to the window. A new
// link asks again for everything asked on the old one and not received.
func (m *Manager) Requests(contactID int64, l any) []*wire.FileRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*wire.FileRequest
	for _, t := range m.active {
		if t.contact != contactID || t.dir != storage.Incoming {
			continue
		}
		if r := m.fillLocked(t, l); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// fillLocked asks for missing chunks of t on l until Window are in
// flight. nil when there is nothing to ask.
func (m *Manager) fillLocked(t *transfer, l any) *wire.FileRequest {
	if t.state != Accepted || t.ending || t.stalled || t.verifying || t.f == nil {
		return nil
	}
	if t.link != l {
		t.link = l
		t.inflight.reset()
		t.inflightN, t.cursor = 0, 0
	}
	var req *wire.FileRequest
	for t.inflightN < m.opts.Window && t.cursor < t.l.chunks {
		i := t.cursor
		t.cursor++
		if t.have.has(i) || t.inflight.has(i) {
			continue
		}
		if req == nil {
			req = &wire.FileRequest{File: t.id}
		}
		if n := len(req.Ranges); n > 0 && req.Ranges[n-1].First+req.Ranges[n-1].Count == i {
			req.Ranges[n-1].Count++
		} else if n == wire.MaxRanges {
			t.cursor--
			break
		} else {
			req.Ranges = append(req.Ranges, wire.Range{First: i, Count: 1})
		}
		t.inflight.set(i)
		t.inflightN++
	}
	return req
}

// OnChunk checks and stores a chunk the contact sent on link l and returns
// what to send back: more requests as the window empties, a FileStop when
// the chunk cannot be stored (a full disk: the transfer stalls and is
// retried after Options.Retry). A chunk that fails authentication is not
// stored (err wraps errChunk); after maxBad of them the transfer fails.
// Chunks of unknown or ended transfers are ignored: they may still be in
// flight after a cancel.
func (m *Manager) OnChunk(contactID int64, l any, c *wire.FileChunk) (wire.Msg, error) {
	m.mu.Lock()
	t := m.active[c.File]
	if t == nil || t.contact != contactID || t.dir != storage.Incoming || t.ending || t.f == nil ||
		(t.state != Accepted && t.state != Paused) {
		m.mu.Unlock()
		return nil, nil
	}
	f := t.f
	m.mu.Unlock()

	bufp := m.buf()
	defer m.put(bufp)
	_, err := openChunk((*bufp)[:0], t.aead, t.id, t.l, c.Index, c.Data)
	if err != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		t.bad++
		if c.Index < t.l.chunks && t.inflight.has(c.Index) {
			t.inflight.clear(c.Index)
			t.inflightN--
			if c.Index < t.cursor {
				t.cursor = c.Index // ask again
			}
		}
		if t.bad >= maxBad {
			m.endAsyncLocked(t, Failed, wire.EndCorrupt, "the sender's chunks fail authentication")
		}
		return nil, fmt.Errorf("files: chunk %d of %s: %w", c.Index, t.id.String()[:8], err)
	}
	plain := int64(t.l.plainLen(c.Index))
	m.mu.Lock()
	t.recv += plain
	if t.have.has(c.Index) {
		t.dup += plain
		t.dirty = true
		m.doneInflightLocked(t, c.Index)
		req := m.topUpLocked(t, l)
		m.mu.Unlock()
		return req, nil
	}
	m.mu.Unlock()

	err = m.roomFor(len(c.Data))
	if err == nil {
		err = writeSlot(f, c.Index, c.Data)
	}
	if err != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if t.stalled || t.ending {
			return nil, nil
		}
		t.stalled = true
		t.err = "cannot store the file: " + noSpace(err).Error() + "; it resumes when there is room"
		if errors.Is(err, ErrNoSpace) && !errors.Is(err, syscall.ENOSPC) {
			t.err = "paused: " + err.Error() + "; it resumes when there is room"
		}
		t.inflight.reset()
		t.inflightN, t.link = 0, nil
		m.opts.Logger.Warn("files: cannot store a chunk; pausing the transfer", "file", t.id.String()[:8], "err", err)
		m.retryLocked(t)
		m.stateEventLocked(t)
		return &wire.FileStop{File: t.id}, nil
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if t.ending {
		return nil, nil
	}
	if t.err != "" && !t.stalled {
		t.err = "" // stored again after a stall
		m.stateEventLocked(t)
	}
	t.have.set(c.Index)
	t.haveN++
	t.bytes += plain
	t.dirty = true
	m.doneInflightLocked(t, c.Index)
	if t.haveN == t.l.chunks {
		t.verifying = true
		m.progressEventLocked(t, true)
		m.spawnLocked(func() { m.verify(t) })
		return nil, nil
	}
	m.progressEventLocked(t, false)
	if t.state == Paused {
		return nil, nil
	}
	return m.topUpLocked(t, l), nil
}

func (m *Manager) doneInflightLocked(t *transfer, i uint64) {
	if t.inflight.has(i) {
		t.inflight.clear(i)
		t.inflightN--
	}
}

// topUpLocked asks for more once half the window has arrived: fewer,
// larger requests than one per chunk.
func (m *Manager) topUpLocked(t *transfer, l any) wire.Msg {
	if t.link != l || t.inflightN > m.opts.Window/2 {
		return nil
	}
	if r := m.fillLocked(t, l); r != nil {
		return r
	}
	return nil
}

// roomFor fails with ErrNoSpace when storing n more bytes would leave
// less than Options.Reserve free.
func (m *Manager) roomFor(n int) error {
	if m.opts.Reserve < 0 {
		return nil
	}
	free, ok := freeBytes(m.dir)
	if !ok || free-int64(n) >= m.opts.Reserve {
		return nil
	}
	return fmt.Errorf("%w (%s left, and chive keeps %s for messages)", ErrNoSpace, HumanSize(max(free, 0)), HumanSize(m.opts.Reserve))
}

// retryLocked clears t's stall after Options.Retry and asks the node to
// send requests again.
func (m *Manager) retryLocked(t *transfer) {
	if t.retryTimer != nil {
		t.retryTimer.Stop()
	}
	t.retryTimer = time.AfterFunc(m.opts.Retry, func() {
		m.mu.Lock()
		if m.closed || t.ending || !t.stalled {
			m.mu.Unlock()
			return
		}
		t.stalled = false
		if t.f == nil {
			f, err := os.OpenFile(filepath.Join(m.dir, t.local), os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.stalled = true
				m.retryLocked(t)
				m.mu.Unlock()
				return
			}
			t.f = f
		}
		m.mu.Unlock()
		m.opts.Poke(t.contact)
	})
}

func (m *Manager) endAsyncLocked(t *transfer, state State, reason wire.EndReason, errText string) {
	if t.ending || t.endAsked {
		return
	}
	t.endAsked = true
	m.spawnLocked(func() { m.opts.End(t.id, state, reason, errText) })
}

// verify checks a complete incoming file against its hash, learns its
// real media type (and an image's dimensions), then has the node end it
// (completed, or failed as corrupt) and tell the sender.
func (m *Manager) verify(t *transfer) {
	t.f.Sync()
	h := sha256.New()
	head := make([]byte, 0, media.SniffLen)
	// Stops when the manager closes; the next start checks again.
	r := ctxReader{m.ctx, newReader(t.f, t.aead, t.id, t.l)}
	buf := make([]byte, 32<<10)
	var err error
	for {
		var n int
		n, err = r.Read(buf)
		if len(head) < media.SniffLen {
			head = append(head, buf[:min(n, media.SniffLen-len(head))]...)
		}
		h.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if m.ctx.Err() != nil {
		return
	}
	if !errors.Is(err, io.EOF) {
		m.opts.Logger.Warn("files: a stored chunk does not open", "file", t.id.String()[:8], "err", err)
		m.endAsync(t, Failed, wire.EndCorrupt, "a stored chunk is damaged")
		return
	}
	m.mu.Lock()
	name := t.info.Name
	want := t.info.SHA256
	m.mu.Unlock()
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		m.endAsync(t, Failed, wire.EndCorrupt, "the file does not match the hash in its offer")
		return
	}
	mt := media.Sniff(head, name)
	var w, hgt int
	if media.IsImage(mt) {
		if cfg, _, err := media.DecodeConfig(newReader(t.f, t.aead, t.id, t.l), media.DefaultLimits); err == nil {
			w, hgt = cfg.Width, cfg.Height
		}
	}
	m.mu.Lock()
	t.info.MediaType, t.info.Width, t.info.Height, t.info.Verified = mt, w, hgt, true
	m.mu.Unlock()
	m.endAsync(t, Completed, wire.EndCompleted, "")
}

// HumanSize is n bytes for people: "512 B", "1.5 KiB", "10 MiB", "1 GiB".
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n), "B"
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, u = v/unit, s
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), u)
	}
	return fmt.Sprintf("%.1f %s", v, u)
}
