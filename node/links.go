package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// peer is the node's runtime state for one remote onion: a contact, or a
// stranger with a link up. Fields under "n.mu" are guarded by the node's
// mutex; the rest by peer.mu.
type peer struct {
	addr onion.Address
	pub  ed25519.PublicKey

	// guarded by n.mu
	link      *wire.Link // the one link in use, nil if none
	stranger  bool       // link counted in n.strangers
	dialing   bool       // a dialLoop runs
	reconnect int        // dial attempts left even without work (see announce)
	writing   *wire.Link // link a writeLoop runs for
	failures  int        // consecutive failed dials, for backoff
	nextDial  time.Time
	linkUp    time.Time     // when link came up
	linkUsed  bool          // the peer sent a frame on link
	wakeDial  chan struct{} // cap 1: redial now (backoff reset)
	typingIn  time.Time     // last typing event published
	typingOut time.Time     // last typing frame sent

	// mu serializes everything that touches this contact's ratchet session
	// or outbox order: encrypt+queue, decrypt+receive, queueing frames, and
	// a writer loading the outbox. Never held across network I/O.
	mu      sync.Mutex
	writer  *wire.Link           // link whose writer receives new items
	pending []storage.OutboxItem // queued since the writer loaded the outbox
	wake    chan struct{}        // the current writer's wake-up, cap 1
}

// peerLocked returns the peer for addr, creating it. n.mu must be held.
func (n *Node) peerLocked(addr onion.Address) *peer {
	p := n.peers[addr]
	if p == nil {
		// addr was parsed or derived from a key, so it has one. Were it
		// not, pub stays nil and every dial and bundle check fails on it.
		pub, _ := addr.PublicKey()
		p = &peer{addr: addr, pub: pub, wakeDial: make(chan struct{}, 1)}
		n.peers[addr] = p
	}
	return p
}

func (n *Node) peer(addr onion.Address) *peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peerLocked(addr)
}

// dialerAddr is the address of the side that dialed l.
func (n *Node) dialerAddr(l *wire.Link, peerAddr onion.Address) onion.Address {
	if l.Dialed() {
		return n.addr
	}
	return peerAddr
}

// keepNew decides between two links to the same peer. Both sides decide
// alike: of links in opposite directions, keep the one dialed by the
// lexicographically smaller address; of links in the same direction the newer
// one wins (the peer redialed, so the old one is dead or dying).
func (n *Node) keepNew(old, l *wire.Link, peerAddr onion.Address) bool {
	if old.Dialed() == l.Dialed() {
		return true
	}
	return n.dialerAddr(l, peerAddr) < n.dialerAddr(old, peerAddr)
}

// adopt takes an authenticated link into use, or closes it if a better link
// to the same peer exists.
func (n *Node) adopt(l *wire.Link) {
	addr := onion.AddressFromPublicKey(l.Peer())
	if addr == n.addr {
		l.Close()
		return
	}
	// Strangers are limited; contacts (in any state but blocked) are not.
	c, err := n.book.Lookup(n.ctx, addr)
	isContact := err == nil && !c.Removed && c.State != contacts.Blocked
	known := err == nil && !c.Removed

	n.mu.Lock()
	p := n.peerLocked(addr)
	old := p.link
	if old != nil && !n.keepNew(old, l, addr) {
		n.mu.Unlock()
		l.Close()
		return
	}
	if !isContact && old == nil && n.strangers >= n.tune.maxStrangers {
		n.mu.Unlock()
		l.Close()
		return
	}
	if old == nil && !isContact {
		n.strangers++
		p.stranger = true
	}
	p.link = l
	p.linkUp, p.linkUsed = time.Now(), false
	if !l.Dialed() {
		// The peer connected to us: it is online, forget the backoff. A link
		// we dialed resets it only once the peer sends something (readLoop),
		// so a peer that closes our links at once is not redialed in a loop.
		p.failures = 0
	}
	p.nextDial = time.Time{}
	p.reconnect = 0
	ok := n.spawnLocked(func() { n.readLoop(p, l) })
	if ok && known {
		n.startWriterLocked(p, l)
	}
	n.mu.Unlock()
	if !ok {
		l.Close()
		return
	}
	if old != nil {
		old.Close()
	}
	if known {
		now := time.Now()
		n.book.SetLastSeen(n.ctx, c.ID, now)
		if old == nil {
			n.events.publish(PresenceEvent{Address: string(addr), Presence: Online, LastSeen: now})
		}
	}
	n.log.Debug("link up", "peer", addr.Short(), "dialed", l.Dialed())
}

// linkDown forgets l if it is still p's link, and redials if work is pending.
func (n *Node) linkDown(p *peer, l *wire.Link) {
	l.Close()
	n.mu.Lock()
	if p.link != l {
		n.mu.Unlock()
		return
	}
	p.link = nil
	if !p.linkUsed && time.Since(p.linkUp) < n.tune.shortLink {
		// Closed before the peer said anything: count it as a failed dial.
		p.failures++
		p.nextDial = time.Now().Add(n.backoff(p.failures))
	}
	if p.stranger {
		p.stranger = false
		n.strangers--
	}
	n.mu.Unlock()

	n.log.Debug("link down", "peer", p.addr.Short(), "err", l.Err())
	now := time.Now()
	if c, err := n.book.Lookup(n.ctx, p.addr); err == nil && !c.Removed {
		n.book.SetLastSeen(n.ctx, c.ID, now)
		n.events.publish(PresenceEvent{Address: string(p.addr), Presence: Offline, LastSeen: now})
		n.startDelivery(p, c.ID)
	}
}

