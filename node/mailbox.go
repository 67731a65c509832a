package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/mailbox"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// This file is issue 16's part of the node: a chive mailbox (package
// mailbox) holds messages for us while we are offline and carries ours
// while we are. Three kinds of sessions, all on ordinary links:
//
//   - ours with our own mailbox, kept up while we run (mailbox_own.go):
//     we take what contacts left for us, learn which of our items they
//     took, and hand it what unreachable contacts wait for;
//   - a contact's session with their mailbox, opened when needed with a
//     fresh link key and their token (mailbox_peer.go): we leave what they
//     wait for, take what they handed it for us, learn what they took;
//   - the scheduler (mailboxLoop) decides when.
//
// Whatever path a frame takes, the receiver handles it exactly as if it
// came on a direct link (dedup by id, per-contact lock), and each path
// carries a contact's outbox in order from its first unacknowledged item,
// so messages are shown once and in order.

// MailboxStatus is our mailbox as MailboxStatus and MailboxEvent show it.
type MailboxStatus struct {
	Linked    bool             `json:"linked"`
	Address   string           `json:"address,omitempty"` // the mailbox's onion address
	LinkedAt  time.Time        `json:"linked_at,omitzero"`
	Connected bool             `json:"connected"`          // a session with it is up now
	LastSeen  time.Time        `json:"last_seen,omitzero"` // the last session with it
	Error     string           `json:"error,omitempty"`    // why we cannot use it
	Contacts  []MailboxContact `json:"contacts,omitempty"`
}

// MailboxContact is one accepted contact's mailbox state.
type MailboxContact struct {
	Contact string `json:"contact"`
	Address string `json:"address"`
	// Slot is the contact's slot in our mailbox, as "chive mailbox status"
	// on the mailbox shows it (the mailbox knows no names).
	Slot string `json:"slot,omitempty"`
	// Told: the contact has been sent our mailbox's address and its token.
	Told bool `json:"told"`
	// HasMailbox: they told us about theirs.
	HasMailbox bool `json:"has_mailbox"`
	// Stored is how many of our items for them a mailbox holds.
	Stored int `json:"stored"`
}

// mailboxTuning holds the mailbox timers; tests shorten them.
type mailboxTuning struct {
	// grace: an item waits this long for a direct link before it is
	// handed to a mailbox (at once after a failed dial).
	grace time.Duration
	// poll: a contact's mailbox is visited this often while the contact is
	// not linked (to collect what they left and learn what they took).
	poll time.Duration
	// linger: a session with a contact's mailbox closes when idle this long.
	linger time.Duration
	// window: puts in flight per session.
	window int
	// retryMin/Max: backoff of mailbox connections that failed.
	retryMin, retryMax time.Duration
	// flush bounds the last hand-off when the node closes.
	flush time.Duration
}

func defaultMailboxTuning() mailboxTuning {
	return mailboxTuning{
		grace:    15 * time.Second,
		poll:     10 * time.Minute,
		linger:   30 * time.Second,
		window:   32,
		retryMin: 5 * time.Second,
		retryMax: 10 * time.Minute,
		flush:    5 * time.Second,
	}
}

// kindMailboxInfo is the outbox kind of a MailboxInfo message: a Message
// frame with no message row.
const kindMailboxInfo storage.OutboxKind = "mailbox-info"

// mboxState is the node's mailbox runtime state.
type mboxState struct {
	wake   chan struct{} // cap 1: run the scheduler
	linkMu sync.Mutex    // serializes link and unlink

	// quit is closed when the node closes: consumers report what they took
	// and stop taking more.
	quit     chan struct{}
	quitOnce sync.Once

	mu        sync.Mutex
	own       *ownRun
	peers     map[int64]*peerRun  // running sessions with contacts' mailboxes
	lastPoll  map[int64]time.Time // last session with a contact's mailbox
	failUntil map[int64]time.Time // no new session before
	failures  map[int64]int
	consumers map[chan struct{}]struct{} // done channels of running consumers
}

