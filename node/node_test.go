package node

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/wire"
)

func onionAddr(n *tnode) onion.Address { return n.addr }

const memWait = 60 * time.Second

func TestRequestAcceptChat(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	ctx := t.Context()

	if _, err := alice.Send(ctx, bob.Address(), "too early"); !errors.Is(err, ErrUnknownContact) {
		t.Fatalf("send to a stranger: %v, want ErrUnknownContact", err)
	}
	c, err := alice.AddContact(ctx, "chive:"+bob.Address(), "bob", "hi bob, it's alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != StateRequested || c.Name != "bob" {
		t.Fatalf("added contact = %+v", c)
	}
	if _, err := alice.Send(ctx, "bob", "still too early"); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("send before acceptance: %v, want ErrNotAccepted", err)
	}
	ev := bob.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming)).(ContactRequestEvent)
	if ev.Contact.Greeting != "hi bob, it's alice" {
		t.Errorf("greeting = %q", ev.Contact.Greeting)
	}
	if _, err := bob.AcceptContact(ctx, alice.Address()); err != nil {
		t.Fatal(err)
	}
	if err := bob.RenameContact(ctx, alice.Address(), "alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))

	// Bob may write first (the accepter can encrypt at once).
	m, err := bob.Send(ctx, "alice", "hello alice")
	if err != nil {
		t.Fatal(err)
	}
	if m.State != Queued || m.Direction != Outgoing || len(m.ID) != 32 {
		t.Fatalf("sent message = %+v", m)
	}
	bob.waitFor(t, memWait, "delivered", isMsgState(m.ID, Delivered))
	for i := range 5 {
		if _, err := alice.Send(ctx, "bob", texts("a", 5)[i]); err != nil {
			t.Fatal(err)
		}
	}
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 5), texts("a", 5))
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 1), []string{"hello alice"})

	// Read receipts: on by default.
	if err := alice.MarkRead(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "read receipt", isMsgState(m.ID, Read))
	h, err := bob.History(ctx, "alice", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 6 || h[len(h)-1].ID != m.ID || h[len(h)-1].State != Read {
		t.Fatalf("history = %+v", h)
	}
	older, err := bob.History(ctx, "alice", h[2].ID, 10)
	if err != nil || len(older) != 3 || older[0].ID != h[3].ID {
		t.Fatalf("History before %s = %+v, %v", h[2].ID, older, err)
	}
	inbox, err := bob.Inbox(ctx, InboxQuery{Contact: "alice"})
	if err != nil || len(inbox) != 5 || inbox[0].Text != "a-0000" {
		t.Fatalf("Inbox = %+v, %v", inbox, err)
	}

	// With receipts off, marking read tells the sender nothing.
	if err := bob.SetSettings(ctx, Settings{ReadReceipts: false, Typing: true}); err != nil {
		t.Fatal(err)
	}
	if s, _ := bob.Settings(ctx); s.ReadReceipts || !s.Typing {
		t.Fatalf("settings = %+v", s)
	}
	if err := bob.MarkRead(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if st, _ := bob.Status(ctx); st.Outbox != 0 {
		t.Errorf("outbox after MarkRead without receipts = %d", st.Outbox)
	}

	// Typing: delivered, ephemeral, rate-limited.
	for range 5 {
		if err := alice.Typing(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	bob.waitFor(t, memWait, "typing", func(e Event) bool { _, ok := e.(TypingEvent); return ok })

	sa, sb := mustSafety(t, alice, "bob"), mustSafety(t, bob, "alice")
	if sa != sb || sa == "" {
		t.Errorf("safety numbers differ: %q vs %q", sa, sb)
	}
	st, err := alice.Status(ctx)
	if err != nil || !st.Reachable || st.Contacts != 1 || st.ContactsOnline != 1 || st.Address != alice.Address() {
		t.Errorf("status = %+v, %v", st, err)
	}
	cs, err := bob.Contacts(ctx)
	if err != nil || len(cs) != 1 || cs[0].Presence != Online || cs[0].LastMessage == "" {
		t.Errorf("contacts = %+v, %v", cs, err)
	}
}

func mustSend(t testing.TB, n *tnode, ref, text string) Message {
	t.Helper()
	m, err := n.Send(t.Context(), ref, text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSafety(t *testing.T, n *tnode, ref string) string {
	s, err := n.SafetyNumber(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOfflineDeliveryInOrder(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bobDir := newProfile(t, "bob")
	bob := startMem(t, mem, bobDir)
	befriend(t, alice, bob, memWait)
	bob.Close()

	const count = 100
	want := texts("offline", count)
	for _, s := range want {
		if _, err := alice.Send(t.Context(), bob.Address(), s); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := alice.Status(t.Context()); st.Outbox != count {
		t.Fatalf("outbox = %d, want %d", st.Outbox, count)
	}
	bob = startMem(t, mem, bobDir)
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), count), want)
	waitOutbox(t, alice, 0)
	// Nothing arrives twice, even after a reconnect that resends: a marker
	// sent after bob's tor restarts arrives after anything resent.
	mem.Fail(onionAddr(bob))
	mustSend(t, alice, bob.Address(), "marker")
	want = append(want, "marker")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), count+1), want)
	h, _ := bob.History(t.Context(), alice.Address(), "", 1000)
	if len(h) != count+1 {
		t.Fatalf("history has %d messages, want %d", len(h), count+1)
	}
}

func TestAcceptWhileRequesterOffline(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	aliceDir := newProfile(t, "alice")
	alice := startMem(t, mem, aliceDir)
	bob := startMem(t, mem, newProfile(t, "bob"))
	if _, err := alice.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))
	alice.Close()

	// Days later (well): Bob accepts and even writes while Alice is away.
	if _, err := bob.AcceptContact(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(t.Context(), alice.Address(), "welcome"); err != nil {
		t.Fatal(err)
	}
	if st, _ := bob.Status(t.Context()); st.Outbox != 2 {
		t.Fatalf("bob's outbox = %d, want acceptance + message", st.Outbox)
	}
	alice = startMem(t, mem, aliceDir)
	alice.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 1), []string{"welcome"})
	if _, err := alice.Send(t.Context(), "bob", "thanks"); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"thanks"})
}

