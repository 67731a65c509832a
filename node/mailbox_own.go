package node

import (
	"context"
	"sync"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/mailbox"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// ownRun is the session with our own mailbox, kept up while the node runs
// and a mailbox is linked. Fields but wake are guarded by n.mbox.mu.
type ownRun struct {
	addr   onion.Address
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // cap 1: hand items over now
	sess   *mailbox.Session
	err    string // why it cannot be used, for MailboxStatus
}

// startOwn starts the session loop with our mailbox at addr (first: a
// session already open, from pairing).
func (n *Node) startOwn(addr onion.Address, first *mailbox.Session) {
	ctx, cancel := context.WithCancel(n.ctx)
	o := &ownRun{addr: addr, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	n.mbox.mu.Lock()
	old := n.mbox.own
	n.mbox.own = o
	n.mbox.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	ok := n.spawn(func() {
		defer close(o.done)
		n.ownLoop(ctx, o, first)
	})
	if !ok {
		cancel()
		close(o.done)
		if first != nil {
			first.Close()
		}
	}
}

// stopOwn ends the session loop and waits for it.
func (n *Node) stopOwn() {
	n.mbox.mu.Lock()
	o := n.mbox.own
	n.mbox.own = nil
	n.mbox.mu.Unlock()
	if o != nil {
		o.cancel()
		<-o.done
	}
}

// ownLoop keeps a session with our mailbox, reconnecting with backoff.
func (n *Node) ownLoop(ctx context.Context, o *ownRun, sess *mailbox.Session) {
	failures := 0
	for ctx.Err() == nil {
		if sess == nil {
			var err error
			sess, err = n.openOwn(ctx, o.addr)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				d := n.mboxBackoff(failures)
				msg := "cannot reach it: " + err.Error()
				if mailbox.Refused(err, wire.MailboxNotPaired) || mailbox.Refused(err, wire.MailboxDenied) {
					// It was unlinked or reset on its side: nothing we can
					// do but say so, and look again now and then.
					msg = "the mailbox does not know this profile any more (unlinked on the mailbox?): run chive mailbox unlink --force, then link it again"
					d = n.tune.mbox.retryMax
				}
				n.log.Debug("mailbox session failed", "err", err, "retry_in", d)
				n.setOwn(o, nil, msg)
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
				continue
			}
		}
		failures = 0
		n.db.TouchMailbox(n.ctx, time.Now())
		n.setOwn(o, sess, "")
		n.log.Info("mailbox connected", "mailbox", o.addr.Short())
		n.runOwn(ctx, o, sess)
		sess.Close()
		n.setOwn(o, nil, "")
		n.log.Info("mailbox disconnected", "mailbox", o.addr.Short(), "err", sess.Err())
		sess = nil
		select {
		case <-time.After(n.mboxBackoff(1)):
		case <-ctx.Done():
		}
	}
}

func (n *Node) mboxBackoff(failures int) time.Duration {
	d := n.tune.mbox.retryMin
	for i := 1; i < failures && d < n.tune.mbox.retryMax; i++ {
		d *= 2
	}
	return min(d, n.tune.mbox.retryMax)
}

func (n *Node) openOwn(ctx context.Context, addr onion.Address) (*mailbox.Session, error) {
	l, err := n.dialMailbox(ctx, addr, n.key)
	if err != nil {
		return nil, err
	}
	return mailbox.OpenOwner(ctx, l)
}

// setOwn records the session state and publishes it.
func (n *Node) setOwn(o *ownRun, sess *mailbox.Session, errText string) {
	n.mbox.mu.Lock()
	if n.mbox.own != o {
		n.mbox.mu.Unlock()
		return
	}
	changed := (o.sess != nil) != (sess != nil) || o.err != errText
	o.sess, o.err = sess, errText
	n.mbox.mu.Unlock()
	if changed {
		n.publishMailbox()
	}
}

// runOwn serves one session: it adds our contacts' slots and tells them,
// takes what they left, applies notices, and hands items over whenever
// woken, until the session ends.
func (n *Node) runOwn(ctx context.Context, o *ownRun, sess *mailbox.Session) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.consume(func() { n.consumeOwn(ctx, sess) })
	}()
	if err := n.syncSlots(ctx, sess, o.addr); err != nil {
		n.log.Warn("mailbox: adding contacts' slots", "err", err)
		sess.Close()
		return
	}
	for {
		n.handOver(ctx, sess, false)
		select {
		case <-o.wake:
			// A contact changed (accepted, removed): slots first.
			if err := n.syncSlots(ctx, sess, o.addr); err != nil {
				sess.Close()
				return
			}
		case <-sess.Done():
			return
		case <-ctx.Done():
			sess.Close()
			return
		}
	}
}