// isCurrent reports whether l is p's link in use.
func (n *Node) isCurrent(p *peer, l *wire.Link) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return p.link == l
}

// currentLink returns p's link, or nil.
func (n *Node) currentLink(p *peer) *wire.Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return p.link
}

// dialPending dials every contact with something in the outbox: at start,
// and whenever the network comes back.
func (n *Node) dialPending() {
	work, err := n.db.PendingContacts(n.ctx)
	if err != nil {
		n.log.Warn("listing pending contacts", "err", err)
		return
	}
	for _, w := range work {
		c, err := n.book.LookupID(n.ctx, w.ContactID)
		if err != nil {
			continue
		}
		n.startDelivery(n.peer(c.Address), c.ID)
	}
}

// announce dials the accepted contacts seen lately (since is when the
// current network came up), up to 4 times each,
// even with nothing to send, whenever our onion service is (re)published.
// A peer holding messages for us may have a stale descriptor of our
// service, from before we restarted, and fail to introduce itself for
// minutes, while we can reach theirs at once. It also makes presence
// meaningful right after start.
func (n *Node) announce(since time.Time) {
	cs, err := n.book.List(n.ctx)
	if err != nil {
		return
	}
	recent := time.Now().Add(-n.tune.announceWithin)
	for _, c := range cs {
		seen := c.LastSeen
		if c.Updated.After(seen) {
			seen = c.Updated // accepted lately, maybe never seen since
		}
		if c.State != contacts.Accepted || seen.Before(recent) {
			continue
		}
		p := n.peer(c.Address)
		n.mu.Lock()
		if p.link != nil && !p.linkUp.Before(since) {
			n.mu.Unlock()
			continue // linked through the new network already
		}
		// A link from before still looks up: it runs through the dead tor
		// and is about to go down, then this redials.
		p.reconnect = 4
		n.mu.Unlock()
		n.startDelivery(p, c.ID)
	}
}

// startDelivery makes sure p's outbox moves: it starts the writer on p's
// link if one is up, else a dialLoop. The dialLoop stops by itself when
// there is nothing to send and no reconnect asked for (see announce).
func (n *Node) startDelivery(p *peer, contactID int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.link != nil {
		n.startWriterLocked(p, p.link)
		return
	}
	if p.dialing {
		return
	}
	if n.spawnLocked(func() { n.dialLoop(p, contactID) }) {
		p.dialing = true
	}
}

// startWriterLocked starts l's writeLoop unless it runs. n.mu must be held.
func (n *Node) startWriterLocked(p *peer, l *wire.Link) {
	if p.writing == l {
		return
	}
	if n.spawnLocked(func() { n.writeLoop(p, l) }) {
		p.writing = l
	}
}

// redialNow resets p's backoff and wakes its dialLoop (Retry, or the peer
// proved it is online).
func (n *Node) redialNow(p *peer) {
	n.mu.Lock()
	p.failures = 0
	p.nextDial = time.Time{}
	n.mu.Unlock()
	select {
	case p.wakeDial <- struct{}{}:
	default:
	}
}

// hasWork reports whether the contact has outbox items.
func (n *Node) hasWork(contactID int64) bool {
	work, err := n.db.PendingContacts(n.ctx)
	if err != nil {
		return false
	}
	for _, w := range work {
		if w.ContactID == contactID {
			return true
		}
	}
	return false
}

// backoff is the delay after the given number of consecutive failures:
// exponential from backoffMin, capped at backoffMax, with jitter in [d/2, d].
func (n *Node) backoff(failures int) time.Duration {
	d := n.tune.backoffMin
	for i := 1; i < failures && d < n.tune.backoffMax; i++ {
		d *= 2
	}
	d = min(d, n.tune.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// dialLoop connects to p while it has work and no link, backing off on failure.
func (n *Node) dialLoop(p *peer, contactID int64) {
	defer func() {
		n.mu.Lock()
		p.dialing = false
		n.mu.Unlock()
	}()
	for {
		n.mu.Lock()
		if p.link != nil || n.closed {
			n.mu.Unlock()
			return
		}
		wait := time.Until(p.nextDial)
		want := p.reconnect > 0
		n.mu.Unlock()
		if !want && !n.hasWork(contactID) {
			return
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.wakeDial:
				t.Stop()
			case <-n.ctx.Done():
				t.Stop()
				return
			}
			continue // re-check: a link may have come up meanwhile
		}
		tr, err := n.waitTransport(n.ctx)
		if err != nil {
			return
		}
		n.events.publish(PresenceEvent{Address: string(p.addr), Presence: Connecting})
		l, err := n.dial(tr, p)
		if err != nil {
			n.mu.Lock()
			p.failures++
			p.reconnect = max(p.reconnect-1, 0)
			d := n.backoff(p.failures)
			p.nextDial = time.Now().Add(d)
			up := p.link != nil
			n.mu.Unlock()
			n.log.Debug("dial failed", "peer", p.addr.Short(), "err", err, "retry_in", d)
			if !up {
				n.events.publish(PresenceEvent{Address: string(p.addr), Presence: Offline})
			}
			continue
		}
		n.adopt(l)
	}
}

func (n *Node) dial(tr Transport, p *peer) (*wire.Link, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.tune.dialTimeout)
	defer cancel()
	conn, err := tr.Dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	return wire.Client(ctx, conn, n.key, p.pub, &n.tune.link)
}

