package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetDraft keeps text as the unsent draft of the conversation with the
// contact, sealed; "" deletes it. ErrNotFound if there is no such contact.
func (db *DB) SetDraft(ctx context.Context, contactID int64, text string) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.SetDraft(contactID, text) })
}

// SetDraft is DB.SetDraft inside a transaction.
func (tx *Tx) SetDraft(contactID int64, text string) error {
	if text == "" {
		if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM drafts WHERE contact_id = ?`, contactID); err != nil {
			return fmt.Errorf("storage: set draft: %w", err)
		}
		return nil
	}
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM contacts WHERE id = ?`, contactID).Scan(&n); err != nil {
		return fmt.Errorf("storage: set draft: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("storage: set draft for contact %d: %w", contactID, ErrNotFound)
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO drafts (contact_id, text_sealed, updated) VALUES (?, ?, ?)
		ON CONFLICT (contact_id) DO UPDATE SET text_sealed = excluded.text_sealed, updated = excluded.updated`,
		contactID, tx.db.seal.seal("drafts", "text", int64Key(contactID), []byte(text)), ns(time.Now()))
	if err != nil {
		return fmt.Errorf("storage: set draft: %w", err)
	}
	return nil
}

// Draft returns the contact's draft, "" if none.
func (db *DB) Draft(ctx context.Context, contactID int64) (string, error) {
	if err := db.check(); err != nil {
		return "", err
	}
	var sealed []byte
	err := db.sql.QueryRowContext(ctx, `SELECT text_sealed FROM drafts WHERE contact_id = ?`, contactID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("storage: draft: %w", err)
	}
	b, err := db.seal.open("drafts", "text", int64Key(contactID), sealed)
	if err != nil {
		return "", fmt.Errorf("storage: draft: %w", err)
	}
	return string(b), nil
}

// Drafts returns every draft, by contact id.
func (db *DB) Drafts(ctx context.Context) (map[int64]string, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT contact_id, text_sealed FROM drafts`)
	if err != nil {
		return nil, fmt.Errorf("storage: drafts: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			return nil, fmt.Errorf("storage: drafts: %w", err)
		}
		b, err := db.seal.open("drafts", "text", int64Key(id), sealed)
		if err != nil {
			return nil, fmt.Errorf("storage: drafts: %w", err)
		}
		out[id] = string(b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: drafts: %w", err)
	}
	return out, nil
}
