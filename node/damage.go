package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/chive-im/chive/storage"
)

// One damaged row never takes the profile down: storage skips or marks
// what it cannot read, the API shows it as unreadable, Status counts it,
// and Doctor (chive doctor) finds and quarantines it. Only the identity,
// without which there is no profile, stops Open.

// ErrIdentityDamaged: the profile's identity row is damaged; the profile
// cannot run without it (restore from a backup).
var (
	ErrIdentityDamaged = storage.ErrIdentityDamaged
	// ErrKeyFileMissing: the profile has its database but not its key file.
	ErrKeyFileMissing = storage.ErrKeyFileMissing
	// ErrKeyFileDamaged: the key file is not one chive wrote.
	ErrKeyFileDamaged = storage.ErrKeyFileDamaged
)

// unreadable returns the damaged rows by kind. The first call checks every
// stored row (a second or so for a large profile); later ones add what
// reads have met since.
func (n *Node) unreadable(ctx context.Context) map[string]int {
	n.checkMu.Lock()
	if !n.checked {
		if _, err := n.db.CheckSealed(ctx); err != nil {
			if ctx.Err() == nil && n.ctx.Err() == nil {
				n.log.Warn("checking stored rows", "err", err)
			}
		} else {
			n.checked = true
		}
	}
	n.checkMu.Unlock()
	u := n.db.Unreadable()
	if len(u) == 0 {
		return nil
	}
	for kind, count := range u {
		n.log.Debug("unreadable rows", "kind", kind, "count", count)
	}
	return u
}

// unknownContact stands in for the contact of kept messages whose contact
// row is damaged.
func unknownContact(err error) bool { return errors.Is(err, storage.ErrUnreadable) }

// DoctorOptions say which profile Doctor checks, and whether to repair it.
type DoctorOptions struct {
	Dir        string
	Passphrase []byte
	// Repair backs the profile up, then moves every row that cannot be
	// read into the quarantine table (storage.DB.Quarantine says what
	// that means for each kind of row).
	Repair bool
}

type (
	// DamagedRow is one row Doctor could not read.
	DamagedRow = storage.Damaged
	// Repaired is what Doctor's repair did.
	Repaired = storage.Repaired
)

// DoctorReport is what Doctor found (and did). Its JSON form is the
// output of "chive doctor --json".
type DoctorReport struct {
	Profile string `json:"profile"`
	// Integrity is SQLite's integrity check: ["ok"], or the problems.
	Integrity []string `json:"integrity"`
	// Checked counts the rows whose sealed values were opened, by table.
	Checked map[string]int `json:"checked"`
	// Unreadable lists the rows that could not be read (before repair).
	Unreadable []DamagedRow `json:"unreadable"`
	// Backup is the directory the profile was copied to before repair.
	Backup string `json:"backup,omitempty"`
	// Repaired says what the repair did; nil without Repair.
	Repaired *Repaired `json:"repaired,omitempty"`
	// Quarantined counts the rows in quarantine (from this or earlier
	// repairs), by table.
	Quarantined map[string]int `json:"quarantined"`
	// OK: nothing is wrong (now, after a repair).
	OK bool `json:"ok"`
}

// Doctor checks the profile in o.Dir: SQLite's integrity check, then every
// sealed value of every row. With o.Repair it writes a backup and
// quarantines what cannot be read. It needs the profile to itself (stop
// the daemon first): the error wraps *LockedError otherwise.
func Doctor(ctx context.Context, o DoctorOptions) (DoctorReport, error) {
	db, err := storage.Open(ctx, o.Dir, o.Passphrase, storage.OpenOptions{NoIdentityCheck: true})
	if err != nil {
		return DoctorReport{}, fmt.Errorf("node: doctor: %w", err)
	}
	defer db.Close()
	r, err := db.Check(ctx)
	if err != nil {
		return DoctorReport{}, fmt.Errorf("node: doctor: %w", err)
	}
	out := DoctorReport{Profile: o.Dir, Integrity: r.Integrity, Checked: r.Checked, Unreadable: r.Unreadable, OK: r.OK()}
	if o.Repair && !r.OK() {
		if out.Backup, err = db.Backup(ctx); err != nil {
			return out, fmt.Errorf("node: doctor: nothing repaired: %w", err)
		}
		fixed, err := db.Quarantine(ctx, r)
		if err != nil {
			return out, fmt.Errorf("node: doctor: repair (the backup is in %s): %w", out.Backup, err)
		}
		out.Repaired = &fixed
		after, err := db.Check(ctx)
		if err != nil {
			return out, fmt.Errorf("node: doctor: check after repair: %w", err)
		}
		out.Integrity, out.OK = after.Integrity, after.OK()
	}
	if out.Quarantined, err = db.Quarantined(ctx); err != nil {
		return out, fmt.Errorf("node: doctor: %w", err)
	}
	return out, nil
}