func TestMutualRequest(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	// Each adds the other before hearing from them.
	mem.SetOffline(onionAddr(alice), true)
	mem.SetOffline(onionAddr(bob), true)
	if _, err := alice.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AddContact(t.Context(), alice.Address(), "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	mem.SetOffline(onionAddr(alice), false)
	mem.SetOffline(onionAddr(bob), false)
	alice.redialNow(alice.peer(onionAddr(bob)))
	bob.redialNow(bob.peer(onionAddr(alice)))
	alice.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))
	bob.waitFor(t, memWait, "accepted", isState(alice.Address(), StateAccepted))
	// One session: both directions decrypt.
	mustSend(t, alice, "bob", "from alice")
	mustSend(t, bob, "alice", "from bob")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"from alice"})
	checkInOrder(t, alice.waitReceived(t, memWait, bob.Address(), 1), []string{"from bob"})
}

func TestBlock(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	mallory := startMem(t, mem, newProfile(t, "mallory"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	if _, err := mallory.AddContact(t.Context(), bob.Address(), "bob", "buy now"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "request", isState(mallory.Address(), StatePendingIncoming))
	if err := bob.BlockContact(t.Context(), mallory.Address()); err != nil {
		t.Fatal(err)
	}
	// Mallory tries again: the request is swallowed (acknowledged, so she
	// cannot tell a block from a pending request) and Bob hears nothing.
	if err := mallory.RemoveContact(t.Context(), "bob", false); err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.AddContact(t.Context(), bob.Address(), "bob", "buy now!!"); err != nil {
		t.Fatal(err)
	}
	waitOutbox(t, mallory, 0)
	if got := bob.count(func(e Event) bool { _, ok := e.(ContactRequestEvent); return ok }); got != 1 {
		t.Fatalf("bob saw %d requests, want 1", got)
	}
	c, err := bob.Contact(t.Context(), mallory.Address())
	if err != nil || c.State != StateBlocked {
		t.Fatalf("mallory at bob = %+v, %v", c, err)
	}
	// A stranger's address can be blocked before it ever asks.
	eve := startMem(t, mem, newProfile(t, "eve"))
	if err := bob.BlockContact(t.Context(), eve.Address()); err != nil {
		t.Fatal(err)
	}
	eve.AddContact(t.Context(), bob.Address(), "bob", "hi")
	waitOutbox(t, eve, 0)
	if got := bob.count(func(e Event) bool { _, ok := e.(ContactRequestEvent); return ok }); got != 1 {
		t.Fatalf("bob saw %d requests, want 1", got)
	}
}

func TestTorRestart(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	for i := range 3 {
		mem.Fail(onionAddr(bob)) // bob's tor dies, links with it
		mustSend(t, alice, bob.Address(), texts("r", 3)[i])
	}
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 3), texts("r", 3))
	if n := bob.count(func(e Event) bool { r, ok := e.(ReachableEvent); return ok && r.Reachable }); n < 2 {
		t.Errorf("bob was reachable %d times, want a restart", n)
	}
	// With nothing to send, bob still reconnects to the contacts it was
	// linked with: they may hold a stale descriptor of his onion service.
	waitOutbox(t, alice, 0)
	mem.Fail(onionAddr(bob))
	waitUntil(t, memWait, "bob to reconnect after his tor restarted", func() bool {
		l := bob.currentLink(bob.peer(onionAddr(alice)))
		return l != nil && l.Dialed()
	})
}

