package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/wire"
)

// halfOpenFlood opens connections to addr that never authenticate, one
// every pace, keeping them all open, until stop is closed. It returns how
// many it opened.
func halfOpenFlood(mem *memnet.Network, addr onion.Address, pace time.Duration, stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		tr := mem.NewTransport()
		defer tr.Close()
		n := 0
		for {
			select {
			case <-stop:
				out <- n
				return
			case <-time.After(pace):
			}
			if _, err := tr.Dial(context.Background(), addr); err == nil {
				n++ // held open, never read: the node's Hello write blocks too
			}
		}
	}()
	return out
}

// TestHandshakeSlotFlood: a stranger holding every inbound handshake slot
// with connections that never authenticate does not lock a contact out:
// the oldest half-open handshake makes room for the newcomer. (Before: new
// connections were closed at once while the slots were full, for the
// whole 60 s handshake timeout of each.)
func TestHandshakeSlotFlood(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.maxHandshake = 4
	bt.preAuth = time.Minute // only eviction can free a slot in this test
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	alice := startMem(t, mem, newProfile(t, "alice"))
	befriend(t, alice, bob, memWait)
	waitOutbox(t, bob, 0)
	waitOutbox(t, alice, 0)

	stop := make(chan struct{})
	opened := halfOpenFlood(mem, onionAddr(bob), 20*time.Millisecond, stop)
	waitUntil(t, memWait, "the flood to fill bob's slots", func() bool { return bob.stats.handshakesEvicted.Load() >= 4 })
	// Alice's link goes down; she redials into the flood.
	for i := range 3 {
		alice.dropLink(onionAddr(bob))
		start := time.Now()
		m := mustSend(t, alice, "b", "through the flood")
		alice.waitFor(t, 5*time.Second, "delivered during the flood", isMsgState(m.ID, Delivered))
		t.Logf("redial %d: delivered in %v during the flood", i, time.Since(start).Round(time.Millisecond))
	}
	close(stop)
	n := <-opened
	if got := bob.hs.inProgress(); got > bt.maxHandshake {
		t.Errorf("%d handshakes hold slots, at most %d", got, bt.maxHandshake)
	}
	t.Logf("%d half-open connections, %d evicted", n, bob.stats.handshakesEvicted.Load())
}

// TestPreAuthTimeout: a connection that never authenticates is closed
// after the short pre-auth deadline, not the link's handshake timeout.
func TestPreAuthTimeout(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.preAuth = 300 * time.Millisecond
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	tr := mem.NewTransport()
	defer tr.Close()
	c, err := tr.Dial(t.Context(), onionAddr(bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(5 * time.Second))
	io.Copy(io.Discard, c) // reads the Hello, then waits for the close
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("silent connection closed after %v, want about %v", took, bt.preAuth)
	}
	waitUntil(t, memWait, "the slot to be free", func() bool { return bob.hs.inProgress() == 0 })
}

// rawPeer is a stranger speaking the wire protocol by hand over memnet,
// with a fresh identity each time (identities are free).
type rawPeer struct {
	key    ed25519.PrivateKey
	pub    ed25519.PublicKey
	bundle []byte
}

func newRawPeer(t testing.TB) rawPeer {
	r, err := makeRawPeer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// makeRawPeer is newRawPeer for goroutines other than the test's.
func makeRawPeer() (rawPeer, error) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return rawPeer{}, err
	}
	id, err := ratchet.NewIdentity(key, time.Now())
	if err != nil {
		return rawPeer{}, err
	}
	b, err := id.Bundle().MarshalBinary()
	if err != nil {
		return rawPeer{}, err
	}
	return rawPeer{key: key, pub: pub, bundle: b}, nil
}

func (r rawPeer) addr() onion.Address { return onion.AddressFromPublicKey(r.pub) }

