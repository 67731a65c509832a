package storage

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"
)

// cheapKDF keeps tests fast; one test covers DefaultKDFParams.
var cheapKDF = &KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

var testPass = []byte("correct horse battery staple")

func testIdentity(t testing.TB) Identity {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{Name: "alice", OnionKey: priv, Ratchet: []byte("ratchet-identity-bytes"), Created: time.Unix(1700000000, 0)}
}

func newTestDB(t testing.TB) *DB {
	t.Helper()
	dir := t.TempDir() + "/profile"
	db, err := Create(context.Background(), dir, testPass, testIdentity(t), CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func addContact(t testing.TB, db *DB, addr, nick string, state ContactState) Contact {
	t.Helper()
	var c Contact
	err := db.Update(context.Background(), func(tx *Tx) error {
		var err error
		c, err = tx.InsertContact(Contact{Address: addr, Nickname: nick, State: state})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
