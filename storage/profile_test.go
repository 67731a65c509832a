package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestResolveDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name, flag string
		env        map[string]string
		want       string
	}{
		{"flag wins", "/p/flag", map[string]string{"CHIVE_HOME": "/p/home", "XDG_DATA_HOME": "/x", "HOME": "/h"}, "/p/flag"},
		{"CHIVE_HOME", "", map[string]string{"CHIVE_HOME": "/p/home", "XDG_DATA_HOME": "/x", "HOME": "/h"}, "/p/home"},
		{"XDG", "", map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/chive"},
		{"home", "", map[string]string{"HOME": "/h"}, "/h/.local/share/chive"},
		{"tilde", "~/p", map[string]string{"HOME": "/h"}, "/h/p"},
	}
	for _, tt := range tests {
		got, err := ResolveDir(tt.flag, env(tt.env))
		if err != nil || got != tt.want {
			t.Errorf("%s: ResolveDir = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	rel, err := ResolveDir("rel", env(nil))
	if err != nil || !filepath.IsAbs(rel) {
		t.Errorf("relative flag: %q, %v; want absolute", rel, err)
	}
}

func TestCreateOpenReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "profile")
	id := testIdentity(t)
	if _, err := Open(ctx, dir, testPass, OpenOptions{}); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("open before create: %v, want ErrNoProfile", err)
	}
	if _, err := NeedsPassphrase(dir); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("NeedsPassphrase before create: %v, want ErrNoProfile", err)
	}
	db, err := Create(ctx, dir, testPass, id, CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(db.TorDir()); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("tor dir: %v %v", st, err)
	}
	c := addContact(t, db, "bob", "Bob", StateAccepted)
	m, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "persist me", Session: []byte("st"), Frame: []byte("fr")})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, SettingReadReceipts, "off"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := db.Contacts(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("use after close: %v", err)
	}
	if _, err := Create(ctx, dir, testPass, id, CreateOptions{KDF: cheapKDF}); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("create twice: %v", err)
	}

	need, err := NeedsPassphrase(dir)
	if err != nil || !need {
		t.Fatalf("NeedsPassphrase = %v, %v", need, err)
	}
	db, err = Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != id.Name || !got.OnionKey.Equal(id.OnionKey) || string(got.Ratchet) != string(id.Ratchet) || !got.Created.Equal(id.Created) {
		t.Fatalf("identity after reopen = %+v", got)
	}
	back, err := db.Message(ctx, c.ID, Outgoing, m.ID)
	if err != nil || back.Body != "persist me" {
		t.Fatalf("message after reopen: %+v %v", back, err)
	}
	if v, ok, err := db.Setting(ctx, SettingReadReceipts); err != nil || !ok || v != "off" {
		t.Fatalf("setting after reopen: %q %v %v", v, ok, err)
	}
	// Identity updates (prekey rotation) persist.
	got.Ratchet = []byte("rotated")
	if err := db.UpdateIdentity(ctx, got); err != nil {
		t.Fatal(err)
	}
	if g2, _ := db.Identity(ctx); string(g2.Ratchet) != "rotated" {
		t.Fatalf("ratchet after update = %q", g2.Ratchet)
	}
}

// hashFiles returns a digest of each profile file (missing files too).
func hashFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	h := make(map[string][32]byte)
	for _, name := range []string{keyFileName, dbFileName, dbFileName + "-wal", dbFileName + "-shm", dbFileName + "-journal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		h[name] = sha256.Sum256(b)
	}
	return h
}

func sameHashes(t *testing.T, before, after map[string][32]byte) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("profile files changed: before %d files, after %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("%s was modified", k)
		}
	}
}

func TestWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	dir := db.Dir()
	c := addContact(t, db, "bob", "Bob", StateAccepted)
	if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "x", Session: []byte("s"), Frame: []byte("f")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := hashFiles(t, dir)
	for _, pass := range [][]byte{[]byte("wrong"), nil, append(testPass, 'x')} {
		if _, err := Open(ctx, dir, pass, OpenOptions{}); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("Open(%q) = %v, want ErrWrongPassphrase", pass, err)
		}
	}
	sameHashes(t, before, hashFiles(t, dir))
	// The failed attempts left no lock behind.
	db2, err := Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
}

