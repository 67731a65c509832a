package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Outgoing messages: sending (one or many recipients, grouped into shared
// transactions), messages that cannot be encrypted yet (scheduled, or to a
// contact who has not accepted), deadlines, retry and cancel.
//
// A message is encrypted at the latest possible moment, never earlier than
// it can be sent in order: at once for an accepted contact, at its time
// for a scheduled one, and in the transaction that stores the session for
// a contact who accepts (onAccept), so nothing sent meanwhile is lost or
// refused.

// Reasons in Message.Error.
const (
	reasonExpired = "expired: not delivered before its deadline"
)

// refusalEnd is the state and reason our message ends in when the peer
// refuses it. This version refuses only expired messages (a contact over
// its limits is slowed down, not refused: guard.go); other reasons are a
// newer peer's.
func refusalEnd(r wire.Reason) (storage.Status, string) {
	if r == wire.ReasonExpired {
		return storage.StatusExpired, "expired: it reached the contact after its deadline"
	}
	return storage.StatusFailed, fmt.Sprintf("refused by the contact's node (reason %d)", uint8(r))
}

func checkText(text string) error {
	if len(text) > MaxText {
		return fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLong, len(text), MaxText)
	}
	if strings.TrimSpace(text) == "" {
		return errors.New("empty message")
	}
	if !utf8.ValidString(text) {
		return errors.New("text is not UTF-8")
	}
	return nil
}

// Send implements API.
func (n *Node) Send(ctx context.Context, ref, text string) (Message, error) {
	ms, err := n.SendMany(ctx, SendRequest{To: []string{ref}, Text: text})
	if err != nil {
		return Message{}, err
	}
	return ms[0], nil
}

// SendMany implements API.
func (n *Node) SendMany(ctx context.Context, req SendRequest) ([]Message, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	switch {
	case len(req.To) == 0:
		return nil, errors.New("node: send: no recipient")
	case req.TTL < 0:
		return nil, errors.New("node: send: negative TTL")
	case len(req.IdempotencyKey) > MaxIdempotencyKey:
		return nil, fmt.Errorf("node: send: idempotency key longer than %d bytes", MaxIdempotencyKey)
	}
	if err := checkText(req.Text); err != nil {
		return nil, fmt.Errorf("node: send: %w", err)
	}
	if len(req.To) == 1 {
		if _, err := onion.ParseAddress(req.To[0]); err != nil { // a name: maybe a group's (issue 18)
			g, err := n.groupRef(ctx, req.To[0])
			if err != nil {
				return nil, err
			}
			if g != nil {
				// Not for groups yet: a deadline and a time. An idempotency
				// key (the CLI always sends one) is not applied to groups.
				if req.TTL != 0 || !req.At.IsZero() {
					return nil, fmt.Errorf("node: send to group %s: a deadline (ttl) or a time (at) is for contacts, not groups (yet)", safetext.Line(g.Name))
				}
				m, err := n.sendGroup(ctx, *g, req.Text)
				if err != nil {
					return nil, err
				}
				return []Message{m}, nil
			}
		}
	}
	now := time.Now()
	var sendAt time.Time
	if req.At.After(now) {
		sendAt = req.At
	}
	var expires time.Time
	if req.TTL > 0 {
		expires = now.Add(req.TTL)
		if !sendAt.IsZero() {
			expires = sendAt.Add(req.TTL)
		}
	}
	job := &sendJob{done: make(chan struct{}), lead: make(chan struct{})}
	seen := map[int64]bool{}
	for _, ref := range req.To {
		c, err := n.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		if err := sendable(c); err != nil {
			return nil, fmt.Errorf("node: send to %s: %w", c.Display(), err)
		}
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		job.msgs = append(job.msgs, &outMsg{c: c, text: req.Text, created: now, sendAt: sendAt, expires: expires, key: req.IdempotencyKey})
	}
	n.commitSend(job)
	if job.err != nil {
		n.storeFailed(job.err, nil, nil) // a full disk shows in Status
		if n.ctx.Err() != nil {
			return nil, fmt.Errorf("node: send: %w", ErrClosed) // not stored: the caller may retry elsewhere
		}
		return nil, fmt.Errorf("node: send: %w", job.err)
	}
	out := make([]Message, len(job.msgs))
	for i, om := range job.msgs {
		if om.api != nil {
			out[i] = *om.api
		} else {
			out[i] = n.fullMessage(om.stored, om.c) // an idempotent repeat
		}
	}
	return out, nil
}

