package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OutboxKind says what an outbox frame carries. Storage does not interpret
// it; these are the kinds the node uses.
type OutboxKind string

const (
	KindMessage OutboxKind = "message" // carries a message row (see QueueMessage)
	KindRequest OutboxKind = "request" // contact request with our bundle and greeting
	KindAccept  OutboxKind = "accept"  // acceptance with the handshake
	KindReceipt OutboxKind = "receipt" // delivery/read receipts
)

// OutboxItem is one frame waiting for the peer's acknowledgement.
type OutboxItem struct {
	Seq         int64     // send order
	ID          MessageID // frame id; equals the message id for KindMessage
	ContactID   int64
	Kind        OutboxKind
	Message     *MessageID // the message it carries, nil for other kinds
	Frame       []byte     // ready-to-send bytes (sealed at rest)
	Attempts    int
	NextAttempt time.Time
	Created     time.Time
	Sent        time.Time // last written to a link; zero if never
}

// outboxKey is the row identity sealed into an outbox frame: the contact id
// and the item id, so a frame moved to another contact's row fails to open
// rather than being sent to them. Profiles from before schema version
// "guard" sealed the id alone; that migration reseals them (resealOutbox).
func (db *DB) outboxKey(contactID int64, id MessageID) []byte {
	return append(int64Key(contactID), id[:]...)
}

