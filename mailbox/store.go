package mailbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Schema is the mailbox store's: a storage.Vault of kind "mailbox".
var Schema = func() storage.VaultSchema {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	return storage.VaultSchema{Kind: "mailbox", Migrations: sub}
}()

// Errors of the store.
var (
	ErrDenied    = errors.New("mailbox: denied")
	ErrPaired    = errors.New("mailbox: already paired")
	ErrNotPaired = errors.New("mailbox: not paired")
)

// Direction of an item: who put it, for whom.
type Direction string

const (
	ToOwner   Direction = "in"  // put by a contact for the owner
	ToContact Direction = "out" // put by the owner for a contact
)

// Store is a mailbox's sealed database. Its methods are safe for
// concurrent use; SQLite serializes the writes.
type Store struct {
	v   *storage.Vault
	key ed25519.PrivateKey
}

// CreateOptions configure Create (the profile's: NoPassphrase, KDF).
type CreateOptions = storage.CreateOptions

// Exists reports whether dir holds a mailbox store.
func Exists(dir string) bool { return storage.VaultExists(dir, Schema) }

// Create makes a new mailbox store in dir with a fresh onion key and
// pairing secret.
func Create(ctx context.Context, dir string, passphrase []byte, opts CreateOptions) (*Store, error) {
	v, err := storage.CreateVault(ctx, dir, passphrase, Schema, opts)
	if err != nil {
		return nil, fmt.Errorf("mailbox: create: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		v.Close()
		return nil, err
	}
	_, err = v.SQL().ExecContext(ctx, `INSERT INTO config (id, onion_key_sealed, pair_sealed, created) VALUES (1, ?, ?, ?)`,
		v.Seal("config", "onion_key", one, key), v.Seal("config", "pair", one, NewSecret()), time.Now().UnixNano())
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("mailbox: create: %w", err)
	}
	return &Store{v: v, key: key}, nil
}

// Open unlocks the mailbox store in dir.
func Open(ctx context.Context, dir string, passphrase []byte) (*Store, error) {
	v, err := storage.OpenVault(ctx, dir, passphrase, Schema)
	if err != nil {
		return nil, fmt.Errorf("mailbox: open: %w", err)
	}
	var sealed []byte
	err = v.SQL().QueryRowContext(ctx, `SELECT onion_key_sealed FROM config WHERE id = 1`).Scan(&sealed)
	var key []byte
	if err == nil {
		key, err = v.Unseal("config", "onion_key", one, sealed)
	}
	if err == nil && len(key) != ed25519.PrivateKeySize {
		err = errors.New("bad onion key")
	}
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("mailbox: open: %w", err)
	}
	return &Store{v: v, key: ed25519.PrivateKey(key)}, nil
}

var one = []byte{1}

// Close closes the store. Idempotent.
func (s *Store) Close() error { return s.v.Close() }

// Dir is the store's directory; TorDir the Tor data directory in it.
func (s *Store) Dir() string    { return s.v.Dir() }
func (s *Store) TorDir() string { return filepath.Join(s.v.Dir(), "tor") }

// Key is the mailbox's onion service key; Address its onion address.
func (s *Store) Key() ed25519.PrivateKey { return s.key }
func (s *Store) Address() onion.Address {
	return onion.AddressFromPublicKey(s.key.Public().(ed25519.PublicKey))
}

func (s *Store) update(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.v.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Owner returns the owner's key, or nil while unpaired.
func (s *Store) Owner(ctx context.Context) (ed25519.PublicKey, error) {
	var sealed []byte
	if err := s.v.SQL().QueryRowContext(ctx, `SELECT owner_sealed FROM config WHERE id = 1`).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("mailbox: owner: %w", err)
	}
	if sealed == nil {
		return nil, nil
	}
	k, err := s.v.Unseal("config", "owner", one, sealed)
	if err != nil {
		return nil, fmt.Errorf("mailbox: owner: %w", err)
	}
	return ed25519.PublicKey(k), nil
}