// resolve is find for sending: an address (the usual reference of a
// script) is one indexed lookup, without the conversation summary that
// find adds (a third of a send's cost).
func (n *Node) resolve(ctx context.Context, ref string) (contacts.Contact, error) {
	addr, err := onion.ParseAddress(ref)
	if err != nil {
		return n.find(ctx, ref)
	}
	c, err := n.book.Lookup(ctx, addr)
	switch {
	case err == nil && !c.Removed:
		return c, nil
	case err == nil, errors.Is(err, contacts.ErrNotFound):
		return contacts.Contact{}, fmt.Errorf("%w: %q", ErrUnknownContact, ref)
	}
	return contacts.Contact{}, err
}

// sendable says whether messages may be queued for c: to an accepted
// contact, or to one we asked (they wait for the acceptance).
func sendable(c contacts.Contact) error {
	switch c.State {
	case contacts.Accepted, contacts.Requested:
		return nil
	case contacts.Blocked:
		return ErrBlocked
	}
	return ErrNotAccepted
}

// sendQueue gathers concurrent sends so they share one transaction (a
// group commit): a send arriving while another commits waits, and the
// first of the waiters then commits every send that queued up meanwhile.
// A send never waits for more than the commit before its own.
type sendQueue struct {
	mu      sync.Mutex
	busy    bool
	pending []*sendJob
}

// sendJob is one SendMany call: its messages commit together or not at all.
type sendJob struct {
	msgs []*outMsg
	err  error
	done chan struct{} // closed when committed (or failed)
	lead chan struct{} // closed when this job's goroutine is to commit the queue
}

// outMsg is one recipient's copy of a send.
type outMsg struct {
	c       contacts.Contact
	text    string
	created time.Time
	sendAt  time.Time // zero: now
	expires time.Time // zero: no deadline
	key     string

	stored storage.Message // the result
	dup    bool            // the idempotency key found an earlier message
	timer  bool            // it disappears (the conversation's timer, issue 17)
	api    *Message        // as published
}

// commitSend returns once job is committed or failed (job.err).
func (n *Node) commitSend(job *sendJob) {
	q := &n.sendq
	q.mu.Lock()
	q.pending = append(q.pending, job)
	if q.busy {
		q.mu.Unlock()
		select {
		case <-job.done:
			return // committed by another goroutine
		case <-job.lead:
		}
		q.mu.Lock()
	}
	q.busy = true
	batch := q.pending[:min(len(q.pending), max(n.tune.maxBatch, 1))]
	q.pending = slices.Clone(q.pending[len(batch):])
	q.mu.Unlock()

	n.runSends(batch)

	q.mu.Lock()
	if len(q.pending) > 0 {
		close(q.pending[0].lead) // hand over: it commits the next batch
	} else {
		q.busy = false
	}
	q.mu.Unlock()
	<-job.done
}

