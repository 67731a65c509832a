package mailbox

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var cheapKDF = &storage.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// pipeListener is an in-memory listener: Dial hands one end of a pipe to
// Accept. Unit tests only; the Tor path is tested for real in cmd/chive.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error   { p.once.Do(func() { close(p.done) }); return nil }
func (p *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

func (p *pipeListener) dial() (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case p.conns <- b:
		return a, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

type harness struct {
	t     *testing.T
	store *Store
	srv   *Server
	ln    *pipeListener
	owner ed25519.PrivateKey
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newHarness(t *testing.T, lim Limits) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := Create(ctx, filepath.Join(t.TempDir(), "mbox"), []byte("mailbox pass"), storage.CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, ln: newPipeListener(), clock: &fakeClock{t: time.Unix(1750000000, 0)}}
	h.srv = NewServer(store, ServerOptions{Limits: lim})
	h.srv.now = h.clock.now
	_, h.owner, _ = ed25519.GenerateKey(rand.Reader)
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.srv.Serve(ctx, h.ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-served
		store.Close()
	})
	return h
}

func (h *harness) link(key ed25519.PrivateKey) *wire.Link {
	h.t.Helper()
	c, err := h.ln.dial()
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := wire.Client(context.Background(), c, key, h.store.Key().Public().(ed25519.PublicKey), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { l.Close() })
	return l
}

func freshKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

func (h *harness) pair() *Session {
	h.t.Helper()
	secret, err := h.store.PairingSecret(context.Background())
	if err != nil || secret == nil {
		h.t.Fatalf("pairing secret: %v %v", secret, err)
	}
	s, err := Pair(context.Background(), h.link(h.owner), secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) contact(token []byte) (*Session, error) {
	return OpenContact(context.Background(), h.link(freshKey()), token)
}

func msgFrame(t *testing.T, text string) (wire.ID, []byte) {
	t.Helper()
	id := wire.NewID()
	f, err := wire.Marshal(&wire.Message{ID: id, Ciphertext: []byte(text)})
	if err != nil {
		t.Fatal(err)
	}
	return id, f
}

func put(t *testing.T, s *Session, slot []byte, id wire.ID, frame []byte) error {
	t.Helper()
	ch, err := s.Put(slot, id, frame)
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to a put")
		return nil
	}
}

func nextItem(t *testing.T, s *Session) ReceivedItem {
	t.Helper()
	select {
	case it, ok := <-s.Items():
		if !ok {
			t.Fatalf("session ended: %v", s.Err())
		}
		return it
	case <-time.After(10 * time.Second):
		t.Fatal("no item")
	}
	return ReceivedItem{}
}

func nextNotice(t *testing.T, s *Session) ReceivedNotice {
	t.Helper()
	select {
	case n, ok := <-s.Notices():
		if !ok {
			t.Fatalf("session ended: %v", s.Err())
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notice")
	}
	return ReceivedNotice{}
}

// TestBothWays: a contact leaves items for the owner and the owner for the
// contact; each side learns when the other took them; items arrive once,
// in order, and survive a restart of the mailbox.
func TestBothWays(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Limits{})
	owner := h.pair()
	token := NewSecret()
	slot := SlotOf(token)
	if err := owner.AddSlot(ctx, slot); err != nil {
		t.Fatal(err)
	}
	alice, err := h.contact(token)
	if err != nil {
		t.Fatal(err)
	}
	var ids []wire.ID
	for _, text := range []string{"one", "two", "three"} {
		id, f := msgFrame(t, text)
		if err := put(t, alice, nil, id, f); err != nil {
			t.Fatal(err)
		}
		// A repeated put (its ack lost) is acknowledged and stored once.
		if err := put(t, alice, nil, id, f); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		it := nextItem(t, owner)
		if it.ID != id || !bytes.Equal(it.Slot, slot) {
			t.Fatalf("item %d: %s from %x, want %s from %x", i, it.ID, it.Slot, id, slot)
		}
		if m, ok := it.Msg.(*wire.Message); !ok || string(m.Ciphertext) != []string{"one", "two", "three"}[i] {
			t.Fatalf("item %d: %#v", i, it.Msg)
		}
	}
	if err := owner.Taken(slot, ids[:2]); err != nil {
		t.Fatal(err)
	}
	n := nextNotice(t, alice)
	if len(n.Delivered) != 2 || n.Delivered[0] != ids[0] && n.Delivered[1] != ids[0] || n.Slot != nil {
		t.Fatalf("notice %+v", n)
	}
	if err := alice.AckNotice(n); err != nil {
		t.Fatal(err)
	}

	// The owner's way: an item for Alice, which she takes.
	rid := wire.NewID()
	rf, _ := wire.Marshal(&wire.Receipt{ID: rid, IDs: []wire.ID{ids[0]}, Read: true})
	if err := put(t, owner, slot, rid, rf); err != nil {
		t.Fatal(err)
	}
	it := nextItem(t, alice)
	if it.ID != rid || !bytes.Equal(it.Frame, rf) {
		t.Fatalf("alice got %s %x", it.ID, it.Frame)
	}
	if err := alice.Taken(nil, []wire.ID{rid}); err != nil {
		t.Fatal(err)
	}
	n = nextNotice(t, owner)
	if len(n.Delivered) != 1 || n.Delivered[0] != rid || !bytes.Equal(n.Slot, slot) {
		t.Fatalf("owner notice %+v", n)
	}
	owner.AckNotice(n)

	// The third item, not taken, is what a new session of the owner gets.
	owner.Close()
	owner2, err := OpenOwner(ctx, h.link(h.owner))
	if err != nil {
		t.Fatal(err)
	}
	if it := nextItem(t, owner2); it.ID != ids[2] {
		t.Fatalf("after reconnecting: %s, want %s", it.ID, ids[2])
	}
	st, err := h.store.Stats(ctx)
	if err != nil || st.Items != 1 || !st.Paired || len(st.Slots) != 1 || st.Slots[0].ToOwner != 1 || st.Bytes != 1024 {
		t.Fatalf("stats %+v %v", st, err)
	}
	alice.Close()
	owner2.Close()
}

// TestRefusals: strangers, wrong keys and secrets, a second pairing, bad
// items, unknown slots, quotas and rate limits are refused, and a
// contact cannot name another's slot.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Limits{Quota: Quota{SlotItems: 2, SlotBytes: 1 << 20, Total: 1 << 20}, PutBurst: 4, PutEvery: time.Hour})
	// Not paired yet: the owner's open without a secret is told so.
	if _, err := OpenOwner(ctx, h.link(h.owner)); !Refused(err, wire.MailboxNotPaired) {
		t.Fatalf("owner before pairing: %v", err)
	}
	if _, err := Pair(ctx, h.link(h.owner), NewSecret()); !Refused(err, wire.MailboxDenied) {
		t.Fatalf("wrong pairing secret: %v", err)
	}
	owner := h.pair()
	if _, err := Pair(ctx, h.link(freshKey()), NewSecret()); !Refused(err, wire.MailboxPaired) {
		t.Fatalf("second pairing: %v", err)
	}
	if _, err := OpenOwner(ctx, h.link(freshKey())); !Refused(err, wire.MailboxDenied) {
		t.Fatalf("another key as the owner: %v", err)
	}
	if _, err := h.contact(NewSecret()); !Refused(err, wire.MailboxDenied) {
		t.Fatalf("a stranger's token: %v", err)
	}
	token := NewSecret()
	if err := owner.AddSlot(ctx, SlotOf(token)); err != nil {
		t.Fatal(err)
	}
	alice, err := h.contact(token)
	if err != nil {
		t.Fatal(err)
	}
	// A receipt is fine, an acceptance is not, nor a frame under another id.
	id, f := msgFrame(t, "x")
	if err := put(t, alice, nil, wire.NewID(), f); err == nil {
		t.Error("a put under another id than its frame's was stored")
	}
	acc, _ := wire.Marshal(&wire.Accept{ID: id, Handshake: []byte("h")})
	if err := put(t, alice, nil, id, acc); err == nil {
		t.Error("an Accept frame was stored")
	}
	// Raw puts a client would not make: bad padding.
	item, _ := Pad(f)
	item[len(item)-1] = 1
	ch, err := alice.request(id, &wire.MailboxPut{ID: id, Item: item})
	if err != nil || !Refused(<-ch, wire.MailboxBadItem) {
		t.Errorf("non-zero padding: %v", err)
	}
	// Quota: two items per slot.
	for i := range 3 {
		id, f := msgFrame(t, "q")
		err := put(t, alice, nil, id, f)
		if (i < 2) != (err == nil) || (i == 2 && !Refused(err, wire.MailboxFull)) {
			t.Errorf("put %d: %v", i, err)
		}
	}
	// The bucket (4 puts) is empty now.
	id, f = msgFrame(t, "r")
	if err := put(t, alice, nil, id, f); !Refused(err, wire.MailboxRateLimited) {
		t.Errorf("over the rate: %v", err)
	}
	// The owner may not put to a slot it never added.
	id, f = msgFrame(t, "s")
	if err := put(t, owner, SlotOf(NewSecret()), id, f); !Refused(err, wire.MailboxUnknownSlot) {
		t.Errorf("unknown slot: %v", err)
	}
	// A contact that names a slot loses the session.
	id, f = msgFrame(t, "t")
	item, _ = Pad(f)
	alice.l.Send(&wire.MailboxPut{ID: id, Slot: SlotOf(token), Item: item})
	select {
	case <-alice.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a contact naming a slot kept its session")
	}
	// Removing the slot ends the contact's sessions and its token.
	bob, err := h.contact(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.RemoveSlot(ctx, SlotOf(token)); err != nil {
		t.Fatal(err)
	}
	<-bob.Done()
	if _, err := h.contact(token); !Refused(err, wire.MailboxDenied) {
		t.Fatalf("a removed slot's token: %v", err)
	}
	// Unlinking: the owner is forgotten, a new secret pairs again.
	if err := owner.Unlink(ctx); err != nil {
		t.Fatal(err)
	}
	<-owner.Done()
	if _, err := OpenOwner(ctx, h.link(h.owner)); !Refused(err, wire.MailboxNotPaired) {
		t.Fatalf("after unlink: %v", err)
	}
	h.pair().Close()
}

// TestRetention: items nobody took within the retention are deleted and
// their sender is told they expired.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Limits{Retention: 24 * time.Hour})
	owner := h.pair()
	defer owner.Close()
	token := NewSecret()
	owner.AddSlot(ctx, SlotOf(token))
	alice, err := h.contact(token)
	if err != nil {
		t.Fatal(err)
	}
	id, f := msgFrame(t, "old")
	if err := put(t, alice, nil, id, f); err != nil {
		t.Fatal(err)
	}
	nextItem(t, owner) // seen, never taken
	h.clock.add(23 * time.Hour)
	if n, err := h.srv.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("sweep before the retention: %d %v", n, err)
	}
	h.clock.add(2 * time.Hour)
	if n, err := h.srv.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("sweep after the retention: %d %v", n, err)
	}
	n := nextNotice(t, alice)
	if len(n.Expired) != 1 || n.Expired[0] != id || len(n.Delivered) != 0 {
		t.Fatalf("notice %+v", n)
	}
	alice.AckNotice(n)
	alice.Close()
	if st, _ := h.store.Stats(ctx); st.Items != 0 {
		t.Fatalf("expired item still stored: %+v", st)
	}
}