// handOver gives our mailbox what unreachable contacts without a usable
// mailbox of their own are waiting for (force: whatever waits, as when we
// are closing).
func (n *Node) handOver(ctx context.Context, sess *mailbox.Session, force bool) {
	cms, err := n.db.ContactMailboxes(ctx)
	if err != nil {
		return
	}
	for _, cm := range cms {
		if cm.Token == nil || cm.SlotAdded.IsZero() {
			continue
		}
		c, err := n.book.LookupID(ctx, cm.ContactID)
		if err != nil || c.Removed || c.State != contacts.Accepted {
			continue
		}
		if noLink, _ := n.unreachable(c); !noLink {
			continue
		}
		if len(cm.Peer) == 64 && !n.peerFailing(c.ID) {
			continue // their own mailbox takes it
		}
		if err := n.putItems(ctx, sess, mailbox.SlotOf(cm.Token), c, true, force); err != nil {
			n.log.Debug("mailbox: handing over", "peer", c.Address.Short(), "err", err)
			if sess.Err() != nil {
				return
			}
		}
	}
}

// syncSlots makes our mailbox's slots match our accepted contacts and
// tells each contact its token.
func (n *Node) syncSlots(ctx context.Context, sess *mailbox.Session, addr onion.Address) error {
	key, err := addr.PublicKey()
	if err != nil {
		return err
	}
	cms, err := n.db.ContactMailboxes(ctx)
	if err != nil {
		return err
	}
	have := map[int64]storage.ContactMailbox{}
	for _, cm := range cms {
		have[cm.ContactID] = cm
	}
	cs, err := n.book.List(ctx)
	if err != nil {
		return err
	}
	want := map[int64]bool{}
	for _, c := range cs {
		if c.State != contacts.Accepted {
			continue
		}
		want[c.ID] = true
		cm := have[c.ID]
		if cm.Token == nil {
			cm.Token = mailbox.NewSecret()
			cm.SlotAdded = time.Time{}
			if err := n.db.Update(ctx, func(tx *storage.Tx) error { return tx.SetMailboxToken(c.ID, cm.Token) }); err != nil {
				return err
			}
		}
		if cm.SlotAdded.IsZero() {
			if err := sess.AddSlot(ctx, mailbox.SlotOf(cm.Token)); err != nil {
				return err
			}
			if err := n.db.Update(ctx, func(tx *storage.Tx) error { return tx.SetSlotAdded(c.ID, time.Now()) }); err != nil {
				return err
			}
		}
		if err := n.tellMailbox(ctx, c, key, cm.Token); err != nil {
			n.log.Warn("telling a contact about our mailbox", "peer", c.Address.Short(), "err", err)
		}
	}
	for _, cm := range cms {
		if cm.Token == nil || want[cm.ContactID] {
			continue
		}
		// Removed, blocked or declined: its slot goes, with what it holds.
		if err := sess.RemoveSlot(ctx, mailbox.SlotOf(cm.Token)); err != nil {
			return err
		}
		if err := n.db.Update(ctx, func(tx *storage.Tx) error { return tx.SetMailboxToken(cm.ContactID, nil) }); err != nil {
			return err
		}
	}
	return nil
}

