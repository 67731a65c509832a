package storage

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string // the file name, NNNN_name.sql
	sql     string
}

// key is the name without its number and extension ("guard"): what goSteps
// and sealing decisions refer to, so renumbering a migration changes nothing.
func (m migration) key() string {
	_, k, _ := strings.Cut(strings.TrimSuffix(m.name, ".sql"), "_")
	return k
}

// goSteps run after the SQL of the migration with that key, in the same
// transaction: what SQL cannot do (resealing needs the database key).
var goSteps = map[string]func(ctx context.Context, db *DB, tx *sql.Tx) error{
	"guard": resealOutbox,
}

// migrations returns the embedded migrations in order. File names are
// NNNN_name.sql; versions must be 1..n without gaps.
func migrations() ([]migration, error) {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	return loadMigrations(sub)
}

// loadMigrations reads the NNNN_name.sql files at the root of fsys, in
// order; versions must be 1..n without gaps. (The profile's and a vault's.)
func loadMigrations(fsys fs.FS) ([]migration, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: bad name", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the database version this build writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err)
	}
	return len(ms)
}

// migrateTo brings the database to version target (-1: SchemaVersion) in
// one transaction, so a failed upgrade leaves the old version intact. A
// newer database is refused before anything is written.
func (db *DB) migrateTo(ctx context.Context, target int) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	step := func(ctx context.Context, m migration, tx *sql.Tx) error {
		if f := goSteps[m.key()]; f != nil {
			return f(ctx, db, tx)
		}
		return nil
	}
	return applyMigrations(ctx, db.sql, ms, target, step, db.runHook)
}

// applyMigrations runs ms[cur:target] (target -1: all) in one transaction,
// each migration's SQL followed by step (nil: none), and records the
// version in user_version.
func applyMigrations(ctx context.Context, sdb *sql.DB, ms []migration, target int, step func(context.Context, migration, *sql.Tx) error, hook func(string) error) error {
	if target < 0 {
		target = len(ms)
	}
	var cur int
	if err := sdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("%w: database version %d, this chive knows up to %d; upgrade chive", ErrNewerVersion, cur, len(ms))
	}
	if cur >= target {
		return nil
	}
	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	defer tx.Rollback()
	// Re-read inside the write lock: another opener may have migrated.
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	for _, m := range ms[cur:target] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("storage: migrate to version %d (%s): %w", m.version, m.name, err)
		}
		if step != nil {
			if err := step(ctx, m, tx); err != nil {
				return fmt.Errorf("storage: migrate to version %d (%s): %w", m.version, m.name, err)
			}
		}
		if err := hook("migrate:" + strconv.Itoa(m.version)); err != nil {
			return fmt.Errorf("storage: migrate to version %d: %w", m.version, err)
		}
	}
	// PRAGMA takes no bound parameters; target is our own integer.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(target)); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	return nil
}
