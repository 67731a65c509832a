package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// filesDirName is the directory of sealed chunk files inside the profile.
const filesDirName = "files"

// FilesDir is where the files package keeps chunk files (see FileRow.Local).
func (db *DB) FilesDir() string { return filepath.Join(db.dir, filesDirName) }

// FileRow is one file transfer, in or out. Storage seals Info and Thumb and
// interprets nothing else but the columns it filters on.
type FileRow struct {
	ID         MessageID // the file id: the id of the message that carries it
	ContactID  int64
	Direction  Direction
	MessageSeq int64
	Local      string // name of the chunk file under FilesDir
	Size       int64
	State      string
	Info       []byte // opaque to storage; sealed
	Thumb      []byte // opaque; sealed; nil if none
	Have       []byte // bitmap of chunks; not secret (the chunk file shows as much)
	Bytes      int64
	SentBytes  int64
	RecvBytes  int64
	DupBytes   int64
	Error      string
	Created    time.Time
	Updated    time.Time
	Done       time.Time
}

func fileKey(id MessageID) []byte { return id[:] }

const fileCols = `id, contact_id, direction, message_seq, local, size, state, info_sealed, have, bytes, sent_bytes, recv_bytes, dup_bytes, error, created, updated, done`

func (db *DB) scanFile(sc interface{ Scan(...any) error }) (FileRow, error) {
	var f FileRow
	var id, info []byte
	var errText sql.NullString
	var created, updated int64
	var done sql.NullInt64
	if err := sc.Scan(&id, &f.ContactID, &f.Direction, &f.MessageSeq, &f.Local, &f.Size, &f.State, &info, &f.Have,
		&f.Bytes, &f.SentBytes, &f.RecvBytes, &f.DupBytes, &errText, &created, &updated, &done); err != nil {
		return FileRow{}, err
	}
	if len(id) != len(f.ID) {
		return FileRow{}, errors.New("bad file id length")
	}
	copy(f.ID[:], id)
	p, err := db.seal.open("files", "info", fileKey(f.ID), info)
	if err != nil {
		return FileRow{}, err
	}
	f.Info, f.Error = p, errText.String
	f.Created, f.Updated, f.Done = time.Unix(0, created), time.Unix(0, updated), fromNull(done)
	return f, nil
}

// InsertFile stores a new file row. Its id must be new in the profile
// (ErrExists otherwise: a peer reusing an id it saw).
func (tx *Tx) InsertFile(f FileRow) error {
	if f.Created.IsZero() {
		f.Created = time.Now()
	}
	if f.Updated.IsZero() {
		f.Updated = f.Created
	}
	if f.Local == "" || f.MessageSeq == 0 || f.State == "" || len(f.Info) == 0 {
		return errors.New("storage: insert file: local name, message, state and info are required")
	}
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM files WHERE id = ?`, f.ID[:]).Scan(&n); err != nil {
		return fmt.Errorf("storage: insert file: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("storage: insert file %s: %w", f.ID, ErrExists)
	}
	s := tx.db.seal
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO files (id, contact_id, direction, message_seq, local, size, state, info_sealed, thumb_sealed, have,
		bytes, sent_bytes, recv_bytes, dup_bytes, error, created, updated, done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID[:], f.ContactID, string(f.Direction), f.MessageSeq, f.Local, f.Size, f.State,
		s.seal("files", "info", fileKey(f.ID), f.Info), s.sealOpt("files", "thumb", fileKey(f.ID), f.Thumb), f.Have,
		f.Bytes, f.SentBytes, f.RecvBytes, f.DupBytes, nullString(f.Error), ns(f.Created), ns(f.Updated), nullTime(f.Done))
	if err != nil {
		return fmt.Errorf("storage: insert file: %w", err)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// File returns the file with id, or ErrNotFound.
func (tx *Tx) File(id MessageID) (FileRow, error) { return tx.db.file(tx.ctx, tx.tx, id) }

// File returns the file with id, or ErrNotFound.
func (db *DB) File(ctx context.Context, id MessageID) (FileRow, error) {
	if err := db.check(); err != nil {
		return FileRow{}, err
	}
	return db.file(ctx, db.sql, id)
}

func (db *DB) file(ctx context.Context, q querier, id MessageID) (FileRow, error) {
	f, err := db.scanFile(q.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files WHERE id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return FileRow{}, fmt.Errorf("storage: file %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return FileRow{}, fmt.Errorf("storage: file %s: %w", id, err)
	}
	return f, nil
}

// FileThumb returns a file's thumbnail (nil if it has none).
func (db *DB) FileThumb(ctx context.Context, id MessageID) ([]byte, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	var sealed []byte
	err := db.sql.QueryRowContext(ctx, `SELECT thumb_sealed FROM files WHERE id = ?`, id[:]).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("storage: file %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: file thumbnail: %w", err)
	}
	return db.seal.openOpt("files", "thumb", fileKey(id), sealed)
}

// FileQuery selects files for Files.
type FileQuery struct {
	ContactID int64     // 0: every contact
	Direction Direction // "": both
	States    []string  // nil: every state
	Limit     int       // 0: 100
}

// Files returns files newest first.
func (db *DB) Files(ctx context.Context, q FileQuery) ([]FileRow, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	where, args := []string{"1"}, []any{}
	if q.ContactID != 0 {
		where, args = append(where, "contact_id = ?"), append(args, q.ContactID)
	}
	if q.Direction != "" {
		where, args = append(where, "direction = ?"), append(args, string(q.Direction))
	}
	if len(q.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(q.States)-1)+")")
		for _, s := range q.States {
			args = append(args, s)
		}
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	args = append(args, q.Limit)
	rows, err := db.sql.QueryContext(ctx, `SELECT `+fileCols+` FROM files WHERE `+strings.Join(where, " AND ")+` ORDER BY message_seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: files: %w", err)
	}
	defer rows.Close()
	var out []FileRow
	for rows.Next() {
		f, err := db.scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: files: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: files: %w", err)
	}
	return out, nil
}