// request sends one contact request to n and reports whether n acknowledged
// it (stored it) rather than closing the link.
func (r rawPeer) request(t testing.TB, mem *memnet.Network, n *tnode, m *wire.Request) bool {
	t.Helper()
	tr := mem.NewTransport()
	defer tr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), memWait)
	defer cancel()
	c, err := tr.Dial(ctx, onionAddr(n))
	if err != nil {
		t.Fatal(err)
	}
	l, err := wire.Client(ctx, c, r.key, n.pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if m.ID.IsZero() {
		m.ID = wire.NewID()
	}
	if m.Bundle == nil {
		m.Bundle = r.bundle
	}
	if err := l.Send(m); err != nil {
		// Refused so fast that the link closed as the frame went out (Send
		// may then report the close rather than the write).
		return false
	}
	reply, err := l.Recv(ctx)
	if err != nil {
		return false
	}
	ack, ok := reply.(*wire.Ack)
	return ok && ack.ID == m.ID
}

func (r rawPeer) work(t testing.TB, n *tnode, at time.Time) *wire.Work {
	w, err := wire.SolveWork(t.Context(), r.pub, n.pub, at, n.tune.workBits)
	if err != nil {
		t.Fatal(err)
	}
	return &w
}

// TestRequestFlood: fresh identities sending requests as fast as the
// limits allow cannot lock genuine requesters out. A request needs proof of
// work (fresh, for this recipient) or an invite; an invited request skips
// the limits and the pending cap and is never evicted; a full pending list
// evicts its oldest uninvited request. (Before: a request needed only a
// signature, and once the shared bucket was empty or 100 were pending every
// request was refused, invited or not.)
func TestRequestFlood(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.totalRequests = contacts.Rate{Burst: 3, Every: time.Second}
	bt.maxPending = 3
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)

	// No work, stale work, work for someone else: refused, stored nothing.
	now := time.Now()
	eve := newRawPeer(t)
	other := newRawPeer(t)
	for name, w := range map[string]*wire.Work{
		"no work":    nil,
		"stale work": eve.work(t, bob, now.Add(-3*time.Hour)),
		"work for another recipient": func() *wire.Work {
			w, _ := wire.SolveWork(t.Context(), eve.pub, other.pub, now, bt.workBits)
			return &w
		}(),
	} {
		if eve.request(t, mem, bob, &wire.Request{Greeting: name, Work: w}) {
			t.Errorf("request with %s accepted", name)
		}
	}
	if st, _ := bob.Status(t.Context()); st.PendingRequests != 0 {
		t.Fatalf("%d requests stored", st.PendingRequests)
	}

	// The flood: fresh identities with valid work drain the bucket (it
	// refills one a second) and fill the pending list.
	var flood []rawPeer
	refused := 0
	for len(flood) < 3 || refused == 0 {
		r := newRawPeer(t)
		if r.request(t, mem, bob, &wire.Request{Greeting: "spam", Work: r.work(t, bob, time.Now())}) {
			flood = append(flood, r)
		} else {
			refused++
		}
	}
	// (More than 3 got in if the bucket refilled meanwhile: the oldest were
	// evicted, which is checked below.)

	// A new contact with an invite link gets through, through a real node.
	iv, err := bob.CreateInvite(t.Context(), InviteOptions{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	dave := startMem(t, mem, newProfile(t, "dave"))
	if _, err := dave.AddContact(t.Context(), iv.Link, "bob", "hi, dave here"); err != nil {
		t.Fatal(err)
	}
	req := bob.waitFor(t, memWait, "dave's request", isState(dave.Address(), StatePendingIncoming)).(ContactRequestEvent)
	if !req.Contact.Invited {
		t.Errorf("dave's request not marked invited: %+v", req.Contact)
	}
	waitOutbox(t, dave, 0)
	if ivs, _ := bob.Invites(t.Context()); len(ivs) != 0 {
		t.Errorf("a one-use invite is still listed after its use: %+v", ivs)
	}
	// The invite is used up: a second requester with it is a stranger again.
	if r := newRawPeer(t); r.request(t, mem, bob, &wire.Request{Invite: inviteToken(t, iv.Link)}) {
		t.Error("a used-up invite let a request in")
	}

	// The pending list is full of the flood's requests. Whenever the bucket
	// has a token again, a new request evicts the oldest uninvited one,
	// never dave's.
	for range 4 {
		waitUntil(t, memWait, "a token in the bucket", func() bool {
			r := newRawPeer(t)
			return r.request(t, mem, bob, &wire.Request{Greeting: "later", Work: r.work(t, bob, time.Now())})
		})
	}
	for i, r := range flood {
		bob.waitFor(t, memWait, "eviction", func(e Event) bool {
			ce, ok := e.(ContactEvent)
			return ok && ce.Removed && ce.Contact.Address == string(r.addr())
		})
		if _, err := bob.Contact(t.Context(), string(r.addr())); !errors.Is(err, ErrUnknownContact) {
			t.Errorf("flood request %d still pending: %v", i, err)
		}
	}
	cs, _ := bob.Contacts(t.Context())
	pending := 0
	for _, c := range cs {
		if c.State == StatePendingIncoming {
			pending++
		}
	}
	if c, err := bob.Contact(t.Context(), dave.Address()); err != nil || c.State != StatePendingIncoming {
		t.Errorf("dave's invited request: %+v, %v", c, err)
	}
	if pending != 4 {
		t.Errorf("%d pending, want 3 uninvited + dave", pending)
	}
	// And bob can accept dave as usual.
	if _, err := bob.AcceptContact(t.Context(), dave.Address()); err != nil {
		t.Fatal(err)
	}
	dave.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))
}

