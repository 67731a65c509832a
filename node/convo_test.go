package node

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/storage"
)

// The conversation features between two nodes. convoScenario runs over any
// transport: the memory network here, the private Tor network in
// convo_tor_test.go.

func TestConvoMem(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	t.Run("AliceToBob", func(t *testing.T) { convoScenario(t, alice, bob, memWait) })
	t.Run("BobToAlice", func(t *testing.T) { convoScenario(t, bob, alice, memWait) })
	t.Run("OutOfOrder", func(t *testing.T) {
		outOfOrder(t, alice, bob, memWait)
		outOfOrder(t, bob, alice, memWait)
	})
	t.Run("Disappearing", func(t *testing.T) { disappearing(t, alice, bob, memWait) })
	t.Run("Search", func(t *testing.T) { searchScenario(t, alice, bob, memWait) })
	t.Run("BackupRestore", func(t *testing.T) {
		backupRestore(t, alice, bob, memWait, func(t testing.TB, dir string) *tnode { return startMem(t, mem, dir) })
	})
}

// refOf is how a names b: the contact ref a uses for b.
func refOf(b *tnode) string { return b.Address() }

// changed waits for a's MessageChangedEvent about id with change.
func (n *tnode) changed(t testing.TB, timeout time.Duration, id string, change Change) MessageChangedEvent {
	t.Helper()
	return n.waitFor(t, timeout, string(change)+" of "+id[:8], func(e Event) bool {
		c, ok := e.(MessageChangedEvent)
		return ok && c.ID == id && c.Change == change
	}).(MessageChangedEvent)
}

// changedWith waits for a change of id that satisfies f.
func (n *tnode) changedWith(t testing.TB, timeout time.Duration, id string, change Change, what string, f func(Message) bool) Message {
	t.Helper()
	e := n.waitFor(t, timeout, what, func(e Event) bool {
		c, ok := e.(MessageChangedEvent)
		return ok && c.ID == id && c.Change == change && c.Message != nil && f(*c.Message)
	}).(MessageChangedEvent)
	return *e.Message
}

// receivedMsg waits for b's MessageEvent with id.
func (n *tnode) receivedMsg(t testing.TB, timeout time.Duration, id string) Message {
	t.Helper()
	return n.waitFor(t, timeout, "message "+id[:8], func(e Event) bool {
		m, ok := e.(MessageEvent)
		return ok && m.Message.ID == id
	}).(MessageEvent).Message
}

func reactions(m Message) string {
	var s []string
	for _, r := range m.Reactions {
		s = append(s, string(r.From)+":"+r.Emoji)
	}
	return strings.Join(s, " ")
}