// PairingSecret returns the one-time secret while unpaired, else nil.
func (s *Store) PairingSecret(ctx context.Context) ([]byte, error) {
	var sealed []byte
	if err := s.v.SQL().QueryRowContext(ctx, `SELECT pair_sealed FROM config WHERE id = 1`).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("mailbox: pairing secret: %w", err)
	}
	if sealed == nil {
		return nil, nil
	}
	return s.v.Unseal("config", "pair", one, sealed)
}

// PairingLink is the link to give the owner, "" once paired.
func (s *Store) PairingLink(ctx context.Context) (string, error) {
	secret, err := s.PairingSecret(ctx)
	if err != nil || secret == nil {
		return "", err
	}
	return PairingLink(s.Address(), secret), nil
}

// Pair makes owner the owner if secret is the pairing secret; the secret
// is then forgotten. ErrPaired if there is an owner, ErrDenied for a wrong
// secret.
func (s *Store) Pair(ctx context.Context, secret []byte, owner ed25519.PublicKey, now time.Time) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		var sealed, own []byte
		if err := tx.QueryRowContext(ctx, `SELECT pair_sealed, owner_sealed FROM config WHERE id = 1`).Scan(&sealed, &own); err != nil {
			return err
		}
		if own != nil || sealed == nil {
			return ErrPaired
		}
		want, err := s.v.Unseal("config", "pair", one, sealed)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(want, secret) != 1 {
			return ErrDenied
		}
		_, err = tx.ExecContext(ctx, `UPDATE config SET owner_sealed = ?, pair_sealed = NULL, owner_seen = ? WHERE id = 1`,
			s.v.Seal("config", "owner", one, owner), now.UnixNano())
		return err
	})
}

// Unlink forgets the owner and everything stored, and makes a new pairing
// secret.
func (s *Store) Unlink(ctx context.Context) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM notices`, `DELETE FROM items`, `DELETE FROM slots`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE config SET owner_sealed = NULL, owner_seen = NULL, pair_sealed = ? WHERE id = 1`,
			s.v.Seal("config", "pair", one, NewSecret()))
		return err
	})
}

// TouchOwner records the owner's visit.
func (s *Store) TouchOwner(ctx context.Context, at time.Time) error {
	_, err := s.v.SQL().ExecContext(ctx, `UPDATE config SET owner_seen = ? WHERE id = 1`, at.UnixNano())
	return err
}

// AddSlot adds a contact's slot (idempotent).
func (s *Store) AddSlot(ctx context.Context, slot []byte, now time.Time) error {
	_, err := s.v.SQL().ExecContext(ctx, `INSERT INTO slots (slot, created) VALUES (?, ?) ON CONFLICT DO NOTHING`, slot, now.UnixNano())
	return err
}

// RemoveSlot removes a slot and everything in it (idempotent).
func (s *Store) RemoveSlot(ctx context.Context, slot []byte) error {
	_, err := s.v.SQL().ExecContext(ctx, `DELETE FROM slots WHERE slot = ?`, slot)
	return err
}

