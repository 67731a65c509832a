package storage

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ContactState is where a contact stands in the request handshake.
type ContactState string

const (
	StateRequested       ContactState = "requested"        // we sent a request, no answer yet
	StatePendingIncoming ContactState = "pending-incoming" // they asked; the user has not decided
	StateAccepted        ContactState = "accepted"         // both sides agreed; messages flow
	StateBlocked         ContactState = "blocked"          // refused: no requests, no messages
)

// Valid reports whether s is one of the four states.
func (s ContactState) Valid() bool {
	switch s {
	case StateRequested, StatePendingIncoming, StateAccepted, StateBlocked:
		return true
	}
	return false
}

// Contact is one row of the contact book. Address is the canonical onion
// address (contacts/ validates it); storage treats it as an opaque string.
type Contact struct {
	ID         int64
	Address    string
	Nickname   string
	State      ContactState
	Verified   bool   // safety number compared out of band
	Removed    bool   // removed by the user but history kept
	Greeting   string // their greeting (incoming) or ours (requested)
	PeerBundle []byte // the peer's ratchet bundle, opaque
	Note       string
	Created    time.Time
	Updated    time.Time
	LastSeen   time.Time // zero: never

	// Since version 3:
	PeerName    string       // the display name the contact gives itself
	NameSent    string       // our display name as last sent to them ("" : none yet)
	BlockedFrom ContactState // a blocked contact's state before the block; "" if unknown

	// Since version 4:
	// Invited: their request carried a valid invite token. Such a pending
	// request is never evicted to make room for another.
	Invited bool
}

const contactCols = `id, address_sealed, nickname_sealed, state, verified, removed, greeting_sealed, bundle_sealed, note_sealed, created, updated, last_seen,
	peer_name_sealed, name_sent_sealed, blocked_from, invited`

func (db *DB) scanContact(sc interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	var addr, nick, greet, bundle, note, peerName, nameSent []byte
	var created, updated int64
	var seen sql.NullInt64
	var blockedFrom sql.NullString
	if err := sc.Scan(&c.ID, &addr, &nick, &c.State, &c.Verified, &c.Removed, &greet, &bundle, &note, &created, &updated, &seen,
		&peerName, &nameSent, &blockedFrom, &c.Invited); err != nil {
		return Contact{}, err
	}
	k := int64Key(c.ID)
	s := db.seal
	var err error
	if addr, err = s.open("contacts", "address", k, addr); err != nil {
		return Contact{}, err
	}
	if nick, err = s.open("contacts", "nickname", k, nick); err != nil {
		return Contact{}, err
	}
	if greet, err = s.openOpt("contacts", "greeting", k, greet); err != nil {
		return Contact{}, err
	}
	if c.PeerBundle, err = s.openOpt("contacts", "bundle", k, bundle); err != nil {
		return Contact{}, err
	}
	if note, err = s.openOpt("contacts", "note", k, note); err != nil {
		return Contact{}, err
	}
	if peerName, err = s.openOpt("contacts", "peer_name", k, peerName); err != nil {
		return Contact{}, err
	}
	if nameSent, err = s.openOpt("contacts", "name_sent", k, nameSent); err != nil {
		return Contact{}, err
	}
	c.Address, c.Nickname, c.Greeting, c.Note = string(addr), string(nick), string(greet), string(note)
	c.PeerName, c.NameSent, c.BlockedFrom = string(peerName), string(nameSent), ContactState(blockedFrom.String)
	c.Created, c.Updated, c.LastSeen = time.Unix(0, created), time.Unix(0, updated), fromNull(seen)
	return c, nil
}

// checkBlockedFrom: only a blocked contact remembers a state, and never "blocked".
func (c Contact) checkBlockedFrom() error {
	switch {
	case c.BlockedFrom == "":
		return nil
	case c.State != StateBlocked:
		return fmt.Errorf("blocked_from %q on a %s contact", c.BlockedFrom, c.State)
	case !c.BlockedFrom.Valid() || c.BlockedFrom == StateBlocked:
		return fmt.Errorf("invalid blocked_from %q", c.BlockedFrom)
	}
	return nil
}

func optState(s ContactState) any {
	if s == "" {
		return nil
	}
	return string(s)
}