func inviteToken(t testing.TB, link string) []byte {
	_, tok, err := ParseLink(link)
	if err != nil || tok == nil {
		t.Fatalf("ParseLink(%q) = %v, %v", link, tok, err)
	}
	return tok
}

// TestInviteAfterRefusal: a request refused by the flood limits gets
// through once the user adds the invite link they got meanwhile: the
// queued request takes the token.
func TestInviteAfterRefusal(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.totalRequests = contacts.Rate{Burst: 1, Every: time.Hour}
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	r := newRawPeer(t)
	if !r.request(t, mem, bob, &wire.Request{Work: r.work(t, bob, time.Now())}) {
		t.Fatal("first request refused")
	}
	carol := startMem(t, mem, newProfile(t, "carol"))
	if _, err := carol.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	p := carol.peer(onionAddr(bob))
	waitUntil(t, memWait, "carol's request to be refused", func() bool {
		carol.Node.mu.Lock()
		defer carol.Node.mu.Unlock()
		return p.failures > 0
	})
	iv, err := bob.CreateInvite(t.Context(), InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.AddContact(t.Context(), iv.Link, "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "carol's request", isState(carol.Address(), StatePendingIncoming))
	waitOutbox(t, carol, 0)
}

// TestPendingLinkIdle: a requester the user has not answered is limited
// like a stranger: its links close when idle. (Before: once pending, its
// links counted as a contact's and stayed up for ever.)
func TestPendingLinkIdle(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	// Long enough for the test to see the link up before it idles out,
	// under -race on a loaded machine (300 ms was not).
	bt.strangerIdle = 1500 * time.Millisecond
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	eve := startMem(t, mem, newProfile(t, "eve"))
	if _, err := eve.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "request", isState(eve.Address(), StatePendingIncoming))
	waitOutbox(t, eve, 0)
	ep := bob.peer(onionAddr(eve))
	waitLink(t, bob, ep, func(l *wire.Link) bool { return l == nil })

	// Eve, now pending at bob, connects again and sends nothing.
	c, err := eve.book.Lookup(t.Context(), onionAddr(bob))
	if err != nil {
		t.Fatal(err)
	}
	p := eve.peer(onionAddr(bob))
	waitLink(t, eve, p, func(l *wire.Link) bool { return l == nil }) // eve saw it close too
	eve.Node.mu.Lock()
	p.reconnect = 1
	p.failures, p.nextDial = 0, time.Time{} // the idled-out link counted as a failed dial
	eve.Node.mu.Unlock()
	eve.startDelivery(p, c.ID)
	eve.redialNow(p)
	waitLink(t, bob, ep, func(l *wire.Link) bool { return l != nil })
	bob.Node.mu.Lock()
	counted := ep.stranger
	bob.Node.mu.Unlock()
	if !counted {
		t.Error("a pending requester's link is not counted with strangers'")
	}
	waitLink(t, bob, ep, func(l *wire.Link) bool { return l == nil })
}

// TestStrangerSlotsEvict: when every stranger slot is taken, the link that
// has been up longest makes room rather than the newcomer being refused.
func TestStrangerSlotsEvict(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.maxStrangers = 2
	bt.strangerIdle = time.Minute
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	var links []*wire.Link
	for range 3 {
		r := newRawPeer(t)
		tr := mem.NewTransport()
		defer tr.Close()
		c, err := tr.Dial(t.Context(), onionAddr(bob))
		if err != nil {
			t.Fatal(err)
		}
		l, err := wire.Client(t.Context(), c, r.key, bob.pub, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		links = append(links, l)
		waitUntil(t, memWait, "the link to be adopted", func() bool {
			bob.Node.mu.Lock()
			defer bob.Node.mu.Unlock()
			p := bob.peers[r.addr()]
			return p != nil && p.link != nil
		})
	}
	select {
	case <-links[0].Done():
	case <-time.After(memWait):
		t.Fatal("the oldest stranger's link was not closed")
	}
	for _, l := range links[1:] {
		if l.Err() != nil {
			t.Errorf("a newer stranger's link closed: %v", l.Err())
		}
	}
	if got := bob.stats.strangersEvicted.Load(); got != 1 {
		t.Errorf("%d evictions, want 1", got)
	}
}

// TestContactRateLimit: a contact sending faster than its budget is slowed
// down (its link stops being read), nothing is lost or reordered. (Before:
// no budget.)
func TestContactRateLimit(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.messageRate = rate{burst: 5, every: 100 * time.Millisecond}
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	alice := startMem(t, mem, newProfile(t, "alice"))
	befriend(t, alice, bob, memWait)
	want := texts("flood", 25)
	start := time.Now()
	for _, s := range want {
		mustSend(t, alice, "b", s)
	}
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), len(want)), want)
	// 5 at once, then one per 100 ms.
	if took := time.Since(start); took < 19*100*time.Millisecond {
		t.Errorf("25 messages in %v: faster than the budget allows", took)
	}
	if bob.stats.throttled.Load() == 0 {
		t.Error("nothing throttled")
	}
}

