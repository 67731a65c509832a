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
	ctx   context.Context
	db    *DB
	tx    *sql.Tx
	after []func()
}

// AfterCommit registers f to run once the transaction has committed, in
// the order registered, before Update returns; not at all if it rolls
// back. It is for work outside the database that must follow what the
// transaction did (removing a file whose row it deleted).
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

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
	tx := &Tx{ctx: ctx, db: db, tx: stx}
	if err := fn(tx); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

// Hot statements are prepared once at open (prepareHot): without that the
// SQLite driver parses every statement on every call, a third of the cost
// of storing a message. database/sql then prepares each again, once, on
// every pooled connection it runs on, inside the transaction's own
// connection (preparing on another one from inside a transaction could
// wait for a connection that only the waiting writers hold).
var hotQueries []string

// hot registers query for preparing at open and returns it.
func hot(query string) string {
	hotQueries = append(hotQueries, query)
	return query
}

func (db *DB) prepareHot(ctx context.Context) error {
	for _, q := range hotQueries {
		st, err := db.sql.PrepareContext(ctx, q)
		if err != nil {
			db.closeStmts()
			return fmt.Errorf("storage: prepare: %w", err)
		}
		db.stmts.Store(q, st)
	}
	return nil
}

// prepared is the prepared statement of a hot query, or nil.
func (db *DB) prepared(query string) *sql.Stmt {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	return nil
}

// closeStmts closes the prepared statements (at Close).
func (db *DB) closeStmts() {
	db.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
}

// exec, queryRow and query run a statement in the transaction, prepared
// if it is a hot one.
func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	if st := tx.db.prepared(query); st != nil {
		return tx.tx.StmtContext(tx.ctx, st).ExecContext(tx.ctx, args...)
	}
	return tx.tx.ExecContext(tx.ctx, query, args...)
}

func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	return tx.db.row(tx.ctx, tx.tx, query, args...)
}

func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	if st := tx.db.prepared(query); st != nil {
		return tx.tx.StmtContext(tx.ctx, st).QueryContext(tx.ctx, args...)
	}
	return tx.tx.QueryContext(tx.ctx, query, args...)
}

// row runs a query on q (the database, or a transaction), prepared if it
// is a hot one.
func (db *DB) row(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	st := db.prepared(query)
	if st == nil {
		return q.QueryRowContext(ctx, query, args...)
	}
	if t, ok := q.(*sql.Tx); ok {
		st = t.StmtContext(ctx, st)
	}
	return st.QueryRowContext(ctx, args...)
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
