package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MessageID is the 128-bit random id of a message or outbox item, the same
// on both sides of a conversation.
type MessageID [16]byte

// NewMessageID returns a random id.
func NewMessageID() MessageID {
	var id MessageID
	rand.Read(id[:])
	return id
}

func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros (unset).
func (id MessageID) IsZero() bool { return id == MessageID{} }

// ParseMessageID parses the 32 hex digits String returns.
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("storage: bad message id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// Direction says who wrote a message.
type Direction string

const (
	Incoming Direction = "in"
	Outgoing Direction = "out"
)

// Status is a message's delivery state. Outgoing: queued → sent →
// stored → delivered → read (or failed). Incoming: received → read.
type Status string

const (
	StatusQueued    Status = "queued"    // stored, in the outbox, not yet written to a link
	StatusSent      Status = "sent"      // written to a link, not yet acknowledged
	StatusStored    Status = "stored"    // kept by a mailbox for the peer, not yet acknowledged by the peer
	StatusDelivered Status = "delivered" // acknowledged by the peer
	StatusRead      Status = "read"      // read by the peer (outgoing) or by us (incoming)
	StatusFailed    Status = "failed"    // given up
	StatusReceived  Status = "received"  // incoming, unread
)

// Message is a stored message.
type Message struct {
	Seq       int64 // local order across all conversations; the paging cursor
	ID        MessageID
	ContactID int64
	Direction Direction
	Body      string
	Meta      []byte // attachment metadata, opaque to storage; nil if none
	Status    Status
	Created   time.Time // outgoing: when written; incoming: the sender's timestamp
	Sent      time.Time // outgoing: first written to a link
	Delivered time.Time // outgoing: acknowledged; incoming: when we received it
	Read      time.Time // outgoing: peer's read receipt; incoming: when we read it
}

const messageCols = `seq, id, contact_id, direction, body_sealed, meta_sealed, status, created, sent, delivered, read`

func (db *DB) scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var id, body, meta []byte
	var created int64
	var sent, delivered, read sql.NullInt64
	if err := sc.Scan(&m.Seq, &id, &m.ContactID, &m.Direction, &body, &meta, &m.Status, &created, &sent, &delivered, &read); err != nil {
		return Message{}, err
	}
	if len(id) != len(m.ID) {
		return Message{}, errors.New("bad message id length")
	}
	copy(m.ID[:], id)
	k := messageKey(m.ContactID, m.Direction, m.ID)
	b, err := db.seal.open("messages", "body", k, body)
	if err != nil {
		return Message{}, err
	}
	if m.Meta, err = db.seal.openOpt("messages", "meta", k, meta); err != nil {
		return Message{}, err
	}
	m.Body = string(b)
	m.Created, m.Sent, m.Delivered, m.Read = time.Unix(0, created), fromNull(sent), fromNull(delivered), fromNull(read)
	return m, nil
}