// readLoop handles every frame the peer sends on l until l closes.
func (n *Node) readLoop(p *peer, l *wire.Link) {
	defer n.linkDown(p, l)
	for {
		ctx, cancel := n.ctx, context.CancelFunc(func() {})
		n.mu.Lock()
		stranger := p.stranger
		n.mu.Unlock()
		if stranger {
			ctx, cancel = context.WithTimeout(n.ctx, n.tune.strangerIdle)
		}
		m, err := l.Recv(ctx)
		cancel()
		if err != nil {
			if stranger && n.ctx.Err() == nil && l.Err() == nil && n.promoteIfContact(p) {
				continue // accepted meanwhile: the link may stay
			}
			return
		}
		// Frames still buffered on a link that lost to another are dropped
		// unacknowledged: the peer resends them, in order, on the new link.
		if !n.isCurrent(p, l) {
			return
		}
		if err := n.handle(p, l, m); err != nil {
			n.log.Debug("dropping link", "peer", p.addr.Short(), "err", err)
			return
		}
		n.mu.Lock()
		if p.link == l && !p.linkUsed {
			p.linkUsed = true
			p.failures = 0
		}
		n.mu.Unlock()
	}
}

// promoteIfContact stops counting p's link as a stranger's if p is now an
// accepted or requested contact, and reports whether it did.
func (n *Node) promoteIfContact(p *peer) bool {
	c, err := n.book.Lookup(n.ctx, p.addr)
	if err != nil || c.Removed || (c.State != contacts.Accepted && c.State != contacts.Requested) {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.stranger {
		p.stranger = false
		n.strangers--
	}
	return true
}

// writeLoop sends p's outbox on l: first every unacknowledged item, in
// order, then each new item as it is queued. Items leave the outbox only
// when the peer acknowledges them (onAck).
func (n *Node) writeLoop(p *peer, l *wire.Link) {
	defer func() {
		n.mu.Lock()
		if p.writing == l {
			p.writing = nil
		}
		n.mu.Unlock()
	}()
	c, err := n.book.Lookup(n.ctx, p.addr)
	if err != nil {
		return
	}
	p.mu.Lock()
	if !n.isCurrent(p, l) {
		p.mu.Unlock()
		return
	}
	items, err := n.db.Outbox(n.ctx, c.ID)
	if err != nil {
		p.mu.Unlock()
		n.log.Warn("loading outbox", "err", err)
		l.Close()
		return
	}
	wake := make(chan struct{}, 1)
	p.writer, p.pending, p.wake = l, nil, wake
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.writer == l {
			p.writer, p.pending, p.wake = nil, nil, nil
		}
		p.mu.Unlock()
	}()

	for {
		// Write in chunks, then record them as sent in one transaction.
		for chunk := range slices.Chunk(items, 64) {
			for _, it := range chunk {
				if err := l.SendFrame(it.Frame); err != nil {
					return
				}
			}
			n.markSent(p, chunk)
		}
		select {
		case <-wake:
		case <-l.Done():
			return
		case <-n.ctx.Done():
			return
		}
		p.mu.Lock()
		if p.writer != l {
			p.mu.Unlock()
			return
		}
		items, p.pending = p.pending, nil
		p.mu.Unlock()
	}
}

// markSent records items as written to a link; a message's first write
// makes it "sent".
func (n *Node) markSent(p *peer, items []storage.OutboxItem) {
	now := time.Now()
	var first []storage.OutboxItem
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		first = first[:0]
		for _, it := range items {
			if !it.Sent.IsZero() {
				continue // a resend: the state is already "sent" or later
			}
			err := tx.MarkSent(it.ID, now)
			if errors.Is(err, storage.ErrNotFound) {
				continue // acknowledged meanwhile
			}
			if err != nil {
				return err
			}
			first = append(first, it)
		}
		return nil
	})
	if err != nil {
		n.log.Warn("marking sent", "err", err)
		return
	}
	for _, it := range first {
		if it.Kind == storage.KindMessage {
			n.events.publish(MessageStateEvent{ID: it.ID.String(), Address: string(p.addr), State: Sent, At: now})
		}
	}
}

// enqueueLocked hands a freshly stored outbox item to p's writer, if a link
// is up. p.mu must be held, and held since the item was stored, so items
// reach the writer in outbox order.
func (p *peer) enqueueLocked(it storage.OutboxItem) {
	if p.writer == nil {
		return
	}
	p.pending = append(p.pending, it)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
