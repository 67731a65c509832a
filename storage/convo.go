package storage

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Conversation features (issue 17): what a message answers, its edits,
// reactions and tombstone, disappearing messages, and changes that arrived
// before their message. The columns and tables are in migration "convo".
//
// Erasing is real: the database runs with secure_delete, so a deleted row
// or a replaced value is overwritten with zeros in its page; Scrub then
// checkpoints the write-ahead log and truncates it, so the old page images
// are gone from chive.db-wal too (chive.db-shm holds only the log's index).

// MessageKind says what a message row is.
type MessageKind string

const (
	KindText  MessageKind = "text"  // a chat message
	KindTimer MessageKind = "timer" // a change of the conversation's timer
)

// ReplyRef is what a reply answers: a message of the same conversation, and
// the excerpt of it the reply's author included.
type ReplyRef struct {
	ID        MessageID `json:"id"`
	Direction Direction `json:"dir"` // of the message answered, from our side
	Quote     string    `json:"quote,omitempty"`
}

// Reaction is one author's reaction to a message.
type Reaction struct {
	Author Direction // Incoming: the contact; Outgoing: us
	Emoji  string
	At     time.Time // the author's clock
}

// Convo is a message's conversation state.
type Convo struct {
	Kind      MessageKind
	Reply     *ReplyRef
	Edited    time.Time // zero: never edited
	Deleted   time.Time // zero: not deleted for everyone
	Timer     time.Duration
	Vanish    time.Time // zero: its timer has not started, or it has none
	Reactions []Reaction
}

// ConvoFields are set on a message just stored (SetConvo).
type ConvoFields struct {
	Kind   MessageKind // "" is KindText
	Reply  *ReplyRef
	Timer  time.Duration // a chat message's disappearing time, or a timer row's new timer
	Vanish time.Time     // zero: not started
}

// SetConvo records f on the message m (as QueueMessage or ReceiveMessage
// returned it), in the transaction that stored it.
func (tx *Tx) SetConvo(m Message, f ConvoFields) error {
	if f.Kind == "" {
		f.Kind = KindText
	}
	var reply []byte
	if f.Reply != nil {
		b, err := json.Marshal(f.Reply)
		if err != nil {
			return fmt.Errorf("storage: set convo: %w", err)
		}
		reply = tx.db.seal.seal("messages", "reply", messageKey(m.ContactID, m.Direction, m.ID), b)
	}
	var timer any
	if f.Timer != 0 || f.Kind == KindTimer {
		timer = int64(f.Timer / time.Second)
	}
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET kind = ?, reply_sealed = ?, timer = ?, vanish = ? WHERE seq = ?`,
		string(f.Kind), reply, timer, nullTime(f.Vanish), m.Seq)
	if err != nil {
		return fmt.Errorf("storage: set convo: %w", err)
	}
	return nil
}

// Convos returns the conversation state of the messages with these seqs
// (absent: no such message).
func (db *DB) Convos(ctx context.Context, seqs []int64) (map[int64]Convo, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	out := make(map[int64]Convo, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	in, args := seqList(seqs)
	rows, err := db.sql.QueryContext(ctx, `SELECT seq, contact_id, direction, id, kind, reply_sealed, edited, deleted, timer, vanish
		FROM messages WHERE seq IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: convos: %w", err)
	}
	defer rows.Close()
	keys := map[int64][]byte{}
	for rows.Next() {
		var (
			seq, contact  int64
			dir           Direction
			id, reply     []byte
			kind          string
			edited, del   sql.NullInt64
			timer, vanish sql.NullInt64
		)
		if err := rows.Scan(&seq, &contact, &dir, &id, &kind, &reply, &edited, &del, &timer, &vanish); err != nil {
			return nil, fmt.Errorf("storage: convos: %w", err)
		}
		var mid MessageID
		copy(mid[:], id)
		k := messageKey(contact, dir, mid)
		keys[seq] = k
		c := Convo{Kind: MessageKind(kind), Edited: fromNull(edited), Deleted: fromNull(del), Vanish: fromNull(vanish),
			Timer: time.Duration(timer.Int64) * time.Second}
		if reply != nil {
			b, err := db.seal.open("messages", "reply", k, reply)
			if err != nil {
				return nil, fmt.Errorf("storage: convos: %w", err)
			}
			c.Reply = new(ReplyRef)
			if err := json.Unmarshal(b, c.Reply); err != nil {
				return nil, fmt.Errorf("storage: convos: reply: %w", err)
			}
		}
		out[seq] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: convos: %w", err)
	}
	rows.Close()
	rrows, err := db.sql.QueryContext(ctx, `SELECT message_seq, author, emoji_sealed, at FROM reactions
		WHERE emoji_sealed IS NOT NULL AND message_seq IN (`+in+`) ORDER BY message_seq, at`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: convos: %w", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var seq, at int64
		var author Direction
		var sealed []byte
		if err := rrows.Scan(&seq, &author, &sealed, &at); err != nil {
			return nil, fmt.Errorf("storage: convos: %w", err)
		}
		c, ok := out[seq]
		if !ok {
			continue
		}
		b, err := db.seal.open("reactions", "emoji", reactionKey(keys[seq], author), sealed)
		if err != nil {
			return nil, fmt.Errorf("storage: convos: %w", err)
		}
		c.Reactions = append(c.Reactions, Reaction{Author: author, Emoji: string(b), At: time.Unix(0, at)})
		out[seq] = c
	}
	if err := rrows.Err(); err != nil {
		return nil, fmt.Errorf("storage: convos: %w", err)
	}
	return out, nil
}