// TouchSlot reports whether slot exists, recording the contact's visit.
func (s *Store) TouchSlot(ctx context.Context, slot []byte, at time.Time) (bool, error) {
	res, err := s.v.SQL().ExecContext(ctx, `UPDATE slots SET last_seen = ? WHERE slot = ?`, at.UnixNano(), slot)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Quota bounds what a mailbox keeps.
type Quota struct {
	SlotItems int   // items a contact may have waiting for the owner
	SlotBytes int64 // their bytes
	Total     int64 // bytes of all items, both ways
}

func itemKey(slot []byte, dir Direction, id wire.ID) []byte {
	k := append(append([]byte{}, slot...), dir[0])
	return append(k, id[:]...)
}

// Put stores item (already checked by Unpad) in slot for the other side
// of dir, within q. It reports MailboxOK also when the item is already
// there, or was already taken (a put repeated after a lost ack).
func (s *Store) Put(ctx context.Context, slot []byte, dir Direction, id wire.ID, item []byte, q Quota, now time.Time) (wire.MailboxCode, error) {
	code := wire.MailboxOK
	err := s.update(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM items WHERE slot = ?1 AND dir = ?2 AND id = ?3) +
			(SELECT count(*) FROM notices WHERE slot = ?1 AND dir = ?2 AND id = ?3)`, slot, string(dir), id[:]).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM slots WHERE slot = ?`, slot).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			code = wire.MailboxUnknownSlot
			return nil
		}
		var total int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(size), 0) FROM items`).Scan(&total); err != nil {
			return err
		}
		if total+int64(len(item)) > q.Total {
			code = wire.MailboxFull
			return nil
		}
		if dir == ToOwner {
			var cnt int
			var bytes int64
			if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM items WHERE slot = ? AND dir = 'in'`, slot).Scan(&cnt, &bytes); err != nil {
				return err
			}
			if cnt+1 > q.SlotItems || bytes+int64(len(item)) > q.SlotBytes {
				code = wire.MailboxFull
				return nil
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO items (slot, dir, id, item_sealed, size, created) VALUES (?, ?, ?, ?, ?, ?)`,
			slot, string(dir), id[:], s.v.Seal("items", "item", itemKey(slot, dir, id), item), len(item), now.UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mailbox: put: %w", err)
	}
	return code, nil
}

// Item is one stored item.
type Item struct {
	Seq  int64
	Slot []byte
	Dir  Direction
	ID   wire.ID
	Data []byte // the padded frame
}

// Items returns up to limit items of dir after seq, oldest first: of one
// slot, or of every slot when slot is nil.
func (s *Store) Items(ctx context.Context, slot []byte, dir Direction, after int64, limit int) ([]Item, error) {
	q := `SELECT seq, slot, id, item_sealed FROM items WHERE dir = ? AND seq > ?`
	args := []any{string(dir), after}
	if slot != nil {
		q += ` AND slot = ?`
		args = append(args, slot)
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, limit)
	rows, err := s.v.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("mailbox: items: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		it := Item{Dir: dir}
		var id, sealed []byte
		if err := rows.Scan(&it.Seq, &it.Slot, &id, &sealed); err != nil {
			return nil, fmt.Errorf("mailbox: items: %w", err)
		}
		copy(it.ID[:], id)
		if it.Data, err = s.v.Unseal("items", "item", itemKey(it.Slot, dir, it.ID), sealed); err != nil {
			return nil, fmt.Errorf("mailbox: items: %w", err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Take deletes the items of slot and dir the other side has durably
// processed, leaving a "delivered" notice for whoever put them. Ids that
// are not there (taken already) are skipped.
func (s *Store) Take(ctx context.Context, slot []byte, dir Direction, ids []wire.ID, now time.Time) (int, error) {
	taken := 0
	err := s.update(ctx, func(tx *sql.Tx) error {
		taken = 0
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `DELETE FROM items WHERE slot = ? AND dir = ? AND id = ?`, slot, string(dir), id[:])
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO notices (slot, dir, id, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				slot, string(dir), id[:], now.UnixNano()); err != nil {
				return err
			}
			taken++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mailbox: take: %w", err)
	}
	return taken, nil
}

// Notice is what became of one item, for whoever put it.
type Notice struct {
	Slot    []byte
	Dir     Direction // the item's
	ID      wire.ID
	Expired bool // deleted unread; else taken
}

// Notices returns up to limit notices about items of dir: of one slot, or
// of every slot when slot is nil.
func (s *Store) Notices(ctx context.Context, slot []byte, dir Direction, limit int) ([]Notice, error) {
	q := `SELECT slot, id, expired FROM notices WHERE dir = ?`
	args := []any{string(dir)}
	if slot != nil {
		q += ` AND slot = ?`
		args = append(args, slot)
	}
	q += ` ORDER BY created, id LIMIT ?`
	args = append(args, limit)
	rows, err := s.v.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("mailbox: notices: %w", err)
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		n := Notice{Dir: dir}
		var id []byte
		if err := rows.Scan(&n.Slot, &id, &n.Expired); err != nil {
			return nil, fmt.Errorf("mailbox: notices: %w", err)
		}
		copy(n.ID[:], id)
		out = append(out, n)
	}
	return out, rows.Err()
}

// ClearNotices deletes notices their recipient has acknowledged.
func (s *Store) ClearNotices(ctx context.Context, ns []Notice) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		for _, n := range ns {
			if _, err := tx.ExecContext(ctx, `DELETE FROM notices WHERE slot = ? AND dir = ? AND id = ?`, n.Slot, string(n.Dir), n.ID[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Expire deletes the items stored before cutoff, leaving an "expired"
// notice for whoever put them, and notices nobody collected within the
// same time. It returns how many items expired.
func (s *Store) Expire(ctx context.Context, cutoff, now time.Time) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM notices WHERE created < ?`, cutoff.UnixNano()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notices (slot, dir, id, expired, created)
			SELECT slot, dir, id, 1, ? FROM items WHERE created < ? ON CONFLICT DO NOTHING`, now.UnixNano(), cutoff.UnixNano()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM items WHERE created < ?`, cutoff.UnixNano())
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		n = int(c)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mailbox: expire: %w", err)
	}
	return n, nil
}