func newMboxState() *mboxState {
	return &mboxState{
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		peers:     map[int64]*peerRun{},
		lastPoll:  map[int64]time.Time{},
		failUntil: map[int64]time.Time{},
		failures:  map[int64]int{},
		consumers: map[chan struct{}]struct{}{},
	}
}

// consume runs a session's consumer f, counted so that the node's close
// can wait for it to report what it took.
func (n *Node) consume(f func()) {
	done := make(chan struct{})
	n.mbox.mu.Lock()
	n.mbox.consumers[done] = struct{}{}
	n.mbox.mu.Unlock()
	defer func() {
		n.mbox.mu.Lock()
		delete(n.mbox.consumers, done)
		n.mbox.mu.Unlock()
		close(done)
	}()
	f()
}

// mailboxWake runs the scheduler soon.
func (n *Node) mailboxWake() {
	select {
	case n.mbox.wake <- struct{}{}:
	default:
	}
}

// startMailboxLocked starts the scheduler (n.mu held, from Start).
func (n *Node) startMailboxLocked() {
	n.spawnLocked(n.mailboxLoop)
}

// mailboxLoop runs the scheduler: at start, on the node's own events
// (something queued, a contact gone offline, the network back), and every
// grace period.
func (n *Node) mailboxLoop() {
	if m, err := n.db.Mailbox(n.ctx); err == nil {
		n.startOwn(onion.Address(m.Address), nil)
	}
	events, err := n.events.subscribe(n.ctx)
	if err != nil {
		return
	}
	tick := time.NewTicker(n.tune.mbox.grace)
	defer tick.Stop()
	var last time.Time
	debounce := time.NewTimer(0)
	pending := true
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return
			}
			switch e := e.(type) {
			case ReachableEvent:
				if !e.Reachable {
					continue
				}
				// The network is (back) up: visit every contact's mailbox.
				n.mbox.mu.Lock()
				clear(n.mbox.lastPoll)
				clear(n.mbox.failUntil)
				n.mbox.mu.Unlock()
			case MessageEvent, PresenceEvent, ContactEvent:
			default:
				continue
			}
		case <-n.mbox.wake:
		case <-tick.C:
		case <-debounce.C:
		case <-n.ctx.Done():
			return
		}
		pending = true
		// At most a few rounds a second, however many events arrive.
		if wait := 250*time.Millisecond - time.Since(last); wait > 0 {
			debounce.Reset(wait)
			continue
		}
		if pending {
			pending = false
			last = time.Now()
			n.mailboxRound()
		}
	}
}