// TestTypingFlood: typing frames over budget are dropped, not queued.
func TestTypingFlood(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bob := startMem(t, mem, newProfile(t, "bob"))
	alice := startMem(t, mem, newProfile(t, "alice"))
	befriend(t, alice, bob, memWait)
	l := alice.currentLink(alice.peer(onionAddr(bob)))
	if l == nil {
		t.Fatal("no link")
	}
	for range 200 {
		if err := l.Send(&wire.Typing{}); err != nil {
			t.Fatal(err)
		}
	}
	mustSend(t, alice, "b", "marker") // after the typing frames on the link
	bob.waitReceived(t, memWait, alice.Address(), 1)
	if d := bob.stats.typingDropped.Load(); d < 190 {
		t.Errorf("%d of 200 typing frames dropped, want all but the burst", d)
	}
	if n := bob.count(func(e Event) bool { _, ok := e.(TypingEvent); return ok }); n > 3 {
		t.Errorf("%d typing events shown", n)
	}
}

// TestUnreadQuota: a contact with more unread messages than the quota
// waits (its messages stay in its outbox) until the user reads.
func TestUnreadQuota(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.unreadQuota = 5
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	alice := startMem(t, mem, newProfile(t, "alice"))
	befriend(t, alice, bob, memWait)
	want := texts("q", 8)
	for _, s := range want {
		mustSend(t, alice, "b", s)
	}
	// The events of what was stored reach the test after bob stops.
	waitUntil(t, memWait, "bob to stop at the quota", func() bool {
		return bob.stats.quotaWaits.Load() > 0 && len(bob.received(alice.Address())) >= 5
	})
	time.Sleep(200 * time.Millisecond) // nothing more comes
	if got := bob.received(alice.Address()); len(got) != 5 {
		t.Fatalf("bob took %d messages over a quota of 5", len(got))
	}
	if err := bob.MarkRead(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 8), want)
	waitOutbox(t, alice, 0)
}

