package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func addGroup(t testing.TB, db *DB, gid byte, name string) Group {
	t.Helper()
	var g Group
	err := db.Update(context.Background(), func(tx *Tx) error {
		var err error
		g, err = tx.InsertGroup(Group{GID: [16]byte{gid}, Name: name, Status: GroupActive, Inviter: "bob"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGroupRows(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	g := addGroup(t, db, 1, "family")
	got, err := db.GroupByGID(ctx, [16]byte{1})
	if err != nil || got.Name != "family" || got.Inviter != "bob" || got.NextSeq != 1 || got.Status != GroupActive {
		t.Fatalf("%+v %v", got, err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.InsertGroup(Group{GID: [16]byte{1}, Name: "again", Status: GroupActive}); !errors.Is(err, ErrExists) {
			t.Errorf("same gid twice: %v", err)
		}
		g.Name, g.Status, g.Draft, g.Lamport = "family ☕", GroupLeft, "draft", 9
		if err := tx.UpdateGroup(g); err != nil {
			return err
		}
		if err := tx.AddGroupOp(g.ID, [32]byte{1}, []byte("op1")); err != nil {
			return err
		}
		if err := tx.AddGroupOp(g.ID, [32]byte{1}, []byte("op1")); err != nil {
			return err
		}
		return tx.AddGroupOp(g.ID, [32]byte{2}, []byte("op2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = db.Group(ctx, g.ID)
	if got.Name != "family ☕" || got.Status != GroupLeft || got.Draft != "draft" || got.Lamport != 9 {
		t.Errorf("updated %+v", got)
	}
	ops, err := db.GroupOps(ctx, g.ID)
	if err != nil || len(ops) != 2 {
		t.Errorf("ops %q %v", ops, err)
	}
	if _, err := db.GroupByGID(ctx, [16]byte{2}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown group: %v", err)
	}
}

func TestGroupPeersAndSessions(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	g := addGroup(t, db, 1, "g")
	req := MessageID{7}
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.PutGroupPeer(GroupPeer{GroupID: g.ID, Address: "carol", Name: "Carol", RequestID: &req}); err != nil {
			return err
		}
		return tx.PutGroupSession(g.ID, "carol", []byte("state"), time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.GroupPeer(ctx, g.ID, "carol")
	if err != nil || p.Name != "Carol" || string(p.Session) != "state" || p.RequestID == nil || *p.RequestID != req {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := db.GroupPeer(ctx, g.ID, "dave"); !errors.Is(err, ErrNotFound) {
		t.Errorf("dave: %v", err)
	}
	err = db.Update(ctx, func(tx *Tx) error { return tx.PutGroupSession(g.ID, "dave", []byte("x"), time.Now()) })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("session without a peer row: %v", err)
	}
	// A sealed session moved to another row does not open.
	if _, err := db.sql.Exec(`INSERT INTO group_peers (group_id, addr_mac, addr_sealed, session_sealed, updated)
		SELECT group_id, ?, addr_sealed, session_sealed, updated FROM group_peers`, db.seal.addressMAC("eve")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GroupPeer(ctx, g.ID, "eve"); err == nil {
		t.Error("a row copied under eve's MAC opened")
	}
}

// TestGroupMessageSeq: group messages share the inbox sequence with 1:1
// messages, and a number held is tracked as a run.
func TestGroupMessageSeq(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	c := addContact(t, db, "bob", "bob", StateAccepted)
	g := addGroup(t, db, 1, "g")
	insert := func(author string, seq uint64, lamport uint64) GroupMessage {
		t.Helper()
		var m GroupMessage
		err := db.Update(ctx, func(tx *Tx) error {
			var err error
			m, err = tx.InsertGroupMessage(GroupMessage{GroupID: g.ID, ID: NewMessageID(), Author: author, AuthorSeq: seq, Lamport: lamport,
				Direction: Incoming, Envelope: []byte("env"), Body: "text", Created: time.Now()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	in1, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: "1:1", Session: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	g1 := insert("carol", 1, 5)
	in2, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: c.ID, ID: NewMessageID(), Body: "1:1 again", Session: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	if !(in1.Seq < g1.Seq && g1.Seq < in2.Seq) {
		t.Fatalf("seqs %d %d %d: not one order", in1.Seq, g1.Seq, in2.Seq)
	}
	// Duplicates by id or by (author, number) change nothing.
	err = db.Update(ctx, func(tx *Tx) error {
		_, err := tx.InsertGroupMessage(GroupMessage{GroupID: g.ID, ID: g1.ID, Author: "dave", AuthorSeq: 9, Lamport: 1, Direction: Incoming, Envelope: []byte("e")})
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("same id: %v", err)
		}
		_, err = tx.InsertGroupMessage(GroupMessage{GroupID: g.ID, ID: NewMessageID(), Author: "carol", AuthorSeq: 1, Lamport: 1, Direction: Incoming, Envelope: []byte("e")})
		if !errors.Is(err, ErrDuplicate) {
			t.Errorf("same number: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The run of carol's numbers: 1, then 3 (a gap), then 2 joins them.
	insert("carol", 3, 7)
	if p, _ := db.GroupPeer(ctx, g.ID, "carol"); p.First != 1 || p.Have != 1 {
		t.Errorf("after 1, 3: run %d..%d", p.First, p.Have)
	}
	insert("carol", 2, 6)
	if p, _ := db.GroupPeer(ctx, g.ID, "carol"); p.First != 1 || p.Have != 3 {
		t.Errorf("after 2: run %d..%d", p.First, p.Have)
	}
	// A member who joined late holds 10..11 and then gets 9.
	insert("dave", 10, 20)
	insert("dave", 11, 21)
	insert("dave", 9, 19)
	if p, _ := db.GroupPeer(ctx, g.ID, "dave"); p.First != 9 || p.Have != 11 {
		t.Errorf("dave's run %d..%d", p.First, p.Have)
	}
	// History is in (lamport, id) order, paged.
	h, err := db.GroupHistory(ctx, g.ID, nil, 3)
	if err != nil || len(h) != 3 || h[0].Lamport != 21 || h[2].Lamport != 19 {
		t.Fatalf("history %v", err)
	}
	h2, err := db.GroupHistory(ctx, g.ID, &h[2].ID, 10)
	if err != nil || len(h2) != 3 || h2[0].Lamport != 7 {
		t.Fatalf("page 2: %d %v", len(h2), err)
	}
	from, _ := db.GroupMessagesFrom(ctx, g.ID, "carol", 1, 0, 10)
	if len(from) != 2 || from[0].AuthorSeq != 2 {
		t.Errorf("carol's after 1: %d", len(from))
	}
	inbox, _ := db.GroupInbox(ctx, GroupInboxQuery{After: g1.Seq})
	if len(inbox) != 5 {
		t.Errorf("inbox after the first: %d", len(inbox))
	}
	err = db.Update(ctx, func(tx *Tx) error {
		n, _, err := tx.GroupUnreadFrom(g.ID, "carol")
		if err != nil || n != 3 {
			t.Errorf("carol's unread: %d %v", n, err)
		}
		ms, err := tx.MarkGroupRead(g.ID, time.Now())
		if len(ms) != 6 {
			t.Errorf("marked %d read", len(ms))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := db.GroupSummary(ctx, g.ID); s.Unread != 0 || s.Last == nil || s.Last.Lamport != 21 {
		t.Errorf("summary %+v", s)
	}
}

func TestGroupOutbox(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	g := addGroup(t, db, 1, "g")
	var m GroupMessage
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.PutGroupPeer(GroupPeer{GroupID: g.ID, Address: "carol"}); err != nil {
			return err
		}
		var err error
		m, err = tx.InsertGroupMessage(GroupMessage{GroupID: g.ID, ID: NewMessageID(), Author: "me", AuthorSeq: 1, Lamport: 1, Direction: Outgoing, Envelope: []byte("e"), Body: "hi"})
		if err != nil {
			return err
		}
		if err := tx.AddGroupReceipts(m.Seq, []string{"carol", "dave"}); err != nil {
			return err
		}
		if _, err := tx.QueueGroup(GroupOutboxItem{GroupID: g.ID, Address: "carol", Kind: GroupKindRequest, Data: []byte("frame")}); err != nil {
			return err
		}
		if _, err := tx.QueueGroup(GroupOutboxItem{GroupID: g.ID, Address: "carol", Kind: GroupKindMessage, MessageSeq: m.Seq}); err != nil {
			return err
		}
		if _, err := tx.QueueGroup(GroupOutboxItem{GroupID: g.ID, Address: "carol", Kind: GroupKindMessage, MessageSeq: m.Seq}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("a message queued twice: %v", err)
		}
		if _, err := tx.QueueGroup(GroupOutboxItem{GroupID: g.ID, Address: "carol", Kind: GroupKindOps}); err != nil {
			return err
		}
		if _, err := tx.QueueGroup(GroupOutboxItem{GroupID: g.ID, Address: "carol", Kind: GroupKindOps}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("the log queued twice: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	its, err := db.GroupOutbox(ctx, "carol", 0, 10)
	if err != nil || len(its) != 3 || string(its[0].Data) != "frame" || its[1].MessageSeq != m.Seq || its[2].Kind != GroupKindOps {
		t.Fatalf("outbox %+v %v", its, err)
	}
	if peers, _ := db.GroupOutboxPeers(ctx); len(peers) != 1 || peers[0] != "carol" {
		t.Errorf("peers with work %q", peers)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		first, err := tx.MarkGroupSent([]int64{its[1].Seq}, time.Now())
		if err != nil || len(first) != 1 {
			t.Errorf("first sent: %v %v", first, err)
		}
		if ok, _ := tx.MarkGroupDelivered(m.Seq, "carol", false, time.Now()); !ok {
			t.Error("delivered changed nothing")
		}
		if ok, _ := tx.MarkGroupDelivered(m.Seq, "carol", true, time.Now()); !ok {
			t.Error("read changed nothing")
		}
		r, d, rd, _ := tx.GroupReceiptCounts(m.Seq)
		if r != 2 || d != 1 || rd != 1 {
			t.Errorf("receipts %d %d %d", r, d, rd)
		}
		held, err := tx.DropGroupMessagesHeld(g.ID, "carol", "me", 1, 1)
		if len(held) != 1 {
			t.Errorf("dropped held %v %v", held, err)
		}
		gone, err := tx.DeleteGroupOutbox([]int64{its[0].Seq, its[0].Seq})
		if err != nil || len(gone) != 1 {
			t.Errorf("deleted %d %v", len(gone), err)
		}
		n, err := tx.DropGroupOutbox(g.ID, "carol")
		if n != 1 {
			t.Errorf("dropped %d", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.HasGroupOutbox(ctx, "carol"); ok {
		t.Error("carol still has work")
	}
}
