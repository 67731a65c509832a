package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// dialPending dials every contact with something in the outbox: at start,
// and whenever the network comes back.
func (n *Node) dialPending() {
	work, err := n.db.PendingContacts(n.ctx)
	if err != nil {
		n.log.Warn("listing pending contacts", "err", err)
		return
	}
	ids := n.filesActiveContacts() // transfers to resume need a link too
	for _, w := range work {
		ids = append(ids, w.ContactID)
	}
	for _, id := range ids {
		c, err := n.book.LookupID(n.ctx, id)
		if err != nil {
			continue
		}
		n.startDelivery(n.peer(c.Address), c.ID)
	}
	n.dialGroupPending()
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
	n.announceGroups(since)
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
		p.dialAgain = true // it may be about to end, having found nothing to do
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

// hasWork reports whether the contact has outbox items, or a file
// transfer that needs the link.
func (n *Node) hasWork(contactID int64) bool {
	if n.filesActive(contactID) {
		return true
	}
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
		p.dialAgain = false
		n.mu.Unlock()
		work := n.hasWork(contactID) || n.hasGroupWork(p)
		if !want && !work {
			n.mu.Lock()
			again := p.dialAgain
			if !again {
				p.dialing = false // under n.mu: a later startDelivery starts a new loop
			}
			n.mu.Unlock()
			if again {
				continue // work may have come while we looked
			}
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
		// Wait for a dial slot (dialer.go); meanwhile the peer may have
		// dialed us, so look again before dialing.
		release, err := n.dials.acquire(n.ctx, n.dialPriority(contactID, work))
		if err != nil {
			return
		}
		n.mu.Lock()
		linked := p.link != nil
		n.mu.Unlock()
		if linked {
			release()
			continue
		}
		n.events.publish(PresenceEvent{Address: string(p.addr), Presence: Connecting})
		dctx, gen := n.dialContext()
		l, err := n.dial(dctx, tr, p)
		release()
		if err != nil && n.netGen() != gen && n.ctx.Err() == nil {
			// Cancelled by a recovery of the network (health.go): not the
			// peer's failure; dial again at once.
			continue
		}
		if err != nil {
			n.dialTrouble(err)
			n.mu.Lock()
			p.failures++
			p.reconnect = max(p.reconnect-1, 0)
			d := n.backoff(p.failures)
			p.nextDial = time.Now().Add(d)
			up := p.link != nil
			n.mu.Unlock()
			n.log.Debug("dial failed", "peer", p.addr.Short(), "err", err, "retry_in", d)
			if errors.Is(err, wire.ErrVersion) {
				n.warnVersion(p, contactID, err)
			}
			if !up {
				n.events.publish(PresenceEvent{Address: string(p.addr), Presence: Offline})
			}
			continue
		}
		n.adopt(l)
	}
}

// dialPriority is where a dial to the contact waits for a slot: contacts
// with queued items and those seen lately first, the most recently seen
// (the likeliest online) before the others.
func (n *Node) dialPriority(contactID int64, work bool) dialPrio {
	var seen time.Time
	if c, err := n.book.LookupID(n.ctx, contactID); err == nil {
		seen = c.LastSeen
		if c.State == contacts.Accepted && c.Updated.After(seen) {
			seen = c.Updated // accepted lately, maybe never linked since
		}
	}
	recent := !seen.IsZero() && time.Since(seen) < n.tune.announceWithin
	return dialPrio{active: work || recent, seen: seen, work: work, paced: !recent}
}

func (n *Node) dial(parent context.Context, tr Transport, p *peer) (*wire.Link, error) {
	ctx, cancel := context.WithTimeout(parent, n.tune.dialTimeout)
	defer cancel()
	conn, err := tr.Dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	return wire.Client(ctx, conn, n.key, p.pub, &n.tune.link)
}

// writeLoop sends p's outbox on l: first every unacknowledged item, in
// order, then each new item as it is queued. Items leave the outbox only
// when the peer acknowledges them (onAck). When a session reset rearranges
// the outbox it starts over from the stored order; while we wait for a new
// session, messages (made for the old one) are held back.
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
	var items []storage.OutboxItem
	var gen uint64
	var hold bool
	// load reads the stored outbox. p.mu is held.
	load := func() bool {
		var err error
		if c, err = n.book.Lookup(n.ctx, p.addr); err == nil {
			if items, err = n.db.Outbox(n.ctx, c.ID); err == nil {
				hold, err = n.resetting(n.ctx, c)
			}
		}
		if err != nil {
			n.log.Warn("loading outbox", "err", err)
			l.Close()
			return false
		}
		gen, p.pending = p.outboxGen, nil
		return true
	}
	p.mu.Lock()
	if !n.isCurrent(p, l) || !load() {
		p.mu.Unlock()
		return
	}
	wake := make(chan struct{}, 1)
	p.writer, p.wake = l, wake
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
		for len(items) > 0 {
			chunk := items[:min(64, len(items))]
			items = items[len(chunk):]
			sent := chunk[:0:0]
			for i := range chunk {
				p.mu.Lock()
				if p.outboxGen != gen {
					ok := load()
					p.mu.Unlock()
					if !ok {
						return
					}
					break // the rest of this chunk is in items again
				}
				p.mu.Unlock()
				if hold && sealedKind(chunk[i].Kind) {
					continue
				}
				if e := chunk[i].Expires; !e.IsZero() && !time.Now().Before(e) {
					n.wakeScheduler() // past its deadline: never written; the scheduler ends it
					continue
				}
				if chunk[i].Kind == storage.KindRequest {
					// Proof of work is made when a request leaves (work.go).
					if err := n.freshRequest(p, l, c.ID, &chunk[i]); errors.Is(err, errGone) {
						continue
					} else if err != nil {
						n.log.Debug("stamping a request", "peer", p.addr.Short(), "err", err)
						return
					}
				}
				if err := l.SendFrame(chunk[i].Frame); err != nil {
					return
				}
				sent = append(sent, chunk[i])
			}
			if len(sent) > 0 {
				n.markSent(p, sent)
			}
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
		if p.outboxGen != gen {
			if !load() {
				p.mu.Unlock()
				return
			}
		} else {
			items, p.pending = p.pending, nil
		}
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
		if !n.storeFailed(err, nil, nil) {
			n.log.Warn("marking sent", "err", err)
		}
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

// warnVersion tells the user, once per contact and run, that the contact
// speaks another link protocol: nothing reaches them until one side
// upgrades (the error says which).
func (n *Node) warnVersion(p *peer, contactID int64, err error) {
	c, lerr := n.book.LookupID(n.ctx, contactID)
	if lerr != nil {
		return
	}
	why := "they run an older chive and must upgrade"
	if errors.Is(err, wire.ErrNewerPeer) {
		why = "they run a newer chive: upgrade chive"
	}
	n.warnOnce(p, &p.versionWarned, fmt.Sprintf("cannot reach %s: %s; messages wait until then", c.Display(), why))
}