// TestDecryptFailuresCoalesced: a stream of undecryptable messages makes
// one notice, then one summary, not one notice each.
func TestDecryptFailuresCoalesced(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.failWindow = time.Second
	var logs syncBuffer
	dir := newProfile(t, "bob")
	bob := openNode(t, Options{Dir: dir, Passphrase: testPass, Transport: memTransport(mem), tune: bt,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := bob.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	alice := startMem(t, mem, newProfile(t, "alice"))
	befriend(t, alice, bob, memWait)
	l := alice.currentLink(alice.peer(onionAddr(bob)))
	if l == nil {
		t.Fatal("no link")
	}
	start := time.Now()
	for range 20 {
		if err := l.Send(&wire.Message{ID: wire.NewID(), Ciphertext: []byte("not a ratchet message")}); err != nil {
			t.Fatal(err)
		}
	}
	sent := time.Since(start)
	// Every failure is told, but in few notices: the first at once, the rest
	// summed up ("N more") once per window.
	var notices []string
	told := func() int {
		notices = nil
		n := 0
		bob.count(func(e Event) bool {
			ee, ok := e.(ErrorEvent)
			if !ok {
				return false
			}
			notices = append(notices, ee.Message)
			var more int
			if _, err := fmt.Sscanf(ee.Message, "%d more messages", &more); err == nil {
				n += more
			} else {
				n++
			}
			return true
		})
		return n
	}
	waitUntil(t, memWait, "every failure to be told", func() bool { return told() >= 20 })
	// Handling them may span windows on a slow machine: one notice per window.
	took := time.Since(start)
	windows := 2 + int(took/bt.failWindow)
	if told() != 20 || len(notices) < 2 || len(notices) > windows {
		t.Errorf("20 undecryptable messages (sent in %v) told in %v as %q; want 20 in 2 to %d notices", sent, took, notices, windows)
	}
	if n := strings.Count(logs.String(), "undecryptable"); n != len(notices) {
		t.Errorf("%d log lines for %d notices", n, len(notices))
	}
	// The link survived, and real messages still come through.
	mustSend(t, alice, "b", "real")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"real"})
}

