package storage

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func TestDrafts(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	db, err := Create(ctx, dir, testPass, testIdentity(t), CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	bob := addContact(t, db, "bob", "Bob", StateAccepted)
	erin := addContact(t, db, "erin", "Erin", StateAccepted)
	if d, err := db.Draft(ctx, bob.ID); err != nil || d != "" {
		t.Fatalf("no draft yet: %q %v", d, err)
	}
	if err := db.SetDraft(ctx, bob.ID, "for bob ☕\nline two"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetDraft(ctx, erin.ID, "for erin"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetDraft(ctx, 999, "for nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("draft for an unknown contact: %v, want ErrNotFound", err)
	}
	// Kept across a restart, one per conversation.
	db.Close()
	db, err = Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.Drafts(ctx)
	if err != nil || len(all) != 2 || all[bob.ID] != "for bob ☕\nline two" || all[erin.ID] != "for erin" {
		t.Fatalf("drafts after reopen: %v %v", all, err)
	}
	if err := db.SetDraft(ctx, bob.ID, ""); err != nil {
		t.Fatal(err)
	}
	if d, _ := db.Draft(ctx, bob.ID); d != "" {
		t.Errorf("cleared draft = %q", d)
	}
	if err := db.SetDraft(ctx, bob.ID, ""); err != nil {
		t.Errorf("clearing twice: %v", err)
	}
	// A deleted contact takes its draft along.
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteContact(erin.ID) }); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.Drafts(ctx); len(all) != 0 {
		t.Errorf("drafts after deleting the contact: %v", all)
	}
}

func TestContactProfileFields(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	c := addContact(t, db, "carol", "", StateAccepted)
	c.PeerName, c.NameSent = "Carol ☀", "alice"
	c.State, c.BlockedFrom = StateBlocked, StateAccepted
	if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateContact(c) }); err != nil {
		t.Fatal(err)
	}
	back, err := db.Contact(ctx, c.ID)
	if err != nil || back.PeerName != "Carol ☀" || back.NameSent != "alice" || back.BlockedFrom != StateAccepted {
		t.Fatalf("after update: %+v %v", back, err)
	}
	// Only a blocked contact remembers a state, and never "blocked".
	for _, bad := range []Contact{
		{ID: c.ID, State: StateAccepted, BlockedFrom: StateAccepted},
		{ID: c.ID, State: StateBlocked, BlockedFrom: StateBlocked},
		{ID: c.ID, State: StateBlocked, BlockedFrom: "gone"},
	} {
		if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateContact(bad) }); err == nil {
			t.Errorf("stored %+v", bad)
		}
	}
	back.State, back.BlockedFrom, back.PeerName = StateAccepted, "", ""
	if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateContact(back) }); err != nil {
		t.Fatal(err)
	}
	if back, _ := db.Contact(ctx, c.ID); back.BlockedFrom != "" || back.PeerName != "" || back.NameSent != "alice" {
		t.Errorf("after clearing: %+v", back)
	}
}