// resealOutbox moves every outbox frame from the old row key (the item id)
// to outboxKey's: the Go half of the "guard" migration.
func resealOutbox(ctx context.Context, db *DB, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, id, contact_id, frame_sealed FROM outbox ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("reseal outbox: %w", err)
	}
	type row struct {
		seq     int64
		contact int64
		id      MessageID
		frame   []byte
	}
	var all []row
	for rows.Next() {
		var r row
		var id, sealed []byte
		if err := rows.Scan(&r.seq, &id, &r.contact, &sealed); err != nil {
			rows.Close()
			return fmt.Errorf("reseal outbox: %w", err)
		}
		copy(r.id[:], id)
		if r.frame, err = db.seal.open("outbox", "frame", id, sealed); err != nil {
			rows.Close()
			return fmt.Errorf("reseal outbox item %d: %w", r.seq, err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reseal outbox: %w", err)
	}
	for _, r := range all {
		sealed := db.seal.seal("outbox", "frame", append(int64Key(r.contact), r.id[:]...), r.frame)
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET frame_sealed = ? WHERE seq = ?`, sealed, r.seq); err != nil {
			return fmt.Errorf("reseal outbox: %w", err)
		}
	}
	return nil
}

func (tx *Tx) queue(it OutboxItem, messageSeq int64) (OutboxItem, error) {
	if it.ID.IsZero() {
		it.ID = NewMessageID()
	}
	if it.Created.IsZero() {
		it.Created = time.Now()
	}
	if it.NextAttempt.IsZero() {
		it.NextAttempt = it.Created
	}
	if it.Kind == "" {
		return OutboxItem{}, errors.New("outbox item without kind")
	}
	var mseq any
	if messageSeq != 0 {
		mseq = messageSeq
		id := it.ID
		it.Message = &id
	}
	err := tx.tx.QueryRowContext(tx.ctx, `INSERT INTO outbox (id, contact_id, kind, message_seq, frame_sealed, attempts, next_attempt, created, sent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		it.ID[:], it.ContactID, string(it.Kind), mseq, tx.db.seal.seal("outbox", "frame", tx.db.outboxKey(it.ContactID, it.ID), it.Frame),
		it.Attempts, ns(it.NextAttempt), ns(it.Created), nullTime(it.Sent)).Scan(&it.Seq)
	if err != nil {
		return OutboxItem{}, err
	}
	return it, nil
}

// QueueFrame adds an outbox item that carries no message row (a request, an
// acceptance, receipts). A zero it.ID gets a random id; the stored item is
// returned.
func (tx *Tx) QueueFrame(it OutboxItem) (OutboxItem, error) {
	if it.Kind == KindMessage {
		return OutboxItem{}, errors.New("storage: queue frame: use QueueMessage for messages")
	}
	it, err := tx.queue(it, 0)
	if err != nil {
		return OutboxItem{}, fmt.Errorf("storage: queue frame: %w", err)
	}
	return it, nil
}

// QueueFrame is Tx.QueueFrame in its own transaction.
func (db *DB) QueueFrame(ctx context.Context, it OutboxItem) (out OutboxItem, err error) {
	err = db.Update(ctx, func(tx *Tx) error { out, err = tx.QueueFrame(it); return err })
	return out, err
}

const outboxCols = `o.seq, o.id, o.contact_id, o.kind, m.id, o.frame_sealed, o.attempts, o.next_attempt, o.created, o.sent`

func (db *DB) scanOutbox(sc interface{ Scan(...any) error }) (OutboxItem, error) {
	var it OutboxItem
	var id, mid, frame []byte
	var next, created int64
	var sent sql.NullInt64
	if err := sc.Scan(&it.Seq, &id, &it.ContactID, &it.Kind, &mid, &frame, &it.Attempts, &next, &created, &sent); err != nil {
		return OutboxItem{}, err
	}
	copy(it.ID[:], id)
	if mid != nil {
		var m MessageID
		copy(m[:], mid)
		it.Message = &m
	}
	f, err := db.seal.open("outbox", "frame", db.outboxKey(it.ContactID, it.ID), frame)
	if err != nil {
		return OutboxItem{}, err
	}
	it.Frame = f
	it.NextAttempt, it.Created, it.Sent = time.Unix(0, next), time.Unix(0, created), fromNull(sent)
	return it, nil
}

// Outbox returns the contact's outbox items in send order.
func (db *DB) Outbox(ctx context.Context, contactID int64) ([]OutboxItem, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+outboxCols+` FROM outbox o LEFT JOIN messages m ON m.seq = o.message_seq
		WHERE o.contact_id = ? ORDER BY o.seq`, contactID)
	if err != nil {
		return nil, fmt.Errorf("storage: outbox: %w", err)
	}
	defer rows.Close()
	var its []OutboxItem
	for rows.Next() {
		it, err := db.scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: outbox: %w", err)
		}
		its = append(its, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: outbox: %w", err)
	}
	return its, nil
}

// OutboxItem returns one outbox item by id, or ErrNotFound.
func (db *DB) OutboxItem(ctx context.Context, id MessageID) (OutboxItem, error) {
	if err := db.check(); err != nil {
		return OutboxItem{}, err
	}
	it, err := db.scanOutbox(db.sql.QueryRowContext(ctx, `SELECT `+outboxCols+` FROM outbox o LEFT JOIN messages m ON m.seq = o.message_seq
		WHERE o.id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxItem{}, fmt.Errorf("storage: outbox item %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return OutboxItem{}, fmt.Errorf("storage: outbox item %s: %w", id, err)
	}
	return it, nil
}

// PendingWork is a contact with outbox items.
type PendingWork struct {
	ContactID   int64
	Items       int
	NextAttempt time.Time // the earliest NextAttempt among them
}

// PendingContacts lists contacts with outbox items, earliest next attempt first.
func (db *DB) PendingContacts(ctx context.Context) ([]PendingWork, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT contact_id, count(*), min(next_attempt) FROM outbox
		GROUP BY contact_id ORDER BY min(next_attempt), contact_id`)
	if err != nil {
		return nil, fmt.Errorf("storage: pending contacts: %w", err)
	}
	defer rows.Close()
	var ps []PendingWork
	for rows.Next() {
		var p PendingWork
		var next int64
		if err := rows.Scan(&p.ContactID, &p.Items, &next); err != nil {
			return nil, fmt.Errorf("storage: pending contacts: %w", err)
		}
		p.NextAttempt = time.Unix(0, next)
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: pending contacts: %w", err)
	}
	return ps, nil
}

// MarkSent records that the item was written to a link at at. The item
// stays in the outbox until acknowledged; a carried message becomes
// StatusSent (if still queued).
func (tx *Tx) MarkSent(id MessageID, at time.Time) error {
	var mseq sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `UPDATE outbox SET sent = ? WHERE id = ? RETURNING message_seq`, ns(at), id[:]).Scan(&mseq)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("storage: mark sent %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("storage: mark sent: %w", err)
	}
	if mseq.Valid {
		if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET sent = coalesce(sent, ?), status = CASE WHEN status IN ('queued', 'failed') THEN 'sent' ELSE status END
			WHERE seq = ?`, ns(at), mseq.Int64); err != nil {
			return fmt.Errorf("storage: mark sent: %w", err)
		}
	}
	return nil
}

// MarkSent is Tx.MarkSent in its own transaction.
func (db *DB) MarkSent(ctx context.Context, id MessageID, at time.Time) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.MarkSent(id, at) })
}

// Reschedule sets the item's attempt count and next attempt time (after a
// failed delivery, with the node's backoff).
func (db *DB) Reschedule(ctx context.Context, id MessageID, attempts int, next time.Time) error {
	if err := db.check(); err != nil {
		return err
	}
	res, err := db.sql.ExecContext(ctx, `UPDATE outbox SET attempts = ?, next_attempt = ? WHERE id = ?`, attempts, ns(next), id[:])
	if err != nil {
		return fmt.Errorf("storage: reschedule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: reschedule %s: %w", id, ErrNotFound)
	}
	return nil
}

// Acknowledge is the "acknowledge" transaction: the contact acknowledged
// frame id, so its outbox item is removed and a carried message becomes
// delivered at at. The contact must match the item's (a peer cannot
// acknowledge another peer's frames). ErrNotFound if there is no such item
// (a repeated ack); the removed item is returned.
func (tx *Tx) Acknowledge(contactID int64, id MessageID, at time.Time) (OutboxItem, error) {
	it, err := tx.db.scanOutbox(tx.tx.QueryRowContext(tx.ctx, `SELECT `+outboxCols+` FROM outbox o LEFT JOIN messages m ON m.seq = o.message_seq
		WHERE o.id = ? AND o.contact_id = ?`, id[:], contactID))
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxItem{}, fmt.Errorf("storage: acknowledge %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return OutboxItem{}, fmt.Errorf("storage: acknowledge: %w", err)
	}
	var mseq sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `DELETE FROM outbox WHERE seq = ? RETURNING message_seq`, it.Seq).Scan(&mseq); err != nil {
		return OutboxItem{}, fmt.Errorf("storage: acknowledge: %w", err)
	}
	if err := tx.db.runHook("ack:outbox"); err != nil {
		return OutboxItem{}, err
	}
	if mseq.Valid {
		if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET delivered = coalesce(delivered, ?1), sent = coalesce(sent, ?1),
			status = CASE WHEN status IN ('queued', 'sent', 'stored', 'failed') THEN 'delivered' ELSE status END WHERE seq = ?2`,
			ns(at), mseq.Int64); err != nil {
			return OutboxItem{}, fmt.Errorf("storage: acknowledge: %w", err)
		}
	}
	if err := tx.db.runHook("ack:message"); err != nil {
		return OutboxItem{}, err
	}
	return it, nil
}