// runSends commits jobs in one transaction. A job whose contact changed
// meanwhile (removed, blocked) fails alone; a storage error fails them all.
func (n *Node) runSends(jobs []*sendJob) {
	defer func() {
		for _, j := range jobs {
			close(j.done)
		}
	}()
	// Every peer involved, locked in address order (the one order all
	// multi-peer lockers use), held from the transaction until the new
	// outbox items are with the writers.
	byAddr := map[string]*peer{}
	for _, j := range jobs {
		for _, om := range j.msgs {
			byAddr[string(om.c.Address)] = nil
		}
	}
	addrs := make([]string, 0, len(byAddr))
	for a := range byAddr {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	peers := make([]*peer, len(addrs))
	for i, a := range addrs {
		n.mu.Lock()
		peers[i] = n.peerLocked(onion.Address(a))
		n.mu.Unlock()
		byAddr[a] = peers[i]
	}
	for _, p := range peers {
		p.mu.Lock()
	}
	now := time.Now()
	queued := map[*peer][]storage.OutboxItem{}
	var contactOf = map[*peer]int64{}
	wake, vanish := false, false
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		clear(queued)
		wake = false
		// chains: the session of each accepted contact, loaded once and
		// checked against their key; nil while we wait for a new one (a
		// session reset): their messages wait unencrypted, as for a
		// contact who has not accepted.
		chains := map[int64]*chain{}
		firstByKey := map[string]*outMsg{}
		for _, j := range jobs {
			j.err = nil
			// Re-read the contacts under their locks: the state decides
			// between encrypting now and waiting for the session.
			for _, om := range j.msgs {
				sc, err := tx.Contact(om.c.ID)
				if err != nil || sc.Removed {
					j.err = fmt.Errorf("%s: %w", om.c.Display(), ErrUnknownContact)
					break
				}
				if err := sendable(contacts.Contact{State: sc.State}); err != nil {
					j.err = fmt.Errorf("%s: %w", om.c.Display(), err)
					break
				}
				if _, loaded := chains[om.c.ID]; loaded || sc.State != contacts.Accepted {
					continue
				}
				ch, err := n.contactChain(tx, om.c)
				switch {
				case errors.Is(err, storage.ErrNotFound):
					chains[om.c.ID] = nil
				case errors.Is(err, ErrSessionMismatch):
					j.err = err
				case err != nil:
					return err
				default:
					chains[om.c.ID] = ch
					// Anything already due for them goes first.
					its, err := n.promoteDue(tx, ch, om.c.ID, now)
					if err != nil {
						return err
					}
					p := byAddr[string(om.c.Address)]
					queued[p] = append(queued[p], its...)
					contactOf[p] = om.c.ID
				}
				if j.err != nil {
					break
				}
			}
			if j.err != nil {
				continue
			}
			for _, om := range j.msgs {
				om.dup = false
				if om.key != "" {
					k := fmt.Sprint(om.c.ID, "\x00", om.key)
					if first := firstByKey[k]; first != nil {
						om.stored, om.dup = first.stored, true
						continue
					}
					m, err := tx.MessageByIdempotencyKey(om.c.ID, om.key)
					if err == nil {
						om.stored, om.dup = m, true
						continue
					}
					if !errors.Is(err, storage.ErrNotFound) {
						return err
					}
					firstByKey[k] = om
				}
				p := byAddr[string(om.c.Address)]
				contactOf[p] = om.c.ID
				ch := chains[om.c.ID]
				if ch == nil || !om.sendAt.IsZero() {
					m, err := tx.QueueUnsent(storage.OutgoingMessage{ContactID: om.c.ID, Body: om.text, Created: om.created,
						SendAt: om.sendAt, Expires: om.expires, IdempotencyKey: om.key})
					if err != nil {
						return err
					}
					om.stored = m
					wake = wake || !om.sendAt.IsZero() || !om.expires.IsZero()
					continue
				}
				id := wire.NewID()
				content := wire.Content{Text: om.text, Time: om.created.UnixMilli()}
				if !om.expires.IsZero() {
					content.Expires = om.expires.UnixMilli()
					wake = true
				}
				timer, err := tx.ConversationTimer(om.c.ID)
				if err != nil {
					return err
				}
				if timer > 0 {
					content.Disappear = uint32(timer / time.Second)
				}
				frame, err := n.encrypt(ch, id, content, now)
				if err != nil {
					return err
				}
				m, err := tx.QueueMessageFrame(storage.OutgoingMessage{ContactID: om.c.ID, ID: storage.MessageID(id), Body: om.text,
					Created: om.created, Frame: frame, Expires: om.expires, IdempotencyKey: om.key})
				if err != nil {
					return err
				}
				if om.timer = timer > 0; om.timer {
					// Ours starts disappearing at once (issue 17).
					if err := tx.SetConvo(m, storage.ConvoFields{Timer: timer, Vanish: om.created.Add(timer)}); err != nil {
						return err
					}
				}
				om.stored = m
				queued[p] = append(queued[p], storage.OutboxItem{ID: m.ID, ContactID: om.c.ID, Kind: storage.KindMessage, Message: &m.ID,
					Frame: frame, NextAttempt: om.created, Created: om.created, Expires: om.expires})
			}
		}
		for id, ch := range chains {
			if ch == nil {
				continue
			}
			if err := ch.save(tx, id, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for p, its := range queued {
			for _, it := range its {
				p.enqueueLocked(it)
			}
		}
	}
	for i := len(peers) - 1; i >= 0; i-- {
		peers[i].mu.Unlock()
	}
	if err != nil {
		for _, j := range jobs {
			if j.err == nil {
				j.err = err
			}
		}
		return
	}
	for p, id := range contactOf {
		n.startDelivery(p, id)
	}
	for _, j := range jobs {
		if j.err != nil {
			continue
		}
		for _, om := range j.msgs {
			if om.dup {
				continue
			}
			am := n.apiMessage(om.stored, om.c)
			if om.timer {
				am = n.fullMessage(om.stored, om.c)
				vanish = true
			}
			om.api = &am
			n.indexMessage(am, om.c.ID) // searchable once it is shown
			n.events.publish(MessageEvent{Message: am})
		}
	}
	if wake {
		n.wakeScheduler()
	}
	if vanish {
		n.wakeVanish()
	}
}

// chain is one contact's ratchet state through a transaction that
// encrypts or decrypts several messages; it is stored once, at the end.
type chain struct {
	st    *ratchet.State
	dirty bool
}

func loadChain(tx *storage.Tx, contactID int64) (*chain, error) {
	b, err := tx.Session(contactID)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	st, err := ratchet.UnmarshalState(b)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return &chain{st: st}, nil
}

// loadChainFor is loadChain for c, checking, as loadSession does, that the
// session was made between our onion key (self) and peer's: errors wrap
// storage.ErrNotFound (no session: a new one was asked for) or
// ErrSessionMismatch.
func loadChainFor(tx *storage.Tx, c contacts.Contact, peer, self ed25519.PublicKey) (*chain, error) {
	ch, err := loadChain(tx, c.ID)
	if err != nil {
		return nil, err
	}
	if !ch.st.PeerOnionKey().Equal(peer) || !ch.st.SelfOnionKey().Equal(self) {
		return nil, fmt.Errorf("%w (%s)", ErrSessionMismatch, c.Display())
	}
	return ch, nil
}

// contactChain is loadChainFor with the contact's own key, from its address.
func (n *Node) contactChain(tx *storage.Tx, c contacts.Contact) (*chain, error) {
	pub, err := c.Address.PublicKey()
	if err != nil {
		return nil, err
	}
	return loadChainFor(tx, c, pub, n.pub)
}

func (ch *chain) save(tx *storage.Tx, contactID int64, now time.Time) error {
	if !ch.dirty {
		return nil
	}
	b, err := ch.st.MarshalBinary()
	if err != nil {
		return err
	}
	return tx.PutSession(contactID, b, now)
}

// encrypt makes the Message frame of content with id, advancing ch.
func (n *Node) encrypt(ch *chain, id wire.ID, content wire.Content, now time.Time) ([]byte, error) {
	pt, err := wire.MarshalContent(content)
	if err != nil {
		return nil, err
	}
	next, ct, err := ch.st.Encrypt(pt, id[:], now)
	if err != nil {
		return nil, err
	}
	frame, err := wire.Marshal(&wire.Message{ID: id, Ciphertext: ct})
	if err != nil {
		return nil, err
	}
	ch.st, ch.dirty = next, true
	return frame, nil
}

// promoteDue encrypts the contact's unsent messages due by now into the
// outbox, in the transaction the caller stores ch in. The contact's peer
// mu is held. A message past its deadline stays for the expiry sweep.
func (n *Node) promoteDue(tx *storage.Tx, ch *chain, contactID int64, now time.Time) ([]storage.OutboxItem, error) {
	ms, err := tx.Unsent(contactID, now)
	if err != nil {
		return nil, err
	}
	var its []storage.OutboxItem
	for _, m := range ms {
		if !m.Expires.IsZero() && !now.Before(m.Expires) {
			continue
		}
		t := m.Created
		if !m.SendAt.IsZero() {
			t = m.SendAt // what the contact sees: when it was sent
		}
		content := wire.Content{Text: m.Body, Time: t.UnixMilli()}
		if !m.Expires.IsZero() {
			content.Expires = m.Expires.UnixMilli()
		}
		// The conversation's timer when it goes (issue 17).
		timer, err := tx.ConversationTimer(contactID)
		if err != nil {
			return nil, err
		}
		if timer > 0 {
			content.Disappear = uint32(timer / time.Second)
			if err := tx.SetConvo(m, storage.ConvoFields{Timer: timer, Vanish: now.Add(timer)}); err != nil {
				return nil, err
			}
			n.wakeVanish() // early if the commit fails: the loop finds nothing
		}
		frame, err := n.encrypt(ch, wire.ID(m.ID), content, now)
		if err != nil {
			return nil, err
		}
		it, err := tx.PromoteUnsent(m, frame, now)
		if err != nil {
			return nil, err
		}
		its = append(its, it)
	}
	return its, nil
}

// wakeScheduler makes scheduleLoop look at the next due time again.
func (n *Node) wakeScheduler() {
	select {
	case n.schedWake <- struct{}{}:
	default:
	}
}

// scheduleLoop sends scheduled messages when they are due and expires
// those whose deadline passes, across restarts: what was due while the
// node was down is handled at start.
func (n *Node) scheduleLoop() {
	for {
		now := time.Now()
		n.runDue(now)
		at, ok, err := n.db.NextDue(n.ctx)
		if n.ctx.Err() != nil {
			return
		}
		if err != nil {
			n.log.Warn("scheduler", "err", err)
			at, ok = time.Now().Add(time.Minute), true
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if ok {
			d := time.Until(at)
			if !at.After(now) {
				// Still due after runDue: it cannot be done now (its
				// session would not load, say). Try again later.
				d = time.Minute
			}
			timer = time.NewTimer(max(d, 0))
			fire = timer.C
		}
		select {
		case <-fire:
		case <-n.schedWake:
		case <-n.ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if n.ctx.Err() != nil {
			return
		}
	}
}

// runDue expires what is past its deadline and sends what is due.
func (n *Node) runDue(now time.Time) {
	var ended []storage.Ended
	err := n.db.Update(n.ctx, func(tx *storage.Tx) (err error) {
		ended, err = tx.ExpireDue(now, reasonExpired)
		return err
	})
	if err != nil {
		if n.ctx.Err() == nil {
			n.log.Warn("expiring messages", "err", err)
		}
		return
	}
	n.publishEnded(ended, now)
	ids, err := n.db.DueContacts(n.ctx, now)
	if err != nil {
		if n.ctx.Err() == nil {
			n.log.Warn("scheduled messages", "err", err)
		}
		return
	}
	for _, id := range ids {
		c, err := n.book.LookupID(n.ctx, id)
		if err != nil || c.Removed || c.State != contacts.Accepted {
			continue
		}
		if err := n.promoteContact(c, now); err != nil && n.ctx.Err() == nil {
			n.log.Warn("sending scheduled messages", "peer", c.Address.Short(), "err", err)
		}
	}
}

// promoteContact encrypts c's due unsent messages into the outbox and
// starts their delivery.
func (n *Node) promoteContact(c contacts.Contact, now time.Time) error {
	p := n.peer(c.Address)
	p.mu.Lock()
	var its []storage.OutboxItem
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		ch, err := n.contactChain(tx, c)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // a new session was asked for: they go with it
		}
		if err != nil {
			return err
		}
		if its, err = n.promoteDue(tx, ch, c.ID, now); err != nil {
			return err
		}
		return ch.save(tx, c.ID, now)
	})
	if err == nil {
		for _, it := range its {
			p.enqueueLocked(it)
		}
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if len(its) > 0 {
		n.startDelivery(p, c.ID)
	}
	return nil
}

// publishEnded tells subscribers about messages that ended undelivered.
func (n *Node) publishEnded(ended []storage.Ended, at time.Time) {
	addrs := map[int64]string{}
	for _, e := range ended {
		addr, ok := addrs[e.ContactID]
		if !ok {
			if c, err := n.book.LookupID(n.ctx, e.ContactID); err == nil {
				addr = string(c.Address)
			}
			addrs[e.ContactID] = addr
		}
		n.events.publish(MessageStateEvent{ID: e.ID.String(), Address: addr, State: MessageState(e.Status), At: at, Error: e.Error})
	}
}

// Retry implements API.
func (n *Node) Retry(ctx context.Context, messageID string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	id, err := storage.ParseMessageID(messageID)
	if err != nil {
		return fmt.Errorf("node: retry: %w", err)
	}
	m, err := n.db.OutgoingByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("node: retry %s: %w", messageID, ErrUnknownMessage)
	}
	if err != nil {
		return fmt.Errorf("node: retry: %w", err)
	}
	c, err := n.book.LookupID(ctx, m.ContactID)
	if err != nil {
		return fmt.Errorf("node: retry: %w", err)
	}
	now := time.Now()
	if _, err := n.db.OutboxItem(ctx, id); err == nil {
		// Still waiting (queued, sent, stored at a mailbox, or failed
		// there: a mailbox deleted it unread): try the contact again now
		// rather than after the backoff, and hand it to a mailbox again.
		p := n.peer(c.Address)
		n.redialNow(p)
		n.startDelivery(p, c.ID)
		n.mailboxRetry(ctx, c, storage.OutboxItem{ID: id})
		return nil
	}
	switch m.Status {
	case storage.StatusQueued, storage.StatusSent, storage.StatusStored:
		// Not in the outbox yet (unsent, due later): try the contact now.
		p := n.peer(c.Address)
		n.redialNow(p)
		n.startDelivery(p, c.ID)
		return nil
	case storage.StatusFailed:
	case storage.StatusExpired:
		return fmt.Errorf("node: retry %s: it expired (%s); send it again", messageID, m.Error)
	case storage.StatusCancelled:
		return fmt.Errorf("node: retry %s: it was cancelled; send it again", messageID)
	default:
		return fmt.Errorf("node: retry %s: it was delivered already", messageID)
	}
	switch {
	case c.Removed:
		return fmt.Errorf("node: retry %s: the contact was removed: %w", messageID, ErrUnknownContact)
	case c.State == contacts.Blocked:
		return fmt.Errorf("node: retry %s: %w", messageID, ErrBlocked)
	case !m.Expires.IsZero() && !now.Before(m.Expires):
		return fmt.Errorf("node: retry %s: its deadline passed at %s; send it again", messageID, m.Expires.Format(time.RFC3339))
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	var its []storage.OutboxItem
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		its = nil
		if _, err := tx.Requeue(c.ID, id, now); err != nil {
			return err
		}
		sc, err := tx.Contact(c.ID)
		if err != nil || sc.State != contacts.Accepted {
			return err // requested: sent when they accept
		}
		ch, err := n.contactChain(tx, c)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // a new session was asked for: sent with it
		}
		if err != nil {
			return err
		}
		if its, err = n.promoteDue(tx, ch, c.ID, now); err != nil {
			return err
		}
		return ch.save(tx, c.ID, now)
	})
	if err == nil {
		for _, it := range its {
			p.enqueueLocked(it)
		}
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: retry %s: %w", messageID, err)
	}
	n.events.publish(MessageStateEvent{ID: messageID, Address: string(c.Address), State: Queued, At: now})
	n.redialNow(p)
	n.startDelivery(p, c.ID)
	n.wakeScheduler()
	return nil
}

