package storage

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var identityRow = int64Key(1)

func (db *DB) putIdentity(ctx context.Context, id Identity) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.UpdateIdentity(id) })
}

// UpdateIdentity replaces the stored identity (for example after the node
// rotates the ratchet signed prekey, or the user renames themself).
func (tx *Tx) UpdateIdentity(id Identity) error {
	if len(id.OnionKey) != ed25519.PrivateKeySize {
		return errors.New("storage: update identity: no onion key")
	}
	s := tx.db.seal
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO identity (id, name_sealed, onion_key_sealed, ratchet_sealed, created)
		VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name_sealed = excluded.name_sealed,
			onion_key_sealed = excluded.onion_key_sealed, ratchet_sealed = excluded.ratchet_sealed`,
		s.seal("identity", "name", identityRow, []byte(id.Name)),
		s.seal("identity", "onion_key", identityRow, id.OnionKey),
		s.seal("identity", "ratchet", identityRow, id.Ratchet),
		ns(id.Created))
	if err != nil {
		return fmt.Errorf("storage: update identity: %w", err)
	}
	return nil
}

// UpdateIdentity is Tx.UpdateIdentity in its own transaction.
func (db *DB) UpdateIdentity(ctx context.Context, id Identity) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.UpdateIdentity(id) })
}

// Identity returns the user's own identity.
func (db *DB) Identity(ctx context.Context) (Identity, error) {
	if err := db.check(); err != nil {
		return Identity{}, err
	}
	var name, key, rat []byte
	var created int64
	err := db.sql.QueryRowContext(ctx, `SELECT name_sealed, onion_key_sealed, ratchet_sealed, created FROM identity WHERE id = 1`).
		Scan(&name, &key, &rat, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Identity{}, fmt.Errorf("storage: identity: %w", ErrNotFound)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("storage: identity: %w", err)
	}
	s := db.seal
	var id Identity
	if name, err = s.open("identity", "name", identityRow, name); err != nil {
		return Identity{}, fmt.Errorf("storage: identity: %w", err)
	}
	if key, err = s.open("identity", "onion_key", identityRow, key); err != nil {
		return Identity{}, fmt.Errorf("storage: identity: %w", err)
	}
	if rat, err = s.open("identity", "ratchet", identityRow, rat); err != nil {
		return Identity{}, fmt.Errorf("storage: identity: %w", err)
	}
	if len(key) != ed25519.PrivateKeySize {
		return Identity{}, errors.New("storage: identity: bad onion key size")
	}
	id.Name, id.OnionKey, id.Ratchet, id.Created = string(name), ed25519.PrivateKey(key), rat, time.Unix(0, created)
	return id, nil
}
