package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// This file is "chive doctor": Check finds every row that cannot be read,
// Backup copies the profile aside, Quarantine moves the damaged rows out of
// the live tables (into the quarantine table, as they were).

// Report is what Check found.
type Report struct {
	// Integrity is what SQLite's integrity check says: ["ok"] when the
	// file's structure is sound, else up to 100 problems.
	Integrity []string `json:"integrity"`
	// Checked counts, by table, the rows whose sealed values were opened.
	Checked map[string]int `json:"checked"`
	// Unreadable lists the damaged rows.
	Unreadable []Damaged `json:"unreadable"`
}

// Damaged is one row that cannot be read.
type Damaged struct {
	RowRef
	// Columns are the sealed columns that do not open. Empty: SQLite
	// itself cannot read the row (its page is corrupt).
	Columns []string `json:"columns,omitempty"`
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool {
	return len(r.Unreadable) == 0 && len(r.Integrity) == 1 && r.Integrity[0] == "ok"
}

type scanner interface{ Scan(...any) error }

// sealedTable says how to read and open the sealed columns of one table.
type sealedTable struct {
	name string
	key  string // the integer key column
	cols string // selected: the key first
	// seq is the sqlite_sequence entry bounding the keys ("" for identity,
	// whose only key is 1).
	seq string
	// open scans one row and returns its key and the columns that do not open.
	open func(s *sealer, sc scanner) (int64, []string, error)
}

// sealedColumn is a value and where it belongs, for failing.
type sealedColumn struct {
	col string
	val []byte
	opt bool // may be NULL
}

func failing(s *sealer, table string, rowKey []byte, cs ...sealedColumn) []string {
	var bad []string
	for _, c := range cs {
		var err error
		if c.opt {
			_, err = s.openOpt(table, c.col, rowKey, c.val)
		} else {
			_, err = s.open(table, c.col, rowKey, c.val)
		}
		if err != nil {
			bad = append(bad, c.col)
		}
	}
	return bad
}

var sealedTables = []sealedTable{
	{name: "identity", key: "id", cols: "id, name_sealed, onion_key_sealed, ratchet_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var id int64
			var name, key, rat []byte
			if err := sc.Scan(&id, &name, &key, &rat); err != nil {
				return 0, nil, err
			}
			return id, failing(s, "identity", int64Key(id), sealedColumn{"name", name, false}, sealedColumn{"onion_key", key, false},
				sealedColumn{"ratchet", rat, false}), nil
		}},
	{name: "contacts", key: "id", seq: "contacts",
		cols: "id, address_sealed, nickname_sealed, greeting_sealed, bundle_sealed, note_sealed, peer_name_sealed, name_sent_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var id int64
			var addr, nick, greet, bundle, note, peerName, nameSent []byte
			if err := sc.Scan(&id, &addr, &nick, &greet, &bundle, &note, &peerName, &nameSent); err != nil {
				return 0, nil, err
			}
			return id, failing(s, "contacts", int64Key(id), sealedColumn{"address", addr, false}, sealedColumn{"nickname", nick, false},
				sealedColumn{"greeting", greet, true}, sealedColumn{"bundle", bundle, true}, sealedColumn{"note", note, true},
				sealedColumn{"peer_name", peerName, true}, sealedColumn{"name_sent", nameSent, true}), nil
		}},
	{name: "sessions", key: "contact_id", seq: "contacts", cols: "contact_id, state_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var id int64
			var st []byte
			if err := sc.Scan(&id, &st); err != nil {
				return 0, nil, err
			}
			return id, failing(s, "sessions", int64Key(id), sealedColumn{"state", st, false}), nil
		}},
	{name: "messages", key: "seq", seq: "messages", cols: "seq, id, contact_id, direction, body_sealed, meta_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var seq, contact int64
			var id, body, meta []byte
			var dir string
			if err := sc.Scan(&seq, &id, &contact, &dir, &body, &meta); err != nil {
				return 0, nil, err
			}
			var mid MessageID
			copy(mid[:], id)
			k := messageKey(contact, Direction(dir), mid)
			return seq, failing(s, "messages", k, sealedColumn{"body", body, false}, sealedColumn{"meta", meta, true}), nil
		}},
	{name: "outbox", key: "seq", seq: "outbox", cols: "seq, id, contact_id, frame_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var seq, contact int64
			var id, frame []byte
			if err := sc.Scan(&seq, &id, &contact, &frame); err != nil {
				return 0, nil, err
			}
			var oid MessageID
			copy(oid[:], id)
			// outboxKey reads nothing of the DB.
			return seq, failing(s, "outbox", (*DB)(nil).outboxKey(contact, oid), sealedColumn{"frame", frame, false}), nil
		}},
	{name: "drafts", key: "contact_id", seq: "contacts", cols: "contact_id, text_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var id int64
			var text []byte
			if err := sc.Scan(&id, &text); err != nil {
				return 0, nil, err
			}
			return id, failing(s, "drafts", int64Key(id), sealedColumn{"text", text, false}), nil
		}},
	{name: "mailbox", key: "id", cols: "id, address_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var id int64
			var addr []byte
			if err := sc.Scan(&id, &addr); err != nil {
				return 0, nil, err
			}
			return id, failing(s, "mailbox", int64Key(id), sealedColumn{"address", addr, false}), nil
		}},
	{name: "contact_mailbox", key: "contact_id", seq: "contacts", cols: "contact_id, token_sealed, info_sent_sealed, peer_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var id int64
			var token, info, peer []byte
			if err := sc.Scan(&id, &token, &info, &peer); err != nil {
				return 0, nil, err
			}
			return id, failing(s, "contact_mailbox", cmKey(id), sealedColumn{"token", token, true}, sealedColumn{"info_sent", info, true},
				sealedColumn{"peer", peer, true}), nil
		}},
	{name: "invites", key: "id", seq: "invites", cols: "id, token_sealed",
		open: func(s *sealer, sc scanner) (int64, []string, error) {
			var id int64
			var tok []byte
			if err := sc.Scan(&id, &tok); err != nil {
				return 0, nil, err
			}
			return id, failing(s, "invites", int64Key(id), sealedColumn{"token", tok, false}), nil
		}},
}