// historyMsg is message id as b's History shows it.
func historyMsg(t testing.TB, n *tnode, ref, id string) (Message, bool) {
	t.Helper()
	h, err := n.History(t.Context(), ref, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// convoScenario: a replies to b, b replies back; reactions both ways,
// changed and removed; a edits, with history on both sides; a deletes for
// everyone (a tombstone on both) and for itself.
func convoScenario(t *testing.T, a, b *tnode, wait time.Duration) {
	ctx := t.Context()
	toB, toA := refOf(b), refOf(a)

	// Reply and quote.
	q, err := b.Send(ctx, toA, "are we still on for dinner tonight at 8?")
	if err != nil {
		t.Fatal(err)
	}
	a.receivedMsg(t, wait, q.ID)
	r, err := a.Reply(ctx, toB, q.ID, "yes! see you there")
	if err != nil {
		t.Fatal(err)
	}
	if r.ReplyTo == nil || r.ReplyTo.ID != q.ID || r.ReplyTo.Direction != Incoming || r.ReplyTo.Quote != "are we still on for dinner tonight at 8?" {
		t.Fatalf("reply as sent: %+v", r.ReplyTo)
	}
	got := b.receivedMsg(t, wait, r.ID)
	if got.Text != "yes! see you there" || got.ReplyTo == nil || got.ReplyTo.ID != q.ID || got.ReplyTo.Direction != Outgoing ||
		got.ReplyTo.Quote != "are we still on for dinner tonight at 8?" {
		t.Fatalf("reply as received: %+v %+v", got, got.ReplyTo)
	}
	// A reply to a reply of one's own.
	r2, err := b.Reply(ctx, toA, r.ID, "great")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.receivedMsg(t, wait, r2.ID); got.ReplyTo == nil || got.ReplyTo.ID != r.ID || got.ReplyTo.Direction != Outgoing {
		t.Fatalf("reply to a reply: %+v", got.ReplyTo)
	}

	// Reactions: one per person per message; change; remove.
	if err := a.React(ctx, toB, q.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	if m := b.changedWith(t, wait, q.ID, ChangeReaction, "a's 👍", func(m Message) bool { return reactions(m) == "in:👍" }); m.Text != q.Text {
		t.Fatalf("reacted message: %+v", m)
	}
	if err := b.React(ctx, toA, q.ID, "❤️"); err != nil {
		t.Fatal(err)
	}
	a.changedWith(t, wait, q.ID, ChangeReaction, "both reactions", func(m Message) bool { return reactions(m) == "out:👍 in:❤️" })
	if err := a.React(ctx, toB, q.ID, "🎉"); err != nil {
		t.Fatal(err)
	}
	b.changedWith(t, wait, q.ID, ChangeReaction, "a's 🎉", func(m Message) bool { return reactions(m) == "out:❤️ in:🎉" })
	if err := a.React(ctx, toB, q.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.changedWith(t, wait, q.ID, ChangeReaction, "a's removal", func(m Message) bool { return reactions(m) == "out:❤️" })
	if err := a.React(ctx, toB, q.ID, "two words"); err == nil {
		t.Fatal("a reaction with a space was sent")
	}

	// Edit: ours only; the peer keeps every version.
	m, err := a.Send(ctx, toB, "the pasta place on 5th")
	if err != nil {
		t.Fatal(err)
	}
	b.receivedMsg(t, wait, m.ID)
	if _, err := a.Edit(ctx, toB, q.ID, "not mine"); !errors.Is(err, ErrNotAuthor) {
		t.Fatalf("editing the peer's message: %v", err)
	}
	e1, err := a.Edit(ctx, toB, m.ID, "the pasta place on 6th")
	if err != nil {
		t.Fatal(err)
	}
	if e1.Text != "the pasta place on 6th" || e1.Edited.IsZero() {
		t.Fatalf("edited as sent: %+v", e1)
	}
	b.changedWith(t, wait, m.ID, ChangeEdited, "the first edit", func(m Message) bool { return m.Text == "the pasta place on 6th" && !m.Edited.IsZero() })
	time.Sleep(2 * time.Millisecond) // edits are ordered by their time, in ms
	if _, err := a.Edit(ctx, toB, m.ID, "the pasta place on 7th"); err != nil {
		t.Fatal(err)
	}
	b.changedWith(t, wait, m.ID, ChangeEdited, "the second edit", func(m Message) bool { return m.Text == "the pasta place on 7th" })
	for _, n := range []*tnode{a, b} {
		ref := toB
		if n == b {
			ref = toA
		}
		vs, err := n.Edits(ctx, ref, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, v := range vs {
			texts = append(texts, v.Text)
		}
		if got := strings.Join(texts, "|"); got != "the pasta place on 5th|the pasta place on 6th|the pasta place on 7th" {
			t.Fatalf("%s's versions: %s", n.addr.Short(), got)
		}
	}

	// Delete for everyone: a tombstone on both sides, the text erased.
	if err := a.Delete(ctx, toB, q.ID, true); !errors.Is(err, ErrNotAuthor) {
		t.Fatalf("deleting the peer's message for everyone: %v", err)
	}
	if err := a.React(ctx, toB, m.ID, "👀"); err != nil {
		t.Fatal(err)
	}
	b.changedWith(t, wait, m.ID, ChangeReaction, "a reaction to the doomed message", func(m Message) bool { return m.Reactions != nil })
	if err := a.Delete(ctx, toB, m.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		n   *tnode
		ref string
	}{{a, toB}, {b, toA}} {
		side.n.changedWith(t, wait, m.ID, ChangeDeleted, "the tombstone", func(m Message) bool { return m.Deleted })
		hm, ok := historyMsg(t, side.n, side.ref, m.ID)
		if !ok || !hm.Deleted || hm.Text != "" || hm.Reactions != nil || !hm.Edited.IsZero() {
			t.Fatalf("%s: tombstone in history: %+v (found %v)", side.n.addr.Short(), hm, ok)
		}
		if vs, err := side.n.Edits(ctx, side.ref, m.ID); err != nil || len(vs) != 1 || vs[0].Text != "" {
			t.Fatalf("%s: versions of a tombstone: %+v %v", side.n.addr.Short(), vs, err)
		}
	}
	if _, err := a.Edit(ctx, toB, m.ID, "back from the dead"); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("editing a tombstone: %v", err)
	}

	// Delete for me: gone here, kept there.
	if err := b.Delete(ctx, toA, r.ID, false); err != nil {
		t.Fatal(err)
	}
	b.changed(t, wait, r.ID, ChangeRemoved)
	if _, ok := historyMsg(t, b, toA, r.ID); ok {
		t.Fatal("a message deleted for me is still in the history")
	}
	if _, ok := historyMsg(t, a, toB, r.ID); !ok {
		t.Fatal("a message the peer deleted for itself is gone here")
	}
}

// hold stores a message from n to ref as Send does, but keeps its frame
// out of the outbox; release sends it later: the way a message overtaken
// by later ones arrives (a resend, a mailbox, a reordered link).
func (n *tnode) hold(t testing.TB, ref, text string) (Message, func()) {
	t.Helper()
	ctx := t.Context()
	c, err := n.find(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	m, it, err := n.queueChatLocked(ctx, c, chat{text: text})
	if err == nil {
		err = n.db.DropOutbox(ctx, m.ID, false)
	}
	p.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return n.fullMessage(m, c), func() {
		p.mu.Lock()
		it, err := n.db.QueueFrame(ctx, storage.OutboxItem{ID: m.ID, ContactID: c.ID, Kind: "held", Frame: it.Frame})
		if err == nil {
			p.enqueueLocked(it)
		}
		p.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		n.startDelivery(p, c.ID)
	}
}

// outOfOrder: an edit, a deletion and a reaction that arrive before their
// message are applied when it does, and a reaction to a message that never
// comes waits harmlessly.
func outOfOrder(t *testing.T, a, b *tnode, wait time.Duration) {
	ctx := t.Context()
	toB, toA := refOf(b), refOf(a)

	// An edit overtakes its message.
	m, release := a.hold(t, toB, "meet at the station")
	if _, err := a.Edit(ctx, toB, m.ID, "meet at the bridge"); err != nil {
		t.Fatal(err)
	}
	marker, err := a.Send(ctx, toB, "marker after the edit")
	if err != nil {
		t.Fatal(err)
	}
	b.receivedMsg(t, wait, marker.ID) // the edit arrived before it
	if _, ok := historyMsg(t, b, toA, m.ID); ok {
		t.Fatal("the held message arrived")
	}
	release()
	got := b.receivedMsg(t, wait, m.ID)
	if got.Text != "meet at the bridge" || got.Edited.IsZero() {
		t.Fatalf("a message whose edit came first: %+v", got)
	}
	if vs, err := b.Edits(ctx, toA, m.ID); err != nil || len(vs) != 2 || vs[0].Text != "meet at the station" || vs[1].Text != "meet at the bridge" {
		t.Fatalf("versions: %+v %v", vs, err)
	}

	// A deletion overtakes its message: it is never shown with its text.
	d, release := a.hold(t, toB, "something I regret")
	if err := a.Delete(ctx, toB, d.ID, true); err != nil {
		t.Fatal(err)
	}
	marker, err = a.Send(ctx, toB, "marker after the deletion")
	if err != nil {
		t.Fatal(err)
	}
	b.receivedMsg(t, wait, marker.ID)
	release()
	got = b.receivedMsg(t, wait, d.ID)
	if !got.Deleted || got.Text != "" {
		t.Fatalf("a message whose deletion came first: %+v", got)
	}

	// A reaction to a message b does not have yet (a's own), and one to a
	// message that never comes.
	x, release := a.hold(t, toB, "look at this")
	if err := a.React(ctx, toB, x.ID, "😮"); err != nil {
		t.Fatal(err)
	}
	never, _ := a.hold(t, toB, "never sent")
	if err := a.React(ctx, toB, never.ID, "🙈"); err != nil {
		t.Fatal(err)
	}
	marker, err = a.Send(ctx, toB, "marker after the reactions")
	if err != nil {
		t.Fatal(err)
	}
	b.receivedMsg(t, wait, marker.ID)
	release()
	if got := b.receivedMsg(t, wait, x.ID); reactions(got) != "in:😮" {
		t.Fatalf("a message whose reaction came first: %+v", got.Reactions)
	}
	var waiting int
	err = b.db.Update(ctx, func(tx *storage.Tx) error {
		c, err := b.find(ctx, toA)
		if err != nil {
			return err
		}
		waiting, err = tx.CountPending(c.ID)
		return err
	})
	if err != nil || waiting != 1 {
		t.Fatalf("changes waiting: %d, %v (want the reaction to the message never sent)", waiting, err)
	}
	// Clean up for the next scenario.
	if err := a.Delete(ctx, toB, never.ID, false); err != nil {
		t.Fatal(err)
	}
}

// sealedBodies reads the sealed text of messages ids straight from the
// profile's database file.
func sealedBodies(t testing.TB, n *tnode, ids ...string) [][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+n.db.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out [][]byte
	for _, id := range ids {
		mid, err := storage.ParseMessageID(id)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		if err := db.QueryRow(`SELECT body_sealed FROM messages WHERE id = ?`, mid[:]).Scan(&b); err != nil {
			t.Fatalf("sealed body of %s: %v", id, err)
		}
		out = append(out, b)
	}
	return out
}

// onDisk reports which of n's database files hold a 32-byte aligned
// window of one of the values (any piece of 63 bytes or more of it).
func onDisk(t testing.TB, n *tnode, values ...[]byte) []string {
	t.Helper()
	var found []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(n.db.Path() + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	values:
		for _, v := range values {
			for i := 0; i+32 <= len(v); i += 32 {
				if bytes.Contains(b, v[i:i+32]) {
					found = append(found, "chive.db"+suffix)
					break values
				}
			}
		}
	}
	return found
}

// disappearing: a sets a timer, b sees it; messages both ways disappear
// from both profiles a timer after each side read them (the sender: after
// sending); their sealed text is then in neither database, log or index
// file. b turns it off again; later messages stay.
func disappearing(t *testing.T, a, b *tnode, wait time.Duration) {
	ctx := t.Context()
	toB, toA := refOf(b), refOf(a)
	const timer = 3 * time.Second
	for _, n := range []*tnode{a, b} {
		n.testTimers = []time.Duration{timer}
	}
	notice, err := a.SetTimer(ctx, toB, timer)
	if err != nil {
		t.Fatal(err)
	}
	if notice.Kind != KindTimer || time.Duration(notice.Timer) != timer {
		t.Fatalf("notice = %+v", notice)
	}
	if got := b.receivedMsg(t, wait, notice.ID); got.Kind != KindTimer || time.Duration(got.Timer) != timer {
		t.Fatalf("notice received = %+v", got)
	}
	b.waitFor(t, wait, "the contact's timer", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.Address == a.Address() && time.Duration(c.Contact.Timer) == timer
	})
	if c, _ := a.Contact(ctx, toB); time.Duration(c.Timer) != timer {
		t.Fatalf("a's contact timer = %v", c.Timer)
	}

	secret := strings.Repeat("this disappears; ", 20)
	m1, err := a.Send(ctx, toB, "a: "+secret)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := b.Send(ctx, toA, "b: "+secret)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(m1.Timer) != timer || m1.Disappears.IsZero() {
		t.Fatalf("a's message as sent: %+v", m1)
	}
	got := b.receivedMsg(t, wait, m1.ID)
	if time.Duration(got.Timer) != timer || !got.Disappears.IsZero() {
		t.Fatalf("a's message as received (not read yet): %+v", got)
	}
	a.receivedMsg(t, wait, m2.ID)
	sealed := map[*tnode][][]byte{a: sealedBodies(t, a, m1.ID, m2.ID), b: sealedBodies(t, b, m1.ID, m2.ID)}
	for n, v := range sealed {
		if len(onDisk(t, n, v...)) == 0 {
			t.Fatalf("%s: the sealed texts are not on disk before they disappear: the check could not fail", n.addr.Short())
		}
	}
	// Unread, a message waits for its reader; read, it goes.
	time.Sleep(timer + time.Second)
	if _, ok := historyMsg(t, b, toA, m1.ID); !ok {
		t.Fatal("b's unread message disappeared before b read it")
	}
	for _, side := range []struct {
		n   *tnode
		ref string
	}{{a, toB}, {b, toA}} {
		if err := side.n.MarkRead(ctx, side.ref); err != nil {
			t.Fatal(err)
		}
	}
	for _, side := range []struct {
		n        *tnode
		ref      string
		in, mine string
	}{{a, toB, m2.ID, m1.ID}, {b, toA, m1.ID, m2.ID}} {
		side.n.changed(t, wait, side.mine, ChangeExpired) // sent: started when sent
		side.n.changed(t, wait, side.in, ChangeExpired)   // received: started when read
		for _, id := range []string{side.in, side.mine} {
			if _, ok := historyMsg(t, side.n, side.ref, id); ok {
				t.Fatalf("%s: message %s is still in the history", side.n.addr.Short(), id[:8])
			}
		}
		if where := onDisk(t, side.n, sealed[side.n]...); len(where) > 0 {
			t.Fatalf("%s: disappeared messages are still in %v", side.n.addr.Short(), where)
		}
	}

	// b turns it off; a sees it; later messages stay.
	off, err := b.SetTimer(ctx, toA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.receivedMsg(t, wait, off.ID); got.Kind != KindTimer || got.Timer != 0 {
		t.Fatalf("off notice = %+v", got)
	}
	a.waitFor(t, wait, "the timer off", func(e Event) bool {
		c, ok := e.(ContactEvent)
		return ok && c.Contact.Address == b.Address() && c.Contact.Timer == 0
	})
	kept, err := a.Send(ctx, toB, "this one stays")
	if err != nil {
		t.Fatal(err)
	}
	if kept.Timer != 0 || !kept.Disappears.IsZero() {
		t.Fatalf("after the timer went off: %+v", kept)
	}
	b.receivedMsg(t, wait, kept.ID)
}

// searchScenario: words in any case, any order, one conversation or all;
// edits and deletions are searched as they are now.
func searchScenario(t *testing.T, a, b *tnode, wait time.Duration) {
	ctx := t.Context()
	toB := refOf(b)
	m1, err := a.Send(ctx, toB, "The Quick brown fox")
	if err != nil {
		t.Fatal(err)
	}
	in, err := b.Send(ctx, refOf(a), "a lazy dog, quick to sleep")
	if err != nil {
		t.Fatal(err)
	}
	a.receivedMsg(t, wait, in.ID)
	ids := func(q SearchQuery) []string {
		ms, err := a.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids(SearchQuery{Text: "QUICK"}); !slices.Equal(got, []string{in.ID, m1.ID}) {
		t.Fatalf("quick: %v, want [%s %s] (newest first)", got, in.ID[:8], m1.ID[:8])
	}
	if got := ids(SearchQuery{Text: "fox quick", Contact: toB}); !slices.Equal(got, []string{m1.ID}) {
		t.Fatalf("fox quick: %v", got)
	}
	if got := ids(SearchQuery{Text: "quick", Limit: 1}); !slices.Equal(got, []string{in.ID}) {
		t.Fatalf("limit 1: %v", got)
	}
	if _, err := a.Edit(ctx, toB, m1.ID, "the slow brown fox"); err != nil {
		t.Fatal(err)
	}
	if got := ids(SearchQuery{Text: "quick fox"}); len(got) != 0 {
		t.Fatalf("the edited-away words still match: %v", got)
	}
	if got := ids(SearchQuery{Text: "slow"}); !slices.Equal(got, []string{m1.ID}) {
		t.Fatalf("the edit's words: %v", got)
	}
	if err := a.Delete(ctx, toB, m1.ID, true); err != nil {
		t.Fatal(err)
	}
	if got := ids(SearchQuery{Text: "brown"}); len(got) != 0 {
		t.Fatalf("a deleted message matches: %v", got)
	}
	if _, err := a.Search(ctx, SearchQuery{Text: "  "}); err == nil {
		t.Fatal("an empty search ran")
	}
	// A node that just opened builds its index from the profile.
	fresh := newSearchIndex()
	if err := fresh.ensure(context.Background(), a.db); err != nil {
		t.Fatal(err)
	}
	if got := fresh.search(searchTerms("lazy dog"), 0, 10); len(got) != 1 {
		t.Fatalf("a fresh index finds %v", got)
	}
}

// backupRestore: a backs up, the conversation goes on, a's machine is
// lost; the backup restored on a fresh profile directory has the history
// up to the backup, asks b for a new session, and sends and receives again.
func backupRestore(t *testing.T, a, b *tnode, wait time.Duration, start func(t testing.TB, dir string) *tnode) {
	ctx := t.Context()
	toB, toA := refOf(b), refOf(a)
	before, err := a.Send(ctx, toB, "said before the backup")
	if err != nil {
		t.Fatal(err)
	}
	b.receivedMsg(t, wait, before.ID)
	a.backupKDF = cheapKDF
	file := t.TempDir() + "/alice.chive-backup"
	if _, err := a.Backup(ctx, BackupOptions{Path: file, Passphrase: "pw"}); err == nil {
		t.Fatal("a backup under a short passphrase was written")
	}
	info, err := a.Backup(ctx, BackupOptions{Path: file, Passphrase: "the backup passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Contacts != 1 || info.Messages == 0 || info.Bytes == 0 {
		t.Fatalf("backup info = %+v", info)
	}
	if _, err := a.Backup(ctx, BackupOptions{Path: file, Passphrase: "the backup passphrase"}); !errors.Is(err, ErrBackupExists) {
		t.Fatalf("a second backup over the first: %v", err)
	}
	// The ratchets move on after the backup: its sessions are stale.
	after, err := a.Send(ctx, toB, "said after the backup")
	if err != nil {
		t.Fatal(err)
	}
	b.receivedMsg(t, wait, after.ID)
	reply, err := b.Send(ctx, toA, "and answered")
	if err != nil {
		t.Fatal(err)
	}
	a.receivedMsg(t, wait, reply.ID)
	a.Close() // the old machine is gone

	dir := t.TempDir() + "/restored"
	if _, err := RestoreProfile(ctx, file, dir, RestoreOptions{BackupPassphrase: []byte("not it at all"), Passphrase: testPass, KDF: cheapKDF}); !errors.Is(err, ErrBackupPassphrase) {
		t.Fatalf("restore with a wrong passphrase: %v", err)
	}
	rinfo, err := RestoreProfile(ctx, file, dir, RestoreOptions{BackupPassphrase: []byte("the backup passphrase"), Passphrase: testPass, KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	if rinfo.Messages != info.Messages || rinfo.Contacts != 1 {
		t.Fatalf("restored %+v from %+v", rinfo, info)
	}
	r := start(t, dir)
	if r.Address() != a.Address() {
		t.Fatalf("restored address %s, want %s", r.Address(), a.Address())
	}
	if _, ok := historyMsg(t, r, toB, before.ID); !ok {
		t.Fatal("the restored history lacks the message sent before the backup")
	}
	// b takes the restored node's request for a new session; both are told.
	b.waitFor(t, wait, "the new session", func(e Event) bool {
		s, ok := e.(SessionEvent)
		return ok && s.ByPeer && s.Contact.Address == a.Address()
	})
	r.waitFor(t, wait, "the new session", func(e Event) bool {
		s, ok := e.(SessionEvent)
		return ok && !s.ByPeer && s.Contact.Address == b.Address()
	})
	m1, err := r.Send(ctx, toB, "hello from the restored alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.receivedMsg(t, wait, m1.ID); got.Text != "hello from the restored alice" {
		t.Fatalf("b got %+v", got)
	}
	m2, err := b.Send(ctx, toA, "welcome back")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.receivedMsg(t, wait, m2.ID); got.Text != "welcome back" {
		t.Fatalf("the restored node got %+v", got)
	}
	if v, ok, _ := r.db.Setting(ctx, storage.SettingRestored); ok {
		t.Fatalf("still marked restored (%s)", v)
	}
}