// mailboxRound hands work to the sessions that should do it, starting
// sessions with contacts' mailboxes as needed.
func (n *Node) mailboxRound() {
	n.mbox.mu.Lock()
	if o := n.mbox.own; o != nil {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	n.mbox.mu.Unlock()

	cms, err := n.db.ContactMailboxes(n.ctx)
	if err != nil {
		return
	}
	now := time.Now()
	for _, cm := range cms {
		if len(cm.Peer) != 64 {
			continue
		}
		c, err := n.book.LookupID(n.ctx, cm.ContactID)
		if err != nil || c.Removed || c.State != contacts.Accepted {
			continue
		}
		n.mbox.mu.Lock()
		run := n.mbox.peers[c.ID]
		if run != nil {
			select {
			case run.wake <- struct{}{}:
			default:
			}
		}
		blocked := now.Before(n.mbox.failUntil[c.ID])
		pollDue := now.Sub(n.mbox.lastPoll[c.ID]) >= n.tune.mbox.poll
		n.mbox.mu.Unlock()
		if run != nil || blocked || n.linked(c) {
			continue
		}
		if pollDue || n.hasDueWork(c, false) {
			n.startPeer(c, cm.Peer)
		}
	}
}

// linked reports whether a direct link to c is up.
func (n *Node) linked(c contacts.Contact) bool { return n.currentLink(n.peer(c.Address)) != nil }

// unreachable reports whether c looks offline: no link, and a dial failed
// since the last one.
func (n *Node) unreachable(c contacts.Contact) (noLink, failed bool) {
	p := n.peer(c.Address)
	n.mu.Lock()
	defer n.mu.Unlock()
	return p.link == nil, p.failures > 0
}

// hasDueWork reports whether c's outbox has an item a mailbox (ours if
// own, else theirs) does not hold yet and that is due for one.
func (n *Node) hasDueWork(c contacts.Contact, own bool) bool {
	noLink, failed := n.unreachable(c)
	if !noLink {
		return false
	}
	items, err := n.db.Outbox(n.ctx, c.ID)
	if err != nil || len(items) == 0 {
		return false
	}
	marks, err := n.db.StoredMarks(n.ctx, c.ID)
	if err != nil {
		return false
	}
	for _, it := range items {
		if !relayable(it.Frame) {
			return false
		}
		m := marks[it.ID]
		if (own && m.Own.IsZero()) || (!own && m.Peer.IsZero()) {
			return failed || time.Since(it.Created) >= n.tune.mbox.grace
		}
	}
	return false
}

// relayable reports whether a frame may travel through a mailbox: a
// Message or a Receipt (never a request or an acceptance).
func relayable(frame []byte) bool {
	return len(frame) > 5 && (wire.Type(frame[5]) == wire.TypeMessage || wire.Type(frame[5]) == wire.TypeReceipt)
}

// dialMailbox opens a link to a mailbox, proving key (ours, or a fresh one
// for a contact's mailbox).
func (n *Node) dialMailbox(ctx context.Context, addr onion.Address, key ed25519.PrivateKey) (*wire.Link, error) {
	tr, err := n.waitTransport(ctx)
	if err != nil {
		return nil, err
	}
	pub, err := addr.PublicKey()
	if err != nil {
		return nil, err
	}
	// Mailbox dials share the cap on dials (dialer.go): a profile whose
	// contacts have mailboxes would otherwise dial them all at once. A
	// mailbox is always on: its dial goes with the contacts likely to
	// answer, ours (dialed with our own key) first.
	prio := dialPrio{active: true}
	if key.Equal(n.key) {
		prio.seen = time.Now()
	}
	release, err := n.dials.acquire(ctx, prio)
	if err != nil {
		return nil, err
	}
	defer release()
	dctx, cancel := context.WithTimeout(ctx, n.tune.dialTimeout)
	defer cancel()
	conn, err := tr.Dial(dctx, addr)
	if err != nil {
		return nil, err
	}
	return wire.Client(dctx, conn, key, pub, &n.tune.link)
}

// putItems leaves c's outbox in a mailbox session, in order from the first
// item it does not hold, stopping at the first the mailbox refuses (or
// that may not travel through a mailbox), so that what a mailbox holds is
// always a prefix of what is not yet delivered. slot names c's slot in
// our mailbox (own), nil in theirs. Items younger than the grace period
// wait unless a dial to c failed (or force).
func (n *Node) putItems(ctx context.Context, sess *mailbox.Session, slot []byte, c contacts.Contact, own, force bool) error {
	items, err := n.db.Outbox(ctx, c.ID)
	if err != nil || len(items) == 0 {
		return err
	}
	marks, err := n.db.StoredMarks(ctx, c.ID)
	if err != nil {
		return err
	}
	_, failed := n.unreachable(c)
	type flight struct {
		it storage.OutboxItem
		ch <-chan error
	}
	var q []flight
	var stop error
	drain := func() {
		f := q[0]
		q = q[1:]
		var err error
		select {
		case err = <-f.ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			if stop == nil {
				stop = err
			}
			return
		}
		n.markStored(c, f.it, own)
	}
	for _, it := range items {
		if stop != nil || !relayable(it.Frame) {
			break
		}
		m := marks[it.ID]
		if (own && !m.Own.IsZero()) || (!own && !m.Peer.IsZero()) {
			continue
		}
		if !force && !failed && time.Since(it.Created) < n.tune.mbox.grace {
			break
		}
		ch, err := sess.Put(slot, wire.ID(it.ID), it.Frame)
		if err != nil {
			stop = err
			break
		}
		q = append(q, flight{it, ch})
		if len(q) >= n.tune.mbox.window {
			drain()
		}
	}
	for len(q) > 0 {
		drain()
	}
	return stop
}

// markStored records that a mailbox holds it; a message becomes "stored".
func (n *Node) markStored(c contacts.Contact, it storage.OutboxItem, own bool) {
	now := time.Now()
	var stored bool
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		var err error
		stored, err = tx.MarkStored(c.ID, it.ID, own, now)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return // delivered meanwhile
	}
	if err != nil {
		n.log.Warn("marking stored", "err", err)
		return
	}
	if stored && it.Kind == storage.KindMessage {
		n.events.publish(MessageStateEvent{ID: it.ID.String(), Address: string(c.Address), State: Stored, At: now})
	}
}

