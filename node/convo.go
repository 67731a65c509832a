package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/files"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Conversation features (issue 17): replies, reactions, edits, deletion
// and disappearing messages. Each travels as a kind of wire.Content inside
// the session; the receiving node applies it in the transaction that stores
// the ratchet step (convoApply, convoStored), so what a peer may do is
// enforced by the peer's node, not only its screen. A change that arrives
// before the message it changes waits in storage until it does. Search is
// in search.go, backups in backup.go.

// The author's windows: after them, their node refuses to edit or delete
// for everyone, and ours refuses the edit or deletion (by the author's own
// clock: the times compared are both theirs).
const (
	EditWindow   = 24 * time.Hour
	DeleteWindow = 24 * time.Hour
)

// Timers are the disappearing-messages timers SetTimer offers; 0 is off.
var Timers = []time.Duration{0, 5 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 28 * 24 * time.Hour}

// Errors of the conversation features.
var (
	// ErrNoMessage: the conversation has no message with that id.
	ErrNoMessage = errors.New("no such message in the conversation")
	// ErrNotAuthor: editing or deleting for everyone a message we did not write.
	ErrNotAuthor = errors.New("only its author can change a message")
	// ErrTooLate: editing or deleting for everyone after EditWindow or DeleteWindow.
	ErrTooLate = errors.New("too late to change that message")
)

const (
	// kindConvo is the outbox kind of a reaction, edit or deletion: a
	// Message frame with no message row.
	kindConvo storage.OutboxKind = "convo"
	// maxPendingOps bounds the changes a contact may have waiting for
	// messages that have not arrived.
	maxPendingOps = 1000
	// pendingMaxAge: a change whose message never came is dropped after this.
	pendingMaxAge = 30 * 24 * time.Hour
	// quoteRunes is how much of the message answered a reply quotes.
	quoteRunes = 160
)

// msNow is the time to the millisecond, the precision of wire.Content.Time:
// what we store of our own changes is what the peer gets.
func msNow() time.Time { return time.UnixMilli(time.Now().UnixMilli()) }

// parseMessageID parses an API message id.
func parseMessageID(s string) (storage.MessageID, error) {
	id, err := storage.ParseMessageID(strings.TrimSpace(s))
	if err != nil {
		return id, fmt.Errorf("%w: %q is not a message id (32 hex digits)", ErrNoMessage, s)
	}
	return id, nil
}

// findMessage finds the message id of c's conversation, theirs first: ids
// are chosen by their authors, so only a peer trying to confuse itself
// makes one exist both ways.
func (n *Node) findMessage(ctx context.Context, c contacts.Contact, id string) (storage.Message, error) {
	mid, err := parseMessageID(id)
	if err != nil {
		return storage.Message{}, err
	}
	for _, dir := range []storage.Direction{storage.Incoming, storage.Outgoing} {
		m, err := n.db.Message(ctx, c.ID, dir, mid)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return storage.Message{}, err
		}
	}
	return storage.Message{}, fmt.Errorf("%w: %s", ErrNoMessage, id)
}

// accepted finds an accepted contact to send to.
func (n *Node) accepted(ctx context.Context, ref, what string) (contacts.Contact, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return c, err
	}
	switch c.State {
	case contacts.Accepted:
		return c, nil
	case contacts.Blocked:
		return c, fmt.Errorf("node: %s %s: %w", what, c.Display(), ErrBlocked)
	}
	return c, fmt.Errorf("node: %s %s: %w", what, c.Display(), ErrNotAccepted)
}

// encryptLocked encrypts content for contact c under a fresh message id,
// with the session that is c's (loadSession). The peer's mu must be held
// (a ratchet step).
func (n *Node) encryptLocked(ctx context.Context, c contacts.Contact, content wire.Content, now time.Time) (wire.ID, []byte, []byte, error) {
	mid := wire.NewID()
	sess, frame, err := n.encryptAsLocked(ctx, c, mid, content, now)
	return mid, sess, frame, err
}

// encryptAsLocked is encryptLocked under the message id mid (a file
// offer's message has its file's id), returning the session after it and
// the frame.
func (n *Node) encryptAsLocked(ctx context.Context, c contacts.Contact, mid wire.ID, content wire.Content, now time.Time) ([]byte, []byte, error) {
	pub, err := c.Address.PublicKey()
	if err != nil {
		return nil, nil, err
	}
	st, err := n.loadSession(ctx, c, pub)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: a new session was asked for; they have not answered yet", ErrNotAccepted)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("session: %w", err)
	}
	pt, err := wire.MarshalContent(content)
	if err != nil {
		return nil, nil, err
	}
	next, ct, err := st.Encrypt(pt, mid[:], now)
	if err != nil {
		return nil, nil, err
	}
	nextBytes, err := next.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	frame, err := wire.Marshal(&wire.Message{ID: mid, Ciphertext: ct})
	if err != nil {
		return nil, nil, err
	}
	return nextBytes, frame, nil
}

