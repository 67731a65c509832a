package node

import (
	"context"
	"crypto/ed25519"
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
	dialAgain bool       // startDelivery came while it ran: look for work again before it ends
	reconnect int        // dial attempts left even without work (see announce)
	writing   *wire.Link // link a writeLoop runs for
	failures  int        // consecutive failed dials, for backoff
	nextDial  time.Time
	linkUp    time.Time     // when link came up
	linkUsed  bool          // the peer sent a frame on link
	wakeDial  chan struct{} // cap 1: redial now (backoff reset)
	typingIn  time.Time     // last typing event published
	typingOut time.Time     // last typing frame sent
	// told the user once (per run) of a bad stored session, of a peer of
	// another link protocol
	mismatchWarned, versionWarned bool
	peerResetAt                   time.Time // the last new session the peer started

	guard     *peerGuard // the contact's budget, quota, failures (guard.go)
	guardOnce sync.Once

	// mu serializes everything that touches this contact's ratchet session
	// or outbox order: encrypt+queue, decrypt+receive, queueing frames, and
	// a writer loading the outbox. Never held across network I/O.
	mu        sync.Mutex
	writer    *wire.Link           // link whose writer receives new items
	pending   []storage.OutboxItem // queued since the writer loaded the outbox
	wake      chan struct{}        // the current writer's wake-up, cap 1
	outboxGen uint64               // bumped when the outbox is rearranged (a session reset)
	refused   map[wire.ID]refusal  // messages we refused lately (see handleRun)
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
		n.names.add(addr)
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
	// Strangers are limited, and so are requests the user has not accepted;
	// accepted contacts and those we asked are not.
	c, err := n.book.Lookup(n.ctx, addr)
	grpPeer := n.isGroupPeer(addr) // a fellow group member's link is not a stranger's either
	isContact := !limited(c, err) || grpPeer
	known := err == nil && !c.Removed

	n.mu.Lock()
	p := n.peerLocked(addr)
	old := p.link
	if old != nil && !n.keepNew(old, l, addr) {
		n.mu.Unlock()
		l.Close()
		return
	}
	if !isContact && old == nil && n.strangers >= n.tune.maxStrangers && !n.evictStrangerLocked() {
		busy := n.strangers
		n.mu.Unlock()
		n.log.Debug("stranger's link refused: every slot is busy", "peer", addr.Short(), "strangers", busy)
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
	if ok {
		n.startGroupWriterLocked(p, l) // groups_link.go
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
		n.filesLinkUp(p, l)
		now := time.Now()
		n.book.SetLastSeen(n.ctx, c.ID, now)
		if old == nil {
			n.events.publish(PresenceEvent{Address: string(addr), Presence: Online, LastSeen: now})
		}
	} else if grpPeer && old == nil {
		n.groupLinkUp(addr)
	}
	n.log.Debug("link up", "peer", addr.Short(), "dialed", l.Dialed())
}

// linkDown forgets l if it is still p's link, and redials if work is pending.
func (n *Node) linkDown(p *peer, l *wire.Link) {
	l.Close()
	n.faultMu.Lock()
	delete(n.fault.links, l)
	n.faultMu.Unlock()
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
	if wire.IsTimeout(l.Err()) {
		// The peer went silent: maybe it, maybe the network under us.
		n.dialTrouble(context.DeadlineExceeded)
	}
	n.filesLinkDown(p, l)
	now := time.Now()
	if c, err := n.book.Lookup(n.ctx, p.addr); err == nil && !c.Removed {
		n.book.SetLastSeen(n.ctx, c.ID, now)
		n.events.publish(PresenceEvent{Address: string(p.addr), Presence: Offline, LastSeen: now})
		n.startDelivery(p, c.ID)
	}
	n.groupLinkDown(p)
}

// dropLink closes the link to addr, if any.
func (n *Node) dropLink(addr onion.Address) {
	if l := n.currentLink(n.peer(addr)); l != nil {
		l.Close()
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

// readLoop handles every frame the peer sends on l until l closes. It
// takes every frame that has arrived (up to maxBatch) at once, so they are
// stored in one transaction and acknowledged together.
func (n *Node) readLoop(p *peer, l *wire.Link) {
	defer n.linkDown(p, l)
	batch := make([]wire.Msg, 0, n.tune.maxBatch)
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
		// While the disk is full, frames after a refused one are refused
		// too (unacknowledged, kept by the peer) so none is stored out of
		// order; the link stays so the peer does not redial (diskfull.go).
		if orderedFrame(m) && n.refusing(l) {
			continue
		}
		// Each frame spends the peer's budget (guard.go) before it joins
		// the batch. A contact over it waits; what the batch holds is
		// stored and acknowledged first (the unread quota counts it).
		batch = batch[:0]
		for first := true; ; first = false {
			drop, wait := false, first
			if !first {
				drop, wait = n.admitNow(p, m)
			}
			if wait {
				if len(batch) > 0 {
					err := n.handleBatch(p, l, batch)
					batch = batch[:0]
					if n.storeFailed(err, p, l) {
						break // refusing from now on: m is not acknowledged either
					}
					if err != nil {
						n.log.Debug("dropping link", "peer", p.addr.Short(), "err", err)
						return
					}
				}
				if drop, err = n.admit(p, l, m); err != nil {
					return
				}
			}
			if !drop {
				batch = append(batch, m)
			}
			if len(batch) >= n.tune.maxBatch {
				break
			}
			if m, err = l.Recv(nowCtx); err != nil { // only what is there already
				break
			}
		}
		if len(batch) == 0 {
			continue
		}
		if err := n.handleBatch(p, l, batch); err != nil {
			if n.storeFailed(err, p, l) {
				continue
			}
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

// nowCtx is done: Recv with it returns a frame only if one is waiting.
var nowCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// promoteIfContact stops counting p's link as a stranger's if p is now an
// accepted or requested contact, and reports whether it did.
func (n *Node) promoteIfContact(p *peer) bool {
	c, err := n.book.Lookup(n.ctx, p.addr)
	if (err != nil || c.Removed || (c.State != contacts.Accepted && c.State != contacts.Requested)) && !n.isGroupPeer(p.addr) {
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
