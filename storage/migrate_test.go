package storage

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden fixtures in testdata/")

// The fixture of each earlier schema version is a whole profile (key file +
// database), made by this very code with the schema stopped at that version.
const fixturePass = "fixture passphrase"

var fixtureSeed = [32]byte{1, 2, 3}

// fixtureContent is what each fixture holds, and what a migrated fixture
// must still hold.
func writeFixtureContent(t *testing.T, db *DB) {
	ctx := context.Background()
	t0 := time.Unix(1750000000, 0)
	bob := addContact(t, db, "bobaddress", "Bob", StateAccepted)
	carol := addContact(t, db, "caroladdress", "Carol", StatePendingIncoming)
	_ = carol
	if err := db.PutSession(ctx, bob.ID, []byte("bob-session-0"), t0); err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"first", "second", "third"} {
		id := MessageID{byte(i + 1)}
		if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: bob.ID, ID: id, Body: body, Created: t0.Add(time.Duration(i) * time.Minute),
			Session: []byte("bob-session-" + body), Frame: []byte("frame-" + body)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Acknowledge(ctx, bob.ID, MessageID{1}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: bob.ID, ID: MessageID{0xbb}, Body: "reply", Created: t0, Received: t0.Add(2 * time.Hour),
		Session: []byte("bob-session-recv")}); err != nil {
		t.Fatal(err)
	}
}

func checkFixtureContent(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	id, err := db.Identity(ctx)
	if err != nil || id.Name != "fixture" || !id.OnionKey.Equal(ed25519.NewKeyFromSeed(fixtureSeed[:])) {
		t.Fatalf("identity: %+v %v", id, err)
	}
	cs, err := db.Contacts(ctx)
	if err != nil || len(cs) != 2 || cs[0].Nickname != "Bob" || cs[1].State != StatePendingIncoming {
		t.Fatalf("contacts: %+v %v", cs, err)
	}
	h, err := db.History(ctx, cs[0].ID, 0, 10)
	if err != nil || len(h) != 4 || h[0].Body != "reply" || h[3].Body != "first" || h[3].Status != StatusDelivered {
		t.Fatalf("history: %+v %v", h, err)
	}
	ob, err := db.Outbox(ctx, cs[0].ID)
	if err != nil || len(ob) != 2 || string(ob[0].Frame) != "frame-second" {
		t.Fatalf("outbox: %+v %v", ob, err)
	}
	st, err := db.Session(ctx, cs[0].ID)
	if err != nil || string(st) != "bob-session-recv" {
		t.Fatalf("session: %q %v", st, err)
	}
	if _, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: cs[0].ID, ID: MessageID{0xbb}, Body: "again", Session: []byte("x")}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("seen ids lost: %v", err)
	}
}

func fixtureDir(version int) string {
	return filepath.Join("testdata", "v"+string(rune('0'+version)))
}

