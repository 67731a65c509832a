package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/wire"
)

// The flood guard: what keeps a stranger from locking anyone out and a
// contact from flooding us (issue 13). Handshake slots (handshakes), the
// per-contact frame budget (admit), unread quota, coalesced decryption
// notices and the bounded seen table live here; contact requests (invites,
// proof of work) in invite.go and work.go.

// guardStats counts what the guard did; tests and Status read them.
type guardStats struct {
	handshakesEvicted atomic.Int64 // half-open handshakes closed to admit a newer one
	strangersEvicted  atomic.Int64 // strangers' links closed to admit a newer one
	throttled         atomic.Int64 // frames that waited for their contact's budget
	typingDropped     atomic.Int64 // typing frames over budget, dropped
	quotaWaits        atomic.Int64 // times a contact's link waited for the user to read
}

// handshakes bounds the inbound link handshakes in progress. A stranger who
// opens many connections and never authenticates cannot hold every slot:
// each handshake has a short deadline (tuning.preAuth), and when all slots
// are taken the oldest half-open one is closed to make room, so a contact
// connecting during a flood waits at most for the flood's newest arrivals.
type handshakes struct {
	max   int
	limit time.Duration
	stats *guardStats

	mu   sync.Mutex
	next uint64
	live []halfOpen // oldest first
}

type halfOpen struct {
	id     uint64
	cancel context.CancelFunc
}

// start admits one handshake: it returns its context (ending at the
// deadline, or when a newer handshake evicts it) and done, to call when the
// handshake is over either way.
func (h *handshakes) start(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(parent, h.limit)
	h.mu.Lock()
	h.next++
	id := h.next
	for len(h.live) >= h.max {
		h.live[0].cancel() // closes its connection (wire bounds I/O by ctx)
		h.live = h.live[1:]
		h.stats.handshakesEvicted.Add(1)
	}
	h.live = append(h.live, halfOpen{id, cancel})
	h.mu.Unlock()
	return ctx, func() {
		cancel()
		h.mu.Lock()
		defer h.mu.Unlock()
		for i, x := range h.live {
			if x.id == id {
				h.live = append(h.live[:i:i], h.live[i+1:]...)
				break
			}
		}
	}
}

// inProgress is how many handshakes hold a slot.
func (h *handshakes) inProgress() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live)
}

// limited reports whether a peer's link counts against the strangers' limit
// and closes when idle: anyone but an accepted contact or one we asked. A
// pending request is still a stranger's: its sender may not hold a link
// open for free while the user has not decided.
func limited(c contacts.Contact, err error) bool {
	return err != nil || c.Removed || (c.State != contacts.Accepted && c.State != contacts.Requested)
}

// evictStrangerLocked closes the stranger's link that has been up longest,
// to make room for a new one; it reports whether there was one. n.mu held.
func (n *Node) evictStrangerLocked() bool {
	var oldest *peer
	for _, p := range n.peers {
		if p.stranger && p.link != nil && (oldest == nil || p.linkUp.Before(oldest.linkUp)) {
			oldest = p
		}
	}
	if oldest == nil {
		return false
	}
	// linkDown, run by its readLoop, frees the slot; count it free now so
	// the newcomer is not refused meanwhile.
	oldest.stranger = false
	n.strangers--
	oldest.link.Close()
	n.stats.strangersEvicted.Add(1)
	return true
}

// Rate is a token bucket: Burst frames at once, then one per Every.
type rate struct {
	burst int
	every time.Duration
}

// budget is a token bucket refilled lazily.
type budget struct {
	rate   rate
	tokens float64
	last   time.Time
}

// take takes a token at now, or says how long until one is there.
func (b *budget) take(now time.Time) (wait time.Duration) {
	if b.rate.burst <= 0 {
		return 0 // unlimited
	}
	if b.last.IsZero() {
		b.tokens, b.last = float64(b.rate.burst), now
	}
	if now.After(b.last) {
		b.tokens = min(float64(b.rate.burst), b.tokens+float64(now.Sub(b.last))/float64(b.rate.every))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(b.rate.every))
}