// TestNoPlaintextAtRest: the store holds items sealed; neither the frame
// bytes nor the owner's key appear in its files.
func TestNoPlaintextAtRest(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Limits{})
	owner := h.pair()
	token := NewSecret()
	owner.AddSlot(ctx, SlotOf(token))
	alice, err := h.contact(token)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("CIPHERTEXT-MARKER-6f1e")
	id, f := msgFrame(t, string(marker))
	if err := put(t, alice, nil, id, f); err != nil {
		t.Fatal(err)
	}
	alice.Close()
	owner.Close()
	for _, secret := range [][]byte{marker, h.owner.Public().(ed25519.PublicKey), token, h.store.Key().Seed()} {
		if where := scanDir(t, h.store.Dir(), secret); where != "" {
			t.Errorf("%x found in clear in %s", secret, where)
		}
	}
}

func TestSessionErrorsAfterClose(t *testing.T) {
	h := newHarness(t, Limits{})
	owner := h.pair()
	owner.Close()
	<-owner.Done()
	id, f := msgFrame(t, "x")
	if _, err := owner.Put(nil, id, f); err == nil {
		t.Fatal("put on a closed session")
	}
	if err := owner.AddSlot(context.Background(), SlotOf(NewSecret())); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("AddSlot on a closed session: %v", err)
	}
}
