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
	for _, ref := range []string{"carol", "CAROL", " Carol ", string(carol), "chive:" + string(carol), "#" + strconv.FormatInt(c.ID, 10)} {
		f, err := b.Find(ctx, ref)
		if err != nil || f.ID != c.ID || !f.Verified || f.Note != "met at the conference" {
			t.Fatalf("Find(%q) = %+v, %v", ref, f, err)
		}
	}
	b.Add(ctx, string(newAddr(t)), "Carlos", "")
	if _, err := b.Find(ctx, "zed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := b.Rename(ctx, c.ID, "carlos"); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	_ = db
}

// TestFindMatchesWholeNames: a name is never matched by its prefix (a
// message for "bob" once went to "bobby"); an unknown name suggests the
// names it resembles.
func TestFindMatchesWholeNames(t *testing.T) {
	ctx := context.Background()
	b, _ := newBook(t, Options{})
	for _, name := range []string{"bobby", "robert", "alice"} {
		if _, err := b.Add(ctx, string(newAddr(t)), name, ""); err != nil {
			t.Fatal(err)
		}
	}
	for ref, want := range map[string][]string{
		"bob":    {"bobby"},
		"bobb":   {"bobby"},
		"Rob":    {"robert"},
		"alce":   {"alice"},
		"zed":    nil,
		"bobby2": {"bobby"},
	} {
		c, err := b.Find(ctx, ref)
		var nf *NotFoundError
		if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("Find(%q) = %s, %v; want not found", ref, c.Name, err)
		}
		if strings.Join(nf.Suggestions, ",") != strings.Join(want, ",") {
			t.Errorf("Find(%q) suggests %q, want %q", ref, nf.Suggestions, want)
		}
	}
	if c, err := b.Find(ctx, "BOBBY"); err != nil || c.Name != "bobby" {
		t.Errorf("exact name, other case: %+v %v", c, err)
	}
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
	c, err = b.Block(ctx, c.ID)
	if err != nil || c.State != Blocked {
		t.Fatal(c, err)
	}
	if ob, _ := db.Outbox(ctx, c.ID); len(ob) != 0 {
		t.Fatal("outbox kept for a blocked contact")
	}
	for i := range 3 {
		if _, err := b.IncomingRequest(ctx, eve, []byte("eve"), "again", now.Add(time.Duration(i+1)*time.Hour)); !errors.Is(err, ErrBlocked) {
			t.Fatalf("request from blocked address: %v", err)
		}
	}
	if got, _ := b.Get(ctx, c.ID); got.Greeting != "let me in" {
		t.Fatalf("blocked request changed the contact: %+v", got)
	}
	// Blocking a stranger before they ever ask.
	mallory := newAddr(t)
	if _, err := b.BlockAddress(ctx, string(mallory)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IncomingRequest(ctx, mallory, nil, "hi", now); !errors.Is(err, ErrBlocked) {
		t.Fatalf("request from pre-blocked address: %v", err)
	}
	// Adding a blocked address is the user's explicit choice: it unblocks.
	c, err = b.Add(ctx, string(eve), "Eve", "ok then")
	if err != nil || c.State != Requested {
		t.Fatal(c, err)
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
	// Pending cap: even slowly, at most MaxPending requests wait for the user.
	pending := 0
	cs, _ := b.List(ctx)
	for _, c := range cs {
		if c.State == PendingIncoming {
			pending++
		}
	}
	tn := t1
	for i := 0; i < 20; i++ {
		tn = tn.Add(time.Hour)
		_, err = b.IncomingRequest(ctx, newAddr(t), nil, "slow spam", tn)
		if err != nil {
			break
		}
		pending++
	}
	if !errors.Is(err, ErrRateLimited) || pending != 8 {
		t.Fatalf("pending requests = %d (%v), want the cap of 8", pending, err)
	}
	// Rate-limited requests stored nothing.
	cs, _ = b.List(ctx)
	if len(cs) != 8 {
		t.Fatalf("book has %d contacts, want 8", len(cs))
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