// slotMap maps our contacts' slots to their ids.
func (n *Node) slotMap(ctx context.Context) map[string]int64 {
	m := map[string]int64{}
	cms, err := n.db.ContactMailboxes(ctx)
	if err != nil {
		return m
	}
	for _, cm := range cms {
		if cm.Token != nil {
			m[string(mailbox.SlotOf(cm.Token))] = cm.ContactID
		}
	}
	return m
}

// consumeOwn takes what contacts left for us and applies notices about
// what we handed over, until the session ends.
func (n *Node) consumeOwn(ctx context.Context, sess *mailbox.Session) {
	slots := n.slotMap(ctx)
	lookup := func(slot []byte) (int64, bool) {
		id, ok := slots[string(slot)]
		if !ok {
			slots = n.slotMap(ctx) // a slot added since
			id, ok = slots[string(slot)]
		}
		return id, ok
	}
	taken := map[string][]wire.ID{}
	flush := func() {
		for slot, ids := range taken {
			if len(ids) > 0 {
				sess.Taken([]byte(slot), ids)
			}
		}
		clear(taken)
	}
	items, notices := sess.Items(), sess.Notices()
	for items != nil || notices != nil {
		select {
		case it, ok := <-items:
			if !ok {
				items = nil
				continue
			}
			take := true
			if cid, ok := lookup(it.Slot); ok {
				var err error
				if take, err = n.handleRelayed(sess, cid, it.Msg); err != nil {
					// Not stored: not taken; the session ends, the item comes again.
					n.log.Warn("mailbox: handling an item", "err", err)
					flush()
					sess.Close()
					continue
				}
			}
			if take {
				taken[string(it.Slot)] = append(taken[string(it.Slot)], it.ID)
			}
			if len(items) == 0 || len(taken[string(it.Slot)]) >= wire.MaxMailboxIDs {
				flush()
			}
		case nt, ok := <-notices:
			if !ok {
				notices = nil
				continue
			}
			cid, ok := lookup(nt.Slot)
			if ok {
				if err := n.applyNotice(cid, nt); err != nil {
					n.log.Warn("mailbox: applying a notice", "err", err)
					sess.Close()
					continue
				}
			}
			sess.AckNotice(nt)
		case <-n.mbox.quit:
			flush() // the node closes: say what we took, take no more
			return
		case <-ctx.Done():
			return
		}
	}
}

// mailboxBeforeClose hands our mailbox, one last time and without waiting
// for the grace period, what unreachable contacts wait for: we are going
// offline. Bounded by the flush timeout.
func (n *Node) mailboxBeforeClose() {
	ctx, cancel := context.WithTimeout(n.ctx, n.tune.mbox.flush)
	defer cancel()
	n.mbox.mu.Lock()
	var own *mailbox.Session
	if o := n.mbox.own; o != nil {
		own = o.sess
	}
	n.mbox.mu.Unlock()
	if own != nil {
		n.handOver(ctx, own, true)
	}
	// What we took from mailboxes must reach them before the links close
	// (else they keep it, and its sender learns of the delivery only when
	// we are back): consumers send their last Taken, then each session is
	// flushed.
	n.mbox.quitOnce.Do(func() { close(n.mbox.quit) })
	n.mbox.mu.Lock()
	var running []chan struct{}
	for done := range n.mbox.consumers {
		running = append(running, done)
	}
	n.mbox.mu.Unlock()
	for _, done := range running {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	n.mbox.mu.Lock()
	var sessions []*mailbox.Session
	if o := n.mbox.own; o != nil && o.sess != nil {
		sessions = append(sessions, o.sess)
	}
	for _, r := range n.mbox.peers {
		if r.sess != nil {
			sessions = append(sessions, r.sess)
		}
	}
	n.mbox.mu.Unlock()
	for _, s := range sessions {
		s.Flush(ctx)
	}
}
