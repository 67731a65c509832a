package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Hot statements of this file (see hot).
var (
	qByIdempotencyKey = hot(`SELECT ` + messageCols + ` FROM messages INDEXED BY messages_idem
		WHERE contact_id = ? AND idem_mac = ?`)
	qUnsent = hot(`SELECT ` + prefixed("m.", messageCols) + ` FROM unsent u JOIN messages m ON m.seq = u.message_seq
		WHERE u.contact_id = ? AND u.not_before <= ? ORDER BY u.not_before, u.message_seq`)
	qDeleteUnsent = hot(`DELETE FROM unsent WHERE message_seq = ?`)
)

// This file holds what outgoing messages need besides the outbox: unsent
// messages (scheduled, or waiting for the contact's session), deadlines,
// failure reasons, idempotency keys, retry and cancel.

// ErrState: the message is not in a state the operation applies to (retry
// of a delivered message, cancel of a message already sent).
var ErrState = errors.New("storage: not possible in the message's state")

func (tx *Tx) idemMAC(contactID int64, key string) []byte {
	if key == "" {
		return nil
	}
	return tx.db.seal.idemMAC(contactID, key)
}

// MessageByIdempotencyKey returns our message to the contact sent with
// key, or ErrNotFound.
func (tx *Tx) MessageByIdempotencyKey(contactID int64, key string) (Message, error) {
	if key == "" {
		return Message{}, fmt.Errorf("storage: message by idempotency key: %w", ErrNotFound)
	}
	m, err := tx.db.scanMessage(tx.queryRow(qByIdempotencyKey, contactID, tx.idemMAC(contactID, key)))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("storage: message by idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("storage: message by idempotency key: %w", err)
	}
	return m, nil
}