// FileLocals returns the chunk file names of every file row, for removing
// chunk files whose row is gone (a deleted conversation).
func (db *DB) FileLocals(ctx context.Context) (map[string]bool, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT local FROM files`)
	if err != nil {
		return nil, fmt.Errorf("storage: file names: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, fmt.Errorf("storage: file names: %w", err)
		}
		out[l] = true
	}
	return out, rows.Err()
}

// FileUsage is the total size of the contact's files in direction whose
// state is one of states: what counts against a quota.
func (db *DB) FileUsage(ctx context.Context, contactID int64, dir Direction, states []string) (int64, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	if len(states) == 0 {
		return 0, nil
	}
	args := []any{contactID, string(dir)}
	for _, s := range states {
		args = append(args, s)
	}
	var n int64
	err := db.sql.QueryRowContext(ctx, `SELECT coalesce(sum(size), 0) FROM files WHERE contact_id = ? AND direction = ? AND state IN (?`+
		strings.Repeat(", ?", len(states)-1)+`)`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("storage: file usage: %w", err)
	}
	return n, nil
}

// SetFileState changes a file's state and error text; done is when it
// ended (zero while it goes on).
func (tx *Tx) SetFileState(id MessageID, state, errText string, at, done time.Time) error {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE files SET state = ?, error = ?, updated = ?, done = ? WHERE id = ?`,
		state, nullString(errText), ns(at), nullTime(done), id[:])
	if err != nil {
		return fmt.Errorf("storage: set file state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: set file state %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetFileState is Tx.SetFileState in its own transaction.
func (db *DB) SetFileState(ctx context.Context, id MessageID, state, errText string, at, done time.Time) error {
	return db.Update(ctx, func(tx *Tx) error { return tx.SetFileState(id, state, errText, at, done) })
}

// FileProgress is a checkpoint of a transfer's progress.
type FileProgress struct {
	Have                                  []byte
	Bytes, SentBytes, RecvBytes, DupBytes int64
}

// SetFileProgress records a checkpoint of a file's progress.
func (tx *Tx) SetFileProgress(id MessageID, p FileProgress, at time.Time) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE files SET have = ?, bytes = ?, sent_bytes = ?, recv_bytes = ?, dup_bytes = ?, updated = ? WHERE id = ?`,
		p.Have, p.Bytes, p.SentBytes, p.RecvBytes, p.DupBytes, ns(at), id[:])
	if err != nil {
		return fmt.Errorf("storage: set file progress: %w", err)
	}
	return nil
}

// SetFileInfo replaces a file's sealed info (the receiver learns the real
// media type once it has the whole file).
func (tx *Tx) SetFileInfo(id MessageID, info []byte, at time.Time) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE files SET info_sealed = ?, updated = ? WHERE id = ?`,
		tx.db.seal.seal("files", "info", fileKey(id), info), ns(at), id[:])
	if err != nil {
		return fmt.Errorf("storage: set file info: %w", err)
	}
	return nil
}

// DeleteMessageFile deletes the file row of message seq (a message
// deleted for everyone keeps its row as a tombstone, not its file) and
// returns the name of its chunk file for the caller to remove after the
// commit; "" when the message carried no file.
func (tx *Tx) DeleteMessageFile(seq int64) (string, error) {
	var local string
	err := tx.tx.QueryRowContext(tx.ctx, `DELETE FROM files WHERE message_seq = ? RETURNING local`, seq).Scan(&local)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("storage: delete file: %w", err)
	}
	return local, nil
}