// chat is an outgoing chat message (or a timer change) and what it carries.
type chat struct {
	text  string
	reply *storage.ReplyRef // what it answers, from our side
	quote string
	timer *time.Duration // a timer change (text empty)
}

// queueChatLocked encrypts a chat message (or a timer change) for c and
// stores session, message, what it carries and its outbox frame in one
// transaction. A chat message carries the conversation's timer and starts
// disappearing at once on our side. p.mu must be held.
func (n *Node) queueChatLocked(ctx context.Context, c contacts.Contact, ch chat) (storage.Message, storage.OutboxItem, error) {
	now := msNow()
	content := wire.Content{Text: ch.text, Time: now.UnixMilli()}
	f := storage.ConvoFields{Reply: ch.reply}
	if ch.timer != nil {
		content.Timer = &wire.Timer{Seconds: uint32(*ch.timer / time.Second)}
		f.Kind, f.Timer = storage.KindTimer, *ch.timer
	} else {
		timer, err := n.db.ConversationTimer(ctx, c.ID)
		if err != nil {
			return storage.Message{}, storage.OutboxItem{}, err
		}
		if timer > 0 {
			content.Disappear = uint32(timer / time.Second)
			f.Timer, f.Vanish = timer, now.Add(timer)
		}
	}
	if ch.reply != nil {
		content.ReplyTo = &wire.Ref{ID: wire.ID(ch.reply.ID), Mine: ch.reply.Direction == storage.Outgoing}
		content.Quote = ch.quote
	}
	id, sess, frame, err := n.encryptLocked(ctx, c, content, now)
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	var m storage.Message
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		var err error
		m, err = tx.QueueMessage(storage.OutgoingMessage{
			ContactID: c.ID, ID: storage.MessageID(id), Body: ch.text, Created: now, Session: sess, Frame: frame,
		})
		if err != nil {
			return err
		}
		if f.Reply != nil || f.Timer != 0 || f.Kind == storage.KindTimer {
			if err := tx.SetConvo(m, f); err != nil {
				return err
			}
		}
		if ch.timer != nil {
			_, err = tx.SetConversationTimer(c.ID, *ch.timer, now)
		}
		return err
	})
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	it := storage.OutboxItem{ID: m.ID, ContactID: c.ID, Kind: storage.KindMessage, Message: &m.ID, Frame: frame, NextAttempt: now, Created: now}
	return m, it, nil
}

// sendChat queues ch for c, hands it to delivery and publishes it.
func (n *Node) sendChat(ctx context.Context, c contacts.Contact, ch chat) (Message, error) {
	p := n.peer(c.Address)
	p.mu.Lock()
	m, it, err := n.queueChatLocked(ctx, c, ch)
	if err == nil {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		return Message{}, err
	}
	n.startDelivery(p, c.ID)
	n.wakeVanish()
	am := n.fullMessage(m, c)
	n.indexMessage(am, c.ID) // searchable once it is shown
	n.events.publish(MessageEvent{Message: am})
	return am, nil
}

// queueOpLocked encrypts a change (reaction, edit, deletion) for c and
// queues it in one transaction with what apply stores on our side. p.mu
// must be held.
func (n *Node) queueOpLocked(ctx context.Context, c contacts.Contact, content wire.Content, apply func(*storage.Tx) error) (storage.OutboxItem, error) {
	now := time.UnixMilli(content.Time)
	id, sess, frame, err := n.encryptLocked(ctx, c, content, now)
	if err != nil {
		return storage.OutboxItem{}, err
	}
	var it storage.OutboxItem
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		if err := apply(tx); err != nil {
			return err
		}
		if err := tx.PutSession(c.ID, sess, now); err != nil {
			return err
		}
		var err error
		it, err = tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(id), ContactID: c.ID, Kind: kindConvo, Frame: frame, Created: now})
		return err
	})
	return it, err
}