// TestSimultaneousDials: when both sides dial at once, both keep the same
// one link, the one dialed by the smaller address. A side whose dial has
// not started when the other's link comes up does not dial at all; then
// the one link there is kept, whoever dialed it.
func TestSimultaneousDials(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	aliceSmaller := alice.Address() < bob.Address()
	const rounds = 10
	both := 0 // rounds in which both dials connected
	for round := range rounds {
		toAlice, toBob := mem.Connects(onionAddr(alice)), mem.Connects(onionAddr(bob))
		// Drop the link, queue on both sides, and let both dial at once.
		mem.SetOffline(onionAddr(alice), true)
		mem.SetOffline(onionAddr(bob), true)
		alice.dropLink(onionAddr(bob))
		bob.dropLink(onionAddr(alice))
		mustSend(t, alice, bob.Address(), texts("a", rounds)[round])
		mustSend(t, bob, alice.Address(), texts("b", rounds)[round])
		mem.SetOffline(onionAddr(alice), false)
		mem.SetOffline(onionAddr(bob), false)
		alice.redialNow(alice.peer(onionAddr(bob)))
		bob.redialNow(bob.peer(onionAddr(alice)))
		bob.waitReceived(t, memWait, alice.Address(), round+1)
		alice.waitReceived(t, memWait, bob.Address(), round+1)

		// Wait until both use one link; if both dials connected, it must
		// be the smaller address's.
		deadline := time.Now().Add(memWait)
		for {
			bothDialed := mem.Connects(onionAddr(alice)) > toAlice && mem.Connects(onionAddr(bob)) > toBob
			la, lb := alice.currentLink(alice.peer(onionAddr(bob))), bob.currentLink(bob.peer(onionAddr(alice)))
			agree := la != nil && lb != nil && la.Dialed() != lb.Dialed()
			if agree && (!bothDialed || la.Dialed() == aliceSmaller) {
				if bothDialed {
					both++
				}
				break
			}
			if time.Now().After(deadline) {
				if agree {
					t.Fatalf("round %d: both dialed and both kept the link dialed by the larger address", round)
				}
				t.Fatalf("round %d: alice and bob did not settle on one link: alice %v, bob %v", round, la, lb)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	checkInOrder(t, bob.received(alice.Address()), texts("a", rounds))
	checkInOrder(t, alice.received(bob.Address()), texts("b", rounds))
	if both == 0 {
		t.Errorf("in none of %d rounds did both dials connect: the rule was not exercised", rounds)
	}
	t.Logf("both dials connected in %d of %d rounds", both, rounds)
}

func TestLifecycle(t *testing.T) {
	checkLeaks(t)
	dir := newProfile(t, "alice")
	if _, err := Open(t.Context(), Options{Dir: dir, Passphrase: []byte("wrong")}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := Open(t.Context(), Options{Dir: t.TempDir(), Passphrase: testPass}); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("no profile: %v", err)
	}
	if !ProfileExists(dir) {
		t.Fatal("ProfileExists = false")
	}
	if need, err := NeedsPassphrase(dir); err != nil || !need {
		t.Fatalf("NeedsPassphrase = %v, %v", need, err)
	}
	n, err := Open(t.Context(), Options{Dir: dir, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	var locked *LockedError
	if _, err := Open(t.Context(), Options{Dir: dir, Passphrase: testPass}); !errors.As(err, &locked) {
		t.Fatalf("second open: %v, want *LockedError", err)
	}
	if n.Dir() != dir {
		t.Errorf("Dir = %q", n.Dir())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := n.Status(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Status after Close: %v", err)
	}
	if err := n.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	// The lock is released.
	fast := filepath.Join(t.TempDir(), "fast")
	addr, err := CreateProfileWith(t.Context(), fast, ProfileOptions{Name: "x", Passphrase: testPass, InsecureFastKDF: true})
	if err != nil || len(addr) != 56 {
		t.Fatalf("CreateProfileWith = %q, %v", addr, err)
	}
	n, err = Open(t.Context(), Options{Dir: dir, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
}

func TestSubscribeSlowReader(t *testing.T) {
	b := newBroker()
	ctx := t.Context()
	ch, err := b.subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads while a flood of events arrives.
	for i := range 1000 {
		b.publish(TorProgressEvent{Tor: TorStatus{Percent: i % 101}})
		b.publish(PresenceEvent{Address: "x", Presence: Online})
		b.publish(MessageEvent{Message: Message{Seq: int64(i)}})
	}
	var msgs, progress, presence int
	timeout := time.After(10 * time.Second)
	for msgs < 1000 {
		select {
		case e := <-ch:
			switch e := e.(type) {
			case MessageEvent:
				if e.Message.Seq != int64(msgs) {
					t.Fatalf("message %d out of order: %d", msgs, e.Message.Seq)
				}
				msgs++
			case TorProgressEvent:
				progress++
			case PresenceEvent:
				presence++
			}
		case <-timeout:
			t.Fatalf("got %d of 1000 messages", msgs)
		}
	}
	if progress > 2 || presence > 2 {
		t.Errorf("droppable events delivered: %d progress, %d presence; want coalesced to 1 each", progress, presence)
	}
}

func TestBackoff(t *testing.T) {
	n := &Node{tune: defaultTuning()}
	for f := 1; f < 30; f++ {
		want := n.tune.backoffMin << (f - 1)
		if f > 20 || want > n.tune.backoffMax {
			want = n.tune.backoffMax
		}
		for range 20 {
			d := n.backoff(f)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", f, d, want/2, want)
			}
		}
	}
}

// TestBackoffResetByPeer: a peer that connects to us resets our backoff
// for it, so its queued messages need not wait out a long delay.
func TestBackoffResetByPeer(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	at := fastTuning()
	at.backoffMin, at.backoffMax = time.Hour, time.Hour
	alice := startMemTuned(t, mem, newProfile(t, "alice"), at)
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	waitOutbox(t, bob, 0) // the acceptance is acknowledged: bob has no reason to dial
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	mustSend(t, alice, bob.Address(), "waiting")
	p := alice.peer(onionAddr(bob))
	waitUntil(t, memWait, "alice to fail a dial", func() bool {
		alice.Node.mu.Lock()
		defer alice.Node.mu.Unlock()
		return p.failures > 0
	})
	// Alice now waits about an hour. Bob writes, so he dials her.
	mem.SetOffline(onionAddr(bob), false)
	mustSend(t, bob, alice.Address(), "hi")
	checkInOrder(t, bob.waitReceived(t, memWait, alice.Address(), 1), []string{"waiting"})
	alice.Node.mu.Lock()
	defer alice.Node.mu.Unlock()
	if p.failures != 0 || !p.nextDial.IsZero() {
		t.Errorf("backoff not reset: failures %d, next dial %v", p.failures, p.nextDial)
	}
}

// TestStrangerLinks: a stranger's idle link is closed; once the stranger is
// an accepted contact, the same link stays up.
func TestStrangerLinks(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	tune := fastTuning()
	// Long enough for AcceptContact below to commit before alice's link
	// idles out: a pending requester's link closes when idle, like a
	// stranger's (300 ms, then 1 s, failed now and then under -race).
	tune.strangerIdle = 2 * time.Second
	bob := startMemTuned(t, mem, newProfile(t, "bob"), tune)
	alice := startMem(t, mem, newProfile(t, "alice"))
	eve := startMem(t, mem, newProfile(t, "eve"))

	// Eve asks and is left pending: her link is closed when idle.
	if _, err := eve.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "request", isState(eve.Address(), StatePendingIncoming))
	ep := bob.peer(onionAddr(eve))
	waitLink(t, bob, ep, func(l *wire.Link) bool { return l == nil })

	// Alice asks and is accepted on her link, which then stays.
	if _, err := alice.AddContact(t.Context(), bob.Address(), "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, memWait, "request", isState(alice.Address(), StatePendingIncoming))
	ap := bob.peer(onionAddr(alice))
	l := bob.currentLink(ap)
	if l == nil {
		t.Fatal("alice's link is gone already")
	}
	if _, err := bob.AcceptContact(t.Context(), alice.Address()); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, memWait, "accepted", isState(bob.Address(), StateAccepted))
	// When the idle timer of alice's link fires, bob finds she is a contact
	// now and stops counting it as a stranger's (or, wrongly, closes it).
	waitUntil(t, memWait, "no link counted as a stranger's", func() bool {
		bob.Node.mu.Lock()
		defer bob.Node.mu.Unlock()
		return bob.strangers == 0
	})
	if got := bob.currentLink(ap); got != l {
		t.Fatalf("accepted contact's link replaced or closed: %p → %p", l, got)
	}
}

func waitLink(t *testing.T, n *tnode, p *peer, cond func(*wire.Link) bool) {
	t.Helper()
	waitUntil(t, memWait, "the link condition", func() bool { return cond(n.currentLink(p)) })
}

// TestRateLimitedRequestBacksOff: a request over the recipient's limit is
// not acknowledged and its link is closed; the requester retries with
// backoff rather than in a tight loop, and gets through later.
func TestRateLimitedRequestBacksOff(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	bt := fastTuning()
	bt.perAddress = contacts.Rate{Burst: 1, Every: 2 * time.Second}
	bob := startMemTuned(t, mem, newProfile(t, "bob"), bt)
	mt := fastTuning()
	mt.backoffMin, mt.backoffMax = 200*time.Millisecond, 400*time.Millisecond
	mallory := startMemTuned(t, mem, newProfile(t, "mallory"), mt)

	mallory.AddContact(t.Context(), bob.Address(), "bob", "1")
	bob.waitFor(t, memWait, "first request", isState(mallory.Address(), StatePendingIncoming))
	waitOutbox(t, mallory, 0)
	if err := bob.DeclineContact(t.Context(), mallory.Address()); err != nil {
		t.Fatal(err)
	}
	mallory.RemoveContact(t.Context(), "bob", false)
	before, start := mem.Dials(onionAddr(bob)), time.Now()
	mallory.AddContact(t.Context(), bob.Address(), "bob", "2") // over the limit for ~2 s
	// When the bucket refills, the request gets through.
	waitOutbox(t, mallory, 0)
	// Until then every refused dial was followed by at least the shortest
	// backoff; without backoff there would be hundreds.
	elapsed := time.Since(start)
	if d, most := mem.Dials(onionAddr(bob))-before, 2+int(elapsed/(mt.backoffMin/2)); d > most {
		t.Errorf("%d dials in %v to a peer that refuses the request, at most %d with backoff", d, elapsed.Round(time.Millisecond), most)
	}
	if n := bob.count(func(e Event) bool { _, ok := e.(ContactRequestEvent); return ok }); n != 2 {
		t.Errorf("bob saw %d requests, want 2", n)
	}
}

// TestDuplicateFrame: a message frame that arrives again (a resend after a
// lost ack) is acknowledged without being decrypted or shown twice.
func TestDuplicateFrame(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	waitOutbox(t, bob, 0)
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	m := mustSend(t, alice, bob.Address(), "once")
	c, err := alice.book.Lookup(t.Context(), onionAddr(bob))
	if err != nil {
		t.Fatal(err)
	}
	items, err := alice.db.Outbox(t.Context(), c.ID)
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox = %v, %v", items, err)
	}
	frame := items[0].Frame
	mem.SetOffline(onionAddr(bob), false)
	alice.redialNow(alice.peer(onionAddr(bob)))
	alice.waitFor(t, memWait, "delivered", isMsgState(m.ID, Delivered))

	l := alice.currentLink(alice.peer(onionAddr(bob)))
	if l == nil {
		t.Fatal("no link")
	}
	for range 3 {
		if err := l.SendFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	mustSend(t, alice, bob.Address(), "twice?") // a marker after the duplicates
	// In order on the link: once the marker is in, the duplicates were handled.
	got := bob.waitReceived(t, memWait, alice.Address(), 2)
	checkInOrder(t, got, []string{"once", "twice?"})
	if n := bob.count(func(e Event) bool { _, ok := e.(ErrorEvent); return ok }); n != 0 {
		t.Errorf("%d error events", n)
	}
	if n := bob.decrypts.Load(); n != int64(len(got)) {
		t.Errorf("bob decrypted %d times for %d messages: duplicates were decrypted", n, len(got))
	}
}

// TestInboxKeepsRemovedContacts: a contact removed with its history kept
// still names its messages in the inbox.
func TestInboxKeepsRemovedContacts(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	mustSend(t, alice, "b", "keep me")
	bob.waitReceived(t, memWait, alice.Address(), 1)
	if err := bob.RenameContact(t.Context(), alice.Address(), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := bob.RemoveContact(t.Context(), "alice", true); err != nil {
		t.Fatal(err)
	}
	ms, err := bob.Inbox(t.Context(), InboxQuery{})
	if err != nil || len(ms) != 1 {
		t.Fatalf("inbox = %+v, %v", ms, err)
	}
	if m := ms[0]; m.Text != "keep me" || m.Contact != "alice" || m.Address != alice.Address() {
		t.Errorf("inbox message = %+v", m)
	}
}