func seqList(seqs []int64) (string, []any) {
	args := make([]any, len(seqs))
	for i, s := range seqs {
		args[i] = s
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(seqs)), ","), args
}

func reactionKey(msgKey []byte, author Direction) []byte {
	return append(append([]byte(nil), msgKey...), author[0])
}

func editKey(msgKey []byte, at int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), msgKey...), uint64(at))
}

// convoRow is what the changes below need of a message.
type convoRow struct {
	seq     int64
	key     []byte
	kind    MessageKind
	created time.Time
	edited  time.Time
	deleted bool
	body    []byte // sealed
}

// row finds a message by conversation, direction and id; ErrNotFound if none.
func (tx *Tx) row(contactID int64, dir Direction, id MessageID) (convoRow, error) {
	var r convoRow
	var kind string
	var created int64
	var edited, deleted sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, kind, created, edited, deleted, body_sealed FROM messages
		WHERE contact_id = ? AND direction = ? AND id = ?`, contactID, string(dir), id[:]).
		Scan(&r.seq, &kind, &created, &edited, &deleted, &r.body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, err
	}
	r.key = messageKey(contactID, dir, id)
	r.kind, r.created, r.edited, r.deleted = MessageKind(kind), time.Unix(0, created), fromNull(edited), deleted.Valid
	return r, nil
}

// Target is a message a change applies to, as its author sent it.
type Target struct {
	ContactID int64
	Direction Direction
	ID        MessageID
}

// TargetInfo is what a change needs to know of its message before applying
// it (who may change it, and until when): ErrNotFound if there is none.
type TargetInfo struct {
	Seq     int64
	Kind    MessageKind
	Created time.Time // outgoing: when written; incoming: the author's clock
	Deleted bool
}

// Target describes the message t, or returns ErrNotFound.
func (tx *Tx) Target(t Target) (TargetInfo, error) {
	r, err := tx.row(t.ContactID, t.Direction, t.ID)
	if err != nil {
		return TargetInfo{}, fmt.Errorf("storage: %w", err)
	}
	return TargetInfo{Seq: r.seq, Kind: r.kind, Created: r.created, Deleted: r.deleted}, nil
}

// Edit replaces the text of message t with text, as of at (the author's
// clock), keeping the text it replaces in its history. An edit older than
// the current text (edits that crossed) only joins the history. It reports
// whether the shown text changed; a deleted message or a timer row is not
// edited (ErrNotFound), an edit already recorded changes nothing.
func (tx *Tx) Edit(t Target, text string, at time.Time) (bool, error) {
	r, err := tx.row(t.ContactID, t.Direction, t.ID)
	if err == nil && (r.deleted || r.kind != KindText) {
		err = fmt.Errorf("message %s: %w", t.ID, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("storage: edit: %w", err)
	}
	cur := r.created
	if !r.edited.IsZero() {
		cur = r.edited
	}
	sealEdit := func(at int64, plain []byte) []byte {
		return tx.db.seal.seal("edits", "text", editKey(r.key, at), plain)
	}
	insertEdit := func(at int64, plain []byte) error {
		_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO edits (message_seq, at, text_sealed) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			r.seq, at, sealEdit(at, plain))
		return err
	}
	if !at.After(cur) {
		if at.Equal(cur) || !at.After(r.created) {
			return false, nil // the same version again, or no later than the original
		}
		if err := insertEdit(ns(at), []byte(text)); err != nil {
			return false, fmt.Errorf("storage: edit: %w", err)
		}
		return false, nil
	}
	old, err := tx.db.seal.open("messages", "body", r.key, r.body)
	if err != nil {
		return false, fmt.Errorf("storage: edit: %w", err)
	}
	if err := insertEdit(ns(cur), old); err != nil {
		return false, fmt.Errorf("storage: edit: %w", err)
	}
	_, err = tx.tx.ExecContext(tx.ctx, `UPDATE messages SET body_sealed = ?, edited = ? WHERE seq = ?`,
		tx.db.seal.seal("messages", "body", r.key, []byte(text)), ns(at), r.seq)
	if err != nil {
		return false, fmt.Errorf("storage: edit: %w", err)
	}
	return true, nil
}

// Version is one text a message had.
type Version struct {
	Text string
	At   time.Time // when it was written (the author's clock)
}

// Edits returns every version of message t, the original first and the
// current text last; one version for a message never edited.
func (db *DB) Edits(ctx context.Context, t Target) ([]Version, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	var out []Version
	err := db.read(ctx, func(tx *Tx) error {
		r, err := tx.row(t.ContactID, t.Direction, t.ID)
		if err != nil {
			return err
		}
		rows, err := tx.tx.QueryContext(tx.ctx, `SELECT at, text_sealed FROM edits WHERE message_seq = ? ORDER BY at`, r.seq)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var at int64
			var sealed []byte
			if err := rows.Scan(&at, &sealed); err != nil {
				return err
			}
			b, err := db.seal.open("edits", "text", editKey(r.key, at), sealed)
			if err != nil {
				return err
			}
			out = append(out, Version{Text: string(b), At: time.Unix(0, at)})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		cur := r.created
		if !r.edited.IsZero() {
			cur = r.edited
		}
		body, err := db.seal.open("messages", "body", r.key, r.body)
		if err != nil {
			return err
		}
		// An edit older than the original's time (history only) sorts first:
		// the versions are in the author's order.
		out = append(out, Version{Text: string(body), At: cur})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: edits: %w", err)
	}
	return out, nil
}

// read runs fn in a read-only transaction (one consistent snapshot).
func (db *DB) read(ctx context.Context, fn func(*Tx) error) error {
	stx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer stx.Rollback()
	return fn(&Tx{ctx: ctx, db: db, tx: stx})
}

// DeleteForEveryone turns message t into a tombstone as of at: its text,
// what it answers, its edits and reactions are erased, and an outbox item
// still carrying it (ours, not yet acknowledged) is dropped. The row stays
// so the conversation shows where it was. Deleting a tombstone changes
// nothing (false).
func (tx *Tx) DeleteForEveryone(t Target, at time.Time) (bool, error) {
	r, err := tx.row(t.ContactID, t.Direction, t.ID)
	if err != nil {
		return false, fmt.Errorf("storage: delete: %w", err)
	}
	if r.deleted {
		return false, nil
	}
	_, err = tx.tx.ExecContext(tx.ctx, `UPDATE messages SET body_sealed = ?, meta_sealed = NULL, reply_sealed = NULL, edited = NULL,
		deleted = ?, vanish = NULL WHERE seq = ?`, tx.db.seal.seal("messages", "body", r.key, nil), ns(at), r.seq)
	if err != nil {
		return false, fmt.Errorf("storage: delete: %w", err)
	}
	for _, q := range []string{
		`DELETE FROM edits WHERE message_seq = ?`,
		`DELETE FROM reactions WHERE message_seq = ?`,
		`DELETE FROM outbox WHERE message_seq = ?`,
	} {
		if _, err := tx.tx.ExecContext(tx.ctx, q, r.seq); err != nil {
			return false, fmt.Errorf("storage: delete: %w", err)
		}
	}
	return true, nil
}

// Erased is a message row that was deleted.
type Erased struct {
	Seq       int64
	ContactID int64
	Direction Direction
	ID        MessageID
	// File is the chunk file (FileRow.Local) of the file the message
	// carried, whose row went with it; "" if none. Erase and EraseVanished
	// set it: the caller removes the chunk file after the commit.
	File string
}

// Erase deletes message t entirely ("delete for me"): the row, its edits,
// reactions and outbox item (ours, not yet sent, then is never sent).
func (tx *Tx) Erase(t Target) (Erased, error) {
	r, err := tx.row(t.ContactID, t.Direction, t.ID)
	if err != nil {
		return Erased{}, fmt.Errorf("storage: erase: %w", err)
	}
	// Its file row goes with it (ON DELETE CASCADE); its chunk file is the caller's.
	var local sql.NullString
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT local FROM files WHERE message_seq = ?`, r.seq).Scan(&local)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Erased{}, fmt.Errorf("storage: erase: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM messages WHERE seq = ?`, r.seq); err != nil {
		return Erased{}, fmt.Errorf("storage: erase: %w", err)
	}
	return Erased{Seq: r.seq, ContactID: t.ContactID, Direction: t.Direction, ID: t.ID, File: local.String}, nil
}

