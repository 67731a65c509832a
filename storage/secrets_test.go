package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNoSecretsInClear writes known secrets through the public API and
// scans every file of the profile (database, WAL, shm, journal, key file)
// for them, while open and after close.
func TestNoSecretsInClear(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	id := testIdentity(t)
	id.Name = "SECRET-own-name-7c1f"
	id.Ratchet = []byte("SECRET-ratchet-identity-59ad")
	pass := []byte("SECRET-passphrase-e2b0")
	db, err := Create(ctx, dir, pass, id, CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"onion private key":   id.OnionKey,
		"onion key seed":      id.OnionKey.Seed(),
		"onion key (base64)":  []byte(base64.StdEncoding.EncodeToString(id.OnionKey)),
		"own name":            []byte(id.Name),
		"ratchet identity":    id.Ratchet,
		"passphrase":          pass,
		"contact address":     []byte("secretcontactaddressq2mv3xx5w6z7a4b"),
		"nickname":            []byte("SECRET-nickname-0d3e"),
		"greeting":            []byte("SECRET-greeting-8f44"),
		"note":                []byte("SECRET-note-61aa"),
		"peer bundle":         []byte("SECRET-peer-bundle-13c9"),
		"ratchet state":       []byte("SECRET-ratchet-state-4b7e"),
		"ratchet state (new)": []byte("SECRET-ratchet-state-next-a1d0"),
		"outgoing body":       []byte("SECRET-outgoing-body-2c55"),
		"incoming body":       []byte("SECRET-incoming-body-93fa"),
		"attachment metadata": []byte("SECRET-attachment-holiday.jpg"),
		"outbox frame":        []byte("SECRET-outbox-frame-77e1"),
		"request frame":       []byte("SECRET-request-frame-50b2"),
		"peer's display name": []byte("SECRET-peer-name-3e8d"),
		"name sent to peer":   []byte("SECRET-name-sent-b7c0"),
		"draft":               []byte("SECRET-draft-0f5e"),
		"draft (edited)":      []byte("SECRET-draft-edited-1c2a"),
		"invite token":        []byte("SECRET-invite-16"),
		"mailbox address":     []byte("SECRET-mailbox-address-5a1e"),
		"mailbox token":       []byte("SECRET-mailbox-token-90c4"),
		"mailbox info sent":   []byte("SECRET-mailbox-info-6d22"),
		"peer's mailbox":      []byte("SECRET-peer-mailbox-e04b"),
	}
	var c Contact
	err = db.Update(ctx, func(tx *Tx) error {
		c, err = tx.InsertContact(Contact{Address: string(secrets["contact address"]), Nickname: string(secrets["nickname"]),
			State: StateAccepted, Greeting: string(secrets["greeting"]), Note: string(secrets["note"]), PeerBundle: secrets["peer bundle"],
			PeerName: string(secrets["peer's display name"]), NameSent: string(secrets["name sent to peer"])})
		if err != nil {
			return err
		}
		if err := tx.PutSession(c.ID, secrets["ratchet state"], time.Now()); err != nil {
			return err
		}
		_, err = tx.QueueFrame(OutboxItem{ContactID: c.ID, Kind: KindRequest, Frame: secrets["request frame"]})
		if err != nil {
			return err
		}
		if err := tx.SetMailbox(MailboxLink{Address: string(secrets["mailbox address"]), Linked: time.Now()}); err != nil {
			return err
		}
		if err := tx.SetMailboxToken(c.ID, secrets["mailbox token"]); err != nil {
			return err
		}
		if err := tx.SetMailboxInfoSent(c.ID, secrets["mailbox info sent"]); err != nil {
			return err
		}
		return tx.SetPeerMailbox(c.ID, secrets["peer's mailbox"])
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: c.ID, Body: string(secrets["outgoing body"]), Meta: secrets["attachment metadata"],
		Session: secrets["ratchet state (new)"], Frame: secrets["outbox frame"]}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: string(secrets["incoming body"]),
		Session: secrets["ratchet state"]}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"draft", "draft (edited)"} {
		if err := db.SetDraft(ctx, c.ID, string(secrets[d])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.CreateInvite(ctx, Invite{Token: secrets["invite token"], MaxUses: 1, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Overwrite values too: secure_delete and sealing both matter for the
	// old versions left in pages.
	c.Nickname = "renamed"
	if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateContact(c) }); err != nil {
		t.Fatal(err)
	}

	scan := func(when string) {
		t.Helper()
		found := 0
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for name, s := range secrets {
				for _, form := range [][]byte{s, []byte(hex.EncodeToString(s))} {
					if bytes.Contains(b, form) {
						t.Errorf("%s: %s found in clear in %s", when, name, filepath.Base(path))
						found++
					}
				}
			}
			return nil
		})
	}
	if _, err := os.Stat(filepath.Join(dir, dbFileName+"-wal")); err != nil {
		t.Fatalf("expected a WAL while open: %v", err)
	}
	scan("while open")
	db.Close()
	scan("after close")

	// And the values do come back through the API.
	db, err = Open(ctx, dir, pass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := db.History(ctx, c.ID, 0, 10)
	if err != nil || len(h) != 2 || h[1].Body != string(secrets["outgoing body"]) || string(h[1].Meta) != string(secrets["attachment metadata"]) {
		t.Fatalf("history after reopen: %+v %v", h, err)
	}
	if d, err := db.Draft(ctx, c.ID); err != nil || d != string(secrets["draft (edited)"]) {
		t.Fatalf("draft after reopen: %q %v", d, err)
	}
	if back, err := db.Contact(ctx, c.ID); err != nil || back.PeerName != string(secrets["peer's display name"]) || back.NameSent != string(secrets["name sent to peer"]) {
		t.Fatalf("contact after reopen: %+v %v", back, err)
	}
}
