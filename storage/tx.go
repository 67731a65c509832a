package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is one write transaction, passed to the function given to DB.Update.
// Its methods use the context given to Update. Do not keep it after the
// function returns.
type Tx struct {
	ctx context.Context
	db  *DB
	tx  *sql.Tx
}

// TxFunc is work to run inside a transaction.
type TxFunc func(tx *Tx) error

// Update runs fn in one write transaction: committed if fn returns nil,
// rolled back whole otherwise (fn's error is returned as is).
func (db *DB) Update(ctx context.Context, fn TxFunc) error {
	if err := db.check(); err != nil {
		return err
	}
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	defer stx.Rollback()
	if err := fn(&Tx{ctx: ctx, db: db, tx: stx}); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

// testHook, set only by tests, is called between the statements of a
// transaction (and after the last one); an error it returns aborts the
// transaction, which must then roll back whole.
var testHook func(stage string) error

// createVersion is the schema version Create builds; tests lower it to
// make fixtures of earlier versions.
var createVersion = -1

func (db *DB) runHook(stage string) error {
	if testHook != nil {
		return testHook(stage)
	}
	return nil
}

// times: Unix nanoseconds, NULL for the zero time.

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64)
}

func ns(t time.Time) int64 { return t.UnixNano() }