func optString(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// InsertContact adds c (c.ID is ignored and assigned). ErrExists if a
// contact with the same address is already stored (removed or not).
func (tx *Tx) InsertContact(c Contact) (Contact, error) {
	if !c.State.Valid() {
		return Contact{}, fmt.Errorf("storage: insert contact: invalid state %q", c.State)
	}
	if c.Address == "" {
		return Contact{}, errors.New("storage: insert contact: empty address")
	}
	mac := tx.db.seal.addressMAC(c.Address)
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM contacts WHERE address_mac = ?`, mac).Scan(&n); err != nil {
		return Contact{}, fmt.Errorf("storage: insert contact: %w", err)
	}
	if n > 0 {
		return Contact{}, fmt.Errorf("storage: insert contact: %w", ErrExists)
	}
	// The id is part of every sealed value's associated data, so pick it
	// before sealing, the way AUTOINCREMENT would (never reusing one); the
	// write lock is held (BEGIN IMMEDIATE).
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'contacts'), 0),
		coalesce((SELECT max(id) FROM contacts), 0)) + 1`).Scan(&c.ID); err != nil {
		return Contact{}, fmt.Errorf("storage: insert contact: %w", err)
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	c.Updated = c.Created
	k := int64Key(c.ID)
	s := tx.db.seal
	if err := c.checkBlockedFrom(); err != nil {
		return Contact{}, fmt.Errorf("storage: insert contact: %w", err)
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO contacts (`+contactCols+`, address_mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, s.seal("contacts", "address", k, []byte(c.Address)), s.seal("contacts", "nickname", k, []byte(c.Nickname)),
		string(c.State), c.Verified, c.Removed,
		s.sealOpt("contacts", "greeting", k, optString(c.Greeting)), s.sealOpt("contacts", "bundle", k, c.PeerBundle),
		s.sealOpt("contacts", "note", k, optString(c.Note)),
		ns(c.Created), ns(c.Updated), nullTime(c.LastSeen),
		s.sealOpt("contacts", "peer_name", k, optString(c.PeerName)), s.sealOpt("contacts", "name_sent", k, optString(c.NameSent)),
		optState(c.BlockedFrom), c.Invited, mac)
	if err != nil {
		return Contact{}, fmt.Errorf("storage: insert contact: %w", err)
	}
	return c, nil
}

// UpdateContact rewrites every field of the contact with c.ID except its
// address and created time. Updated is set to c.Updated, or now if zero.
func (tx *Tx) UpdateContact(c Contact) error {
	if !c.State.Valid() {
		return fmt.Errorf("storage: update contact: invalid state %q", c.State)
	}
	if c.Updated.IsZero() {
		c.Updated = time.Now()
	}
	if err := c.checkBlockedFrom(); err != nil {
		return fmt.Errorf("storage: update contact: %w", err)
	}
	k := int64Key(c.ID)
	s := tx.db.seal
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE contacts SET nickname_sealed = ?, state = ?, verified = ?, removed = ?,
		greeting_sealed = ?, bundle_sealed = ?, note_sealed = ?, updated = ?, last_seen = ?,
		peer_name_sealed = ?, name_sent_sealed = ?, blocked_from = ?, invited = ? WHERE id = ?`,
		s.seal("contacts", "nickname", k, []byte(c.Nickname)), string(c.State), c.Verified, c.Removed,
		s.sealOpt("contacts", "greeting", k, optString(c.Greeting)), s.sealOpt("contacts", "bundle", k, c.PeerBundle),
		s.sealOpt("contacts", "note", k, optString(c.Note)), ns(c.Updated), nullTime(c.LastSeen),
		s.sealOpt("contacts", "peer_name", k, optString(c.PeerName)), s.sealOpt("contacts", "name_sent", k, optString(c.NameSent)),
		optState(c.BlockedFrom), c.Invited, c.ID)
	if err != nil {
		return fmt.Errorf("storage: update contact: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: update contact %d: %w", c.ID, ErrNotFound)
	}
	return nil
}

// DeleteContact deletes the contact and, by cascade, its session,
// messages, outbox items and seen ids.
func (tx *Tx) DeleteContact(id int64) error {
	res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM contacts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("storage: delete contact: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: delete contact %d: %w", id, ErrNotFound)
	}
	return nil
}

// ForgetSession deletes the contact's session and outbox items (used on
// block and on remove-keeping-history): nothing more is sent to them.
func (tx *Tx) ForgetSession(contactID int64) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM outbox WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("storage: forget session: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM sessions WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("storage: forget session: %w", err)
	}
	return nil
}

// Contact returns the contact with id, or ErrNotFound.
func (tx *Tx) Contact(id int64) (Contact, error) { return tx.db.contact(tx.ctx, tx.tx, id) }

// ContactByAddress returns the contact with the canonical address, or ErrNotFound.
func (tx *Tx) ContactByAddress(address string) (Contact, error) {
	return tx.db.contactByAddress(tx.ctx, tx.tx, address)
}

// Contact returns the contact with id, or ErrNotFound.
func (db *DB) Contact(ctx context.Context, id int64) (Contact, error) {
	if err := db.check(); err != nil {
		return Contact{}, err
	}
	return db.contact(ctx, db.sql, id)
}

// ContactByAddress returns the contact with the canonical address, or ErrNotFound.
func (db *DB) ContactByAddress(ctx context.Context, address string) (Contact, error) {
	if err := db.check(); err != nil {
		return Contact{}, err
	}
	return db.contactByAddress(ctx, db.sql, address)
}

func (db *DB) contact(ctx context.Context, q querier, id int64) (Contact, error) {
	c, err := db.scanContact(q.QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("storage: contact %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("storage: contact %d: %w", id, err)
	}
	return c, nil
}

func (db *DB) contactByAddress(ctx context.Context, q querier, address string) (Contact, error) {
	c, err := db.scanContact(q.QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE address_mac = ?`, db.seal.addressMAC(address)))
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("storage: contact by address: %w", ErrNotFound)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("storage: contact by address: %w", err)
	}
	// The MAC only finds the row; the sealed address proves it. Without this
	// check, someone who can write the file could copy Bob's address_mac
	// onto a stranger's row and have every lookup of Bob return the stranger.
	if subtle.ConstantTimeCompare([]byte(c.Address), []byte(address)) != 1 {
		return Contact{}, fmt.Errorf("storage: contact by address: row %d holds another address: %w", c.ID, ErrTampered)
	}
	return c, nil
}

