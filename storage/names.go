package storage

import (
	"fmt"
)

// Contacts is DB.Contacts inside the transaction: every contact (removed
// ones too), by id, as the transaction sees them.
func (tx *Tx) Contacts() ([]Contact, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+contactCols+` FROM contacts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("storage: contacts: %w", err)
	}
	defer rows.Close()
	var cs []Contact
	for rows.Next() {
		c, err := tx.db.scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: contacts: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: contacts: %w", err)
	}
	return cs, nil
}

// SetNameSent records name as our display name last sent to the contact
// (with a request, an acceptance or a profile message queued in this
// transaction).
func (tx *Tx) SetNameSent(contactID int64, name string) error {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE contacts SET name_sent_sealed = ? WHERE id = ?`,
		tx.db.seal.sealOpt("contacts", "name_sent", int64Key(contactID), optString(name)), contactID)
	if err != nil {
		return fmt.Errorf("storage: set name sent: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: set name sent for contact %d: %w", contactID, ErrNotFound)
	}
	return nil
}

// ForgetOutbox drops every outbox item of the contact (on block: nothing
// more is sent to them) but keeps the session. Messages it carried become
// StatusFailed; their ids are returned.
func (tx *Tx) ForgetOutbox(contactID int64) ([]MessageID, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT m.id FROM outbox o JOIN messages m ON m.seq = o.message_seq
		WHERE o.contact_id = ? AND m.status IN ('queued', 'sent', 'stored') ORDER BY o.seq`, contactID)
	if err != nil {
		return nil, fmt.Errorf("storage: forget outbox: %w", err)
	}
	var failed []MessageID
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: forget outbox: %w", err)
		}
		var id MessageID
		copy(id[:], b)
		failed = append(failed, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: forget outbox: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET status = 'failed'
		WHERE seq IN (SELECT message_seq FROM outbox WHERE contact_id = ? AND message_seq IS NOT NULL) AND status IN ('queued', 'sent', 'stored')`, contactID); err != nil {
		return nil, fmt.Errorf("storage: forget outbox: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM outbox WHERE contact_id = ?`, contactID); err != nil {
		return nil, fmt.Errorf("storage: forget outbox: %w", err)
	}
	return failed, nil
}