// Acknowledge is Tx.Acknowledge in its own transaction.
func (db *DB) Acknowledge(ctx context.Context, contactID int64, id MessageID, at time.Time) (it OutboxItem, err error) {
	err = db.Update(ctx, func(tx *Tx) error { it, err = tx.Acknowledge(contactID, id, at); return err })
	return it, err
}

// DropOutbox removes an item without an acknowledgement (the node gave
// up, or the frame is obsolete). If failed, a carried message becomes
// StatusFailed.
func (tx *Tx) DropOutbox(id MessageID, failed bool) error {
	var mseq sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `DELETE FROM outbox WHERE id = ? RETURNING message_seq`, id[:]).Scan(&mseq)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("storage: drop outbox %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("storage: drop outbox: %w", err)
	}
	if failed && mseq.Valid {
		if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET status = 'failed' WHERE seq = ? AND status IN ('queued', 'sent', 'stored')`, mseq.Int64); err != nil {
			return fmt.Errorf("storage: drop outbox: %w", err)
		}
	}
	return nil
}

// DropOutbox is Tx.DropOutbox in its own transaction.
func (db *DB) DropOutbox(ctx context.Context, id MessageID, failed bool) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.DropOutbox(id, failed) })
}

// ReplaceFrame swaps the bytes of a queued item for a fresh encoding of the
// same frame (same id and kind): a contact request restamped with a new
// proof of work, or given an invite token. ErrNotFound if the item is gone
// (acknowledged meanwhile).
func (tx *Tx) ReplaceFrame(contactID int64, id MessageID, frame []byte) error {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE outbox SET frame_sealed = ? WHERE id = ? AND contact_id = ?`,
		tx.db.seal.seal("outbox", "frame", tx.db.outboxKey(contactID, id), frame), id[:], contactID)
	if err != nil {
		return fmt.Errorf("storage: replace frame: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: replace frame %s: %w", id, ErrNotFound)
	}
	return nil
}

// ReplaceFrame is Tx.ReplaceFrame in its own transaction.
func (db *DB) ReplaceFrame(ctx context.Context, contactID int64, id MessageID, frame []byte) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.ReplaceFrame(contactID, id, frame) })
}