// Check runs SQLite's integrity check and opens every sealed value of
// every row. Rows it cannot read are listed in the report (and counted in
// Unreadable); an error means the check itself could not run. A large
// profile takes a few seconds.
func (db *DB) Check(ctx context.Context) (Report, error) {
	return db.checkRows(ctx, true)
}

// CheckSealed is Check without SQLite's integrity check (Integrity stays
// empty): what Status needs to count the unreadable rows, at about half
// the cost.
func (db *DB) CheckSealed(ctx context.Context) (Report, error) {
	return db.checkRows(ctx, false)
}

func (db *DB) checkRows(ctx context.Context, integrity bool) (Report, error) {
	if err := db.check(); err != nil {
		return Report{}, err
	}
	r := Report{Checked: map[string]int{}, Unreadable: []Damaged{}}
	if integrity {
		r.Integrity = db.integrity(ctx)
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	for _, t := range sealedTables {
		if err := db.checkTable(ctx, t, &r); err != nil {
			return r, fmt.Errorf("storage: check %s: %w", t.name, err)
		}
	}
	// The check is the whole truth: rows noted by earlier reads that have
	// gone since (an unreadable outbox item acknowledged) no longer count.
	db.damage.reset(r.Unreadable)
	return r, nil
}

func (db *DB) integrity(ctx context.Context) []string {
	rows, err := db.sql.QueryContext(ctx, `PRAGMA integrity_check(100)`)
	if err != nil {
		return []string{err.Error()}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return append(out, err.Error())
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		out = append(out, err.Error())
	}
	return out
}

// checkTable opens every row of t in key order. When SQLite fails partway
// (a corrupt page), it goes on one key at a time after the last row read.
func (db *DB) checkTable(ctx context.Context, t sealedTable, r *Report) error {
	var last int64
	add := func(key int64, bad []string) {
		r.Checked[t.name]++
		if len(bad) > 0 {
			r.Unreadable = append(r.Unreadable, Damaged{RowRef: RowRef{t.name, key}, Columns: bad})
		}
	}
	err := func() error {
		rows, err := db.sql.QueryContext(ctx, `SELECT `+t.cols+` FROM `+t.name+` ORDER BY `+t.key)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			key, bad, err := t.open(db.seal, rows)
			if err != nil {
				return err
			}
			last = key
			add(key, bad)
		}
		return rows.Err()
	}()
	if err == nil || !isDamage(err) {
		return err
	}
	top := int64(1)
	if t.seq != "" {
		if top, err = db.maxSeq(ctx, t.seq); err != nil {
			return err
		}
	}
	for key := last + 1; key <= top; key++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, bad, err := t.open(db.seal, db.sql.QueryRowContext(ctx, `SELECT `+t.cols+` FROM `+t.name+` WHERE `+t.key+` = ?`, key))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case isDamage(err):
			r.Unreadable = append(r.Unreadable, Damaged{RowRef: RowRef{t.name, key}})
		case err != nil:
			return err
		default:
			add(k, bad)
		}
	}
	return nil
}