// handleRelayed handles a frame a mailbox (session sess) carried from
// contact cid, as if it had come on a direct link, except that it is
// acknowledged to the mailbox (Taken) instead of the contact: take says
// whether to. A frame of a contact that is not accepted (removed, blocked)
// is taken and dropped; one that cannot be read now (no session, or one
// that does not decrypt, as onMessage) stays in the mailbox, as it would
// stay in the sender's outbox. An error ends the session.
func (n *Node) handleRelayed(sess *mailbox.Session, cid int64, m wire.Msg) (take bool, err error) {
	c, err := n.book.LookupID(n.ctx, cid)
	if err != nil || c.Removed || c.State != contacts.Accepted {
		return true, nil
	}
	pub, err := c.Address.PublicKey()
	if err != nil {
		return true, nil
	}
	p := n.peer(c.Address)
	// The contact's budget and unread quota hold whatever path its frames
	// take (guard.go): over the quota, the items wait in the mailbox.
	if _, err := n.admit(p, sess, m); err != nil {
		return false, err
	}
	switch m := m.(type) {
	case *wire.Message:
		p.mu.Lock()
		msg, changed, conv, err := n.receiveLocked(c, pub, m)
		if err == nil {
			// Under p.mu, as onMessage: events in stored order.
			n.receivedLocked(c, msg, conv) // issue 17: replies, edits... (convo.go)
			if msg != nil {
				n.afterReceive(c, msg) // a file offer left at the mailbox
			}
		}
		p.mu.Unlock()
		switch {
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, errUndecryptable):
			return false, nil
		case errors.Is(err, ErrSessionMismatch):
			n.warnMismatch(p, c)
			return false, nil
		case err != nil:
			return false, err
		}
		n.afterConvo(c, conv)
		n.groupAfterMessage(n.ctx) // an invitation it carried (issue 18)
		if changed {
			if full, err := n.book.LookupID(n.ctx, c.ID); err == nil {
				n.events.publish(ContactEvent{Contact: n.apiContact(full)})
			}
		}
	case *wire.Receipt:
		return true, n.applyReceipt(c, m)
	}
	return true, nil
}

// applyReceipt is onReceipt without the link's ack.
func (n *Node) applyReceipt(c contacts.Contact, m *wire.Receipt) error {
	ids := make([]storage.MessageID, len(m.IDs))
	for i, id := range m.IDs {
		ids[i] = storage.MessageID(id)
	}
	status, state := storage.StatusDelivered, Delivered
	if m.Read {
		status, state = storage.StatusRead, Read
	}
	now := time.Now()
	var changed []storage.MessageID
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		dup, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), now)
		if err != nil || dup {
			return err
		}
		changed, err = tx.ApplyReceipt(c.ID, ids, status, now)
		return err
	})
	if err != nil {
		return err
	}
	for _, id := range changed {
		n.events.publish(MessageStateEvent{ID: id.String(), Address: string(c.Address), State: state, At: now})
	}
	return nil
}