// Scheduled implements API.
func (n *Node) Scheduled(ctx context.Context) ([]Message, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	ms, err := n.db.Scheduled(ctx)
	if err != nil {
		return nil, err
	}
	return n.apiMessages(ctx, ms)
}

// apiMessages converts stored messages of any contacts, removed ones
// included.
func (n *Node) apiMessages(ctx context.Context, ms []storage.Message) ([]Message, error) {
	byID := map[int64]contacts.Contact{}
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		c, ok := byID[m.ContactID]
		if !ok {
			var err error
			if c, err = n.book.LookupID(ctx, m.ContactID); err != nil {
				return nil, err
			}
			byID[m.ContactID] = c
		}
		out = append(out, n.apiMessage(m, c))
	}
	return out, nil
}

// CancelScheduled implements API.
func (n *Node) CancelScheduled(ctx context.Context, messageID string) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	id, err := storage.ParseMessageID(messageID)
	if err != nil {
		return fmt.Errorf("node: cancel: %w", err)
	}
	var m storage.Message
	err = n.db.Update(ctx, func(tx *storage.Tx) (err error) {
		m, err = tx.CancelUnsent(id)
		return err
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("node: cancel %s: %w", messageID, ErrUnknownMessage)
	case errors.Is(err, storage.ErrState):
		return fmt.Errorf("node: cancel %s: it was sent already", messageID)
	case err != nil:
		return fmt.Errorf("node: cancel: %w", err)
	}
	addr := ""
	if c, err := n.book.LookupID(ctx, m.ContactID); err == nil {
		addr = string(c.Address)
	}
	n.events.publish(MessageStateEvent{ID: messageID, Address: addr, State: Cancelled, At: time.Now()})
	n.wakeScheduler()
	return nil
}