// QueueUnsent stores an outgoing message that is not encrypted yet: it is
// due at om.SendAt (zero: now) and waits, also, for the contact's session.
// PromoteUnsent moves it to the outbox. om.Session and om.Frame are
// ignored.
func (tx *Tx) QueueUnsent(om OutgoingMessage) (Message, error) {
	if om.ID.IsZero() {
		om.ID = NewMessageID()
	}
	if om.Created.IsZero() {
		om.Created = time.Now()
	}
	due := om.SendAt
	if due.IsZero() {
		due = om.Created
	}
	m, err := tx.insertMessage(Message{ID: om.ID, ContactID: om.ContactID, Direction: Outgoing, Body: om.Body, Meta: om.Meta,
		Status: StatusQueued, Created: om.Created, Expires: om.Expires, SendAt: om.SendAt}, tx.idemMAC(om.ContactID, om.IdempotencyKey))
	if err != nil {
		return Message{}, fmt.Errorf("storage: queue unsent: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO unsent (message_seq, contact_id, not_before) VALUES (?, ?, ?)`,
		m.Seq, m.ContactID, ns(due)); err != nil {
		return Message{}, fmt.Errorf("storage: queue unsent: %w", err)
	}
	return m, nil
}

// Unsent returns the contact's unsent messages due at or before due,
// in the order they were due.
func (tx *Tx) Unsent(contactID int64, due time.Time) ([]Message, error) {
	rows, err := tx.query(qUnsent, contactID, ns(due))
	if err != nil {
		return nil, fmt.Errorf("storage: unsent: %w", err)
	}
	defer rows.Close()
	var ms []Message
	for rows.Next() {
		m, err := tx.db.scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: unsent: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: unsent: %w", err)
	}
	return ms, nil
}

// PromoteUnsent moves the unsent message m, now encrypted into frame, to
// the outbox. The caller stores the ratchet state in the same transaction.
func (tx *Tx) PromoteUnsent(m Message, frame []byte, at time.Time) (OutboxItem, error) {
	res, err := tx.exec(qDeleteUnsent, m.Seq)
	if err != nil {
		return OutboxItem{}, fmt.Errorf("storage: promote unsent: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return OutboxItem{}, fmt.Errorf("storage: promote unsent %s: %w", m.ID, ErrNotFound)
	}
	it, err := tx.queue(OutboxItem{ID: m.ID, ContactID: m.ContactID, Kind: KindMessage, Frame: frame, NextAttempt: at, Created: at}, m.Seq)
	if err != nil {
		return OutboxItem{}, fmt.Errorf("storage: promote unsent: %w", err)
	}
	it.Expires = m.Expires
	return it, nil
}

// NextDue is the earliest time something outgoing needs the node: an
// unsent message due (for a contact with a session) or an undelivered
// message's deadline. ok is false when nothing is pending.
func (db *DB) NextDue(ctx context.Context) (at time.Time, ok bool, err error) {
	if err := db.check(); err != nil {
		return time.Time{}, false, err
	}
	var due, exp sql.NullInt64
	err = db.sql.QueryRowContext(ctx, `SELECT
		(SELECT min(u.not_before) FROM unsent u JOIN sessions s ON s.contact_id = u.contact_id),
		(SELECT min(expires) FROM messages WHERE expires IS NOT NULL AND direction = 'out' AND status IN ('queued', 'sent', 'stored'))`).Scan(&due, &exp)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("storage: next due: %w", err)
	}
	for _, v := range []sql.NullInt64{due, exp} {
		if v.Valid && (!ok || v.Int64 < at.UnixNano()) {
			at, ok = time.Unix(0, v.Int64), true
		}
	}
	return at, ok, nil
}

// DueContacts lists the contacts that have a session and unsent messages
// due at or before now.
func (db *DB) DueContacts(ctx context.Context, now time.Time) ([]int64, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT u.contact_id FROM unsent u JOIN sessions s ON s.contact_id = u.contact_id
		WHERE u.not_before <= ?`, ns(now))
	if err != nil {
		return nil, fmt.Errorf("storage: due contacts: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("storage: due contacts: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Ended is an outgoing message that reached a final state without being
// delivered (expired, failed, cancelled).
type Ended struct {
	ContactID int64
	ID        MessageID
	Status    Status
	Error     string
}

// ExpireDue marks every undelivered outgoing message whose deadline is at
// or before now expired with reason, and takes it out of the outbox (or
// unsent): it is never delivered.
func (tx *Tx) ExpireDue(now time.Time, reason string) ([]Ended, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `UPDATE messages SET status = 'expired', error = ?
		WHERE expires IS NOT NULL AND direction = 'out' AND status IN ('queued', 'sent', 'stored') AND expires <= ?
		RETURNING seq, id, contact_id`, reason, ns(now))
	if err != nil {
		return nil, fmt.Errorf("storage: expire: %w", err)
	}
	var out []Ended
	var seqs []int64
	for rows.Next() {
		var seq int64
		var id []byte
		e := Ended{Status: StatusExpired, Error: reason}
		if err := rows.Scan(&seq, &id, &e.ContactID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: expire: %w", err)
		}
		copy(e.ID[:], id)
		out, seqs = append(out, e), append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: expire: %w", err)
	}
	for _, seq := range seqs {
		if err := tx.dropPending(seq); err != nil {
			return nil, fmt.Errorf("storage: expire: %w", err)
		}
	}
	return out, nil
}

// dropPending removes the message's outbox item and unsent row.
func (tx *Tx) dropPending(seq int64) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM outbox WHERE message_seq = ?`, seq); err != nil {
		return err
	}
	_, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM unsent WHERE message_seq = ?`, seq)
	return err
}

// EndMessage gives up on our message id to the contact: status (failed,
// expired) with reason, out of the outbox. It is ErrNotFound unless the
// message is still queued or sent (a late refusal of a message delivered or
// ended meanwhile changes nothing).
func (tx *Tx) EndMessage(contactID int64, id MessageID, status Status, reason string) error {
	if status != StatusFailed && status != StatusExpired {
		return fmt.Errorf("storage: end message: status %q", status)
	}
	var seq int64
	err := tx.tx.QueryRowContext(tx.ctx, `UPDATE messages SET status = ?, error = ?
		WHERE contact_id = ? AND direction = 'out' AND id = ? AND status IN ('queued', 'sent', 'stored') RETURNING seq`,
		string(status), reason, contactID, id[:]).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("storage: end message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("storage: end message: %w", err)
	}
	if err := tx.dropPending(seq); err != nil {
		return fmt.Errorf("storage: end message: %w", err)
	}
	return nil
}

// DropFrame removes the contact's outbox item id that carries no message
// (the peer refused it: it is not resent) and reports whether there was one.
func (tx *Tx) DropFrame(contactID int64, id MessageID) (bool, error) {
	res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM outbox WHERE id = ? AND contact_id = ? AND message_seq IS NULL`, id[:], contactID)
	if err != nil {
		return false, fmt.Errorf("storage: drop frame: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// FailUndelivered marks every queued or sent message to the contact failed
// with reason and takes them out of the outbox and unsent (the contact
// was removed or blocked: nothing more goes to them).
func (tx *Tx) FailUndelivered(contactID int64, reason string) ([]Ended, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `UPDATE messages SET status = 'failed', error = ?
		WHERE contact_id = ? AND direction = 'out' AND status IN ('queued', 'sent', 'stored') RETURNING id`, reason, contactID)
	if err != nil {
		return nil, fmt.Errorf("storage: fail undelivered: %w", err)
	}
	defer rows.Close()
	var out []Ended
	for rows.Next() {
		var id []byte
		e := Ended{ContactID: contactID, Status: StatusFailed, Error: reason}
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("storage: fail undelivered: %w", err)
		}
		copy(e.ID[:], id)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: fail undelivered: %w", err)
	}
	rows.Close()
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM unsent WHERE contact_id = ?`, contactID); err != nil {
		return nil, fmt.Errorf("storage: fail undelivered: %w", err)
	}
	return out, nil
}

// UndeliveredIDs lists our queued or sent messages to the contact.
func (db *DB) UndeliveredIDs(ctx context.Context, contactID int64) ([]MessageID, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id FROM messages WHERE contact_id = ? AND direction = 'out' AND status IN ('queued', 'sent', 'stored') ORDER BY seq`, contactID)
	if err != nil {
		return nil, fmt.Errorf("storage: undelivered: %w", err)
	}
	defer rows.Close()
	var ids []MessageID
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("storage: undelivered: %w", err)
		}
		var id MessageID
		copy(id[:], b)
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// OutgoingByID returns our message with id, whichever the contact, or
// ErrNotFound.
func (db *DB) OutgoingByID(ctx context.Context, id MessageID) (Message, error) {
	if err := db.check(); err != nil {
		return Message{}, err
	}
	m, err := db.scanMessage(db.sql.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE direction = 'out' AND id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("storage: message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("storage: message %s: %w", id, err)
	}
	return m, nil
}

// Requeue puts a failed message back as queued and unsent, due now: it is
// encrypted afresh (the frame that failed is gone) and sent like a new
// message, under the same id. ErrState (wrapped, with the state) unless
// the message failed.
func (tx *Tx) Requeue(contactID int64, id MessageID, now time.Time) (Message, error) {
	var seq int64
	var status Status
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, status FROM messages WHERE contact_id = ? AND direction = 'out' AND id = ?`,
		contactID, id[:]).Scan(&seq, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("storage: requeue %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("storage: requeue: %w", err)
	}
	if status != StatusFailed {
		return Message{}, fmt.Errorf("storage: requeue %s: it is %s: %w", id, status, ErrState)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET status = 'queued', error = NULL WHERE seq = ?`, seq); err != nil {
		return Message{}, fmt.Errorf("storage: requeue: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO unsent (message_seq, contact_id, not_before) VALUES (?, ?, ?)
		ON CONFLICT (message_seq) DO UPDATE SET not_before = excluded.not_before`, seq, contactID, ns(now)); err != nil {
		return Message{}, fmt.Errorf("storage: requeue: %w", err)
	}
	m, err := tx.db.scanMessage(tx.tx.QueryRowContext(tx.ctx, `SELECT `+messageCols+` FROM messages WHERE seq = ?`, seq))
	if err != nil {
		return Message{}, fmt.Errorf("storage: requeue: %w", err)
	}
	return m, nil
}

// Scheduled lists the scheduled messages not sent yet (still unsent),
// to every contact, earliest first.
func (db *DB) Scheduled(ctx context.Context) ([]Message, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	ms, err := db.queryMessages(ctx, `SELECT `+prefixed("m.", messageCols)+` FROM unsent u JOIN messages m ON m.seq = u.message_seq
		WHERE m.send_at IS NOT NULL ORDER BY u.not_before, u.message_seq`)
	if err != nil {
		return nil, fmt.Errorf("storage: scheduled: %w", err)
	}
	return ms, nil
}

// CancelUnsent cancels our message id if it is not encrypted yet (still
// unsent): it becomes cancelled and is never sent. ErrState once it has
// gone to the outbox, ErrNotFound for no such message.
func (tx *Tx) CancelUnsent(id MessageID) (Message, error) {
	var seq int64
	var status Status
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, status FROM messages WHERE direction = 'out' AND id = ?`, id[:]).Scan(&seq, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("storage: cancel %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("storage: cancel: %w", err)
	}
	res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM unsent WHERE message_seq = ?`, seq)
	if err != nil {
		return Message{}, fmt.Errorf("storage: cancel: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Message{}, fmt.Errorf("storage: cancel %s: it is %s, no longer waiting: %w", id, status, ErrState)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET status = 'cancelled' WHERE seq = ?`, seq); err != nil {
		return Message{}, fmt.Errorf("storage: cancel: %w", err)
	}
	m, err := tx.db.scanMessage(tx.tx.QueryRowContext(tx.ctx, `SELECT `+messageCols+` FROM messages WHERE seq = ?`, seq))
	if err != nil {
		return Message{}, fmt.Errorf("storage: cancel: %w", err)
	}
	return m, nil
}

// PendingCounts is how much outgoing work waits: outbox items plus unsent
// messages due, and unsent messages scheduled for later.
func (db *DB) PendingCounts(ctx context.Context, now time.Time) (outbox, scheduled int, err error) {
	if err := db.check(); err != nil {
		return 0, 0, err
	}
	err = db.sql.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM unsent WHERE not_before <= ?1),
		(SELECT count(*) FROM unsent WHERE not_before > ?1)`, ns(now)).Scan(&outbox, &scheduled)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: pending counts: %w", err)
	}
	return outbox, scheduled, nil
}

// prefixed qualifies a column list: prefixed("m.", "a, b") is "m.a, m.b".
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