// applyNotice applies what a mailbox says became of our items for contact
// cid: taken ones are delivered (as by the contact's ack), expired ones
// failed (they stay in the outbox for a direct delivery).
func (n *Node) applyNotice(cid int64, nt mailbox.ReceivedNotice) error {
	c, err := n.book.LookupID(n.ctx, cid)
	if err != nil {
		return nil // gone: nothing to apply
	}
	now := time.Now()
	for _, id := range nt.Delivered {
		it, err := n.db.Acknowledge(n.ctx, cid, storage.MessageID(id), now)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if it.Kind == storage.KindMessage {
			n.events.publish(MessageStateEvent{ID: it.ID.String(), Address: string(c.Address), State: Delivered, At: now})
		}
	}
	for _, id := range nt.Expired {
		var expired bool
		err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
			var err error
			expired, err = tx.MarkExpired(cid, storage.MessageID(id))
			return err
		})
		if err != nil {
			return err
		}
		if expired {
			n.events.publish(MessageStateEvent{ID: storage.MessageID(id).String(), Address: string(c.Address), State: Failed, At: now,
				Error: "the mailbox deleted it: " + c.Display() + " did not collect it before the mailbox's retention ran out (it is still sent if they come online; retry hands it to the mailbox again)"})
		}
	}
	return nil
}

// mailboxRetry: a message a mailbox expired is handed to mailboxes again.
func (n *Node) mailboxRetry(ctx context.Context, c contacts.Contact, it storage.OutboxItem) {
	if err := n.db.Update(ctx, func(tx *storage.Tx) error { return tx.ClearStored(it.ID) }); err != nil {
		n.log.Warn("retry: clearing mailbox marks", "err", err)
	}
	n.mailboxWake()
}

// applyMailboxInfo records the mailbox a contact told us about (inside the
// transaction that stores the message carrying it). p.mu is held.
func (n *Node) applyMailboxInfo(tx *storage.Tx, c contacts.Contact, info *wire.MailboxInfo) error {
	var peer []byte
	if len(info.Key) != 0 {
		peer = append(append([]byte{}, info.Key...), info.Token...)
	}
	cur, err := n.db.ContactMailbox(n.ctx, c.ID)
	if err != nil {
		return err
	}
	if bytes.Equal(cur.Peer, peer) {
		return nil
	}
	if err := tx.SetPeerMailbox(c.ID, peer); err != nil {
		return err
	}
	// After the commit: visit it soon.
	time.AfterFunc(100*time.Millisecond, n.mailboxWake)
	return nil
}

// queueContentLocked encrypts a content that is not a chat message for c
// and queues it with kind, running extra in the same transaction. p.mu
// must be held (a ratchet step).
func (n *Node) queueContentLocked(ctx context.Context, c contacts.Contact, content wire.Content, kind storage.OutboxKind, extra func(*storage.Tx) error) error {
	sess, err := n.db.Session(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	st, err := ratchet.UnmarshalState(sess)
	if err != nil {
		return err
	}
	now := time.Now()
	content.Time = now.UnixMilli()
	pt, err := wire.MarshalContent(content)
	if err != nil {
		return err
	}
	mid := wire.NewID()
	next, ct, err := st.Encrypt(pt, mid[:], now)
	if err != nil {
		return err
	}
	nextBytes, err := next.MarshalBinary()
	if err != nil {
		return err
	}
	frame, err := wire.Marshal(&wire.Message{ID: mid, Ciphertext: ct})
	if err != nil {
		return err
	}
	var it storage.OutboxItem
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutSession(c.ID, nextBytes, now); err != nil {
			return err
		}
		var err error
		it, err = tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(mid), ContactID: c.ID, Kind: kind, Frame: frame, Created: now})
		if err != nil {
			return err
		}
		return extra(tx)
	})
	if err != nil {
		return err
	}
	n.peer(c.Address).enqueueLocked(it)
	return nil
}