func TestChangePassphrase(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	dir := db.Dir()
	c := addContact(t, db, "bob", "Bob", StateAccepted)
	if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "keep", Session: []byte("s"), Frame: []byte("f")}); err != nil {
		t.Fatal(err)
	}
	if err := db.ChangePassphrase(ctx, []byte("not it"), []byte("new"), ChangeOptions{KDF: cheapKDF}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("change with wrong old: %v", err)
	}
	if err := db.ChangePassphrase(ctx, testPass, nil, ChangeOptions{KDF: cheapKDF}); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("change to empty: %v", err)
	}
	db.Close()
	dbHash := hashFiles(t, dir)[dbFileName]

	db, err := Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newPass := []byte("a new passphrase")
	if err := db.ChangePassphrase(ctx, testPass, newPass, ChangeOptions{KDF: cheapKDF}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Only the key file changes: the database key, hence every sealed row, is the same.
	if hashFiles(t, dir)[dbFileName] != dbHash {
		t.Error("database file changed by a passphrase change")
	}
	if _, err := Open(ctx, dir, testPass, OpenOptions{}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase after change: %v", err)
	}
	db, err = Open(ctx, dir, newPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.History(ctx, c.ID, 0, 10)
	if err != nil || len(h) != 1 || h[0].Body != "keep" {
		t.Fatalf("history after change: %+v %v", h, err)
	}
	// To no passphrase and back.
	if err := db.ChangePassphrase(ctx, newPass, nil, ChangeOptions{NoPassphrase: true}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if need, err := NeedsPassphrase(dir); err != nil || need {
		t.Fatalf("NeedsPassphrase after removing it = %v, %v", need, err)
	}
	db, err = Open(ctx, dir, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ChangePassphrase(ctx, nil, []byte("back"), ChangeOptions{KDF: cheapKDF}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if need, _ := NeedsPassphrase(dir); !need {
		t.Fatal("NeedsPassphrase false after setting one")
	}
}

func TestNoPassphrase(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	if _, err := Create(ctx, dir, nil, testIdentity(t), CreateOptions{}); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("empty passphrase without NoPassphrase: %v", err)
	}
	if Exists(dir) {
		t.Fatal("failed create left a profile")
	}
	db, err := Create(ctx, dir, nil, testIdentity(t), CreateOptions{NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if need, err := NeedsPassphrase(dir); err != nil || need {
		t.Fatalf("NeedsPassphrase = %v, %v", need, err)
	}
	db, err = Open(ctx, dir, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestDefaultKDFParams is the one test paying for the real Argon2id cost.
func TestDefaultKDFParams(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	db, err := Create(ctx, dir, testPass, testIdentity(t), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	kf, err := readKeyFile(dir)
	if err != nil || kf.Params != DefaultKDFParams() || kf.KDF != kdfArgon2id || len(kf.Salt) != 16 {
		t.Fatalf("key file = %+v, %v", kf, err)
	}
	start := time.Now()
	db, err = Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unlock with default params (t=%d, %d MiB, p=%d): %v", kf.Params.Time, kf.Params.MemoryKiB>>10, kf.Params.Threads, time.Since(start))
	db.Close()
	// (Wrong passphrases are tested with cheap parameters: under -race each
	// default-cost derivation takes many seconds.)
}

func TestKeyFileTampered(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	dir := db.Dir()
	db.Close()
	// Lowering the stored cost must not weaken anything: it fails like a wrong passphrase.
	kf, err := readKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	kf.Params.Time++
	if err := writeKeyFile(dir, kf); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, testPass, OpenOptions{}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("tampered params: %v", err)
	}
	// A key file from another profile unwraps but does not match the rows.
	other := newTestDB(t)
	other.Close()
	b, _ := os.ReadFile(filepath.Join(other.Dir(), keyFileName))
	if err := os.WriteFile(filepath.Join(dir, keyFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, testPass, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("foreign key file: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	dir := db.Dir()
	c := addContact(t, db, "bob", "Bob", StateAccepted)
	if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: "x", Session: []byte("s"), Frame: []byte("f")}); err != nil {
		t.Fatal(err)
	}
	// While open: WAL and shm exist too.
	want := map[string]os.FileMode{"": 0o700, torDirName: 0o700, keyFileName: 0o600, dbFileName: 0o600,
		dbFileName + "-wal": 0o600, dbFileName + "-shm": 0o600, lockName: 0o600}
	for name, mode := range want {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%q has mode %04o, want %04o", name, st.Mode().Perm(), mode)
		}
	}
	db.Close()

	for _, tc := range []struct {
		path    string
		mode    os.FileMode
		fix     string
		restore os.FileMode
	}{
		{dir, 0o755, "chmod 700 ", 0o700},
		{filepath.Join(dir, dbFileName), 0o644, "chmod 600 ", 0o600},
		{filepath.Join(dir, keyFileName), 0o640, "chmod 600 ", 0o600},
		{filepath.Join(dir, torDirName), 0o750, "chmod 700 ", 0o700},
	} {
		if err := os.Chmod(tc.path, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, dir, testPass, OpenOptions{})
		var pe *PermissionError
		if !errors.As(err, &pe) {
			t.Fatalf("open with %s %04o: %v, want *PermissionError", tc.path, tc.mode, err)
		}
		if pe.Path != tc.path || !strings.Contains(err.Error(), tc.fix+tc.path) {
			t.Errorf("error %q should name %s and say %q", err, tc.path, tc.fix+tc.path)
		}
		os.Chmod(tc.path, tc.restore)
	}
	db, err := Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		t.Fatalf("open after fixing modes: %v", err)
	}
	db.Close()

	// Create tightens a directory the user made with a loose umask.
	loose := filepath.Join(t.TempDir(), "loose")
	os.Mkdir(loose, 0o755)
	db, err = Create(ctx, loose, testPass, testIdentity(t), CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if st, _ := os.Stat(loose); st.Mode().Perm() != 0o700 {
		t.Errorf("created in existing dir: mode %04o", st.Mode().Perm())
	}
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	dir := db.Dir()
	_, err := Open(ctx, dir, testPass, OpenOptions{})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second open: %v, want *LockedError with our pid %d", err, os.Getpid())
	}
	if want := "already running (pid " + strconv.Itoa(os.Getpid()) + ")"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// The passphrase is checked before the lock is tried (stretching it
	// outside the lock keeps a one-shot command's hold on it short).
	waited := 0
	wait := func(context.Context, *LockedError) error { waited++; return errors.New("gave up") }
	if _, err := Open(ctx, dir, []byte("wrong"), OpenOptions{WaitLock: wait}); !errors.Is(err, ErrWrongPassphrase) || waited != 0 {
		t.Fatalf("second open with wrong passphrase: %v (waited %d times)", err, waited)
	}
	// WaitLock decides: its error ends the wait...
	if _, err := Open(ctx, dir, testPass, OpenOptions{WaitLock: wait}); err == nil || err.Error() != "gave up" || waited != 1 {
		t.Fatalf("open giving up: %v (waited %d times)", err, waited)
	}
	// ...and nil tries again: here the holder lets go on the third call.
	waited = 0
	db2, err := Open(ctx, dir, testPass, OpenOptions{WaitLock: func(_ context.Context, le *LockedError) error {
		if waited++; waited == 3 {
			db.Close()
		}
		if le.PID != os.Getpid() {
			t.Errorf("WaitLock got pid %d", le.PID)
		}
		return nil
	}})
	if err != nil || waited != 3 {
		t.Fatalf("open waiting for the lock: %v (waited %d times)", err, waited)
	}
	db2.Close()
	db, err = Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	db.Close()
}

func TestNewerVersionRefused(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	dir := db.Dir()
	db.Close()
	raw, err := sql.Open("sqlite", filepath.Join(dir, dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before := hashFiles(t, dir)
	_, err = Open(ctx, dir, testPass, OpenOptions{})
	if !errors.Is(err, ErrNewerVersion) || !strings.Contains(err.Error(), "99") {
		t.Fatalf("open newer: %v", err)
	}
	sameHashes(t, before, hashFiles(t, dir))
}

func TestCreateInNonEmptyLooseDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	_, err := Create(context.Background(), dir, testPass, testIdentity(t), CreateOptions{KDF: cheapKDF})
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("create in a non-empty 0755 dir: %v, want *PermissionError", err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o755 {
		t.Fatal("Create changed the mode of a directory it does not own")
	}
}

func TestContactIDsNeverReused(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	a := addContact(t, db, "a", "a", StateAccepted)
	b := addContact(t, db, "b", "b", StateAccepted)
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteContact(b.ID) }); err != nil {
		t.Fatal(err)
	}
	c := addContact(t, db, "c", "c", StateAccepted)
	if c.ID == b.ID || c.ID <= a.ID {
		t.Fatalf("ids a=%d b=%d (deleted) c=%d: reused", a.ID, b.ID, c.ID)
	}
	if got, err := db.Contact(ctx, c.ID); err != nil || got.Address != "c" {
		t.Fatalf("contact c: %+v %v", got, err)
	}
}

// TestKeyFileMissingOrDamaged: the errors say what is wrong with the key
// file, never "no profile" (which suggests chive init, which then refuses)
// or "wrong passphrase" where no passphrase is involved.
func TestKeyFileMissingOrDamaged(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	db, err := Create(ctx, dir, nil, testIdentity(t), CreateOptions{NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	key := filepath.Join(dir, keyFileName)
	good, _ := os.ReadFile(key)

	// A flipped bit in the wrapped key of a profile without a passphrase.
	kf, _ := readKeyFile(dir)
	kf.Wrapped[3] ^= 1
	writeKeyFile(dir, kf)
	if _, err := Open(ctx, dir, nil, OpenOptions{}); !errors.Is(err, ErrKeyFileDamaged) || errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("damaged wrapped key: %v", err)
	}
	// Garbage instead of JSON.
	os.WriteFile(key, append(good[:len(good)/2:len(good)/2], "\x00\x01"...), 0o600)
	if _, err := NeedsPassphrase(dir); !errors.Is(err, ErrKeyFileDamaged) {
		t.Errorf("truncated key file: %v", err)
	}
	// Gone, with the database still there: the profile exists.
	os.Remove(key)
	if !Exists(dir) {
		t.Error("a database without its key file does not count as a profile")
	}
	if _, err := Open(ctx, dir, nil, OpenOptions{}); !errors.Is(err, ErrKeyFileMissing) || errors.Is(err, ErrNoProfile) {
		t.Errorf("missing key file: %v", err)
	}
	if _, err := Create(ctx, dir, nil, testIdentity(t), CreateOptions{NoPassphrase: true}); !errors.Is(err, ErrProfileExists) {
		t.Errorf("create over a keyless database: %v", err)
	}
	// Back in place, it opens.
	os.WriteFile(key, good, 0o600)
	db, err = Open(ctx, dir, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}
