package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func testSchema(t *testing.T, versions int) VaultSchema {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range []string{"0001_notes.sql", "0002_more.sql"}[:versions] {
		b, err := os.ReadFile(filepath.Join("testdata", "vault", name))
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: b}
	}
	return VaultSchema{Kind: "notes", Migrations: fsys}
}

func TestVault(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "v")
	s1 := testSchema(t, 1)
	v, err := CreateVault(ctx, dir, testPass, s1, CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the secret note 8f3a")
	if _, err := v.SQL().ExecContext(ctx, `INSERT INTO notes (id, text_sealed) VALUES (1, ?)`, v.Seal("notes", "text", []byte{1}, secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenVault(ctx, dir, testPass, s1); !errors.As(err, new(*LockedError)) {
		t.Errorf("second open: %v, want *LockedError", err)
	}
	v.Close()
	v.Close() // idempotent

	if _, err := OpenVault(ctx, dir, []byte("wrong"), s1); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := OpenVault(ctx, dir, testPass, VaultSchema{Kind: "other", Migrations: s1.Migrations}); !errors.Is(err, ErrNoVault) {
		t.Errorf("other kind: %v", err)
	}
	if _, err := CreateVault(ctx, dir, testPass, s1, CreateOptions{KDF: cheapKDF}); !errors.Is(err, ErrProfileExists) {
		t.Errorf("create over a vault: %v", err)
	}
	// A newer schema migrates; the sealed value opens only in its row.
	v, err = OpenVault(ctx, dir, testPass, testSchema(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var sealed []byte
	if err := v.SQL().QueryRowContext(ctx, `SELECT text_sealed FROM notes WHERE id = 1 AND created IS NULL`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Unseal("notes", "text", []byte{1}, sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	if _, err := v.Unseal("notes", "text", []byte{2}, sealed); err == nil {
		t.Error("a sealed value opened in another row")
	}
	// Nothing of the secret in clear on disk.
	v.Close()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, secret) {
			t.Errorf("%s holds the secret in clear", e.Name())
		}
	}
	// A profile is not a vault, and the reverse.
	db := newTestDB(t)
	if _, err := OpenVault(ctx, db.Dir(), testPass, s1); !errors.Is(err, ErrNoVault) {
		t.Errorf("profile as a vault: %v", err)
	}
	if _, err := Open(ctx, dir, testPass, OpenOptions{}); err == nil {
		t.Error("a vault opened as a profile")
	}
}