// tellMailbox sends c our mailbox info (key and c's token; both nil: we
// have none) unless they have it already.
func (n *Node) tellMailbox(ctx context.Context, c contacts.Contact, key, token []byte) error {
	info := append(append([]byte{}, key...), token...)
	p := n.peer(c.Address)
	p.mu.Lock()
	cm, err := n.db.ContactMailbox(ctx, c.ID)
	if err == nil && cm.InfoSent != nil && bytes.Equal(cm.InfoSent, info) {
		p.mu.Unlock()
		return nil
	}
	if err == nil && cm.InfoSent == nil && len(info) == 0 {
		p.mu.Unlock()
		return nil // never told of one: nothing to withdraw
	}
	if err == nil {
		err = n.queueContentLocked(ctx, c, wire.Content{Mailbox: &wire.MailboxInfo{Key: key, Token: token}}, kindMailboxInfo,
			func(tx *storage.Tx) error { return tx.SetMailboxInfoSent(c.ID, info) })
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	n.startDelivery(p, c.ID)
	return nil
}

// MailboxLink implements API.
func (n *Node) MailboxLink(ctx context.Context, uri string) (MailboxStatus, error) {
	if err := n.checkOpen(); err != nil {
		return MailboxStatus{}, err
	}
	addr, secret, err := mailbox.ParsePairingLink(uri)
	if err != nil {
		return MailboxStatus{}, fmt.Errorf("node: link mailbox: %w: %w", ErrNotPairingLink, err)
	}
	if addr == n.addr {
		return MailboxStatus{}, fmt.Errorf("node: link mailbox: %w: that is your own address", ErrNotPairingLink)
	}
	n.mbox.linkMu.Lock()
	defer n.mbox.linkMu.Unlock()
	if m, err := n.db.Mailbox(ctx); err == nil {
		return MailboxStatus{}, fmt.Errorf("node: link mailbox: %w (%s); unlink it first", ErrMailboxLinked, onion.Address(m.Address).Short())
	}
	l, err := n.dialMailbox(ctx, addr, n.key)
	if err != nil {
		return MailboxStatus{}, fmt.Errorf("node: link mailbox: reach %s: %w", addr.Short(), err)
	}
	sess, err := mailbox.Pair(ctx, l, secret)
	var ref *mailbox.RefusedError
	if errors.As(err, &ref) {
		return MailboxStatus{}, fmt.Errorf("node: link mailbox: %w: %s (ask it for a new pairing link: chive mailbox status on it)", ErrMailboxRefused, ref.Code)
	}
	if err != nil {
		return MailboxStatus{}, fmt.Errorf("node: link mailbox: %w", err)
	}
	now := time.Now()
	if err := n.db.Update(ctx, func(tx *storage.Tx) error {
		return tx.SetMailbox(storage.MailboxLink{Address: string(addr), Linked: now, LastSeen: now})
	}); err != nil {
		sess.Close()
		return MailboxStatus{}, fmt.Errorf("node: link mailbox: %w", err)
	}
	n.log.Info("mailbox linked", "mailbox", addr.Short())
	n.startOwn(addr, sess)
	st, err := n.MailboxStatus(ctx)
	if err == nil {
		n.events.publish(MailboxEvent{Mailbox: st})
	}
	return st, err
}

// MailboxUnlink implements API.
func (n *Node) MailboxUnlink(ctx context.Context, force bool) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	n.mbox.linkMu.Lock()
	defer n.mbox.linkMu.Unlock()
	m, err := n.db.Mailbox(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("node: unlink mailbox: %w", ErrNoMailbox)
	}
	var told error
	switch {
	case errors.Is(err, storage.ErrUnreadable):
		// Its address is damaged: it cannot be told, only forgotten.
		told = errors.New("its address could not be read")
	case err != nil:
		return fmt.Errorf("node: unlink mailbox: %w", err)
	default:
		told = n.tellUnlink(ctx, onion.Address(m.Address))
	}
	addr := onion.Address(m.Address)
	if told != nil && !force {
		return fmt.Errorf("node: unlink mailbox: %w: %w (it keeps what it holds; --force forgets it anyway)", ErrMailboxUnreachable, told)
	}
	n.stopOwn()
	if err := n.db.Update(ctx, func(tx *storage.Tx) error { return tx.DeleteMailbox() }); err != nil {
		return fmt.Errorf("node: unlink mailbox: %w", err)
	}
	n.log.Info("mailbox unlinked", "mailbox", addr.Short(), "told", told == nil)
	// Contacts we told about it: we have none now.
	cms, err := n.db.ContactMailboxes(ctx)
	if err == nil {
		for _, cm := range cms {
			if len(cm.InfoSent) == 0 {
				continue
			}
			c, err := n.book.LookupID(ctx, cm.ContactID)
			if err != nil || c.Removed || c.State != contacts.Accepted {
				continue
			}
			if err := n.tellMailbox(ctx, c, nil, nil); err != nil {
				n.log.Warn("telling a contact we have no mailbox", "peer", c.Address.Short(), "err", err)
			}
		}
	}
	if st, err := n.MailboxStatus(ctx); err == nil {
		n.events.publish(MailboxEvent{Mailbox: st})
	}
	return nil
}

