package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file is the profile's side of a chive mailbox (issue 16): which
// mailbox is ours, each contact's slot in it and the mailbox each contact
// told us about, and which outbox items a mailbox has accepted.

// MailboxLink is our own mailbox.
type MailboxLink struct {
	Address  string // its onion address
	Linked   time.Time
	LastSeen time.Time // the last session with it; zero if none
}

// Mailbox returns our mailbox, or ErrNotFound when none is linked.
func (db *DB) Mailbox(ctx context.Context) (MailboxLink, error) {
	if err := db.check(); err != nil {
		return MailboxLink{}, err
	}
	var addr []byte
	var linked int64
	var seen sql.NullInt64
	err := db.sql.QueryRowContext(ctx, `SELECT address_sealed, linked, last_seen FROM mailbox WHERE id = 1`).Scan(&addr, &linked, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return MailboxLink{}, fmt.Errorf("storage: mailbox: %w", ErrNotFound)
	}
	if err != nil {
		return MailboxLink{}, fmt.Errorf("storage: mailbox: %w", err)
	}
	a, err := db.seal.open("mailbox", "address", int64Key(1), addr)
	if err != nil {
		return MailboxLink{}, fmt.Errorf("storage: mailbox: %w", err)
	}
	return MailboxLink{Address: string(a), Linked: time.Unix(0, linked), LastSeen: fromNull(seen)}, nil
}

// SetMailbox records m as our mailbox, replacing any other.
func (tx *Tx) SetMailbox(m MailboxLink) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT OR REPLACE INTO mailbox (id, address_sealed, linked, last_seen) VALUES (1, ?, ?, ?)`,
		tx.db.seal.seal("mailbox", "address", int64Key(1), []byte(m.Address)), ns(m.Linked), nullTime(m.LastSeen))
	if err != nil {
		return fmt.Errorf("storage: set mailbox: %w", err)
	}
	return nil
}

// DeleteMailbox forgets our mailbox: the contacts' tokens in it, and the
// marks of the outbox items it held (they are not there any more).
func (tx *Tx) DeleteMailbox() error {
	for _, q := range []string{
		`DELETE FROM mailbox`,
		`UPDATE contact_mailbox SET token_sealed = NULL, slot_added = NULL`,
		`UPDATE outbox SET stored_own = NULL`,
	} {
		if _, err := tx.tx.ExecContext(tx.ctx, q); err != nil {
			return fmt.Errorf("storage: delete mailbox: %w", err)
		}
	}
	return nil
}

// TouchMailbox records a session with our mailbox at at.
func (db *DB) TouchMailbox(ctx context.Context, at time.Time) error {
	if err := db.check(); err != nil {
		return err
	}
	if _, err := db.sql.ExecContext(ctx, `UPDATE mailbox SET last_seen = ? WHERE id = 1`, ns(at)); err != nil {
		return fmt.Errorf("storage: touch mailbox: %w", err)
	}
	return nil
}

// ContactMailbox is what the profile keeps about mailboxes per contact.
type ContactMailbox struct {
	ContactID int64
	// Token is the contact's upload token for our mailbox (nil: none), and
	// SlotAdded when our mailbox acknowledged its slot (zero: not yet).
	Token     []byte
	SlotAdded time.Time
	// InfoSent is the mailbox info last queued for the contact (opaque to
	// storage); nil if none ever was.
	InfoSent []byte
	// Peer is the mailbox the contact told us about (opaque: its key and
	// our token there); nil if none.
	Peer []byte
}

func cmKey(contactID int64) []byte { return int64Key(contactID) }

func (db *DB) scanContactMailbox(sc interface{ Scan(...any) error }) (ContactMailbox, error) {
	var cm ContactMailbox
	var token, info, peer []byte
	var added sql.NullInt64
	if err := sc.Scan(&cm.ContactID, &token, &added, &info, &peer); err != nil {
		return ContactMailbox{}, err
	}
	k := cmKey(cm.ContactID)
	var err error
	if cm.Token, err = db.seal.openOpt("contact_mailbox", "token", k, token); err != nil {
		return ContactMailbox{}, err
	}
	if cm.InfoSent, err = db.seal.openOpt("contact_mailbox", "info_sent", k, info); err != nil {
		return ContactMailbox{}, err
	}
	if cm.InfoSent == nil && info != nil {
		cm.InfoSent = []byte{}
	}
	if cm.Peer, err = db.seal.openOpt("contact_mailbox", "peer", k, peer); err != nil {
		return ContactMailbox{}, err
	}
	cm.SlotAdded = fromNull(added)
	return cm, nil
}

const cmCols = `contact_id, token_sealed, slot_added, info_sent_sealed, peer_sealed`

// ContactMailboxes lists what is kept per contact, by contact id.
func (db *DB) ContactMailboxes(ctx context.Context) ([]ContactMailbox, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+cmCols+` FROM contact_mailbox ORDER BY contact_id`)
	if err != nil {
		return nil, fmt.Errorf("storage: contact mailboxes: %w", err)
	}
	defer rows.Close()
	var out []ContactMailbox
	for rows.Next() {
		cm, err := db.scanContactMailbox(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: contact mailboxes: %w", err)
		}
		out = append(out, cm)
	}
	return out, rows.Err()
}

// ContactMailbox returns what is kept for one contact (all empty if nothing).
func (db *DB) ContactMailbox(ctx context.Context, contactID int64) (ContactMailbox, error) {
	if err := db.check(); err != nil {
		return ContactMailbox{}, err
	}
	cm, err := db.scanContactMailbox(db.sql.QueryRowContext(ctx, `SELECT `+cmCols+` FROM contact_mailbox WHERE contact_id = ?`, contactID))
	if errors.Is(err, sql.ErrNoRows) {
		return ContactMailbox{ContactID: contactID}, nil
	}
	if err != nil {
		return ContactMailbox{}, fmt.Errorf("storage: contact mailbox: %w", err)
	}
	return cm, nil
}

func (tx *Tx) ensureContactMailbox(contactID int64) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO contact_mailbox (contact_id, updated) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		contactID, ns(time.Now()))
	return err
}

func (tx *Tx) updateContactMailbox(op string, contactID int64, set string, args ...any) error {
	if err := tx.ensureContactMailbox(contactID); err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	args = append(args, ns(time.Now()), contactID)
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE contact_mailbox SET `+set+`, updated = ? WHERE contact_id = ?`, args...); err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	return nil
}

