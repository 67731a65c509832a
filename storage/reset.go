package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session resets (node: a contact who lost their state starts a new
// session) replace a session while its outbox stays: frames made for the
// old session are re-encrypted and moved behind the new acceptance.

// DeleteSession deletes the contact's session and keeps its outbox: the
// node holds the queued messages until a new session re-encrypts them.
func (tx *Tx) DeleteSession(contactID int64) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM sessions WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("storage: delete session: %w", err)
	}
	return nil
}

// RequeueOutbox moves outbox item id to the end of its contact's outbox,
// not yet sent, with frame in place of its frame (nil keeps it). Id, kind,
// contact and carried message stay. ErrNotFound if there is no such item
// (acknowledged meanwhile).
func (tx *Tx) RequeueOutbox(id MessageID, frame []byte) (OutboxItem, error) {
	it, err := tx.db.scanOutbox(tx.tx.QueryRowContext(tx.ctx, `SELECT `+outboxCols+` FROM outbox o LEFT JOIN messages m ON m.seq = o.message_seq
		WHERE o.id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxItem{}, fmt.Errorf("storage: requeue %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return OutboxItem{}, fmt.Errorf("storage: requeue: %w", err)
	}
	var mseq sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `DELETE FROM outbox WHERE seq = ? RETURNING message_seq`, it.Seq).Scan(&mseq); err != nil {
		return OutboxItem{}, fmt.Errorf("storage: requeue: %w", err)
	}
	if frame != nil {
		it.Frame = frame
	}
	it.Seq, it.Sent, it.Attempts, it.Message = 0, time.Time{}, 0, nil
	out, err := tx.queue(it, mseq.Int64)
	if err != nil {
		return OutboxItem{}, fmt.Errorf("storage: requeue: %w", err)
	}
	return out, nil
}