// peerGuard is a contact's budget of frames, its unread quota and its
// decryption failures. It lives as long as the peer struct, across links,
// so reconnecting resets nothing.
type peerGuard struct {
	mu       sync.Mutex
	messages budget
	receipts budget
	typing   budget
	other    budget // acks and the rest

	// Unread quota: what the contact sent that the user has not read yet.
	unreadKnown bool
	unread      int
	unreadBytes int64
	read        chan struct{} // closed (and replaced) when the user reads

	// Decryption failures: one notice per window.
	failNoticed time.Time // last notice
	failHidden  int       // failures since, not yet told
	failTimer   *time.Timer
}

func (n *Node) guardOf(p *peer) *peerGuard {
	p.guardOnce.Do(func() {
		t := n.tune
		p.guard = &peerGuard{
			messages: budget{rate: t.messageRate},
			receipts: budget{rate: t.receiptRate},
			typing:   budget{rate: t.typingRate},
			other:    budget{rate: t.frameRate},
			read:     make(chan struct{}),
		}
	})
	return p.guard
}

// carrier is what frames arrive on: a link, or a session with a mailbox
// (issue 16), whose end stops a wait.
type carrier interface {
	Done() <-chan struct{}
	Err() error
}

// admit spends p's budget for frame m before it is handled: it waits while
// the contact sends faster than its budget allows (the link stops reading,
// so Tor's flow control slows the sender down; nothing is lost), waits
// while the contact has more unread messages than the quota, and tells the
// caller to drop a typing frame over budget. An error means l or the node
// closed meanwhile.
func (n *Node) admit(p *peer, l carrier, m wire.Msg) (drop bool, err error) {
	g := n.guardOf(p)
	var b *budget
	switch m := m.(type) {
	case *wire.Message:
		if err := n.waitQuota(p, g, l); err != nil {
			return false, err
		}
		// Counted when admitted: a duplicate or undecryptable message
		// counts too, which only brings a misbehaving contact's wait nearer.
		n.countUnread(p, len(m.Ciphertext))
		b = &g.messages
	case *wire.Receipt:
		b = &g.receipts
	case *wire.Typing:
		g.mu.Lock()
		wait := g.typing.take(time.Now())
		g.mu.Unlock()
		if wait > 0 {
			n.stats.typingDropped.Add(1)
			return true, nil
		}
		return false, nil
	default:
		b = &g.other
	}
	for waited := false; ; waited = true {
		g.mu.Lock()
		wait := b.take(time.Now())
		g.mu.Unlock()
		if wait == 0 {
			return false, nil
		}
		if !waited {
			n.stats.throttled.Add(1)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.Done():
			t.Stop()
			return false, l.Err()
		case <-n.ctx.Done():
			t.Stop()
			return false, n.ctx.Err()
		}
	}
}

// waitQuota waits while p has more unread messages (or bytes) than the
// quota allows, until the user reads the conversation. The sender keeps
// the rest in its outbox; its link stalls meanwhile.
func (n *Node) waitQuota(p *peer, g *peerGuard, l carrier) error {
	for counted := false; ; {
		g.mu.Lock()
		if !g.unreadKnown {
			g.mu.Unlock()
			c, err := n.book.Lookup(n.ctx, p.addr)
			if err != nil {
				return nil // handle decides what a non-contact may send
			}
			cnt, size, err := n.db.UnreadStats(n.ctx, c.ID)
			if err != nil {
				return err
			}
			g.mu.Lock()
			if !g.unreadKnown {
				g.unreadKnown, g.unread, g.unreadBytes = true, cnt, size
			}
		}
		over := g.unread >= n.tune.unreadQuota || g.unreadBytes >= n.tune.unreadBytesQuota
		read := g.read
		g.mu.Unlock()
		if !over {
			return nil
		}
		if !counted {
			counted = true
			n.stats.quotaWaits.Add(1)
			n.log.Info("contact over its unread quota: waiting until read", "peer", p.addr.Short())
		}
		select {
		case <-read:
		case <-l.Done():
			return l.Err()
		case <-n.ctx.Done():
			return n.ctx.Err()
		}
	}
}