// SetMailboxToken gives the contact a new token for our mailbox (nil:
// none); its slot is not added until SetSlotAdded.
func (tx *Tx) SetMailboxToken(contactID int64, token []byte) error {
	return tx.updateContactMailbox("set mailbox token", contactID, `token_sealed = ?, slot_added = NULL`,
		tx.db.seal.sealOpt("contact_mailbox", "token", cmKey(contactID), token))
}

// SetSlotAdded records that our mailbox acknowledged the contact's slot.
func (tx *Tx) SetSlotAdded(contactID int64, at time.Time) error {
	return tx.updateContactMailbox("set slot added", contactID, `slot_added = ?`, nullTime(at))
}

// SetMailboxInfoSent records the mailbox info queued for the contact.
func (tx *Tx) SetMailboxInfoSent(contactID int64, info []byte) error {
	if info == nil {
		info = []byte{}
	}
	return tx.updateContactMailbox("set mailbox info sent", contactID, `info_sent_sealed = ?`,
		tx.db.seal.seal("contact_mailbox", "info_sent", cmKey(contactID), info))
}

// SetPeerMailbox records the mailbox the contact told us about (nil:
// none). A different mailbox than before holds none of our items, so the
// marks of the items stored in the old one are cleared.
func (tx *Tx) SetPeerMailbox(contactID int64, peer []byte) error {
	if err := tx.updateContactMailbox("set peer mailbox", contactID, `peer_sealed = ?`,
		tx.db.seal.sealOpt("contact_mailbox", "peer", cmKey(contactID), peer)); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE outbox SET stored_peer = NULL WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("storage: set peer mailbox: %w", err)
	}
	return nil
}

// StoredMark says which mailboxes accepted an outbox item.
type StoredMark struct {
	Own  time.Time // our mailbox; zero if not
	Peer time.Time // the contact's; zero if not
}

// StoredMarks returns the marks of the contact's outbox items that a
// mailbox accepted, by item id.
func (db *DB) StoredMarks(ctx context.Context, contactID int64) (map[MessageID]StoredMark, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, stored_own, stored_peer FROM outbox
		WHERE contact_id = ? AND (stored_own IS NOT NULL OR stored_peer IS NOT NULL)`, contactID)
	if err != nil {
		return nil, fmt.Errorf("storage: stored marks: %w", err)
	}
	defer rows.Close()
	out := map[MessageID]StoredMark{}
	for rows.Next() {
		var b []byte
		var own, peer sql.NullInt64
		if err := rows.Scan(&b, &own, &peer); err != nil {
			return nil, fmt.Errorf("storage: stored marks: %w", err)
		}
		var id MessageID
		copy(id[:], b)
		out[id] = StoredMark{Own: fromNull(own), Peer: fromNull(peer)}
	}
	return out, rows.Err()
}

// MarkStored records that a mailbox (ours if own, else the contact's)
// accepted outbox item id of the contact. A carried message not yet
// delivered becomes StatusStored; stored reports whether it did.
// ErrNotFound if the item is gone (acknowledged meanwhile).
func (tx *Tx) MarkStored(contactID int64, id MessageID, own bool, at time.Time) (stored bool, err error) {
	col := "stored_peer"
	if own {
		col = "stored_own"
	}
	var mseq sql.NullInt64
	err = tx.tx.QueryRowContext(tx.ctx, `UPDATE outbox SET `+col+` = coalesce(`+col+`, ?) WHERE id = ? AND contact_id = ? RETURNING message_seq`,
		ns(at), id[:], contactID).Scan(&mseq)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("storage: mark stored %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("storage: mark stored: %w", err)
	}
	if !mseq.Valid {
		return false, nil
	}
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET status = 'stored' WHERE seq = ? AND status IN ('queued', 'sent', 'failed')`, mseq.Int64)
	if err != nil {
		return false, fmt.Errorf("storage: mark stored: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// MarkExpired records that a mailbox deleted the contact's outbox item id
// unread (its retention ran out): a carried message that is not delivered
// becomes StatusFailed, and expired reports whether it did. The item stays
// in the outbox: it is still delivered if the contact comes online, and
// Retry hands it to a mailbox again (ClearStored).
func (tx *Tx) MarkExpired(contactID int64, id MessageID) (expired bool, err error) {
	var mseq sql.NullInt64
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT message_seq FROM outbox WHERE id = ? AND contact_id = ?`, id[:], contactID).Scan(&mseq)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // delivered meanwhile
	}
	if err != nil || !mseq.Valid {
		return false, err
	}
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET status = 'failed' WHERE seq = ? AND status IN ('queued', 'sent', 'stored')`, mseq.Int64)
	if err != nil {
		return false, fmt.Errorf("storage: mark expired: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ClearStored forgets that mailboxes accepted outbox item id, so it is
// handed to them again.
func (tx *Tx) ClearStored(id MessageID) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE outbox SET stored_own = NULL, stored_peer = NULL WHERE id = ?`, id[:]); err != nil {
		return fmt.Errorf("storage: clear stored: %w", err)
	}
	return nil
}