// TestSeenPruned: the seen table is pruned, and a message whose seen row
// is gone is still recognised (by its stored row): acknowledged without
// being decrypted or shown again.
func TestSeenPruned(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.seenMaxAge = time.Millisecond
	bt.pruneEvery = 50 * time.Millisecond
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	alice := startMem(t, mem, newProfile(t, "alice"))
	befriend(t, alice, bob, memWait)
	waitOutbox(t, bob, 0)
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	m := mustSend(t, alice, bob.Address(), "once")
	c, _ := alice.book.Lookup(t.Context(), onionAddr(bob))
	items, err := alice.db.Outbox(t.Context(), c.ID)
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox = %v, %v", items, err)
	}
	mem.SetOffline(onionAddr(bob), false)
	alice.redialNow(alice.peer(onionAddr(bob)))
	alice.waitFor(t, memWait, "delivered", isMsgState(m.ID, Delivered))
	bc, _ := bob.book.Lookup(t.Context(), onionAddr(alice))
	waitUntil(t, memWait, "bob's seen ids to be pruned", func() bool {
		n, err := bob.db.CountSeen(t.Context(), bc.ID)
		return err == nil && n == 0
	})
	l := alice.currentLink(alice.peer(onionAddr(bob)))
	if l == nil {
		t.Fatal("no link")
	}
	if err := l.SendFrame(items[0].Frame); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, bob.Address(), "marker")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 2), []string{"once", "marker"})
	if n := bob.decrypts.Load(); n != 2 {
		t.Errorf("bob decrypted %d times for 2 messages", n)
	}
	if n := bob.count(func(e Event) bool { _, ok := e.(ErrorEvent); return ok }); n != 0 {
		t.Errorf("%d error events", n)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsNameContactsByID: logs say "#<id>" (or "stranger-<n>"), never an
// address or its prefix, even inside errors from the network. (Before:
// every peer was logged by its address's first 8 characters.)
func TestLogsNameContactsByID(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := func(name string) *tnode {
		n := openNode(t, Options{Dir: newProfile(t, name), Passphrase: testPass, Transport: memTransport(mem), tune: fastTuning(), Logger: logger})
		if err := n.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		return n
	}
	alice, bob := start("alice"), start("bob")
	befriend(t, alice, bob, memWait)
	mustSend(t, alice, "b", "hi")
	bob.waitReceived(t, memWait, alice.Address(), 1)
	// A stranger too.
	r := newRawPeer(t)
	r.request(t, mem, bob, &wire.Request{})
	// A failing dial: the error names the address it could not reach.
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	mustSend(t, alice, "b", "later")
	p := alice.peer(onionAddr(bob))
	waitUntil(t, memWait, "a failed dial", func() bool {
		alice.Node.mu.Lock()
		defer alice.Node.mu.Unlock()
		return p.failures > 0
	})
	out := logs.String()
	for _, a := range []onion.Address{onionAddr(alice), onionAddr(bob), r.addr()} {
		if strings.Contains(out, a.Short()) {
			t.Errorf("the log names %s by its address:\n%s", a.Short(), out)
		}
	}
	for _, want := range []string{"peer=#1", "stranger-"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

func TestParseLink(t *testing.T) {
	addr := onion.AddressFromPublicKey(newRawPeer(t).pub)
	tok := bytes.Repeat([]byte{0xab}, wire.InviteSize)
	link := addr.URI() + "?invite=" + strings.ToLower(tokenEncoding.EncodeToString(tok))
	for _, in := range []string{link, strings.ToUpper(link), "  " + link + "\n", string(addr) + ".onion?invite=" + strings.ToLower(tokenEncoding.EncodeToString(tok))} {
		a, got, err := ParseLink(in)
		if err != nil || a != addr || !bytes.Equal(got, tok) {
			t.Errorf("ParseLink(%q) = %s, %x, %v", in, a, got, err)
		}
	}
	if a, got, err := ParseLink(addr.URI()); err != nil || a != addr || got != nil {
		t.Errorf("plain address: %s, %x, %v", a, got, err)
	}
	for _, bad := range []string{link[:len(link)-1], addr.URI() + "?invite=", addr.URI() + "?x=1", link + "&x=1", addr.URI() + "?"} {
		if _, _, err := ParseLink(bad); !errors.Is(err, ErrBadLink) {
			t.Errorf("ParseLink(%q): %v, want ErrBadLink", bad, err)
		}
	}
	if _, _, err := ParseLink("chive:nope?invite=x"); !errors.Is(err, onion.ErrAddressLength) {
		t.Errorf("bad address: %v", err)
	}
}

func TestInviteAPI(t *testing.T) {
	checkLeaks(t)
	n := openNode(t, Options{Dir: newProfile(t, "a"), Passphrase: testPass})
	ctx := t.Context()
	iv, err := n.CreateInvite(ctx, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if iv.MaxUses != 1 || iv.Expires.Sub(iv.Created) != defaultInviteLife || !strings.HasPrefix(iv.Link, n.addr.URI()+"?invite=") {
		t.Errorf("default invite %+v", iv)
	}
	if a, tok, err := ParseLink(iv.Link); err != nil || a != n.addr || len(tok) != wire.InviteSize {
		t.Errorf("the link does not parse back: %v", err)
	}
	for _, o := range []InviteOptions{{Uses: -1}, {Expires: time.Now().Add(-time.Minute)}, {Expires: time.Now().Add(2 * maxInviteLife)}, {Uses: maxInviteUses + 1}} {
		if _, err := n.CreateInvite(ctx, o); err == nil {
			t.Errorf("invite %+v made", o)
		}
	}
	iv2, _ := n.CreateInvite(ctx, InviteOptions{Uses: 5, Expires: time.Now().Add(time.Hour)})
	ivs, err := n.Invites(ctx)
	if err != nil || len(ivs) != 2 || ivs[0].ID != iv.ID || ivs[1].MaxUses != 5 {
		t.Fatalf("Invites = %+v, %v", ivs, err)
	}
	if err := n.RevokeInvite(ctx, iv.ID); err != nil {
		t.Fatal(err)
	}
	if err := n.RevokeInvite(ctx, iv.ID); !errors.Is(err, ErrUnknownInvite) {
		t.Errorf("revoking twice: %v", err)
	}
	if ivs, _ := n.Invites(ctx); len(ivs) != 1 || ivs[0].ID != iv2.ID {
		t.Errorf("after revoke: %+v", ivs)
	}
}
