package contacts

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
)

func newAddr(t testing.TB) onion.Address {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return onion.AddressFromPublicKey(pub)
}

func newBook(t testing.TB, opts Options) (*Book, *storage.DB) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	db, err := storage.Create(context.Background(), filepath.Join(t.TempDir(), "p"), []byte("pw"),
		storage.Identity{Name: "me", OnionKey: priv, Ratchet: []byte("r")},
		storage.CreateOptions{KDF: &storage.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if opts.Self == "" {
		opts.Self = onion.AddressFromPublicKey(priv.Public().(ed25519.PublicKey))
	}
	return New(db, opts), db
}

func TestAddAcceptFlow(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	bob := newAddr(t)
	// Any paste form: upper case, .onion, chive: URI, spaces.
	pasted := " chive://" + strings.ToUpper(string(bob)) + ".onion "
	var queued storage.OutboxItem
	c, err := b.Add(ctx, pasted, "Bob", "hi, it's alice", func(tx *storage.Tx, c Contact) error {
		var err error
		queued, err = tx.QueueFrame(storage.OutboxItem{ContactID: c.ID, Kind: storage.KindRequest, Frame: []byte("request")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Address != bob || c.State != Requested || c.Name != "Bob" || c.Greeting != "hi, it's alice" {
		t.Fatalf("added = %+v", c)
	}
	if ob, _ := db.Outbox(ctx, c.ID); len(ob) != 1 || ob[0].ID != queued.ID {
		t.Fatalf("request frame not queued with the add: %+v", ob)
	}
	if _, err := b.Add(ctx, string(bob), "Bobby", ""); !errors.Is(err, ErrExists) {
		t.Fatalf("add twice: %v", err)
	}
	if _, err := b.Add(ctx, "not-an-address", "x", ""); !errors.Is(err, onion.ErrAddressLength) {
		t.Fatalf("bad address: %v", err)
	}
	bad := string(bob[:55]) + string("abcdefghijklmnopqrstuvwxyz234567"[(strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", bob[55])+1)%32])
	if _, err := b.Add(ctx, bad, "x", ""); err == nil {
		t.Fatal("address with a wrong character accepted")
	}
	if _, err := b.Add(ctx, string(b.self), "me", ""); !errors.Is(err, ErrSelf) {
		t.Fatalf("add self: %v", err)
	}
	if _, err := b.Add(ctx, string(newAddr(t)), "bob", ""); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	// The peer accepts: requested → accepted with the session, atomically.
	c, err = b.Accept(ctx, c.ID, func(tx *storage.Tx, c Contact) error { return tx.PutSession(c.ID, []byte("session"), time.Now()) })
	if err != nil || c.State != Accepted {
		t.Fatal(c, err)
	}
	if st, err := db.Session(ctx, c.ID); err != nil || string(st) != "session" {
		t.Fatalf("session: %q %v", st, err)
	}
	// A failing Then rolls the state change back.
	d, _ := b.Add(ctx, string(newAddr(t)), "Dan", "")
	if _, err := b.Accept(ctx, d.ID, func(*storage.Tx, Contact) error { return errors.New("boom") }); err == nil {
		t.Fatal("accept with failing Then succeeded")
	}
	if d2, _ := b.Get(ctx, d.ID); d2.State != Requested {
		t.Fatalf("state after failed accept: %s", d2.State)
	}
}

func TestIncomingRequestFlow(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	now := time.Unix(1800000000, 0)
	carol := newAddr(t)
	c, err := b.IncomingRequest(ctx, carol, []byte("carol-bundle"), "hello from carol", now)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != PendingIncoming || c.Greeting != "hello from carol" || string(c.PeerBundle) != "carol-bundle" || c.Name != "" {
		t.Fatalf("incoming = %+v", c)
	}
	if c.Display() != carol.Short() {
		t.Fatalf("display of unnamed contact = %q", c.Display())
	}
	// A repeated request updates the greeting, not the state.
	c2, err := b.IncomingRequest(ctx, carol, []byte("carol-bundle-2"), "hello again", now.Add(time.Minute))
	if err != nil || c2.ID != c.ID || c2.Greeting != "hello again" || c2.State != PendingIncoming {
		t.Fatal(c2, err)
	}
	if err := b.Decline(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ByAddress(ctx, carol); !errors.Is(err, ErrNotFound) {
		t.Fatalf("declined contact still there: %v", err)
	}
	// Declined strangers may ask again; accept this time.
	c, err = b.IncomingRequest(ctx, carol, []byte("b3"), "third time", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err = b.Accept(ctx, c.ID)
	if err != nil || c.State != Accepted {
		t.Fatal(c, err)
	}
	if err := b.Decline(ctx, c.ID); !errors.Is(err, ErrState) {
		t.Fatalf("decline accepted: %v", err)
	}
	// Rename, verify, note, find.
	if _, err := b.Rename(ctx, c.ID, "Carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetVerified(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetNote(ctx, c.ID, "met at the conference"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"carol", "CAROL", "car", string(carol), "chive:" + string(carol), "#" + strconv.FormatInt(c.ID, 10)} {
		f, err := b.Find(ctx, ref)
		if err != nil || f.ID != c.ID || !f.Verified || f.Note != "met at the conference" {
			t.Fatalf("Find(%q) = %+v, %v", ref, f, err)
		}
	}
	b.Add(ctx, string(newAddr(t)), "Carlos", "")
	if _, err := b.Find(ctx, "car"); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if _, err := b.Find(ctx, "zed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := b.Rename(ctx, c.ID, "carlos"); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	_ = db
}

func TestBlock(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	now := time.Unix(1800000000, 0)
	eve := newAddr(t)
	c, err := b.IncomingRequest(ctx, eve, []byte("eve"), "let me in", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueueFrame(ctx, storage.OutboxItem{ContactID: c.ID, Kind: storage.KindReceipt, Frame: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	c, _, err = b.Block(ctx, c.ID)
	if err != nil || c.State != Blocked || c.BlockedFrom != PendingIncoming {
		t.Fatal(c, err)
	}
	if ob, _ := db.Outbox(ctx, c.ID); len(ob) != 0 {
		t.Fatal("outbox kept for a blocked contact")
	}
	for i := range 3 {
		got, err := b.IncomingRequest(ctx, eve, []byte("eve"), "again", now.Add(time.Duration(i+1)*time.Hour))
		if !errors.Is(err, ErrBlocked) || got.State != Blocked {
			t.Fatalf("request from blocked address: %+v, %v", got, err)
		}
	}
	// Kept silently, for an unblock to show.
	if got, _ := b.Get(ctx, c.ID); got.State != Blocked || got.Greeting != "again" || got.BlockedFrom != PendingIncoming {
		t.Fatalf("blocked contact after its requests: %+v", got)
	}
	// Blocking a stranger before they ever ask.
	mallory := newAddr(t)
	if _, _, err := b.BlockAddress(ctx, string(mallory)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IncomingRequest(ctx, mallory, nil, "hi", now); !errors.Is(err, ErrBlocked) {
		t.Fatalf("request from pre-blocked address: %v", err)
	}
	// Adding a blocked address is the user's explicit choice: it unblocks.
	c, err = b.Add(ctx, string(eve), "Eve", "ok then")
	if err != nil || c.State != Requested || c.BlockedFrom != "" || c.PeerBundle != nil {
		t.Fatal(c, err)
	}
}

// TestUnblock: each state comes back as it was when blocked.
func TestUnblock(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	now := time.Unix(1800000000, 0)

	// Accepted, with a session: accepted again, same session.
	bob, _ := b.IncomingRequest(ctx, newAddr(t), []byte("bob-bundle"), "hi", now)
	if _, err := b.Accept(ctx, bob.ID, func(tx *storage.Tx, c Contact) error { return tx.PutSession(c.ID, []byte("bob-session"), now) }); err != nil {
		t.Fatal(err)
	}
	m, err := db.QueueMessage(ctx, storage.OutgoingMessage{ContactID: bob.ID, Body: "unsent", Session: []byte("bob-session-2"), Frame: []byte("f")})
	if err != nil {
		t.Fatal(err)
	}
	blocked, failed, err := b.Block(ctx, bob.ID)
	if err != nil || blocked.BlockedFrom != Accepted || len(failed) != 1 || failed[0] != m.ID {
		t.Fatalf("block = %+v, %v, %v", blocked, failed, err)
	}
	if back, _ := db.Message(ctx, bob.ID, storage.Outgoing, m.ID); back.Status != storage.StatusFailed {
		t.Errorf("message queued when blocked: %s, want failed", back.Status)
	}
	c, err := b.Unblock(ctx, bob.ID, func(*storage.Tx, Contact) error { t.Error("then ran for an accepted contact"); return nil })
	if err != nil || c.State != Accepted || c.Removed || c.BlockedFrom != "" {
		t.Fatalf("unblock accepted = %+v, %v", c, err)
	}
	if st, err := db.Session(ctx, bob.ID); err != nil || string(st) != "bob-session-2" {
		t.Errorf("session after unblock: %q, %v", st, err)
	}
	if c, err := b.Unblock(ctx, bob.ID); err != nil || c.State != Accepted {
		t.Errorf("unblocking an unblocked contact: %+v, %v", c, err)
	}

	// Requested: requested again, and then runs (to send the request again).
	carol, _ := b.Add(ctx, string(newAddr(t)), "Carol", "hello")
	b.Block(ctx, carol.ID)
	ran := false
	c, err = b.Unblock(ctx, carol.ID, func(tx *storage.Tx, c Contact) error { ran = c.State == Requested; return nil })
	if err != nil || c.State != Requested || !ran {
		t.Fatalf("unblock requested = %+v, %v (then ran: %v)", c, err, ran)
	}

	// Pending-incoming: pending again, with the greeting of their latest request.
	dave := newAddr(t)
	d, _ := b.IncomingRequest(ctx, dave, []byte("dave-1"), "first", now)
	b.Block(ctx, d.ID)
	b.IncomingRequest(ctx, dave, []byte("dave-2"), "second", now.Add(time.Hour))
	c, err = b.Unblock(ctx, d.ID)
	if err != nil || c.State != PendingIncoming || c.Greeting != "second" || string(c.PeerBundle) != "dave-2" {
		t.Fatalf("unblock pending = %+v, %v", c, err)
	}

	// Accepted, but they asked again while blocked (they lost the session):
	// their new request, and our stale session gone.
	erin, _ := b.IncomingRequest(ctx, newAddr(t), []byte("erin-1"), "hi", now)
	b.Accept(ctx, erin.ID, func(tx *storage.Tx, c Contact) error { return tx.PutSession(c.ID, []byte("erin-session"), now) })
	b.Block(ctx, erin.ID)
	if _, err := b.IncomingRequest(ctx, erin.Address, []byte("erin-2"), "it's me again", now.Add(time.Hour)); !errors.Is(err, ErrBlocked) {
		t.Fatal(err)
	}
	c, err = b.Unblock(ctx, erin.ID)
	if err != nil || c.State != PendingIncoming || c.Greeting != "it's me again" {
		t.Fatalf("unblock re-requested = %+v, %v", c, err)
	}
	if _, err := db.Session(ctx, erin.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("stale session kept: %v", err)
	}

	// A stranger blocked by address, and an accepted contact whose session
	// is gone (blocked by an older chive): removed, history kept.
	frank, _, _ := b.BlockAddress(ctx, string(newAddr(t)))
	c, err = b.Unblock(ctx, frank.ID)
	if err != nil || !c.Removed {
		t.Fatalf("unblock stranger = %+v, %v", c, err)
	}
	if _, err := b.Get(ctx, frank.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("unblocked stranger still in the book: %v", err)
	}
	if c, err := b.IncomingRequest(ctx, frank.Address, []byte("frank"), "may I?", now); err != nil || c.State != PendingIncoming {
		t.Errorf("request from the unblocked stranger = %+v, %v; want a pending request", c, err)
	}
	gina, _ := b.IncomingRequest(ctx, newAddr(t), []byte("gina"), "hi", now)
	b.Accept(ctx, gina.ID)
	db.ReceiveMessage(ctx, storage.IncomingMessage{ContactID: gina.ID, ID: storage.NewMessageID(), Body: "keep me", Session: []byte("s")})
	b.Block(ctx, gina.ID)
	db.Update(ctx, func(tx *storage.Tx) error { return tx.ForgetSession(gina.ID) })
	c, err = b.Unblock(ctx, gina.ID)
	if err != nil || !c.Removed {
		t.Fatalf("unblock without session = %+v, %v", c, err)
	}
	if h, _ := db.History(ctx, gina.ID, 0, 10); len(h) != 1 {
		t.Errorf("history of the removed contact: %d messages, want 1 kept", len(h))
	}
	if _, err := b.Unblock(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unblock unknown: %v", err)
	}
}

// TestPeerName: the name a peer gives itself is cleaned, fills an empty
// nickname (and follows it while it was filled in), and never replaces one
// the user chose.
func TestPeerName(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	now := time.Unix(1800000000, 0)
	set := func(id int64, raw string) bool {
		t.Helper()
		var changed bool
		if err := db.Update(ctx, func(tx *storage.Tx) error {
			var err error
			changed, err = b.SetPeerName(tx, id, raw)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return changed
	}
	get := func(id int64) Contact {
		t.Helper()
		c, err := b.LookupID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, _ := b.IncomingRequest(ctx, newAddr(t), []byte("x"), "hi", now)
	if !set(a.ID, "  Alice\x1b[31m \u202eLiddell\n ") {
		t.Fatal("no change")
	}
	if c := get(a.ID); c.PeerName != "Alice Liddell" || c.Name != "Alice Liddell" {
		t.Fatalf("cleaned and filled: %+v", c)
	}
	if set(a.ID, "Alice Liddell") {
		t.Error("the same name again is a change")
	}
	// Follows while filled in.
	set(a.ID, "Alice L.")
	if c := get(a.ID); c.Name != "Alice L." || c.PeerName != "Alice L." {
		t.Fatalf("followed: %+v", c)
	}
	// Ours wins, for good.
	if _, err := b.Rename(ctx, a.ID, "Ally"); err != nil {
		t.Fatal(err)
	}
	set(a.ID, "Alice")
	if c := get(a.ID); c.Name != "Ally" || c.PeerName != "Alice" {
		t.Fatalf("local nickname overwritten: %+v", c)
	}
	// Taken names get a number; names that cannot be nicknames fill nothing.
	b2, _ := b.IncomingRequest(ctx, newAddr(t), []byte("x"), "hi", now)
	set(b2.ID, "ally")
	if c := get(b2.ID); c.Name != "ally (2)" {
		t.Fatalf("taken name: %+v", c)
	}
	set(b2.ID, "Ally B")
	if c := get(b2.ID); c.Name != "Ally B" {
		t.Fatalf("a numbered fill-in follows too: %+v", c)
	}
	b3, _ := b.IncomingRequest(ctx, newAddr(t), []byte("x"), "hi", now)
	set(b3.ID, string(newAddr(t)))
	if c := get(b3.ID); c.Name != "" || c.PeerName == "" {
		t.Fatalf("an address as name: %+v", c)
	}
	set(b3.ID, strings.Repeat("é", 100))
	if c := get(b3.ID); len([]rune(c.PeerName)) != MaxName || c.Name != c.PeerName {
		t.Fatalf("long name: %d runes, name %q", len([]rune(c.PeerName)), c.Name)
	}
}

func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	b, _ := newBook(t, Options{PerAddress: Rate{Burst: 2, Every: time.Hour}, Total: Rate{Burst: 5, Every: time.Minute}, MaxPending: 8})
	now := time.Unix(1800000000, 0)
	a := newAddr(t)
	for i := range 2 {
		if _, err := b.IncomingRequest(ctx, a, nil, "hi", now); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := b.IncomingRequest(ctx, a, nil, "hi", now); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("third request from one address: %v", err)
	}
	// An hour later the address has a token again.
	if _, err := b.IncomingRequest(ctx, a, nil, "hi", now.Add(time.Hour)); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	// Total: many strangers at once. The total bucket (5) refilled during
	// the hour and the request above took one, so 4 strangers pass.
	t1 := now.Add(time.Hour)
	n := 0
	var err error
	for range 10 {
		if _, err = b.IncomingRequest(ctx, newAddr(t), nil, "spam", t1); err != nil {
			break
		}
		n++
	}
	if !errors.Is(err, ErrRateLimited) || n != 4 {
		t.Fatalf("strangers admitted in a burst: %d (then %v), want 4", n, err)
	}
	// Pending cap: even slowly, at most MaxPending requests wait for the
	// user. A full list does not refuse the next one (that would let a slow
	// flood lock everyone out): the least recent request goes.
	first := map[onion.Address]bool{}
	cs, _ := b.List(ctx)
	for _, c := range cs {
		first[c.Address] = true
	}
	tn := t1
	var last []onion.Address
	evicted := 0
	for range 20 {
		tn = tn.Add(time.Hour)
		a := newAddr(t)
		r, err := b.Receive(ctx, Request{Address: a, Greeting: "slow spam", At: tn})
		if err != nil {
			t.Fatalf("slow request refused: %v", err)
		}
		for _, e := range r.Evicted {
			if !e.Removed || e.State != PendingIncoming {
				t.Errorf("evicted %+v", e)
			}
		}
		evicted += len(r.Evicted)
		last = append(last, a)
	}
	cs, _ = b.List(ctx)
	if len(cs) != 8 {
		t.Fatalf("book has %d contacts, want the cap of 8", len(cs))
	}
	if evicted != 20+len(first)-8 {
		t.Errorf("%d evicted, want %d", evicted, 20+len(first)-8)
	}
	// The 8 kept are the 8 most recent.
	for _, a := range last[len(last)-8:] {
		if c, err := b.ByAddress(ctx, a); err != nil || c.State != PendingIncoming {
			t.Errorf("recent request %s: %+v %v", a.Short(), c, err)
		}
	}
	// Evicted strangers left nothing behind (no history to keep).
	all, _ := b.db.Contacts(ctx)
	if len(all) != 8 {
		t.Errorf("%d rows stored, want 8", len(all))
	}
}

// TestInvitedRequests: a request with a usable invite skips the rate limits
// and the pending cap, uses the invite once, and is never evicted; one with
// an unusable invite is a stranger's.
func TestInvitedRequests(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{PerAddress: Rate{Burst: 1, Every: time.Hour}, Total: Rate{Burst: 1, Every: time.Hour}, MaxPending: 2})
	now := time.Unix(1800000000, 0)
	tok := []byte("0123456789abcdef")
	if _, err := db.CreateInvite(ctx, storage.Invite{Token: tok, MaxUses: 2, Expires: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// The flood: fills the total bucket and the pending list.
	if _, err := b.IncomingRequest(ctx, newAddr(t), nil, "spam", now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IncomingRequest(ctx, newAddr(t), nil, "spam", now); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("bucket not empty: %v", err)
	}
	// A wrong token does not help.
	if _, err := b.Receive(ctx, Request{Address: newAddr(t), Invite: []byte("fedcba9876543210"), At: now}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("wrong token: %v", err)
	}
	friend := newAddr(t)
	r, err := b.Receive(ctx, Request{Address: friend, Greeting: "it's me", Invite: tok, At: now})
	if err != nil || !r.Contact.Invited || r.Contact.State != PendingIncoming {
		t.Fatalf("invited request: %+v, %v", r, err)
	}
	// Its resend passes again without using the invite.
	if _, err := b.Receive(ctx, Request{Address: friend, Greeting: "it's me", Invite: tok, At: now}); err != nil {
		t.Fatalf("resend of an invited request: %v", err)
	}
	if ivs, _ := db.Invites(ctx); len(ivs) != 1 || ivs[0].Uses != 1 {
		t.Fatalf("invites after one request and its resend: %+v", ivs)
	}
	// Hours of slow flood later, the invited request is still there.
	tn := now
	for range 5 {
		tn = tn.Add(2 * time.Hour)
		if _, err := b.IncomingRequest(ctx, newAddr(t), nil, "spam", tn); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := b.ByAddress(ctx, friend); err != nil || !c.Invited {
		t.Fatalf("invited request evicted: %+v, %v", c, err)
	}
	// The second use; then the invite is used up and an expired one is void.
	if _, err := b.Receive(ctx, Request{Address: newAddr(t), Invite: tok, At: tn}); err != nil {
		t.Fatalf("second use: %v", err)
	}
	if _, err := b.Receive(ctx, Request{Address: newAddr(t), Invite: tok, At: tn}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("third use of a two-use invite: %v", err)
	}
	tok2 := []byte("fedcba9876543210")
	db.CreateInvite(ctx, storage.Invite{Token: tok2, MaxUses: 1, Expires: tn})
	if _, err := b.Receive(ctx, Request{Address: newAddr(t), Invite: tok2, At: tn}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("expired invite: %v", err)
	}
}

func TestRemoveAndList(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	now := time.Unix(1800000000, 0)
	bob, _ := b.Add(ctx, string(newAddr(t)), "Bob", "")
	bob, _ = b.Accept(ctx, bob.ID)
	ann, _ := b.Add(ctx, string(newAddr(t)), "Ann", "")
	zoe, _ := b.Add(ctx, string(newAddr(t)), "Zoe", "")
	zoe, _ = b.Accept(ctx, zoe.ID)
	if _, err := db.QueueMessage(ctx, storage.OutgoingMessage{ContactID: zoe.ID, Body: "old", Session: []byte("s"), Frame: []byte("f"), Created: now}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"first\nline", "a much longer message that the preview has to cut short"} {
		if _, err := db.ReceiveMessage(ctx, storage.IncomingMessage{ContactID: bob.ID, ID: storage.NewMessageID(), Body: body, Session: []byte("s")}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := b.List(ctx)
	if err != nil || len(cs) != 3 {
		t.Fatal(cs, err)
	}
	if cs[0].ID != bob.ID || cs[1].ID != zoe.ID || cs[2].ID != ann.ID {
		t.Fatalf("list order: %s %s %s", cs[0].Name, cs[1].Name, cs[2].Name)
	}
	if cs[0].Unread != 2 || cs[0].Preview(20) != "a much longer messa…" || cs[1].Unread != 0 || cs[1].Preview(20) != "old" {
		t.Fatalf("summaries: %d %q / %d %q", cs[0].Unread, cs[0].Preview(20), cs[1].Unread, cs[1].Preview(20))
	}
	// Remove keeping history: gone from the book, conversation kept, back on re-add.
	if err := b.Remove(ctx, zoe.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, zoe.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed contact: %v", err)
	}
	if _, err := db.Session(ctx, zoe.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("removed contact's session: %v", err)
	}
	if h, _ := db.History(ctx, zoe.ID, 0, 10); len(h) != 1 {
		t.Fatalf("history kept: %d messages", len(h))
	}
	if _, err := b.Add(ctx, string(newAddr(t)), "Zoe", ""); err != nil {
		t.Fatalf("a removed contact's name is free again: %v", err)
	}
	// Remove with history: everything goes.
	if err := b.Remove(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	if h, _ := db.History(ctx, bob.ID, 0, 10); len(h) != 0 {
		t.Fatalf("history after remove without keeping: %d", len(h))
	}
	if _, err := db.Contact(ctx, bob.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("row after remove: %v", err)
	}
	cs, _ = b.List(ctx)
	if len(cs) != 2 {
		t.Fatalf("list after removals: %d", len(cs))
	}
	// LastSeen.
	seen := now.Add(time.Hour)
	if err := b.SetLastSeen(ctx, ann.ID, seen); err != nil {
		t.Fatal(err)
	}
	if a, _ := b.Get(ctx, ann.ID); !a.LastSeen.Equal(seen) {
		t.Fatalf("last seen = %v", a.LastSeen)
	}
}

func TestRemovedContactRequestsAgain(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	addr := newAddr(t)
	c, _ := b.Add(ctx, string(addr), "Old friend", "")
	c, _ = b.Accept(ctx, c.ID)
	db.ReceiveMessage(ctx, storage.IncomingMessage{ContactID: c.ID, ID: storage.NewMessageID(), Body: "memories", Session: []byte("s")})
	if err := b.Remove(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	c2, err := b.IncomingRequest(ctx, addr, []byte("bundle"), "it's me again", time.Now())
	if err != nil || c2.ID != c.ID || c2.State != PendingIncoming {
		t.Fatalf("request from removed contact: %+v %v", c2, err)
	}
	if got, _ := b.Get(ctx, c.ID); got.LastMessage == nil || got.LastMessage.Body != "memories" {
		t.Fatalf("history not back: %+v", got)
	}
}

// TestLookup: the cheap reads return the stored row, removed or not, and no
// conversation summary.
func TestLookup(t *testing.T) {
	ctx := context.Background()
	b, db := newBook(t, Options{})
	addr := newAddr(t)
	if _, err := b.Lookup(ctx, addr); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup of a stranger: %v", err)
	}
	c, err := b.Add(ctx, string(addr), "Ann", "hi")
	if err != nil {
		t.Fatal(err)
	}
	db.ReceiveMessage(ctx, storage.IncomingMessage{ContactID: c.ID, ID: storage.NewMessageID(), Body: "unread", Session: []byte("s")})
	got, err := b.Lookup(ctx, addr)
	if err != nil || got.ID != c.ID || got.Name != "Ann" || got.State != Requested || got.Removed {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	if got.Unread != 0 || got.LastMessage != nil {
		t.Errorf("Lookup filled the summary: unread %d, last %v", got.Unread, got.LastMessage)
	}
	if full, _ := b.ByAddress(ctx, addr); full.Unread != 1 {
		t.Errorf("ByAddress unread = %d, want 1", full.Unread)
	}
	if err := b.Remove(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ByAddress(ctx, addr); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ByAddress of a removed contact: %v", err)
	}
	for _, lookup := range []func() (Contact, error){
		func() (Contact, error) { return b.Lookup(ctx, addr) },
		func() (Contact, error) { return b.LookupID(ctx, c.ID) },
	} {
		if got, err := lookup(); err != nil || got.ID != c.ID || !got.Removed || got.Name != "Ann" {
			t.Errorf("lookup of a removed contact = %+v, %v", got, err)
		}
	}
	if _, err := b.LookupID(ctx, c.ID+100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupID of nothing: %v", err)
	}
}

// TestAcceptBundle: the bundle is stored with the acceptance, in the same
// transaction, and rolled back with it.
func TestAcceptBundle(t *testing.T) {
	ctx := context.Background()
	b, _ := newBook(t, Options{})
	c, err := b.Add(ctx, string(newAddr(t)), "Cy", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AcceptBundle(ctx, c.ID, []byte("first"), func(*storage.Tx, Contact) error { return errors.New("boom") }); err == nil {
		t.Fatal("failing Then did not fail the accept")
	}
	if got, _ := b.LookupID(ctx, c.ID); got.State != Requested || got.PeerBundle != nil {
		t.Fatalf("after rollback: %s, bundle %q", got.State, got.PeerBundle)
	}
	out, err := b.AcceptBundle(ctx, c.ID, []byte("fresh"))
	if err != nil || out.State != Accepted || string(out.PeerBundle) != "fresh" {
		t.Fatalf("AcceptBundle = %+v, %v", out, err)
	}
	if got, _ := b.LookupID(ctx, c.ID); string(got.PeerBundle) != "fresh" {
		t.Fatalf("stored bundle %q", got.PeerBundle)
	}
	// Accept keeps the bundle it has.
	if out, _ := b.Accept(ctx, c.ID); string(out.PeerBundle) != "fresh" {
		t.Fatalf("Accept replaced the bundle: %q", out.PeerBundle)
	}
}
