package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// InviteTokenSize is the length of an invite token in bytes.
const InviteTokenSize = 16

// Invite is a token the user handed out in a chive: link. A contact request
// carrying it skips the stranger limits, MaxUses times, until Expires.
type Invite struct {
	ID      int64
	Token   []byte // InviteTokenSize random bytes (sealed at rest)
	MaxUses int
	Uses    int
	Expires time.Time
	Created time.Time
}

// Usable reports whether the invite may still be redeemed at now.
func (iv Invite) Usable(now time.Time) bool {
	return iv.Uses < iv.MaxUses && now.Before(iv.Expires)
}

// ErrInviteUsed: the invite is expired, used up or unknown (a redeemer is
// never told which).
var ErrInviteUsed = errors.New("storage: invite expired, used up or unknown")

func (s *sealer) tokenMAC(token []byte) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte("invite\x00"))
	m.Write(token)
	return m.Sum(nil)
}

const inviteCols = `id, token_sealed, max_uses, uses, expires, created`

func (db *DB) scanInvite(sc interface{ Scan(...any) error }) (Invite, error) {
	var iv Invite
	var sealed []byte
	var expires, created int64
	if err := sc.Scan(&iv.ID, &sealed, &iv.MaxUses, &iv.Uses, &expires, &created); err != nil {
		return Invite{}, err
	}
	tok, err := db.seal.open("invites", "token", int64Key(iv.ID), sealed)
	if err != nil {
		return Invite{}, err
	}
	iv.Token, iv.Expires, iv.Created = tok, time.Unix(0, expires), time.Unix(0, created)
	return iv, nil
}

// CreateInvite stores a new invite (iv.ID is assigned; Created defaults to
// now). The token must be InviteTokenSize random bytes.
func (db *DB) CreateInvite(ctx context.Context, iv Invite) (Invite, error) {
	if len(iv.Token) != InviteTokenSize {
		return Invite{}, fmt.Errorf("storage: create invite: token of %d bytes", len(iv.Token))
	}
	if iv.MaxUses <= 0 {
		return Invite{}, errors.New("storage: create invite: at least one use")
	}
	if iv.Created.IsZero() {
		iv.Created = time.Now()
	}
	iv.Uses = 0
	err := db.Update(ctx, func(tx *Tx) error {
		// The id is in the sealed token's associated data: pick it first,
		// never reusing one (see InsertContact).
		if err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'invites'), 0),
			coalesce((SELECT max(id) FROM invites), 0)) + 1`).Scan(&iv.ID); err != nil {
			return err
		}
		_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO invites (id, token_mac, token_sealed, max_uses, uses, expires, created) VALUES (?, ?, ?, ?, 0, ?, ?)`,
			iv.ID, db.seal.tokenMAC(iv.Token), db.seal.seal("invites", "token", int64Key(iv.ID), iv.Token), iv.MaxUses, ns(iv.Expires), ns(iv.Created))
		return err
	})
	if err != nil {
		return Invite{}, fmt.Errorf("storage: create invite: %w", err)
	}
	return iv, nil
}

// Invites lists the stored invites, oldest first, usable or not.
func (db *DB) Invites(ctx context.Context) ([]Invite, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+inviteCols+` FROM invites ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("storage: invites: %w", err)
	}
	defer rows.Close()
	var out []Invite
	for rows.Next() {
		iv, err := db.scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: invites: %w", err)
		}
		out = append(out, iv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: invites: %w", err)
	}
	return out, nil
}

// DeleteInvite revokes an invite. ErrNotFound if there is none with id.
func (db *DB) DeleteInvite(ctx context.Context, id int64) error {
	return db.Update(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM invites WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("storage: delete invite: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("storage: delete invite %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// PruneInvites deletes invites that can no longer be redeemed at now.
func (db *DB) PruneInvites(ctx context.Context, now time.Time) error {
	return db.Update(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM invites WHERE uses >= max_uses OR expires <= ?`, ns(now))
		return err
	})
}

func (db *DB) inviteByToken(ctx context.Context, q querier, token []byte) (Invite, error) {
	iv, err := db.scanInvite(q.QueryRowContext(ctx, `SELECT `+inviteCols+` FROM invites WHERE token_mac = ?`, db.seal.tokenMAC(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return Invite{}, ErrInviteUsed
	}
	if err != nil {
		return Invite{}, err
	}
	// As for addresses: the MAC finds the row, the sealed token proves it.
	if subtle.ConstantTimeCompare(iv.Token, token) != 1 {
		return Invite{}, fmt.Errorf("storage: invite %d holds another token: %w", iv.ID, ErrTampered)
	}
	return iv, nil
}

// CheckInvite reports whether token is a usable invite at now, without
// redeeming it: ErrInviteUsed if not.
func (db *DB) CheckInvite(ctx context.Context, token []byte, now time.Time) (Invite, error) {
	if err := db.check(); err != nil {
		return Invite{}, err
	}
	iv, err := db.inviteByToken(ctx, db.sql, token)
	if err != nil {
		return Invite{}, fmt.Errorf("storage: check invite: %w", err)
	}
	if !iv.Usable(now) {
		return Invite{}, fmt.Errorf("storage: check invite: %w", ErrInviteUsed)
	}
	return iv, nil
}

// RedeemInvite uses up one use of the invite with token, in the caller's
// transaction (with the contact it lets in): ErrInviteUsed if it is not
// usable at now.
func (tx *Tx) RedeemInvite(token []byte, now time.Time) (Invite, error) {
	iv, err := tx.db.inviteByToken(tx.ctx, tx.tx, token)
	if err != nil {
		return Invite{}, fmt.Errorf("storage: redeem invite: %w", err)
	}
	if !iv.Usable(now) {
		return Invite{}, fmt.Errorf("storage: redeem invite: %w", ErrInviteUsed)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE invites SET uses = uses + 1 WHERE id = ?`, iv.ID); err != nil {
		return Invite{}, fmt.Errorf("storage: redeem invite: %w", err)
	}
	iv.Uses++
	return iv, nil
}