// sendOp queues a change for c and hands it to delivery.
func (n *Node) sendOp(ctx context.Context, c contacts.Contact, content wire.Content, apply func(*storage.Tx) error) error {
	p := n.peer(c.Address)
	p.mu.Lock()
	it, err := n.queueOpLocked(ctx, c, content, apply)
	if err == nil {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	n.startDelivery(p, c.ID)
	return nil
}

// quoteOf is the excerpt of text a reply carries: one line, at most
// quoteRunes characters and MaxQuote bytes.
func quoteOf(text string) string {
	q := strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(q) > quoteRunes {
		q = string([]rune(q)[:quoteRunes-1]) + "…"
	}
	for len(q) > wire.MaxQuote {
		r := []rune(q)
		q = string(r[:len(r)-2]) + "…"
	}
	return q
}

// Reply implements API.
func (n *Node) Reply(ctx context.Context, ref, to, text string) (Message, error) {
	c, err := n.accepted(ctx, ref, "reply to")
	if err != nil {
		return Message{}, err
	}
	if err := checkText(text); err != nil {
		return Message{}, fmt.Errorf("node: reply: %w", err)
	}
	orig, err := n.findMessage(ctx, c, to)
	if err != nil {
		return Message{}, fmt.Errorf("node: reply: %w", err)
	}
	cv, err := n.db.Convos(ctx, []int64{orig.Seq})
	if err != nil {
		return Message{}, fmt.Errorf("node: reply: %w", err)
	}
	if o := cv[orig.Seq]; o.Kind != storage.KindText || !o.Deleted.IsZero() {
		return Message{}, fmt.Errorf("node: reply: %w: %s is not a message one can answer (deleted, or a notice)", ErrNoMessage, to)
	}
	m, err := n.sendChat(ctx, c, chat{
		text:  text,
		reply: &storage.ReplyRef{ID: orig.ID, Direction: orig.Direction, Quote: quoteOf(orig.Body)},
		quote: quoteOf(orig.Body),
	})
	if err != nil {
		return Message{}, fmt.Errorf("node: reply to %s: %w", c.Display(), err)
	}
	return m, nil
}

// cleanEmoji makes a reaction a peer sent safe to show: one line of
// printable text, nothing a terminal interprets; "" if nothing is left.
func cleanEmoji(s string) string {
	s = strings.TrimSpace(safetext.Line(s))
	if len(s) > wire.MaxEmoji {
		return ""
	}
	return s
}

// checkEmoji validates a reaction of ours: short, printable, no spaces.
func checkEmoji(emoji string) error {
	switch {
	case len(emoji) > wire.MaxEmoji:
		return fmt.Errorf("a reaction is one emoji (%d bytes given, at most %d)", len(emoji), wire.MaxEmoji)
	case !utf8.ValidString(emoji):
		return errors.New("the reaction is not UTF-8")
	case strings.ContainsFunc(emoji, unicode.IsSpace):
		return errors.New("a reaction is one emoji, without spaces")
	case cleanEmoji(emoji) != emoji:
		return errors.New("the reaction has control or invisible characters")
	}
	return nil
}

// React implements API.
func (n *Node) React(ctx context.Context, ref, id, emoji string) error {
	c, err := n.accepted(ctx, ref, "react in the conversation with")
	if err != nil {
		return err
	}
	if err := checkEmoji(emoji); err != nil {
		return fmt.Errorf("node: react: %w", err)
	}
	m, err := n.findMessage(ctx, c, id)
	if err != nil {
		return fmt.Errorf("node: react: %w", err)
	}
	now := msNow()
	t := storage.Target{ContactID: c.ID, Direction: m.Direction, ID: m.ID}
	content := wire.Content{Time: now.UnixMilli(), Reaction: &wire.Reaction{
		To: wire.Ref{ID: wire.ID(m.ID), Mine: m.Direction == storage.Outgoing}, Emoji: emoji,
	}}
	err = n.sendOp(ctx, c, content, func(tx *storage.Tx) error {
		_, err := tx.SetReaction(t, storage.Outgoing, emoji, now)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%w: %s takes no reactions (deleted, or a notice)", ErrNoMessage, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("node: react: %w", err)
	}
	n.publishChanged(c, t, ChangeReaction)
	return nil
}

// ownMessage finds one of our messages that we may still change within
// window.
func (n *Node) ownMessage(ctx context.Context, c contacts.Contact, id string, window time.Duration, what string) (storage.Target, error) {
	m, err := n.findMessage(ctx, c, id)
	if err != nil {
		return storage.Target{}, err
	}
	if m.Direction != storage.Outgoing {
		return storage.Target{}, fmt.Errorf("%w: %s wrote it", ErrNotAuthor, c.Display())
	}
	if age := time.Since(m.Created); age > window {
		return storage.Target{}, fmt.Errorf("%w: %s a message is possible for %v after sending it; this one is %v old",
			ErrTooLate, what, window, age.Round(time.Minute))
	}
	return storage.Target{ContactID: c.ID, Direction: storage.Outgoing, ID: m.ID}, nil
}

// Edit implements API.
func (n *Node) Edit(ctx context.Context, ref, id, text string) (Message, error) {
	c, err := n.accepted(ctx, ref, "edit in the conversation with")
	if err != nil {
		return Message{}, err
	}
	if err := checkText(text); err != nil {
		return Message{}, fmt.Errorf("node: edit: %w", err)
	}
	t, err := n.ownMessage(ctx, c, id, EditWindow, "editing")
	if err != nil {
		return Message{}, fmt.Errorf("node: edit: %w", err)
	}
	// Versions are ordered by time: an edit in the millisecond of its
	// message (or of the last edit) is stamped a millisecond later.
	now := msNow()
	if m, err := n.findMessage(ctx, c, id); err == nil {
		last := m.Created
		if cs, err := n.db.Convos(ctx, []int64{m.Seq}); err == nil && cs[m.Seq].Edited.After(last) {
			last = cs[m.Seq].Edited
		}
		if !now.After(last) {
			now = last.Truncate(time.Millisecond).Add(time.Millisecond)
		}
	}
	content := wire.Content{Time: now.UnixMilli(), Edit: &wire.Edit{ID: wire.ID(t.ID), Text: text}}
	err = n.sendOp(ctx, c, content, func(tx *storage.Tx) error {
		_, err := tx.Edit(t, text, now)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%w: %s cannot be edited (deleted, or a notice)", ErrNoMessage, id)
		}
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("node: edit: %w", err)
	}
	am, _ := n.publishChanged(c, t, ChangeEdited)
	return am, nil
}

// Delete implements API.
func (n *Node) Delete(ctx context.Context, ref, id string, forEveryone bool) error {
	if !forEveryone {
		c, err := n.find(ctx, ref)
		if err != nil {
			return err
		}
		m, err := n.findMessage(ctx, c, id)
		if err != nil {
			return fmt.Errorf("node: delete: %w", err)
		}
		t := storage.Target{ContactID: c.ID, Direction: m.Direction, ID: m.ID}
		p := n.peer(c.Address)
		p.mu.Lock() // the outbox item of a message not yet sent goes too
		var gone storage.Erased
		err = n.db.Update(ctx, func(tx *storage.Tx) error {
			var err error
			if gone, err = tx.Erase(t); err != nil {
				return err
			}
			return n.runEraseHooks(tx, []storage.Erased{gone})
		})
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("node: delete: %w", err)
		}
		n.erased(c, []storage.Erased{gone}, ChangeRemoved)
		return nil
	}
	c, err := n.accepted(ctx, ref, "delete in the conversation with")
	if err != nil {
		return err
	}
	t, err := n.ownMessage(ctx, c, id, DeleteWindow, "deleting for everyone")
	if err != nil {
		return fmt.Errorf("node: delete: %w", err)
	}
	now := msNow()
	content := wire.Content{Time: now.UnixMilli(), Delete: &wire.Delete{ID: wire.ID(t.ID)}}
	var deleted bool
	err = n.sendOp(ctx, c, content, func(tx *storage.Tx) error {
		var err error
		deleted, err = tx.DeleteForEveryone(t, now)
		if err != nil || !deleted {
			return err
		}
		info, err := tx.Target(t)
		if err != nil {
			return err
		}
		return n.runEraseHooks(tx, []storage.Erased{{Seq: info.Seq, ContactID: c.ID, Direction: t.Direction, ID: t.ID}})
	})
	if err != nil {
		return fmt.Errorf("node: delete: %w", err)
	}
	n.scrub()
	if deleted {
		n.publishChanged(c, t, ChangeDeleted)
	}
	return nil
}

// Edits implements API.
func (n *Node) Edits(ctx context.Context, ref, id string) ([]Version, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	m, err := n.findMessage(ctx, c, id)
	if err != nil {
		return nil, fmt.Errorf("node: edits: %w", err)
	}
	vs, err := n.db.Edits(ctx, storage.Target{ContactID: c.ID, Direction: m.Direction, ID: m.ID})
	if err != nil {
		return nil, fmt.Errorf("node: edits: %w", err)
	}
	out := make([]Version, len(vs))
	for i, v := range vs {
		out[i] = Version{Text: v.Text, At: v.At}
	}
	return out, nil
}

// SetTimer implements API.
func (n *Node) SetTimer(ctx context.Context, ref string, timer time.Duration) (Message, error) {
	if !slices.Contains(Timers, timer) && !slices.Contains(n.testTimers, timer) {
		return Message{}, fmt.Errorf("node: set timer: %v is not one of the timers (off, 5m, 1h, 1d, 1w, 4w)", timer)
	}
	c, err := n.accepted(ctx, ref, "set the timer of the conversation with")
	if err != nil {
		return Message{}, err
	}
	m, err := n.sendChat(ctx, c, chat{timer: &timer})
	if err != nil {
		return Message{}, fmt.Errorf("node: set timer: %w", err)
	}
	n.publishContact(c.ID)
	return m, nil
}

// publishContact publishes the contact's current state.
func (n *Node) publishContact(id int64) {
	if full, err := n.book.LookupID(n.ctx, id); err == nil {
		n.events.publish(ContactEvent{Contact: n.apiContact(full)})
	}
}

// publishChanged publishes the message t as it is now and returns it.
func (n *Node) publishChanged(c contacts.Contact, t storage.Target, change Change) (Message, bool) {
	m, err := n.db.Message(n.ctx, t.ContactID, t.Direction, t.ID)
	if err != nil {
		n.log.Warn("reading a changed message", "err", err)
		return Message{}, false
	}
	am := n.fullMessage(m, c)
	n.indexMessage(am, c.ID)
	n.events.publish(MessageChangedEvent{ID: am.ID, Address: am.Address, Change: change, Message: &am})
	return am, true
}

// erased scrubs the log of what was erased and tells subscribers and the
// search index the messages are gone.
func (n *Node) erased(c contacts.Contact, gone []storage.Erased, change Change) {
	n.scrub()
	for _, e := range gone {
		n.unindex(e.Seq)
		n.events.publish(MessageChangedEvent{ID: e.ID.String(), Address: string(c.Address), Change: change})
	}
}

// scrub checkpoints and truncates the write-ahead log after a deletion, so
// the old text is in no file of the profile (storage.DB.Scrub).
func (n *Node) scrub() {
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	if err := n.db.Scrub(ctx); err != nil && n.ctx.Err() == nil {
		n.log.Warn("scrubbing the database log after a deletion", "err", err)
	}
}

// eraseHooks run in the transaction that erases messages or turns them
// into tombstones (delete for everyone, delete for us, disappearing), with
// the rows concerned. Features that keep data of a message outside its row
// (file attachments: issue 15) add theirs in their setup and erase it
// there; the log is scrubbed after the commit.
func (n *Node) runEraseHooks(tx *storage.Tx, gone []storage.Erased) error {
	for _, h := range n.eraseHooks {
		if err := h(tx, gone); err != nil {
			return err
		}
	}
	return nil
}

// --- receiving ---

// convoReceived is what a received content did to the conversation,
// published once its transaction committed (afterConvo).
type convoReceived struct {
	changed []changeRef
	notice  *storage.Message // a timer change shown in the conversation
	timer   bool             // the conversation's timer changed
	scrub   bool             // something was erased
}

// touched reports whether the message id of theirs was changed.
func (r convoReceived) touched(id storage.MessageID) bool {
	for _, c := range r.changed {
		if c.t.ID == id && c.t.Direction == storage.Incoming {
			return true
		}
	}
	return false
}

type changeRef struct {
	t      storage.Target
	change Change
}

// convoApply applies a content without text from c (a reaction, edit,
// deletion or timer change with message id id) inside tx, the transaction
// storing its ratchet step. A kind this version does not know does nothing.
func (n *Node) convoApply(tx *storage.Tx, c contacts.Contact, id storage.MessageID, content wire.Content, out *convoReceived) error {
	return n.applyOp(tx, c, id, content, time.Now(), out)
}

// convoStored records what a chat message m from c carries (what it
// answers, its timer) in tx, the transaction that stored it, then applies
// the changes that arrived before it.
func (n *Node) convoStored(tx *storage.Tx, c contacts.Contact, content wire.Content, m storage.Message, out *convoReceived) error {
	var f storage.ConvoFields
	if r := content.ReplyTo; r != nil {
		dir := storage.Outgoing // ours, from where we stand
		if r.Mine {
			dir = storage.Incoming
		}
		f.Reply = &storage.ReplyRef{ID: storage.MessageID(r.ID), Direction: dir, Quote: content.Quote}
	}
	f.Timer = time.Duration(content.Disappear) * time.Second
	if f.Reply != nil || f.Timer != 0 {
		if err := tx.SetConvo(m, f); err != nil {
			return err
		}
	}
	ps, err := tx.TakePending(c.ID, m.ID)
	if err != nil {
		return err
	}
	for _, p := range ps {
		op, err := wire.UnmarshalContent(p.Content)
		if err != nil {
			continue // stored by us, decoded before: cannot happen
		}
		if err := n.applyOp(tx, c, p.ID, op, p.At, out); err != nil {
			return err
		}
	}
	return nil
}

// applyOp applies the change content from c, which arrived at arrived.
// Changes to a message of theirs we do not have wait for it (pend).
func (n *Node) applyOp(tx *storage.Tx, c contacts.Contact, id storage.MessageID, content wire.Content, arrived time.Time, out *convoReceived) error {
	at := time.UnixMilli(content.Time)
	// target finds the message a change names; nil if it waits or is dropped.
	target := func(t storage.Target) (*storage.TargetInfo, error) {
		info, err := tx.Target(t)
		if errors.Is(err, storage.ErrNotFound) {
			if t.Direction == storage.Incoming {
				return nil, n.pend(tx, c, t.ID, id, content, arrived)
			}
			return nil, nil // ours, erased: nothing to change
		}
		if err != nil {
			return nil, err
		}
		if info.Deleted || info.Kind != storage.KindText {
			return nil, nil
		}
		return &info, nil
	}
	// inWindow: the author's change is within window of their message, by their clock.
	inWindow := func(info *storage.TargetInfo, window time.Duration, what string) bool {
		if !at.Before(info.Created) && at.Sub(info.Created) <= window { // the same millisecond too
			return true
		}
		n.log.Info("ignored a late "+what, "peer", c.Address.Short(), "after", at.Sub(info.Created).Round(time.Second))
		return false
	}
	switch {
	case content.Reaction != nil:
		dir := storage.Outgoing
		if content.Reaction.To.Mine {
			dir = storage.Incoming
		}
		t := storage.Target{ContactID: c.ID, Direction: dir, ID: storage.MessageID(content.Reaction.To.ID)}
		info, err := target(t)
		if info == nil || err != nil {
			return err
		}
		emoji := cleanEmoji(content.Reaction.Emoji)
		if content.Reaction.Emoji != "" && emoji == "" {
			return nil // nothing showable: not a reaction
		}
		changed, err := tx.SetReaction(t, storage.Incoming, emoji, at)
		if err != nil || !changed {
			return err
		}
		out.changed = append(out.changed, changeRef{t, ChangeReaction})
	case content.Edit != nil:
		t := storage.Target{ContactID: c.ID, Direction: storage.Incoming, ID: storage.MessageID(content.Edit.ID)}
		info, err := target(t)
		if info == nil || err != nil || !inWindow(info, EditWindow, "edit") {
			return err
		}
		if _, err := tx.Edit(t, content.Edit.Text, at); err != nil {
			return err
		}
		out.changed = append(out.changed, changeRef{t, ChangeEdited})
	case content.Delete != nil:
		t := storage.Target{ContactID: c.ID, Direction: storage.Incoming, ID: storage.MessageID(content.Delete.ID)}
		info, err := target(t)
		if info == nil || err != nil || !inWindow(info, DeleteWindow, "deletion") {
			return err
		}
		if ok, err := tx.DeleteForEveryone(t, at); err != nil || !ok {
			return err
		}
		if err := n.runEraseHooks(tx, []storage.Erased{{Seq: info.Seq, ContactID: c.ID, Direction: t.Direction, ID: t.ID}}); err != nil {
			return err
		}
		out.scrub = true
		out.changed = append(out.changed, changeRef{t, ChangeDeleted})
	case content.Timer != nil:
		timer := time.Duration(content.Timer.Seconds) * time.Second
		applied, err := tx.SetConversationTimer(c.ID, timer, at)
		if err != nil || !applied {
			return err // a change older than ours: both sides keep the later
		}
		m, err := tx.InsertNotice(c.ID, id, timer, at, arrived)
		if err != nil {
			return err
		}
		out.notice, out.timer = &m, true
	}
	return nil
}

// pend keeps a change to a message of c's that has not arrived.
func (n *Node) pend(tx *storage.Tx, c contacts.Contact, target, id storage.MessageID, content wire.Content, arrived time.Time) error {
	count, err := tx.CountPending(c.ID)
	if err != nil {
		return err
	}
	if count >= maxPendingOps {
		n.log.Info("dropped a change to an unknown message: too many waiting", "peer", c.Address.Short())
		return nil
	}
	b, err := wire.MarshalContent(content)
	if err != nil {
		return err
	}
	return tx.AddPending(c.ID, target, storage.Pending{ID: id, Content: b, At: arrived})
}

// receivedLocked publishes a message just received (nil: none) with its
// replies, reactions and timer, and what its content changed: a timer
// notice, messages edited, reacted to or deleted. The contact's peer mu
// is held: events come in the order things were stored.
func (n *Node) receivedLocked(c contacts.Contact, msg *storage.Message, r convoReceived) {
	if msg != nil {
		if r.touched(msg.ID) {
			// Changes that came before it changed it.
			if m, err := n.db.Message(n.ctx, c.ID, storage.Incoming, msg.ID); err == nil {
				msg = &m
			}
		}
		am := n.fullMessage(*msg, c)
		n.indexMessage(am, c.ID) // searchable once it is shown
		n.events.publish(MessageEvent{Message: am})
	}
	if r.notice != nil {
		n.events.publish(MessageEvent{Message: n.fullMessage(*r.notice, c)})
	}
	for _, ch := range r.changed {
		n.publishChanged(c, ch.t, ch.change)
	}
}

// afterConvo finishes what a received content changed, out of the peer's
// lock: the log scrubbed after a deletion, the contact's new timer.
func (n *Node) afterConvo(c contacts.Contact, r convoReceived) {
	if r.scrub {
		n.scrub()
	}
	if r.timer {
		n.publishContact(c.ID)
	}
}

// --- disappearing messages ---

// wakeVanish tells the vanish loop that a timer may have started.
func (n *Node) wakeVanish() {
	select {
	case n.vanishWake <- struct{}{}:
	default:
	}
}

// vanishLoop erases messages whose timer ran out, as they do, and drops
// changes that waited too long for their message. It runs from Start to
// Close; messages due while no node ran go at the next start.
func (n *Node) vanishLoop() {
	prune := time.Now()
	for {
		n.eraseVanished()
		if time.Since(prune) >= 0 {
			if _, err := n.db.PrunePending(n.ctx, time.Now().Add(-pendingMaxAge)); err != nil && n.ctx.Err() == nil {
				n.log.Warn("pruning waiting changes", "err", err)
			}
			prune = time.Now().Add(time.Hour)
		}
		wait := time.Until(prune)
		if next, ok, err := n.db.NextVanish(n.ctx); err == nil && ok {
			wait = min(wait, max(time.Until(next), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-n.vanishWake:
			t.Stop()
		case <-n.ctx.Done():
			t.Stop()
			return
		}
	}
}

// eraseVanished erases the messages due now and publishes it.
func (n *Node) eraseVanished() {
	var gone []storage.Erased
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		var err error
		if gone, err = tx.EraseVanished(time.Now()); err != nil || len(gone) == 0 {
			return err
		}
		return n.runEraseHooks(tx, gone)
	})
	if err != nil {
		if n.ctx.Err() == nil {
			n.log.Warn("erasing disappeared messages", "err", err)
		}
		return
	}
	if len(gone) == 0 {
		return
	}
	n.scrub()
	byContact := map[int64][]storage.Erased{}
	for _, e := range gone {
		byContact[e.ContactID] = append(byContact[e.ContactID], e)
	}
	for id, es := range byContact {
		c, err := n.book.LookupID(n.ctx, id)
		if err != nil {
			continue
		}
		for _, e := range es {
			n.unindex(e.Seq)
			n.events.publish(MessageChangedEvent{ID: e.ID.String(), Address: string(c.Address), Change: ChangeExpired})
		}
	}
}

// --- the API's view ---

// withConvo fills in the conversation fields of messages ms (in place)
// and drops those whose time ran out but which are not erased yet.
func (n *Node) withConvo(ctx context.Context, ms []Message) []Message {
	if len(ms) == 0 {
		return ms
	}
	seqs := make([]int64, len(ms))
	for i, m := range ms {
		seqs[i] = m.Seq
	}
	cs, err := n.db.Convos(ctx, seqs)
	if err != nil {
		n.log.Warn("reading messages' replies and reactions", "err", err)
		return ms
	}
	now := time.Now()
	out := ms[:0]
	for _, m := range ms {
		cv, ok := cs[m.Seq]
		if !ok {
			continue // erased meanwhile
		}
		if !cv.Vanish.IsZero() && !cv.Vanish.After(now) {
			continue
		}
		applyConvo(&m, cv)
		out = append(out, m)
	}
	return out
}

func applyConvo(m *Message, cv storage.Convo) {
	if cv.Kind == storage.KindTimer {
		m.Kind = KindTimer
	}
	if cv.Reply != nil {
		m.ReplyTo = &ReplyTo{ID: cv.Reply.ID.String(), Direction: Direction(cv.Reply.Direction), Quote: safetext.Line(cv.Reply.Quote)}
	}
	for _, r := range cv.Reactions {
		m.Reactions = append(m.Reactions, Reaction{Emoji: r.Emoji, From: Direction(r.Author), At: r.At})
	}
	m.Edited, m.Deleted = cv.Edited, !cv.Deleted.IsZero()
	m.Timer, m.Disappears = Seconds(cv.Timer), cv.Vanish
}

// chatContent is what our message m carried, to encrypt it again under a
// new session (session.go): its text, what it answers, its timer, its
// file's offer (rebuilt from the file's row), or the timer change it is.
func (n *Node) chatContent(ctx context.Context, m storage.Message) (wire.Content, error) {
	content := wire.Content{Text: m.Body, Time: m.Created.UnixMilli()}
	if files.IsFileMeta(m.Meta) {
		o, err := n.fl.m.Offer(ctx, wire.ID(m.ID))
		switch {
		case errors.Is(err, files.ErrNotFound):
			// No row (it cannot be: it goes with the message): the caption alone.
			n.log.Warn("re-encrypting a file message whose file is gone; sending its caption alone", "id", m.ID.String()[:8])
		case err != nil:
			return content, err
		default:
			content.File = o
		}
	}
	cs, err := n.db.Convos(ctx, []int64{m.Seq})
	if err != nil {
		return content, err
	}
	cv := cs[m.Seq]
	switch {
	case cv.Kind == storage.KindTimer:
		content.Text, content.Timer = "", &wire.Timer{Seconds: uint32(cv.Timer / time.Second)}
	case !cv.Deleted.IsZero():
		// A tombstone of ours still queued: nothing is left to send but the
		// text is gone; an empty content is ignored by the peer.
		content.Text = ""
	default:
		content.Disappear = uint32(cv.Timer / time.Second)
		if r := cv.Reply; r != nil {
			content.ReplyTo = &wire.Ref{ID: wire.ID(r.ID), Mine: r.Direction == storage.Outgoing}
			content.Quote = r.Quote
		}
	}
	return content, nil
}

// fullMessage is m as the API shows it, with its conversation fields.
func (n *Node) fullMessage(m storage.Message, c contacts.Contact) Message {
	am := n.apiMessage(m, c)
	cs, err := n.db.Convos(n.ctx, []int64{m.Seq})
	if err != nil {
		n.log.Warn("reading a message's replies and reactions", "err", err)
		return am
	}
	if cv, ok := cs[m.Seq]; ok {
		applyConvo(&am, cv)
	}
	return am
}

// contactTimer is the contact's disappearing-messages timer.
func (n *Node) contactTimer(id int64) (Seconds, error) {
	d, err := n.db.ConversationTimer(n.ctx, id)
	return Seconds(d), err
}

// withTimers fills in the contacts' timers.
func (n *Node) withTimers(ctx context.Context, cs []Contact) error {
	ts, err := n.db.ConversationTimers(ctx)
	if err != nil {
		return err
	}
	for i := range cs {
		cs[i].Timer = Seconds(ts[cs[i].ID])
	}
	return nil
}

// convoState is the node's state for the conversation features.
type convoState struct {
	vanishWake chan struct{} // cap 1: a disappearing timer may have started
	// eraseHooks: see runEraseHooks. Set before Start.
	eraseHooks []func(tx *storage.Tx, gone []storage.Erased) error
	search     *searchIndex
	backupKDF  *storage.KDFParams // nil: storage.DefaultKDFParams; tests make it cheap
	testTimers []time.Duration    // timers tests may set besides Timers (seconds)
}

func newConvoState() convoState {
	return convoState{vanishWake: make(chan struct{}, 1), search: newSearchIndex()}
}
