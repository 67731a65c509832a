package mailbox

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/chive-im/chive/wire"
)

// Limits bound what a mailbox accepts. The zero value of a field means
// its default (DefaultLimits).
type Limits struct {
	Quota
	// Retention: items not taken within this are deleted and their sender
	// told ("expired"). Default 30 days.
	Retention time.Duration
	// SweepEvery is how often retention is applied. Default 1 hour.
	SweepEvery time.Duration
	// PutBurst and PutEvery are each slot's token bucket for puts (and the
	// owner's): a burst, then one put per PutEvery. Default 1000, 50 ms.
	PutBurst int
	PutEvery time.Duration
	// MaxLinks is how many connections are served at once. Default 64.
	MaxLinks int
	// FailedBurst and FailedEvery bound failed opens (a wrong token or
	// secret, a stranger) over all clients: beyond them the connection is
	// closed without an answer. Default 20, 10 s.
	FailedBurst int
	FailedEvery time.Duration
	// ContactIdle closes a contact's session after this long without a
	// frame from it. Default 5 minutes. The owner's stays up.
	ContactIdle time.Duration
	// OpenTimeout bounds the link handshake and the first frame. Default 60 s.
	OpenTimeout time.Duration
}

// DefaultLimits are a mailbox's limits unless configured.
func DefaultLimits() Limits {
	return Limits{
		Quota:       Quota{SlotItems: 10000, SlotBytes: 64 << 20, Total: 1 << 30},
		Retention:   30 * 24 * time.Hour,
		SweepEvery:  time.Hour,
		PutBurst:    1000,
		PutEvery:    50 * time.Millisecond,
		MaxLinks:    64,
		FailedBurst: 20,
		FailedEvery: 10 * time.Second,
		ContactIdle: 5 * time.Minute,
		OpenTimeout: 60 * time.Second,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.SlotItems, d.SlotItems)
	if l.SlotBytes <= 0 {
		l.SlotBytes = d.SlotBytes
	}
	if l.Total <= 0 {
		l.Total = d.Total
	}
	setD(&l.Retention, d.Retention)
	setD(&l.SweepEvery, d.SweepEvery)
	set(&l.PutBurst, d.PutBurst)
	setD(&l.PutEvery, d.PutEvery)
	set(&l.MaxLinks, d.MaxLinks)
	set(&l.FailedBurst, d.FailedBurst)
	setD(&l.FailedEvery, d.FailedEvery)
	setD(&l.ContactIdle, d.ContactIdle)
	setD(&l.OpenTimeout, d.OpenTimeout)
	return l
}

// ServerOptions configure a Server.
type ServerOptions struct {
	Limits Limits
	Link   *wire.Config // nil: the defaults
	// Logger gets diagnostics: counts, codes and short slot ids, never
	// tokens, secrets or items. nil discards them.
	Logger *slog.Logger
	// OnUnlink is called after the owner unlinked (the mailbox waits to be
	// paired again, with a new secret). Optional.
	OnUnlink func()
}

// Server is the mailbox role: it answers owner and contacts on links
// accepted from its onion service and keeps their items in the store.
type Server struct {
	store    *Store
	lim      Limits
	link     wire.Config
	log      *slog.Logger
	now      func() time.Time
	onUnlink func()

	mu       sync.Mutex
	sessions map[*session]struct{}
	buckets  map[string]*bucket // put buckets by slot ("" the owner's)
	failed   *bucket
	conns    int
}

// NewServer returns a server on store. It starts nothing.
func NewServer(store *Store, o ServerOptions) *Server {
	lim := o.Limits.withDefaults()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var cfg wire.Config
	if o.Link != nil {
		cfg = *o.Link
	}
	return &Server{
		store:    store,
		lim:      lim,
		link:     cfg,
		log:      log,
		now:      time.Now,
		sessions: make(map[*session]struct{}),
		buckets:  make(map[string]*bucket),
		failed:   newBucket(lim.FailedBurst, lim.FailedEvery),
		onUnlink: o.OnUnlink,
	}
}

