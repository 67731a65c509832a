package storage

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Storage for the minimal session reset of a restored profile (node/reset.go).

// DropSessionFrames forgets the session with the contact and the outbox
// frames sealed under it: queued messages become failed (the peer may never
// get them), reactions, edits and profile frames go; requests, acceptances
// and receipts (not encrypted) stay.
func (tx *Tx) DropSessionFrames(contactID int64) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM sessions WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("storage: drop session: %w", err)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, `DELETE FROM outbox WHERE contact_id = ? AND kind NOT IN (?, ?, ?) RETURNING message_seq`,
		contactID, string(KindRequest), string(KindAccept), string(KindReceipt))
	if err != nil {
		return fmt.Errorf("storage: drop session: %w", err)
	}
	var seqs []int64
	for rows.Next() {
		var s sql.NullInt64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("storage: drop session: %w", err)
		}
		if s.Valid {
			seqs = append(seqs, s.Int64)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("storage: drop session: %w", err)
	}
	for _, s := range seqs {
		if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET status = 'failed' WHERE seq = ? AND status IN ('queued', 'sent')`, s); err != nil {
			return fmt.Errorf("storage: drop session: %w", err)
		}
	}
	return nil
}

// RequeueMessages moves the contact's queued messages to the end of its
// outbox, in their order, with the frames encrypt makes of them under the
// new session (nil: the message is not sent, its item dropped). Other
// frames sealed under the old session (reactions, edits, profile) and
// requests (a new session replaces them) are dropped; acceptances and
// receipts stay where they are: the node queues its Accept first, so the
// messages follow it. The moved items are returned.
func (tx *Tx) RequeueMessages(contactID int64, encrypt func(Message) ([]byte, error)) ([]OutboxItem, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+outboxCols+` FROM outbox o LEFT JOIN messages m ON m.seq = o.message_seq
		WHERE o.contact_id = ? ORDER BY o.seq`, contactID)
	if err != nil {
		return nil, fmt.Errorf("storage: requeue: %w", err)
	}
	var its []OutboxItem
	for rows.Next() {
		it, err := tx.db.scanOutbox(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: requeue: %w", err)
		}
		its = append(its, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: requeue: %w", err)
	}
	var out []OutboxItem
	now := time.Now()
	for _, it := range its {
		switch it.Kind {
		case KindAccept, KindReceipt:
			continue
		case KindMessage:
		default:
			if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM outbox WHERE seq = ?`, it.Seq); err != nil {
				return nil, fmt.Errorf("storage: requeue: %w", err)
			}
			continue
		}
		var m Message
		var seq int64
		if err := tx.tx.QueryRowContext(tx.ctx, `DELETE FROM outbox WHERE seq = ? RETURNING message_seq`, it.Seq).Scan(&seq); err != nil {
			return nil, fmt.Errorf("storage: requeue: %w", err)
		}
		m, err = tx.db.scanMessage(tx.tx.QueryRowContext(tx.ctx, `SELECT `+messageCols+` FROM messages WHERE seq = ?`, seq))
		if err != nil {
			return nil, fmt.Errorf("storage: requeue: %w", err)
		}
		frame, err := encrypt(m)
		if err != nil {
			return nil, err
		}
		if frame == nil {
			continue
		}
		nit, err := tx.queue(OutboxItem{ID: it.ID, ContactID: contactID, Kind: KindMessage, Frame: frame, NextAttempt: now, Created: it.Created}, seq)
		if err != nil {
			return nil, fmt.Errorf("storage: requeue: %w", err)
		}
		out = append(out, nit)
	}
	return out, nil
}

// ConvoOf is the conversation state of message seq (without reactions),
// inside the transaction.
func (tx *Tx) ConvoOf(seq int64) (Convo, error) {
	var contact int64
	var dir Direction
	var id, reply []byte
	var kind string
	var timer sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT contact_id, direction, id, kind, reply_sealed, timer FROM messages WHERE seq = ?`, seq).
		Scan(&contact, &dir, &id, &kind, &reply, &timer)
	if errors.Is(err, sql.ErrNoRows) {
		return Convo{}, fmt.Errorf("storage: message %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return Convo{}, fmt.Errorf("storage: convo: %w", err)
	}
	c := Convo{Kind: MessageKind(kind), Timer: time.Duration(timer.Int64) * time.Second}
	if reply != nil {
		var mid MessageID
		copy(mid[:], id)
		b, err := tx.db.seal.open("messages", "reply", messageKey(contact, dir, mid), reply)
		if err != nil {
			return Convo{}, fmt.Errorf("storage: convo: %w", err)
		}
		c.Reply = new(ReplyRef)
		if err := json.Unmarshal(b, c.Reply); err != nil {
			return Convo{}, fmt.Errorf("storage: convo: reply: %w", err)
		}
	}
	return c, nil
}