// Backup copies the database and the key file that opens it into a new
// directory under the profile's backups/ (0700; files 0600, still sealed
// under the same key) and returns its path. The copy is taken after a
// checkpoint, so it is one consistent file; call it while nothing writes
// (chive doctor holds the profile lock).
func (db *DB) Backup(ctx context.Context) (string, error) {
	if err := db.check(); err != nil {
		return "", err
	}
	// Best effort: on a damaged file the checkpoint may fail, and the WAL
	// is copied along instead.
	db.sql.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	root := filepath.Join(db.dir, "backups")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("storage: backup: %w", err)
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return "", fmt.Errorf("storage: backup: %w", err)
	}
	stamp := time.Now().Format("20060102-150405")
	dir := filepath.Join(root, "chive-"+stamp)
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("storage: backup: %w", err)
		}
		dir = filepath.Join(root, fmt.Sprintf("chive-%s-%d", stamp, i))
	}
	for _, name := range []string{dbFileName, dbFileName + "-wal", keyFileName} {
		err := copyFile(filepath.Join(db.dir, name), filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && name != dbFileName && name != keyFileName {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("storage: backup: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("storage: backup: %w", err)
	}
	return dir, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Repaired says what Quarantine did.
type Repaired struct {
	// Quarantined rows were copied to the quarantine table and taken out
	// of use: a damaged message is deleted (its outbox frame, if readable,
	// is still delivered); a session deleted (the contact needs a new one);
	// an outbox frame dropped (its message shows failed); a contact's
	// damaged fields emptied, and a contact whose address is damaged
	// hidden (its messages are kept); a draft is dropped; an invite
	// revoked; our mailbox link forgotten (link it again); what a contact's
	// mailbox row could not keep emptied.
	Quarantined []Damaged `json:"quarantined"`
	// Deleted rows could not be read by SQLite at all; they are gone
	// (the backup still has their bytes).
	Deleted []Damaged `json:"deleted"`
	// Left could not be repaired: the identity (restore from a backup), or
	// rows SQLite would not even take out (their page or an index on them
	// is damaged too).
	Left []Damaged `json:"left"`
}

// Quarantine takes the damaged rows of r out of the live tables, keeping a
// copy of each in the quarantine table. Take a Backup first. The identity
// cannot be repaired this way; it is left (see Repaired.Left).
func (db *DB) Quarantine(ctx context.Context, r Report) (Repaired, error) {
	out := Repaired{Quarantined: []Damaged{}, Deleted: []Damaged{}, Left: []Damaged{}}
	var sealedBad, rowBad []Damaged
	for _, d := range r.Unreadable {
		switch {
		case d.Table == "identity":
			out.Left = append(out.Left, d)
		case len(d.Columns) == 0:
			rowBad = append(rowBad, d)
		default:
			sealedBad = append(sealedBad, d)
		}
	}
	now := time.Now()
	quarantine := func(ds []Damaged) error {
		return db.Update(ctx, func(tx *Tx) error {
			for _, d := range ds {
				if err := tx.quarantine(d, now); err != nil {
					return fmt.Errorf("storage: quarantine %s row %d: %w", d.Table, d.Row, err)
				}
			}
			return nil
		})
	}
	err := quarantine(sealedBad)
	if isDamage(err) {
		// Taking one of them out tripped over other damage (an index that
		// lacks the row): each on its own, so that one does not stop the
		// others.
		var done []Damaged
		for _, d := range sealedBad {
			err := quarantine([]Damaged{d})
			switch {
			case isDamage(err):
				out.Left = append(out.Left, d)
			case err != nil:
				return out, err
			default:
				done = append(done, d)
			}
		}
		sealedBad, err = done, nil
	}
	if err != nil {
		return out, err
	}
	for _, d := range sealedBad {
		db.damage.forget(d.RowRef)
	}
	out.Quarantined = append(out.Quarantined, sealedBad...)
	// Rows SQLite cannot read: delete each on its own, so one that cannot
	// even be deleted does not stop the others.
	for _, d := range rowBad {
		t := tableByName(d.Table)
		err := db.Update(ctx, func(tx *Tx) error {
			_, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM `+t.name+` WHERE `+t.key+` = ?`, d.Row)
			return err
		})
		if err != nil {
			out.Left = append(out.Left, d)
			continue
		}
		db.damage.forget(d.RowRef)
		out.Deleted = append(out.Deleted, d)
	}
	return out, nil
}

func tableByName(name string) sealedTable {
	for _, t := range sealedTables {
		if t.name == name {
			return t
		}
	}
	panic("storage: no sealed table " + name)
}

// quarantine copies one row to the quarantine table and takes it out of use.
func (tx *Tx) quarantine(d Damaged, now time.Time) error {
	t := tableByName(d.Table)
	data, err := tx.rowJSON(t, d.Row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // gone meanwhile
	}
	if err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO quarantine (tbl, row_id, columns, data, at) VALUES (?, ?, ?, ?, ?)`,
		d.Table, d.Row, strings.Join(d.Columns, ","), data, ns(now)); err != nil {
		return err
	}
	exec := func(q string, args ...any) error {
		_, err := tx.tx.ExecContext(tx.ctx, q, args...)
		return err
	}
	s := tx.db.seal
	k := int64Key(d.Row)
	switch d.Table {
	case "messages":
		// A readable frame of ours is still worth delivering.
		if err := exec(`UPDATE outbox SET message_seq = NULL WHERE message_seq = ?`, d.Row); err != nil {
			return err
		}
		return exec(`DELETE FROM messages WHERE seq = ?`, d.Row)
	case "sessions":
		return exec(`DELETE FROM sessions WHERE contact_id = ?`, d.Row)
	case "drafts":
		return exec(`DELETE FROM drafts WHERE contact_id = ?`, d.Row)
	case "invites":
		// Its token is unknown now: nobody can use it anyway.
		return exec(`DELETE FROM invites WHERE id = ?`, d.Row)
	case "mailbox":
		// Which mailbox we use is lost: forget it as unlinking does (the
		// contacts' tokens there and the marks of what it held); link again.
		return tx.DeleteMailbox()
	case "contact_mailbox":
		for _, col := range d.Columns {
			if err := exec(`UPDATE contact_mailbox SET `+col+`_sealed = NULL WHERE contact_id = ?`, d.Row); err != nil {
				return err
			}
		}
		return nil
	case "outbox":
		var mseq sql.NullInt64
		if err := tx.tx.QueryRowContext(tx.ctx, `DELETE FROM outbox WHERE seq = ? RETURNING message_seq`, d.Row).Scan(&mseq); err != nil {
			return err
		}
		if mseq.Valid {
			return exec(`UPDATE messages SET status = 'failed' WHERE seq = ? AND status IN ('queued', 'sent')`, mseq.Int64)
		}
		return nil
	case "contacts":
		for _, col := range d.Columns {
			var err error
			switch col {
			case "address":
				// Nobody to talk to: hide the contact, free its address for
				// a new request, keep its messages.
				mac := make([]byte, 32)
				rand.Read(mac)
				if err = tx.ForgetSession(d.Row); err == nil {
					err = exec(`UPDATE contacts SET address_sealed = ?, address_mac = ?, removed = 1 WHERE id = ?`,
						s.seal("contacts", "address", k, nil), mac, d.Row)
				}
			case "nickname":
				err = exec(`UPDATE contacts SET nickname_sealed = ? WHERE id = ?`, s.seal("contacts", "nickname", k, nil), d.Row)
			case "greeting", "bundle", "note", "peer_name", "name_sent":
				err = exec(`UPDATE contacts SET `+col+`_sealed = NULL WHERE id = ?`, d.Row)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("no repair for table %s", d.Table)
}

// rowJSON is the whole row as a JSON object (blobs base64).
func (tx *Tx) rowJSON(t sealedTable, key int64) (string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT * FROM `+t.name+` WHERE `+t.key+` = ?`, key)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", err
		}
		return "", sql.ErrNoRows
	}
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	obj := make(map[string]any, len(cols))
	for i, c := range cols {
		obj[c] = vals[i]
	}
	b, err := json.Marshal(obj)
	return string(b), err
}

// Quarantined returns how many rows the quarantine table holds, by table.
func (db *DB) Quarantined(ctx context.Context) (map[string]int, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT tbl, count(*) FROM quarantine GROUP BY tbl`)
	if err != nil {
		return nil, fmt.Errorf("storage: quarantined: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return nil, fmt.Errorf("storage: quarantined: %w", err)
		}
		out[t] = n
	}
	return out, rows.Err()
}
