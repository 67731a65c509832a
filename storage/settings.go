package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// Well-known settings keys.
const (
	SettingReadReceipts = "read_receipts" // "on" (default) or "off"
)

// Setting returns the value of key and whether it is set. Settings are not
// sealed: keep secrets out of them.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	if err := db.check(); err != nil {
		return "", false, err
	}
	var v string
	err := db.sql.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("storage: setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSetting sets key to value.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	if err := db.check(); err != nil {
		return err
	}
	_, err := db.sql.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("storage: set setting %s: %w", key, err)
	}
	return nil
}

// DeleteSetting removes key (back to its default).
func (db *DB) DeleteSetting(ctx context.Context, key string) error {
	if err := db.check(); err != nil {
		return err
	}
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("storage: delete setting %s: %w", key, err)
	}
	return nil
}

// WriteProbe writes and removes a few kilobytes in one transaction: after
// a full-disk error (IsDiskFull) it tells whether writes work again.
func (db *DB) WriteProbe(ctx context.Context) error {
	b := make([]byte, 4<<10)
	rand.Read(b)
	return db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('probe', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, hex.EncodeToString(b)); err != nil {
			return err
		}
		_, err := tx.tx.ExecContext(ctx, `DELETE FROM settings WHERE key = 'probe'`)
		return err
	})
}