// SetReaction sets author's reaction to message t to emoji ("" removes
// it), as of at (the author's clock). A change older than the one recorded
// is ignored. It reports whether anything changed. A deleted message or a
// timer row takes no reactions (ErrNotFound).
func (tx *Tx) SetReaction(t Target, author Direction, emoji string, at time.Time) (bool, error) {
	r, err := tx.row(t.ContactID, t.Direction, t.ID)
	if err == nil && (r.deleted || r.kind != KindText) {
		err = fmt.Errorf("message %s: %w", t.ID, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("storage: reaction: %w", err)
	}
	var sealed []byte
	if emoji != "" {
		sealed = tx.db.seal.seal("reactions", "emoji", reactionKey(r.key, author), []byte(emoji))
	}
	res, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO reactions (message_seq, author, emoji_sealed, at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (message_seq, author) DO UPDATE SET emoji_sealed = excluded.emoji_sealed, at = excluded.at
		WHERE excluded.at > reactions.at`, r.seq, string(author), sealed, ns(at))
	if err != nil {
		return false, fmt.Errorf("storage: reaction: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// InsertNotice stores a timer change in the conversation without the
// message machinery (the caller stored the ratchet step and the seen id):
// an incoming row of kind KindTimer with the new timer.
func (tx *Tx) InsertNotice(contactID int64, id MessageID, timer time.Duration, created, received time.Time) (Message, error) {
	k := messageKey(contactID, Incoming, id)
	var seq int64
	err := tx.tx.QueryRowContext(tx.ctx, `INSERT INTO messages (id, contact_id, direction, body_sealed, status, created, delivered, kind, timer)
		VALUES (?, ?, 'in', ?, ?, ?, ?, 'timer', ?) RETURNING seq`,
		id[:], contactID, tx.db.seal.seal("messages", "body", k, nil), string(StatusReceived), ns(created), ns(received),
		int64(timer/time.Second)).Scan(&seq)
	if err != nil {
		return Message{}, fmt.Errorf("storage: insert notice: %w", err)
	}
	return Message{Seq: seq, ID: id, ContactID: contactID, Direction: Incoming, Status: StatusReceived, Created: created, Delivered: received}, nil
}

// ConversationTimer returns the contact's disappearing-messages timer (0: off).
func (db *DB) ConversationTimer(ctx context.Context, contactID int64) (time.Duration, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	t, _, err := conversationTimer(ctx, db.sql, contactID)
	return t, err
}

// ConversationTimers returns every conversation's timer that is on, by contact id.
func (db *DB) ConversationTimers(ctx context.Context) (map[int64]time.Duration, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT contact_id, timer FROM conversations WHERE timer > 0`)
	if err != nil {
		return nil, fmt.Errorf("storage: conversation timers: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Duration{}
	for rows.Next() {
		var id, secs int64
		if err := rows.Scan(&id, &secs); err != nil {
			return nil, fmt.Errorf("storage: conversation timers: %w", err)
		}
		out[id] = time.Duration(secs) * time.Second
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: conversation timers: %w", err)
	}
	return out, nil
}

// ConversationTimer is DB.ConversationTimer inside a transaction.
func (tx *Tx) ConversationTimer(contactID int64) (time.Duration, error) {
	t, _, err := conversationTimer(tx.ctx, tx.tx, contactID)
	return t, err
}

func conversationTimer(ctx context.Context, q querier, contactID int64) (time.Duration, int64, error) {
	var secs, at int64
	err := q.QueryRowContext(ctx, `SELECT timer, timer_at FROM conversations WHERE contact_id = ?`, contactID).Scan(&secs, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("storage: conversation timer: %w", err)
	}
	return time.Duration(secs) * time.Second, at, nil
}

// SetConversationTimer sets the contact's timer as of at (the clock of the
// side that changed it) unless a later change is already recorded: both
// sides keep the same timer whatever order crossing changes arrive in
// (equal times: the longer timer wins). It reports whether it applied.
func (tx *Tx) SetConversationTimer(contactID int64, timer time.Duration, at time.Time) (bool, error) {
	cur, curAt, err := conversationTimer(tx.ctx, tx.tx, contactID)
	if err != nil {
		return false, err
	}
	if curAt != 0 && (ns(at) < curAt || ns(at) == curAt && timer <= cur) {
		return false, nil
	}
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO conversations (contact_id, timer, timer_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (contact_id) DO UPDATE SET timer = ?2, timer_at = ?3`, contactID, int64(timer/time.Second), ns(at))
	if err != nil {
		return false, fmt.Errorf("storage: set conversation timer: %w", err)
	}
	return true, nil
}

// StartVanish starts the timers of the contact's incoming messages read by
// now: each is erased its timer after it was read.
func (tx *Tx) StartVanish(contactID int64) (int64, error) {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE messages SET vanish = read + timer * 1000000000
		WHERE contact_id = ? AND direction = 'in' AND kind = 'text' AND timer > 0 AND vanish IS NULL AND read IS NOT NULL AND deleted IS NULL`, contactID)
	if err != nil {
		return 0, fmt.Errorf("storage: start vanish: %w", err)
	}
	return res.RowsAffected()
}

// NextVanish is when the next message is due to be erased; ok false if none is.
func (db *DB) NextVanish(ctx context.Context) (at time.Time, ok bool, err error) {
	if err := db.check(); err != nil {
		return time.Time{}, false, err
	}
	var n sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT min(vanish) FROM messages WHERE vanish IS NOT NULL`).Scan(&n); err != nil {
		return time.Time{}, false, fmt.Errorf("storage: next vanish: %w", err)
	}
	return fromNull(n), n.Valid, nil
}

// EraseVanished deletes every message due by now (with its edits,
// reactions and outbox item) and returns them. Call Scrub after.
func (tx *Tx) EraseVanished(now time.Time) ([]Erased, error) {
	// Their file rows go with them (ON DELETE CASCADE); the chunk files are the caller's.
	locals := map[int64]string{}
	frows, err := tx.tx.QueryContext(tx.ctx, `SELECT f.message_seq, f.local FROM files f JOIN messages m ON m.seq = f.message_seq
		WHERE m.vanish IS NOT NULL AND m.vanish <= ?`, ns(now))
	if err != nil {
		return nil, fmt.Errorf("storage: erase vanished: %w", err)
	}
	for frows.Next() {
		var seq int64
		var local string
		if err := frows.Scan(&seq, &local); err != nil {
			frows.Close()
			return nil, fmt.Errorf("storage: erase vanished: %w", err)
		}
		locals[seq] = local
	}
	err = frows.Err()
	frows.Close()
	if err != nil {
		return nil, fmt.Errorf("storage: erase vanished: %w", err)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, `DELETE FROM messages WHERE vanish IS NOT NULL AND vanish <= ? RETURNING seq, contact_id, direction, id`, ns(now))
	if err != nil {
		return nil, fmt.Errorf("storage: erase vanished: %w", err)
	}
	defer rows.Close()
	var out []Erased
	for rows.Next() {
		var e Erased
		var id []byte
		if err := rows.Scan(&e.Seq, &e.ContactID, &e.Direction, &id); err != nil {
			return nil, fmt.Errorf("storage: erase vanished: %w", err)
		}
		copy(e.ID[:], id)
		e.File = locals[e.Seq]
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: erase vanished: %w", err)
	}
	return out, nil
}

// Scrub makes what was deleted unrecoverable from the profile's files:
// deleted cells are already zeroed in their pages (secure_delete), so it
// checkpoints the write-ahead log into the database and truncates the log
// to nothing (its frames still hold old page images). A reader in the
// middle of a transaction can hold the log; Scrub retries until ctx ends.
func (db *DB) Scrub(ctx context.Context) error {
	if err := db.check(); err != nil {
		return err
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		var busy, logFrames, done int
		err := db.sql.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done)
		if err != nil {
			return fmt.Errorf("storage: scrub: %w", err)
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("storage: scrub: the log is in use: %w", ctx.Err())
		}
	}
}

// Pending is a change that arrived before the message it changes.
type Pending struct {
	ID      MessageID // the change's own id
	Content []byte    // the decrypted content, opaque to storage
	At      time.Time // when it arrived
}

// AddPending keeps a change (its decrypted content) until the contact's
// message target arrives.
func (tx *Tx) AddPending(contactID int64, target MessageID, p Pending) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO convo_pending (contact_id, id, target, op_sealed, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, contactID, p.ID[:], target[:],
		tx.db.seal.seal("convo_pending", "op", pendingKey(contactID, p.ID), p.Content), ns(p.At))
	if err != nil {
		return fmt.Errorf("storage: add pending: %w", err)
	}
	return nil
}

func pendingKey(contactID int64, id MessageID) []byte { return append(int64Key(contactID), id[:]...) }

// TakePending removes and returns the changes waiting for the contact's
// message target, in arrival order.
func (tx *Tx) TakePending(contactID int64, target MessageID) ([]Pending, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `DELETE FROM convo_pending WHERE contact_id = ? AND target = ? RETURNING id, op_sealed, at`,
		contactID, target[:])
	if err != nil {
		return nil, fmt.Errorf("storage: take pending: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		var id, sealed []byte
		var at int64
		if err := rows.Scan(&id, &sealed, &at); err != nil {
			return nil, fmt.Errorf("storage: take pending: %w", err)
		}
		copy(p.ID[:], id)
		p.At = time.Unix(0, at)
		if p.Content, err = tx.db.seal.open("convo_pending", "op", pendingKey(contactID, p.ID), sealed); err != nil {
			return nil, fmt.Errorf("storage: take pending: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: take pending: %w", err)
	}
	// RETURNING order is unspecified.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].At.Before(out[j-1].At); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// CountPending returns how many changes wait for messages of the contact.
func (tx *Tx) CountPending(contactID int64) (int, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM convo_pending WHERE contact_id = ?`, contactID).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count pending: %w", err)
	}
	return n, nil
}

// PrunePending drops changes that waited since before for a message that
// never came, and returns how many.
func (db *DB) PrunePending(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.Update(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM convo_pending WHERE at < ?`, ns(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage: prune pending: %w", err)
	}
	return n, nil
}

// MessagesBySeq returns the messages with these seqs, in that order
// (missing ones left out).
func (db *DB) MessagesBySeq(ctx context.Context, seqs []int64) ([]Message, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	in, args := seqList(seqs)
	ms, err := db.queryMessages(ctx, `SELECT `+messageCols+` FROM messages WHERE seq IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: messages: %w", err)
	}
	at := make(map[int64]int, len(seqs))
	for i, s := range seqs {
		at[s] = i
	}
	slices.SortFunc(ms, func(a, b Message) int { return at[a.Seq] - at[b.Seq] })
	return ms, nil
}

// Body is one message's text for a search index.
type Body struct {
	Seq       int64
	ContactID int64
	Text      string
}

// ScanBodies calls fn with the text of every chat message that has one,
// oldest first, reading in pages so no transaction stays open long. An
// error of fn stops the scan and is returned.
func (db *DB) ScanBodies(ctx context.Context, fn func(Body) error) error {
	if err := db.check(); err != nil {
		return err
	}
	const page = 4096
	after := int64(0)
	for {
		rows, err := db.sql.QueryContext(ctx, `SELECT seq, contact_id, direction, id, body_sealed FROM messages
			WHERE seq > ? AND kind = 'text' AND deleted IS NULL ORDER BY seq LIMIT ?`, after, page)
		if err != nil {
			return fmt.Errorf("storage: scan bodies: %w", err)
		}
		var bs []Body
		n := 0
		for rows.Next() {
			n++
			var b Body
			var dir Direction
			var id, sealed []byte
			if err := rows.Scan(&b.Seq, &b.ContactID, &dir, &id, &sealed); err != nil {
				rows.Close()
				return fmt.Errorf("storage: scan bodies: %w", err)
			}
			after = b.Seq
			var mid MessageID
			copy(mid[:], id)
			plain, err := db.seal.open("messages", "body", messageKey(b.ContactID, dir, mid), sealed)
			if err != nil {
				continue // a damaged row is not searchable; the others are
			}
			b.Text = string(plain)
			bs = append(bs, b)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("storage: scan bodies: %w", err)
		}
		for _, b := range bs {
			if err := fn(b); err != nil {
				return err
			}
		}
		if n < page {
			return nil
		}
	}
}
