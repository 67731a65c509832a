package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestLookupByAddressChecksSealedAddress: someone who can write the file
// copies Bob's address_mac onto Mallory's row. A lookup of Bob must not
// return Mallory (before, it did: the MAC alone picked the row).
func TestLookupByAddressChecksSealedAddress(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bobaddress", "Bob", StateAccepted)
	mallory := addContact(t, db, "malloryaddress", "Mallory", StateAccepted)
	// Move Bob's row out of the way, then give Mallory's row Bob's MAC.
	if _, err := db.sql.Exec(`UPDATE contacts SET address_mac = x'00' WHERE id = ?`, bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.Exec(`UPDATE contacts SET address_mac = ? WHERE id = ?`, db.seal.addressMAC("bobaddress"), mallory.ID); err != nil {
		t.Fatal(err)
	}
	c, err := db.ContactByAddress(ctx, "bobaddress")
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("lookup of bob = %+v, %v; want ErrTampered", c, err)
	}
	err = db.Update(ctx, func(tx *Tx) error { _, err := tx.ContactByAddress("bobaddress"); return err })
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("lookup of bob in a transaction: %v; want ErrTampered", err)
	}
}

// TestOutboxFrameBoundToContact: an outbox row moved to another contact
// (contact_id rewritten) no longer opens, so the frame is not sent to them.
func TestOutboxFrameBoundToContact(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := addContact(t, db, "bobaddress", "Bob", StateRequested)
	mallory := addContact(t, db, "malloryaddress", "Mallory", StateAccepted)
	it, err := db.QueueFrame(ctx, OutboxItem{ContactID: bob.ID, Kind: KindRequest, Frame: []byte("request for bob")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.Exec(`UPDATE outbox SET contact_id = ? WHERE id = ?`, mallory.ID, it.ID[:]); err != nil {
		t.Fatal(err)
	}
	if its, err := db.Outbox(ctx, mallory.ID); !errors.Is(err, errUnseal) {
		t.Fatalf("mallory's outbox = %+v, %v; want errUnseal", its, err)
	}
	// Put back, it opens again.
	if _, err := db.sql.Exec(`UPDATE outbox SET contact_id = ? WHERE id = ?`, bob.ID, it.ID[:]); err != nil {
		t.Fatal(err)
	}
	its, err := db.Outbox(ctx, bob.ID)
	if err != nil || len(its) != 1 || string(its[0].Frame) != "request for bob" {
		t.Fatalf("bob's outbox = %+v, %v", its, err)
	}
	// ReplaceFrame keeps the binding and refuses another contact's item.
	if err := db.ReplaceFrame(ctx, mallory.ID, it.ID, []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replace through mallory: %v", err)
	}
	if err := db.ReplaceFrame(ctx, bob.ID, it.ID, []byte("restamped")); err != nil {
		t.Fatal(err)
	}
	if its, _ := db.Outbox(ctx, bob.ID); len(its) != 1 || string(its[0].Frame) != "restamped" || its[0].Seq != it.Seq {
		t.Fatalf("after replace: %+v", its)
	}
}

// TestMigrationResealsOutbox: a version-3 profile's outbox (sealed with the
// item id alone) reads back after the migration, and is bound to its
// contact from then on.
func TestMigrationResealsOutbox(t *testing.T) {
	ctx := context.Background()
	dir := copyProfile(t, fixtureDir(3))
	db, err := Open(ctx, dir, []byte(fixturePass), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, _ := db.Contacts(ctx)
	bob, carol := cs[0], cs[1]
	ob, err := db.Outbox(ctx, bob.ID)
	if err != nil || len(ob) != 2 {
		t.Fatalf("outbox after migration: %+v, %v", ob, err)
	}
	if _, err := db.sql.Exec(`UPDATE outbox SET contact_id = ? WHERE id = ?`, carol.ID, ob[0].ID[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Outbox(ctx, carol.ID); !errors.Is(err, errUnseal) {
		t.Fatalf("a migrated frame moved to carol opened: %v", err)
	}
}

func TestInvites(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	now := time.Unix(1750000000, 0)
	tok := bytes.Repeat([]byte{7}, InviteTokenSize)
	iv, err := db.CreateInvite(ctx, Invite{Token: tok, MaxUses: 2, Expires: now.Add(time.Hour), Created: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateInvite(ctx, Invite{Token: []byte("short"), MaxUses: 1, Expires: now}); err == nil {
		t.Error("a short token was stored")
	}
	if _, err := db.CheckInvite(ctx, tok, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CheckInvite(ctx, bytes.Repeat([]byte{8}, InviteTokenSize), now); !errors.Is(err, ErrInviteUsed) {
		t.Errorf("unknown token: %v", err)
	}
	if _, err := db.CheckInvite(ctx, tok, now.Add(time.Hour)); !errors.Is(err, ErrInviteUsed) {
		t.Errorf("expired token: %v", err)
	}
	redeem := func() error {
		return db.Update(ctx, func(tx *Tx) error { _, err := tx.RedeemInvite(tok, now); return err })
	}
	for i := range 2 {
		if err := redeem(); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if err := redeem(); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("third use of a two-use invite: %v", err)
	}
	// A redemption rolled back with its transaction is not counted.
	tok2 := bytes.Repeat([]byte{9}, InviteTokenSize)
	iv2, _ := db.CreateInvite(ctx, Invite{Token: tok2, MaxUses: 1, Expires: now.Add(time.Hour)})
	db.Update(ctx, func(tx *Tx) error {
		tx.RedeemInvite(tok2, now)
		return errors.New("rolled back")
	})
	ivs, err := db.Invites(ctx)
	if err != nil || len(ivs) != 2 || ivs[0].ID != iv.ID || ivs[0].Uses != 2 || !bytes.Equal(ivs[0].Token, tok) || ivs[1].Uses != 0 {
		t.Fatalf("invites = %+v, %v", ivs, err)
	}
	// A token MAC copied onto another invite's row is caught.
	db.sql.Exec(`UPDATE invites SET token_mac = x'00' WHERE id = ?`, iv.ID)
	db.sql.Exec(`UPDATE invites SET token_mac = ? WHERE id = ?`, db.seal.tokenMAC(tok), iv2.ID)
	if _, err := db.CheckInvite(ctx, tok, now); !errors.Is(err, ErrTampered) {
		t.Errorf("tampered token MAC: %v", err)
	}
	if err := db.PruneInvites(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ivs, _ := db.Invites(ctx); len(ivs) != 1 || ivs[0].ID != iv2.ID {
		t.Errorf("after prune: %+v", ivs)
	}
	if err := db.DeleteInvite(ctx, iv2.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteInvite(ctx, iv2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

// TestPruneSeen: the seen table is bounded by age and per contact, and a
// message whose seen row is gone is still recognised as a duplicate.
func TestPruneSeen(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	a := addContact(t, db, "a", "a", StateAccepted)
	b := addContact(t, db, "b", "b", StateAccepted)
	t0 := time.Unix(1750000000, 0)
	msg := MessageID{0xaa}
	if _, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: a.ID, ID: msg, Body: "old", Received: t0, Session: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		db.MarkSeen(ctx, a.ID, MessageID{1, byte(i)}, t0.Add(time.Duration(i)*time.Hour))
		db.MarkSeen(ctx, b.ID, MessageID{2, byte(i)}, t0.Add(time.Duration(i)*time.Hour))
	}
	// Older than t0+5h goes (5 of a's receipts and the message's row, 5 of
	// b's); then at most 3 per contact stay.
	n, err := db.PruneSeen(ctx, t0.Add(5*time.Hour), 3)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6+5+2+2 {
		t.Errorf("pruned %d rows, want 15", n)
	}
	for _, c := range []Contact{a, b} {
		if got, _ := db.CountSeen(ctx, c.ID); got != 3 {
			t.Errorf("contact %s keeps %d seen ids, want 3", c.Nickname, got)
		}
	}
	if seen, _ := db.Seen(ctx, a.ID, MessageID{1, 9}); !seen {
		t.Error("the newest id was pruned")
	}
	if seen, _ := db.Seen(ctx, a.ID, MessageID{1, 0}); seen {
		t.Error("an old receipt id is still seen")
	}
	// The message's seen row is gone, the message is not: still a duplicate.
	if seen, _ := db.Seen(ctx, a.ID, msg); !seen {
		t.Error("a stored message is not seen after pruning")
	}
	if _, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: a.ID, ID: msg, Body: "again", Session: []byte("s2")}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("resent message after pruning: %v; want ErrDuplicate", err)
	}
	if st, _ := db.Session(ctx, a.ID); string(st) != "s" {
		t.Errorf("session changed by a duplicate: %q", st)
	}
}

// TestInvitedFlag round-trips the contact's invited flag.
func TestInvitedFlag(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	var c Contact
	err := db.Update(ctx, func(tx *Tx) error {
		var err error
		c, err = tx.InsertContact(Contact{Address: "x", State: StatePendingIncoming, Invited: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.ContactByAddress(ctx, "x")
	if err != nil || !got.Invited {
		t.Fatalf("inserted invited: %+v, %v", got, err)
	}
	got.Invited = false
	if err := db.Update(ctx, func(tx *Tx) error { return tx.UpdateContact(got) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Contact(ctx, c.ID); got.Invited {
		t.Error("invited not cleared")
	}
}