// Serve accepts connections on ln until it fails or ctx ends, then closes
// the sessions it started and returns. Retention runs meanwhile.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sweepLoop(ctx)
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("mailbox: serve: %w", err)
		}
		s.mu.Lock()
		full := s.conns >= s.lim.MaxLinks
		if !full {
			s.conns++
		}
		s.mu.Unlock()
		if full {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				s.mu.Lock()
				s.conns--
				s.mu.Unlock()
			}()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.lim.SweepEvery)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("applying retention", "err", err)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// Sweep deletes the items older than the retention, telling their senders,
// and returns how many it deleted.
func (s *Server) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	n, err := s.store.Expire(ctx, now.Add(-s.lim.Retention), now)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.log.Info("items expired", "count", n)
		s.wake(func(*session) bool { return true })
	}
	return n, nil
}

// Unlink forgets the owner and everything stored (the mailbox's side of
// "chive mailbox unlink") and ends every session.
func (s *Server) Unlink(ctx context.Context) error {
	if err := s.store.Unlink(ctx); err != nil {
		return err
	}
	s.closeSessions(func(*session) bool { return true })
	return nil
}

func (s *Server) closeSessions(match func(*session) bool) {
	s.mu.Lock()
	var ls []*wire.Link
	for ss := range s.sessions {
		if match(ss) {
			ls = append(ls, ss.l)
		}
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

func (s *Server) wake(match func(*session) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if match(ss) {
			select {
			case ss.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (s *Server) wakeOwner() { s.wake(func(ss *session) bool { return ss.owner }) }
func (s *Server) wakeSlot(slot []byte) {
	s.wake(func(ss *session) bool { return !ss.owner && bytes.Equal(ss.slot, slot) })
}

// allowFailed reports whether another failed open may be answered.
func (s *Server) allowFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed.take(s.now())
}

func (s *Server) allowPut(slot []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[string(slot)]
	if b == nil {
		b = newBucket(s.lim.PutBurst, s.lim.PutEvery)
		s.buckets[string(slot)] = b
	}
	return b.take(s.now())
}

// session is one open client: the owner, or the contact of one slot.
type session struct {
	srv   *Server
	l     *wire.Link
	owner bool
	slot  []byte // the contact's; nil for the owner
	wake  chan struct{}

	mu       sync.Mutex
	inflight map[wire.ID][]Notice // notice frames sent, not yet acknowledged
	pending  map[string]bool      // notices in those frames
}

func noticeKey(n Notice) string { return string(itemKey(n.Slot, n.Dir, n.ID)) }

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	hctx, cancel := context.WithTimeout(ctx, s.lim.OpenTimeout)
	defer cancel()
	cfg := s.link
	l, err := wire.Server(hctx, c, s.store.Key(), &cfg)
	if err != nil {
		s.log.Debug("handshake failed", "err", err)
		return
	}
	defer l.Close()
	m, err := l.Recv(hctx)
	if err != nil {
		return
	}
	open, ok := m.(*wire.MailboxOpen)
	if !ok {
		return
	}
	ss, code := s.open(ctx, l, open)
	if code != wire.MailboxOK {
		if code == wire.MailboxDenied && !s.allowFailed() {
			return // a flood of bad tokens gets no answer
		}
		l.Send(&wire.MailboxOpened{Code: code})
		s.log.Debug("open refused", "code", code)
		return
	}
	if err := l.Send(&wire.MailboxOpened{Code: wire.MailboxOK}); err != nil {
		return
	}
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
	}()
	if ss.owner {
		s.log.Info("owner connected")
	} else {
		s.log.Debug("contact connected", "slot", ShortSlot(ss.slot))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ss.push(ctx)
	}()
	err = ss.read(ctx)
	l.Close()
	<-done
	if ss.owner {
		s.log.Info("owner disconnected", "err", err)
	}
}

// open authenticates the client's first frame.
func (s *Server) open(ctx context.Context, l *wire.Link, m *wire.MailboxOpen) (*session, wire.MailboxCode) {
	ss := &session{srv: s, l: l, wake: make(chan struct{}, 1), inflight: map[wire.ID][]Notice{}, pending: map[string]bool{}}
	now := s.now()
	switch {
	case m.Pair != nil:
		err := s.store.Pair(ctx, m.Pair, l.Peer(), now)
		switch {
		case errors.Is(err, ErrPaired):
			return nil, wire.MailboxPaired
		case err != nil:
			return nil, wire.MailboxDenied
		}
		s.log.Info("paired with an owner")
		ss.owner = true
	case m.Token != nil:
		slot := SlotOf(m.Token)
		ok, err := s.store.TouchSlot(ctx, slot, now)
		if err != nil || !ok {
			return nil, wire.MailboxDenied
		}
		ss.slot = slot
	default:
		owner, err := s.store.Owner(ctx)
		switch {
		case err != nil:
			return nil, wire.MailboxDenied
		case owner == nil:
			return nil, wire.MailboxNotPaired
		case subtle.ConstantTimeCompare(owner, l.Peer()) != 1:
			return nil, wire.MailboxDenied
		}
		s.store.TouchOwner(ctx, now)
		ss.owner = true
	}
	return ss, wire.MailboxOK
}

// read handles the client's frames until the link ends.
func (ss *session) read(ctx context.Context) error {
	s := ss.srv
	for {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if !ss.owner {
			rctx, cancel = context.WithTimeout(ctx, s.lim.ContactIdle)
		}
		m, err := ss.l.Recv(rctx)
		cancel()
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *wire.MailboxPut:
			err = ss.put(ctx, m)
		case *wire.MailboxTaken:
			err = ss.taken(ctx, m)
		case *wire.Ack:
			err = ss.noticeAcked(ctx, m.ID)
		case *wire.MailboxSlot:
			err = ss.slotOp(ctx, m)
		case *wire.MailboxUnlink:
			if !ss.owner {
				return errProtocol
			}
			if err := s.store.Unlink(ctx); err != nil {
				return err
			}
			s.log.Info("the owner unlinked; waiting to be paired again")
			ss.l.Send(&wire.Ack{ID: m.ID})
			s.closeSessions(func(*session) bool { return true })
			if s.onUnlink != nil {
				s.onUnlink()
			}
			return nil
		default:
			err = errProtocol
		}
		if err != nil {
			return err
		}
	}
}

var errProtocol = errors.New("mailbox: frame not allowed here")

func (ss *session) put(ctx context.Context, m *wire.MailboxPut) error {
	s := ss.srv
	slot, dir := ss.slot, ToOwner
	if ss.owner {
		slot, dir = m.Slot, ToContact
		if slot == nil {
			return errProtocol
		}
	} else if m.Slot != nil {
		return errProtocol
	}
	refuse := func(code wire.MailboxCode) error {
		return ss.l.Post(&wire.MailboxRefused{ID: m.ID, Code: code})
	}
	if !s.allowPut(ss.slot) {
		return refuse(wire.MailboxRateLimited)
	}
	if _, _, err := Unpad(m.Item, m.ID); err != nil {
		return refuse(wire.MailboxBadItem)
	}
	code, err := s.store.Put(ctx, slot, dir, m.ID, m.Item, s.lim.Quota, s.now())
	if err != nil {
		return err
	}
	if code != wire.MailboxOK {
		return refuse(code)
	}
	if ss.owner {
		s.wakeSlot(slot)
	} else {
		s.wakeOwner()
	}
	return ss.l.Post(&wire.Ack{ID: m.ID})
}

func (ss *session) taken(ctx context.Context, m *wire.MailboxTaken) error {
	s := ss.srv
	slot, dir := ss.slot, ToContact
	if ss.owner {
		slot, dir = m.Slot, ToOwner
		if slot == nil {
			return errProtocol
		}
	} else if m.Slot != nil {
		return errProtocol
	}
	n, err := s.store.Take(ctx, slot, dir, m.IDs, s.now())
	if err != nil || n == 0 {
		return err
	}
	if ss.owner {
		s.wakeSlot(slot)
	} else {
		s.wakeOwner()
	}
	return nil
}

func (ss *session) noticeAcked(ctx context.Context, id wire.ID) error {
	ss.mu.Lock()
	ns, ok := ss.inflight[id]
	delete(ss.inflight, id)
	for _, n := range ns {
		delete(ss.pending, noticeKey(n))
	}
	ss.mu.Unlock()
	if !ok {
		return nil // an ack of something else, or repeated
	}
	if err := ss.srv.store.ClearNotices(ctx, ns); err != nil {
		return err
	}
	select { // there may be more than one frame held
	case ss.wake <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) slotOp(ctx context.Context, m *wire.MailboxSlot) error {
	s := ss.srv
	if !ss.owner {
		return errProtocol
	}
	var err error
	if m.Remove {
		err = s.store.RemoveSlot(ctx, m.Slot)
		s.closeSessions(func(o *session) bool { return !o.owner && bytes.Equal(o.slot, m.Slot) })
	} else {
		err = s.store.AddSlot(ctx, m.Slot, s.now())
	}
	if err != nil {
		return err
	}
	return ss.l.Post(&wire.Ack{ID: m.ID})
}

// push sends the client what is stored for it, and then what arrives,
// until the link ends. Items go once per session, oldest first; notices
// until acknowledged.
func (ss *session) push(ctx context.Context) {
	s := ss.srv
	itemDir, noticeDir, slot := ToContact, ToOwner, ss.slot
	if ss.owner {
		itemDir, noticeDir, slot = ToOwner, ToContact, nil
	}
	var cursor int64
	for {
		for {
			items, err := s.store.Items(ctx, slot, itemDir, cursor, 64)
			if err != nil {
				s.log.Warn("reading items", "err", err)
				ss.l.Close()
				return
			}
			for _, it := range items {
				m := &wire.MailboxItem{ID: it.ID, Item: it.Data}
				if ss.owner {
					m.Slot = it.Slot
				}
				if ss.l.Send(m) != nil {
					return
				}
				cursor = it.Seq
			}
			if len(items) < 64 {
				break
			}
		}
		if ss.pushNotices(ctx, slot, noticeDir) != nil {
			return
		}
		select {
		case <-ss.wake:
		case <-ss.l.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

func (ss *session) pushNotices(ctx context.Context, slot []byte, dir Direction) error {
	ns, err := ss.srv.store.Notices(ctx, slot, dir, 4*wire.MaxMailboxIDs)
	if err != nil {
		return err
	}
	// Group by slot, at most MaxMailboxIDs of each kind per frame.
	type batch struct {
		slot []byte
		ns   []Notice
		m    wire.MailboxNotice
	}
	var batches []*batch
	open := map[string]*batch{}
	ss.mu.Lock()
	for _, n := range ns {
		k := noticeKey(n)
		if ss.pending[k] {
			continue
		}
		b := open[string(n.Slot)]
		if b == nil || len(b.m.Delivered) == wire.MaxMailboxIDs || len(b.m.Expired) == wire.MaxMailboxIDs {
			b = &batch{slot: n.Slot, m: wire.MailboxNotice{ID: wire.NewID()}}
			if ss.owner {
				b.m.Slot = n.Slot
			}
			open[string(n.Slot)] = b
			batches = append(batches, b)
		}
		if n.Expired {
			b.m.Expired = append(b.m.Expired, n.ID)
		} else {
			b.m.Delivered = append(b.m.Delivered, n.ID)
		}
		b.ns = append(b.ns, n)
		ss.pending[k] = true
	}
	for _, b := range batches {
		ss.inflight[b.m.ID] = b.ns
	}
	ss.mu.Unlock()
	for _, b := range batches {
		if err := ss.l.Send(&b.m); err != nil {
			return err
		}
	}
	return nil
}

// bucket is a token bucket: burst tokens, one more every every.
type bucket struct {
	tokens float64
	burst  float64
	every  time.Duration
	last   time.Time
}

func newBucket(burst int, every time.Duration) *bucket {
	return &bucket{tokens: float64(burst), burst: float64(burst), every: every}
}

func (b *bucket) take(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.every))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
