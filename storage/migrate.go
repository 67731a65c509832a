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
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: bad name", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
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
	if target < 0 {
		target = len(ms)
	}
	var cur int
	if err := db.sql.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("%w: database version %d, this chive knows up to %d; upgrade chive", ErrNewerVersion, cur, len(ms))
	}
	if cur >= target {
		return nil
	}
	tx, err := db.sql.BeginTx(ctx, nil)
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
		if step := goSteps[m.key()]; step != nil {
			if err := step(ctx, db, tx); err != nil {
				return fmt.Errorf("storage: migrate to version %d (%s): %w", m.version, m.name, err)
			}
		}
		if err := db.runHook("migrate:" + strconv.Itoa(m.version)); err != nil {
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