// countUnread adds a received message to p's unread quota.
func (n *Node) countUnread(p *peer, size int) {
	g := n.guardOf(p)
	g.mu.Lock()
	if g.unreadKnown {
		g.unread++
		g.unreadBytes += int64(size)
	}
	g.mu.Unlock()
}

// conversationRead resets p's unread quota: the user read everything.
func (n *Node) conversationRead(p *peer) {
	g := n.guardOf(p)
	g.mu.Lock()
	g.unreadKnown, g.unread, g.unreadBytes = false, 0, 0
	close(g.read)
	g.read = make(chan struct{})
	g.mu.Unlock()
}

// decryptFailed tells the user that a message from c could not be
// decrypted, at most once per tuning.failWindow per contact: a contact
// whose messages all fail (a broken session, or a hostile peer) makes one
// notice, then one summary per window, not one per message. The log gets
// the same lines.
func (n *Node) decryptFailed(p *peer, c contacts.Contact, err error) {
	g := n.guardOf(p)
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.failNoticed.IsZero() && now.Sub(g.failNoticed) < n.tune.failWindow {
		g.failHidden++
		if g.failTimer == nil {
			g.failTimer = time.AfterFunc(n.tune.failWindow-now.Sub(g.failNoticed), func() { n.failSummary(p, c) })
		}
		return
	}
	g.failNoticed = now
	n.log.Warn("undecryptable message", "peer", c.Address.Short(), "err", err)
	// It waits in their outbox (not acknowledged): a new session, which
	// either side can start, re-encrypts it. (issue 13)
	n.events.publish(ErrorEvent{Message: fmt.Sprintf("a message from %s could not be decrypted; it waits: if one of you restored an old backup, "+
		"start a new session: chive contacts reset %s", c.Display(), c.Address)})
}

// failSummary reports the failures decryptFailed kept quiet, as one notice
// that opens the next window.
func (n *Node) failSummary(p *peer, c contacts.Contact) {
	g := n.guardOf(p)
	g.mu.Lock()
	hidden := g.failHidden
	g.failHidden, g.failTimer = 0, nil
	if hidden > 0 {
		g.failNoticed = time.Now()
	}
	g.mu.Unlock()
	if hidden == 0 || n.ctx.Err() != nil {
		return
	}
	n.log.Warn("undecryptable messages", "peer", c.Address.Short(), "count", hidden)
	n.events.publish(ErrorEvent{Message: fmt.Sprintf("%d more messages from %s could not be decrypted", hidden, c.Display())})
}

// pruneLoop keeps the seen table and the invites bounded: at start, then
// every tuning.pruneEvery.
func (n *Node) pruneLoop() {
	for {
		now := time.Now()
		if _, err := n.db.PruneSeen(n.ctx, now.Add(-n.tune.seenMaxAge), n.tune.seenKeep); err != nil && n.ctx.Err() == nil {
			n.log.Warn("pruning seen ids", "err", err)
		}
		if err := n.db.PruneInvites(n.ctx, now); err != nil && n.ctx.Err() == nil {
			n.log.Warn("pruning invites", "err", err)
		}
		select {
		case <-time.After(n.tune.pruneEvery):
		case <-n.ctx.Done():
			return
		}
	}
}

// nameContacts registers every contact's address with the log's names, so
// a log line about one the node has no link state for yet is redacted too.
func (n *Node) nameContacts() {
	cs, err := n.db.Contacts(n.ctx)
	if err != nil {
		return
	}
	for _, c := range cs {
		n.names.add(onion.Address(c.Address))
	}
}