// Stats is what "chive mailbox status" shows. It holds no secret.
type Stats struct {
	Address   string      `json:"address"`
	Paired    bool        `json:"paired"`
	OwnerSeen time.Time   `json:"owner_seen,omitzero"` // the owner's last visit
	Items     int         `json:"items"`
	Bytes     int64       `json:"bytes"`
	Slots     []SlotStats `json:"contacts"`
}

// SlotStats is one contact's slot. The mailbox knows no names: Slot is the
// first hex digits of the slot id, the same the owner's node shows.
type SlotStats struct {
	Slot      string    `json:"slot"`
	ToOwner   int       `json:"to_owner"`   // items waiting for the owner
	ToContact int       `json:"to_contact"` // items waiting for the contact
	Bytes     int64     `json:"bytes"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// ShortSlot is how a slot is shown to people.
func ShortSlot(slot []byte) string { return hex.EncodeToString(slot)[:8] }

// Stats counts what is stored.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Address: string(s.Address()), Slots: []SlotStats{}}
	var owner []byte
	var seen sql.NullInt64
	if err := s.v.SQL().QueryRowContext(ctx, `SELECT owner_sealed, owner_seen FROM config WHERE id = 1`).Scan(&owner, &seen); err != nil {
		return Stats{}, fmt.Errorf("mailbox: stats: %w", err)
	}
	st.Paired = owner != nil
	if seen.Valid {
		st.OwnerSeen = time.Unix(0, seen.Int64)
	}
	rows, err := s.v.SQL().QueryContext(ctx, `SELECT s.slot, s.last_seen,
		(SELECT count(*) FROM items i WHERE i.slot = s.slot AND i.dir = 'in'),
		(SELECT count(*) FROM items i WHERE i.slot = s.slot AND i.dir = 'out'),
		(SELECT coalesce(sum(size), 0) FROM items i WHERE i.slot = s.slot)
		FROM slots s ORDER BY s.created, s.slot`)
	if err != nil {
		return Stats{}, fmt.Errorf("mailbox: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var slot []byte
		var ls sql.NullInt64
		var ss SlotStats
		if err := rows.Scan(&slot, &ls, &ss.ToOwner, &ss.ToContact, &ss.Bytes); err != nil {
			return Stats{}, fmt.Errorf("mailbox: stats: %w", err)
		}
		ss.Slot = ShortSlot(slot)
		if ls.Valid {
			ss.LastSeen = time.Unix(0, ls.Int64)
		}
		st.Items += ss.ToOwner + ss.ToContact
		st.Bytes += ss.Bytes
		st.Slots = append(st.Slots, ss)
	}
	return st, rows.Err()
}