// insertMessage stores m (m.Seq is assigned) and returns it.
func (tx *Tx) insertMessage(m Message) (Message, error) {
	k := messageKey(m.ContactID, m.Direction, m.ID)
	s := tx.db.seal
	err := tx.tx.QueryRowContext(tx.ctx, `INSERT INTO messages (id, contact_id, direction, body_sealed, meta_sealed, status, created, sent, delivered, read)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		m.ID[:], m.ContactID, string(m.Direction),
		s.seal("messages", "body", k, []byte(m.Body)), s.sealOpt("messages", "meta", k, m.Meta),
		string(m.Status), ns(m.Created), nullTime(m.Sent), nullTime(m.Delivered), nullTime(m.Read)).Scan(&m.Seq)
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

// OutgoingMessage is what QueueMessage stores.
type OutgoingMessage struct {
	ContactID int64
	ID        MessageID // zero: a random id is assigned
	Body      string
	Meta      []byte
	Created   time.Time // zero: now
	// Session is the ratchet state after encrypting this message; it is
	// stored only if the message is.
	Session []byte
	// Frame is the encrypted wire frame to deliver; sealed in the outbox.
	Frame []byte
	// NextAttempt is when to first try sending; zero: Created.
	NextAttempt time.Time
}

// QueueMessage is the "encrypt and queue" transaction: the new ratchet
// state, the message (status queued) and its outbox item (id = message id,
// kind KindMessage) are stored together or not at all.
func (tx *Tx) QueueMessage(om OutgoingMessage) (Message, error) {
	if om.ID.IsZero() {
		om.ID = NewMessageID()
	}
	if om.Created.IsZero() {
		om.Created = time.Now()
	}
	if om.NextAttempt.IsZero() {
		om.NextAttempt = om.Created
	}
	if len(om.Session) == 0 || len(om.Frame) == 0 {
		return Message{}, errors.New("storage: queue message: session and frame are required")
	}
	if err := tx.PutSession(om.ContactID, om.Session, om.Created); err != nil {
		return Message{}, fmt.Errorf("storage: queue message: %w", err)
	}
	if err := tx.db.runHook("queue:session"); err != nil {
		return Message{}, err
	}
	m, err := tx.insertMessage(Message{ID: om.ID, ContactID: om.ContactID, Direction: Outgoing, Body: om.Body, Meta: om.Meta,
		Status: StatusQueued, Created: om.Created})
	if err != nil {
		return Message{}, fmt.Errorf("storage: queue message: %w", err)
	}
	if err := tx.db.runHook("queue:message"); err != nil {
		return Message{}, err
	}
	if _, err := tx.queue(OutboxItem{ID: om.ID, ContactID: om.ContactID, Kind: KindMessage, Frame: om.Frame,
		NextAttempt: om.NextAttempt, Created: om.Created}, m.Seq); err != nil {
		return Message{}, fmt.Errorf("storage: queue message: %w", err)
	}
	if err := tx.db.runHook("queue:outbox"); err != nil {
		return Message{}, err
	}
	return m, nil
}

// QueueMessage is Tx.QueueMessage in its own transaction.
func (db *DB) QueueMessage(ctx context.Context, om OutgoingMessage) (m Message, err error) {
	err = db.Update(ctx, func(tx *Tx) error { m, err = tx.QueueMessage(om); return err })
	return m, err
}

// IncomingMessage is what ReceiveMessage stores.
type IncomingMessage struct {
	ContactID int64
	ID        MessageID
	Body      string
	Meta      []byte
	Created   time.Time // the sender's timestamp
	Received  time.Time // zero: now
	Session   []byte    // the ratchet state after decrypting this message
}

// ReceiveMessage is the "receive" transaction: the new ratchet state, the
// message (status received) and the seen id, together or not at all. If
// the id was already seen from this contact it returns ErrDuplicate and
// changes nothing (call Seen before decrypting to skip the work).
func (tx *Tx) ReceiveMessage(im IncomingMessage) (Message, error) {
	if im.Received.IsZero() {
		im.Received = time.Now()
	}
	if len(im.Session) == 0 {
		return Message{}, errors.New("storage: receive message: session is required")
	}
	dup, err := tx.recordSeen(im.ContactID, im.ID, im.Received)
	if err != nil {
		return Message{}, fmt.Errorf("storage: receive message: %w", err)
	}
	if !dup {
		// The seen row may have been pruned; the message itself is kept.
		dup, err = tx.db.received(tx.ctx, tx.tx, im.ContactID, im.ID)
		if err != nil {
			return Message{}, fmt.Errorf("storage: receive message: %w", err)
		}
	}
	if dup {
		return Message{}, fmt.Errorf("storage: receive message %s: %w", im.ID, ErrDuplicate)
	}
	if err := tx.db.runHook("receive:seen"); err != nil {
		return Message{}, err
	}
	m, err := tx.insertMessage(Message{ID: im.ID, ContactID: im.ContactID, Direction: Incoming, Body: im.Body, Meta: im.Meta,
		Status: StatusReceived, Created: im.Created, Delivered: im.Received})
	if err != nil {
		return Message{}, fmt.Errorf("storage: receive message: %w", err)
	}
	if err := tx.db.runHook("receive:message"); err != nil {
		return Message{}, err
	}
	if err := tx.PutSession(im.ContactID, im.Session, im.Received); err != nil {
		return Message{}, fmt.Errorf("storage: receive message: %w", err)
	}
	if err := tx.db.runHook("receive:session"); err != nil {
		return Message{}, err
	}
	return m, nil
}

// ReceiveMessage is Tx.ReceiveMessage in its own transaction.
func (db *DB) ReceiveMessage(ctx context.Context, im IncomingMessage) (m Message, err error) {
	err = db.Update(ctx, func(tx *Tx) error { m, err = tx.ReceiveMessage(im); return err })
	return m, err
}

func (tx *Tx) recordSeen(contactID int64, id MessageID, at time.Time) (dup bool, err error) {
	res, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO seen (contact_id, id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		contactID, id[:], ns(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 0, err
}

// MarkSeen records an inbound frame id that is not a message (a receipt, an
// acceptance) and reports whether it had been seen before.
func (tx *Tx) MarkSeen(contactID int64, id MessageID, at time.Time) (dup bool, err error) {
	dup, err = tx.recordSeen(contactID, id, at)
	if err != nil {
		return false, fmt.Errorf("storage: mark seen: %w", err)
	}
	return dup, nil
}

// MarkSeen is Tx.MarkSeen in its own transaction.
func (db *DB) MarkSeen(ctx context.Context, contactID int64, id MessageID, at time.Time) (dup bool, err error) {
	err = db.Update(ctx, func(tx *Tx) error { dup, err = tx.MarkSeen(contactID, id, at); return err })
	return dup, err
}

// Seen reports whether id was already received from the contact: as any
// frame within the seen table's window (see PruneSeen), or as a message
// still stored, however old.
func (db *DB) Seen(ctx context.Context, contactID int64, id MessageID) (bool, error) {
	if err := db.check(); err != nil {
		return false, err
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM seen WHERE contact_id = ? AND id = ?`, contactID, id[:]).Scan(&n); err != nil {
		return false, fmt.Errorf("storage: seen: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	dup, err := db.received(ctx, db.sql, contactID, id)
	if err != nil {
		return false, fmt.Errorf("storage: seen: %w", err)
	}
	return dup, nil
}

// received reports whether an incoming message with id from the contact is stored.
func (db *DB) received(ctx context.Context, q querier, contactID int64, id MessageID) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE contact_id = ? AND direction = 'in' AND id = ?`, contactID, id[:]).Scan(&n)
	return n > 0, err
}

// PruneSeen bounds the seen table: it deletes ids recorded before before,
// and beyond the newest keep per contact (keep <= 0: no count limit). It
// returns how many rows went. Pruning loses nothing a peer can still send
// usefully: a message is also recognised by its stored row (Seen), and
// every other reliable frame is harmless to apply twice (a receipt only
// moves states forward; a request or acceptance is judged by the contact's
// state). The age only has to cover resends of frames whose ack was lost.
func (db *DB) PruneSeen(ctx context.Context, before time.Time, keep int) (int64, error) {
	var n int64
	err := db.Update(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM seen WHERE at < ?`, ns(before))
		if err != nil {
			return err
		}
		a, _ := res.RowsAffected()
		n += a
		if keep <= 0 {
			return nil
		}
		res, err = tx.tx.ExecContext(tx.ctx, `DELETE FROM seen WHERE (contact_id, id) IN (
			SELECT contact_id, id FROM (SELECT contact_id, id, row_number() OVER (PARTITION BY contact_id ORDER BY at DESC, id) AS rn FROM seen)
			WHERE rn > ?)`, keep)
		if err != nil {
			return err
		}
		a, _ = res.RowsAffected()
		n += a
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: prune seen: %w", err)
	}
	return n, nil
}

