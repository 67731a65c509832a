package storage

import (
	"context"
	"errors"
	"sync"
	"syscall"
)

// One damaged row must not take the profile down: reads that meet a row
// they cannot open (a sealed value failing authentication, or SQLite
// reporting the row's page corrupt) skip it or return it marked Unreadable,
// and remember it here, so Status can say how many there are and
// "chive doctor" can find and quarantine them. Only the identity stops
// Open.

// RowRef names one stored row: the table and its integer key (seq for
// messages and the outbox, id for contacts, contact_id for sessions).
type RowRef struct {
	Table string `json:"table"`
	Row   int64  `json:"row"`
}

// damage is the set of rows found unreadable since Open.
type damage struct {
	mu   sync.Mutex
	rows map[RowRef]struct{}
}

func (d *damage) note(table string, row int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rows == nil {
		d.rows = map[RowRef]struct{}{}
	}
	d.rows[RowRef{table, row}] = struct{}{}
}

func (d *damage) reset(ds []Damaged) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows = map[RowRef]struct{}{}
	for _, x := range ds {
		d.rows[x.RowRef] = struct{}{}
	}
}

func (d *damage) forget(r RowRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.rows, r)
}

// Unreadable returns how many rows reads (and Check) have found unreadable
// since the database was opened, by table.
func (db *DB) Unreadable() map[string]int {
	db.damage.mu.Lock()
	defer db.damage.mu.Unlock()
	out := map[string]int{}
	for r := range db.damage.rows {
		out[r.Table]++
	}
	return out
}

// sqliteCode is the primary SQLite result code in err's chain, or 0.
func sqliteCode(err error) int {
	var e interface{ Code() int }
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

const (
	sqliteCorrupt = 11 // SQLITE_CORRUPT
	sqliteFull    = 13 // SQLITE_FULL
	sqliteNotADB  = 26 // SQLITE_NOTADB
)

// isDamage reports whether err comes from damaged data rather than from the
// caller (a cancelled context, a closed database): the read may skip the
// row and go on.
func isDamage(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return false
	}
	if errors.Is(err, ErrUnreadable) {
		return true
	}
	c := sqliteCode(err)
	return c == sqliteCorrupt || c == sqliteNotADB
}

// IsDiskFull reports whether err says the disk (or the user's quota) is
// full: nothing was stored, and trying again once space is freed works.
func IsDiskFull(err error) bool {
	return sqliteCode(err) == sqliteFull || errors.Is(err, syscall.ENOSPC)
}