// copyProfile copies a fixture to a fresh directory with the modes a
// profile needs (git does not keep 0600).
func copyProfile(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "profile")
	if err := os.Mkdir(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keyFileName, dbFileName} {
		in, err := os.Open(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(filepath.Join(to, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return to
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGoldenFixtures writes, with -update, the fixture of every earlier
// version that has none yet. A fixture is frozen once written: version 1's
// was made by the code of version 1 (writeFixtureContent through its API);
// each later one is the previous fixture upgraded to that version, as a
// user's profile would be, since today's code cannot write an older schema.
func TestGoldenFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to write the missing testdata/v*")
	}
	ctx := context.Background()
	for v := 2; v < SchemaVersion(); v++ {
		out := fixtureDir(v)
		if _, err := os.Stat(filepath.Join(out, keyFileName)); err == nil {
			continue // frozen
		}
		dir := copyProfile(t, fixtureDir(v-1))
		kf, err := readKeyFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		key, err := kf.unwrap([]byte(fixturePass))
		if err != nil {
			t.Fatal(err)
		}
		lock, err := acquireLock(dir)
		if err != nil {
			t.Fatal(err)
		}
		db, err := openSQL(ctx, dir, key, lock, v)
		if err != nil {
			t.Fatal(err)
		}
		// Fold the WAL into the database file: the fixture is two files.
		if _, err := db.sql.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		os.MkdirAll(out, 0o755)
		for _, name := range []string{keyFileName, dbFileName} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := userVersion(t, filepath.Join(out, dbFileName)); got != v {
			t.Fatalf("fixture v%d has user_version %d", v, got)
		}
	}
}

// TestFixtureContent: what the fixtures hold, written with today's code,
// reads back as checkFixtureContent expects (so the check itself is sound).
func TestFixtureContent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	db, err := Create(context.Background(), dir, []byte(fixturePass),
		Identity{Name: "fixture", OnionKey: ed25519.NewKeyFromSeed(fixtureSeed[:]), Ratchet: []byte("fixture-ratchet"), Created: time.Unix(1750000000, 0)},
		CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	writeFixtureContent(t, db)
	checkFixtureContent(t, db)
}

func TestMigrateFromEmpty(t *testing.T) {
	db := newTestDB(t)
	if got := userVersion(t, db.Path()); got != SchemaVersion() {
		t.Fatalf("new profile at version %d, want %d", got, SchemaVersion())
	}
	if SchemaVersion() < 2 {
		t.Fatal("expected at least two migrations")
	}
	var n int
	for _, table := range []string{"identity", "contacts", "sessions", "messages", "outbox", "seen", "settings", "drafts"} {
		if err := db.sql.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
	// The pragmas every connection gets.
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "secure_delete": "1"} {
		var got string
		if err := db.sql.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q (%v), want %q", pragma, got, err, want)
		}
	}
}

func TestMigrateFromEarlierVersions(t *testing.T) {
	ctx := context.Background()
	for v := 1; v < SchemaVersion(); v++ {
		t.Run(fixtureDir(v), func(t *testing.T) {
			dir := copyProfile(t, fixtureDir(v))
			if got := userVersion(t, filepath.Join(dir, dbFileName)); got != v {
				t.Fatalf("fixture at version %d, want %d", got, v)
			}
			db, err := Open(ctx, dir, []byte(fixturePass), OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := userVersion(t, db.Path()); got != SchemaVersion() {
				t.Fatalf("after open: version %d, want %d", got, SchemaVersion())
			}
			checkFixtureContent(t, db)
			// What the later versions added works on the migrated data.
			if err := db.SetSetting(ctx, SettingReadReceipts, "off"); err != nil {
				t.Fatal(err)
			}
			cs, _ := db.Contacts(ctx)
			if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: cs[0].ID, Body: "after migration", Session: []byte("s"), Frame: []byte("f")}); err != nil {
				t.Fatal(err)
			}
			// Version 3: drafts, names and blocked_from on old rows.
			if cs[0].PeerName != "" || cs[0].NameSent != "" || cs[0].BlockedFrom != "" {
				t.Errorf("old contact after migration: %+v", cs[0])
			}
			if err := db.SetDraft(ctx, cs[0].ID, "draft after migration"); err != nil {
				t.Fatal(err)
			}
			cs[0].PeerName, cs[0].State, cs[0].BlockedFrom = "Bob B.", StateBlocked, StateAccepted
			if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateContact(cs[0]) }); err != nil {
				t.Fatal(err)
			}
			if back, err := db.Contact(ctx, cs[0].ID); err != nil || back.PeerName != "Bob B." || back.BlockedFrom != StateAccepted {
				t.Fatalf("contact after update: %+v %v", back, err)
			}
			// Version 4: invites, the invited flag, outbox frames resealed.
			if cs[1].Invited {
				t.Errorf("old pending request invited after migration: %+v", cs[1])
			}
			if _, err := db.CreateInvite(ctx, Invite{Token: make([]byte, InviteTokenSize), MaxUses: 1, Expires: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMigrationRollsBack: a migration failing midway leaves the database
// at its old version, untouched in content.
func TestMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	dir := copyProfile(t, fixtureDir(1))
	testHook = func(stage string) error {
		if stage == "migrate:2" {
			return errors.New("injected failure")
		}
		return nil
	}
	_, err := Open(ctx, dir, []byte(fixturePass), OpenOptions{})
	testHook = nil
	if err == nil {
		t.Fatal("open succeeded despite the failing migration")
	}
	if got := userVersion(t, filepath.Join(dir, dbFileName)); got != 1 {
		t.Fatalf("after failed migration: version %d, want 1", got)
	}
	raw, _ := sql.Open("sqlite", filepath.Join(dir, dbFileName))
	var n int
	raw.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'settings'`).Scan(&n)
	raw.Close()
	if n != 0 {
		t.Fatal("settings table left behind by a rolled-back migration")
	}
	db, err := Open(ctx, dir, []byte(fixturePass), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkFixtureContent(t, db)
}