// CountSeen returns how many seen ids are stored for the contact (0: all contacts).
func (db *DB) CountSeen(ctx context.Context, contactID int64) (int, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM seen WHERE ? = 0 OR contact_id = ?`, contactID, contactID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("storage: count seen: %w", err)
	}
	return n, nil
}

// Message returns one message by conversation, direction and id, or ErrNotFound.
func (db *DB) Message(ctx context.Context, contactID int64, dir Direction, id MessageID) (Message, error) {
	if err := db.check(); err != nil {
		return Message{}, err
	}
	m, err := db.scanMessage(db.sql.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE contact_id = ? AND direction = ? AND id = ?`,
		contactID, string(dir), id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("storage: message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("storage: message %s: %w", id, err)
	}
	return m, nil
}

func (db *DB) queryMessages(ctx context.Context, query string, args ...any) ([]Message, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ms []Message
	for rows.Next() {
		m, err := db.scanMessage(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// History returns up to limit messages of the conversation older than the
// cursor before (a Seq; 0 means from the newest), newest first. The next
// page's cursor is the last message's Seq; a short page is the last one.
// It pages by keyset on (contact_id, seq), so the cost does not grow with
// the history's length.
func (db *DB) History(ctx context.Context, contactID int64, before int64, limit int) ([]Message, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	if limit <= 0 {
		limit = 50
	}
	ms, err := db.queryMessages(ctx, `SELECT `+messageCols+` FROM messages WHERE contact_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
		contactID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: history: %w", err)
	}
	return ms, nil
}

// InboxQuery selects messages for Inbox.
type InboxQuery struct {
	After           int64 // only messages with Seq > After
	ContactID       int64 // 0: every conversation
	IncludeOutgoing bool  // also our own messages (a full log rather than an inbox)
	Limit           int   // 0: 100
}

// Inbox returns messages oldest first after a cursor, across conversations
// unless q.ContactID is set: what `chive inbox --follow` polls. The next
// cursor is the last message's Seq.
func (db *DB) Inbox(ctx context.Context, q InboxQuery) ([]Message, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var where []string
	args := []any{q.After}
	where = append(where, "seq > ?")
	if q.ContactID != 0 {
		where = append(where, "contact_id = ?")
		args = append(args, q.ContactID)
	}
	if !q.IncludeOutgoing {
		where = append(where, "direction = 'in'")
	}
	args = append(args, q.Limit)
	ms, err := db.queryMessages(ctx, `SELECT `+messageCols+` FROM messages WHERE `+strings.Join(where, " AND ")+` ORDER BY seq ASC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: inbox: %w", err)
	}
	return ms, nil
}

// MarkRead marks every unread incoming message of the conversation read at
// at and returns their ids (for read receipts), oldest first.
func (tx *Tx) MarkRead(contactID int64, at time.Time) ([]MessageID, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `UPDATE messages INDEXED BY messages_unread SET read = ?, status = 'read'
		WHERE contact_id = ? AND direction = 'in' AND read IS NULL RETURNING seq, id`, ns(at), contactID)
	if err != nil {
		return nil, fmt.Errorf("storage: mark read: %w", err)
	}
	defer rows.Close()
	type row struct {
		seq int64
		id  MessageID
	}
	var rs []row
	for rows.Next() {
		var r row
		var b []byte
		if err := rows.Scan(&r.seq, &b); err != nil {
			return nil, fmt.Errorf("storage: mark read: %w", err)
		}
		copy(r.id[:], b)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: mark read: %w", err)
	}
	// RETURNING order is unspecified.
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].seq < rs[j-1].seq; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	ids := make([]MessageID, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return ids, nil
}

// MarkRead is Tx.MarkRead in its own transaction.
func (db *DB) MarkRead(ctx context.Context, contactID int64, at time.Time) (ids []MessageID, err error) {
	err = db.Update(ctx, func(tx *Tx) error { ids, err = tx.MarkRead(contactID, at); return err })
	return ids, err
}

// ApplyReceipt records the peer's delivery or read receipt (status
// StatusDelivered or StatusRead) for our messages ids in the contact's
// conversation. Status only moves forward; a delivered message's outbox
// item is dropped (the peer has it). It returns the ids whose status changed.
func (tx *Tx) ApplyReceipt(contactID int64, ids []MessageID, status Status, at time.Time) ([]MessageID, error) {
	var q string
	switch status {
	case StatusDelivered:
		q = `UPDATE messages SET delivered = coalesce(delivered, ?1), status = 'delivered'
			WHERE contact_id = ?2 AND direction = 'out' AND id = ?3 AND status IN ('queued', 'sent', 'stored', 'failed') RETURNING seq`
	case StatusRead:
		q = `UPDATE messages SET delivered = coalesce(delivered, ?1), read = coalesce(read, ?1), status = 'read'
			WHERE contact_id = ?2 AND direction = 'out' AND id = ?3 AND status != 'read' RETURNING seq`
	default:
		return nil, fmt.Errorf("storage: apply receipt: status %q is not a receipt", status)
	}
	var changed []MessageID
	for _, id := range ids {
		var seq int64
		err := tx.tx.QueryRowContext(tx.ctx, q, ns(at), contactID, id[:]).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("storage: apply receipt: %w", err)
		}
		if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM outbox WHERE message_seq = ?`, seq); err != nil {
			return nil, fmt.Errorf("storage: apply receipt: %w", err)
		}
		changed = append(changed, id)
	}
	return changed, nil
}

// ApplyReceipt is Tx.ApplyReceipt in its own transaction.
func (db *DB) ApplyReceipt(ctx context.Context, contactID int64, ids []MessageID, status Status, at time.Time) (changed []MessageID, err error) {
	err = db.Update(ctx, func(tx *Tx) error { changed, err = tx.ApplyReceipt(contactID, ids, status, at); return err })
	return changed, err
}

// Conversation summarizes one conversation for the contact list.
type Conversation struct {
	ContactID int64
	Unread    int
	Last      *Message // nil if there are no messages
}

// Conversation returns the unread count and the newest message of the
// contact's conversation.
func (db *DB) Conversation(ctx context.Context, contactID int64) (Conversation, error) {
	if err := db.check(); err != nil {
		return Conversation{}, err
	}
	c := Conversation{ContactID: contactID}
	// INDEXED BY: without statistics the planner prefers the (contact,
	// direction, id) unique index and walks every incoming message; the
	// partial index holds only the unread ones.
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM messages INDEXED BY messages_unread
		WHERE contact_id = ? AND direction = 'in' AND read IS NULL`,
		contactID).Scan(&c.Unread); err != nil {
		return Conversation{}, fmt.Errorf("storage: conversation: %w", err)
	}
	ms, err := db.History(ctx, contactID, 0, 1)
	if err != nil {
		return Conversation{}, err
	}
	if len(ms) == 1 {
		c.Last = &ms[0]
	}
	return c, nil
}

// DeleteHistory deletes every message of the conversation (and their
// outbox items), keeping the contact and its session.
func (tx *Tx) DeleteHistory(contactID int64) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM messages WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("storage: delete history: %w", err)
	}
	return nil
}

// UnreadStats returns how many received messages from the contact are
// unread, and their size at rest in bytes (sealed bodies and metadata).
func (db *DB) UnreadStats(ctx context.Context, contactID int64) (count int, size int64, err error) {
	if err := db.check(); err != nil {
		return 0, 0, err
	}
	err = db.sql.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(body_sealed) + coalesce(length(meta_sealed), 0)), 0)
		FROM messages WHERE contact_id = ? AND direction = 'in' AND read IS NULL`, contactID).Scan(&count, &size)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: unread stats: %w", err)
	}
	return count, size, nil
}