// tellUnlink asks the mailbox to forget us: on the session that is up, or
// on a new one. A mailbox that does not know us any more counts as told.
func (n *Node) tellUnlink(ctx context.Context, addr onion.Address) error {
	ctx, cancel := context.WithTimeout(ctx, n.tune.dialTimeout)
	defer cancel()
	n.mbox.mu.Lock()
	var sess *mailbox.Session
	if n.mbox.own != nil {
		sess = n.mbox.own.sess
	}
	n.mbox.mu.Unlock()
	if sess != nil {
		if err := sess.Unlink(ctx); err == nil {
			return nil
		}
	}
	l, err := n.dialMailbox(ctx, addr, n.key)
	if err != nil {
		return err
	}
	sess, err = mailbox.OpenOwner(ctx, l)
	if mailbox.Refused(err, wire.MailboxNotPaired) || mailbox.Refused(err, wire.MailboxDenied) {
		return nil
	}
	if err != nil {
		return err
	}
	defer sess.Close()
	return sess.Unlink(ctx)
}

// MailboxStatus implements API.
func (n *Node) MailboxStatus(ctx context.Context) (MailboxStatus, error) {
	if err := n.checkOpen(); err != nil {
		return MailboxStatus{}, err
	}
	var st MailboxStatus
	m, err := n.db.Mailbox(ctx)
	switch {
	case err == nil:
		st.Linked, st.Address, st.LinkedAt, st.LastSeen = true, m.Address, m.Linked, m.LastSeen
		n.mbox.mu.Lock()
		if o := n.mbox.own; o != nil {
			st.Connected = o.sess != nil
			st.Error = o.err
		}
		n.mbox.mu.Unlock()
	case errors.Is(err, storage.ErrUnreadable):
		// Counted as damaged; linking again replaces it.
		st.Error = "the linked mailbox's address could not be read (chive mailbox link replaces it; chive doctor --repair forgets it)"
	case !errors.Is(err, storage.ErrNotFound):
		return MailboxStatus{}, err
	}
	cms, err := n.db.ContactMailboxes(ctx)
	if err != nil {
		return MailboxStatus{}, err
	}
	byID := map[int64]storage.ContactMailbox{}
	for _, cm := range cms {
		byID[cm.ContactID] = cm
	}
	cs, err := n.book.List(ctx)
	if err != nil {
		return MailboxStatus{}, err
	}
	for _, c := range cs {
		if c.State != contacts.Accepted {
			continue
		}
		cm := byID[c.ID]
		mc := MailboxContact{Contact: c.Display(), Address: string(c.Address), Told: len(cm.InfoSent) > 0 && st.Linked,
			HasMailbox: len(cm.Peer) == 64}
		if cm.Token != nil && st.Linked {
			mc.Slot = mailbox.ShortSlot(mailbox.SlotOf(cm.Token))
		}
		if marks, err := n.db.StoredMarks(ctx, c.ID); err == nil {
			mc.Stored = len(marks)
		}
		st.Contacts = append(st.Contacts, mc)
	}
	return st, nil
}

func (n *Node) publishMailbox() {
	if st, err := n.MailboxStatus(n.ctx); err == nil {
		n.events.publish(MailboxEvent{Mailbox: st})
	}
}