// Contacts returns every contact (including removed ones), by id.
func (db *DB) Contacts(ctx context.Context) ([]Contact, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+contactCols+` FROM contacts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("storage: contacts: %w", err)
	}
	defer rows.Close()
	var cs []Contact
	for rows.Next() {
		c, err := db.scanContact(rows)
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

// CountContacts returns how many (not removed) contacts are in state.
func (db *DB) CountContacts(ctx context.Context, state ContactState) (int, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM contacts WHERE state = ? AND removed = 0`, string(state)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("storage: count contacts: %w", err)
	}
	return n, nil
}

// SetLastSeen records when the contact was last connected.
func (db *DB) SetLastSeen(ctx context.Context, contactID int64, at time.Time) error {
	if err := db.check(); err != nil {
		return err
	}
	_, err := db.sql.ExecContext(ctx, `UPDATE contacts SET last_seen = ? WHERE id = ?`, ns(at), contactID)
	if err != nil {
		return fmt.Errorf("storage: set last seen: %w", err)
	}
	return nil
}

// Session returns the sealed-at-rest ratchet state for the contact, or ErrNotFound.
func (tx *Tx) Session(contactID int64) ([]byte, error) {
	return tx.db.session(tx.ctx, tx.tx, contactID)
}

// Session returns the ratchet state for the contact, or ErrNotFound.
func (db *DB) Session(ctx context.Context, contactID int64) ([]byte, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	return db.session(ctx, db.sql, contactID)
}

func (db *DB) session(ctx context.Context, q querier, contactID int64) ([]byte, error) {
	var sealed []byte
	err := q.QueryRowContext(ctx, `SELECT state_sealed FROM sessions WHERE contact_id = ?`, contactID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("storage: session %d: %w", contactID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: session %d: %w", contactID, err)
	}
	st, err := db.seal.open("sessions", "state", int64Key(contactID), sealed)
	if err != nil {
		return nil, fmt.Errorf("storage: session %d: %w", contactID, err)
	}
	return st, nil
}

// PutSession stores the ratchet state for the contact.
func (tx *Tx) PutSession(contactID int64, state []byte, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO sessions (contact_id, state_sealed, updated) VALUES (?, ?, ?)
		ON CONFLICT (contact_id) DO UPDATE SET state_sealed = excluded.state_sealed, updated = excluded.updated`,
		contactID, tx.db.seal.seal("sessions", "state", int64Key(contactID), state), ns(at))
	if err != nil {
		return fmt.Errorf("storage: put session: %w", err)
	}
	return nil
}

// PutSession is Tx.PutSession in its own transaction.
func (db *DB) PutSession(ctx context.Context, contactID int64, state []byte, at time.Time) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.PutSession(contactID, state, at) })
}

// PendingRef is a pending-incoming request as Tx.PendingRequests lists it:
// enough to pick one to evict without opening any sealed value.
type PendingRef struct {
	ID      int64
	Updated time.Time // when the request (or its latest resend) arrived
	Invited bool
}

// PendingRequests lists the pending-incoming contacts (not removed), least
// recently updated first.
func (tx *Tx) PendingRequests() ([]PendingRef, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id, updated, invited FROM contacts WHERE state = ? AND removed = 0 ORDER BY updated, id`,
		string(StatePendingIncoming))
	if err != nil {
		return nil, fmt.Errorf("storage: pending requests: %w", err)
	}
	defer rows.Close()
	var out []PendingRef
	for rows.Next() {
		var p PendingRef
		var updated int64
		if err := rows.Scan(&p.ID, &updated, &p.Invited); err != nil {
			return nil, fmt.Errorf("storage: pending requests: %w", err)
		}
		p.Updated = time.Unix(0, updated)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: pending requests: %w", err)
	}
	return out, nil
}

// HasMessages reports whether the contact has any stored message.
func (tx *Tx) HasMessages(contactID int64) (bool, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM (SELECT 1 FROM messages WHERE contact_id = ? LIMIT 1)`, contactID).Scan(&n); err != nil {
		return false, fmt.Errorf("storage: has messages: %w", err)
	}
	return n > 0, nil
}
