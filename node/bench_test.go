package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Benchmarks over real tor processes on the shared private network. The
// Alice–Bob pair is set up once for all of them (closed at exit).
var (
	pairOnce     sync.Once
	pairA, pairB *tnode
	pairErr      error
)

// benchOwner is a testing.TB whose cleanups run when the test binary ends
// (testnet.AtExit), so a fixture outlives the benchmark function (which
// runs several times).
type benchOwner struct{ testing.TB }

func (benchOwner) Cleanup(f func()) { testnet.AtExit(f) }

func (benchOwner) TempDir() string {
	d, err := os.MkdirTemp("", "chive-bench-")
	if err != nil {
		panic(err)
	}
	testnet.AtExit(func() { os.RemoveAll(d) })
	return d
}

// benchOptions are torOptions for a benchmark node: the flood guard's
// per-contact budgets (issue 13: 500 messages, then 50 a second; acks 1,000
// then 200 a second) and unread quota are lifted, so a burst measures the
// pipeline, not the guard's policy.
func benchOptions(tb testing.TB, dir string) Options {
	o := torOptions(tb, dir)
	o.tune.messageRate, o.tune.frameRate, o.tune.receiptRate = rate{}, rate{}, rate{}
	o.tune.unreadQuota, o.tune.unreadBytesQuota = 1<<30, 1<<50
	return o
}

func benchPair(b *testing.B) (*tnode, *tnode) {
	b.Helper()
	testnet.Shared(b)
	pairOnce.Do(func() {
		owner := benchOwner{b}
		dirA, dirB := newProfile(owner, "alice"), newProfile(owner, "bob")
		var wg sync.WaitGroup
		var na, nb *Node
		var ea, eb error
		wg.Add(2)
		go func() { defer wg.Done(); na, ea = Open(context.Background(), benchOptions(b, dirA)) }()
		go func() { defer wg.Done(); nb, eb = Open(context.Background(), benchOptions(b, dirB)) }()
		wg.Wait()
		if ea != nil || eb != nil {
			pairErr = fmt.Errorf("%v %v", ea, eb)
			return
		}
		pairA, pairB = wrap(owner, na, Options{}), wrap(owner, nb, Options{})
		na.Start(context.Background())
		nb.Start(context.Background())
		for _, n := range []*tnode{pairA, pairB} {
			n.waitFor(b, 4*time.Minute, "reachable", isReachable)
		}
		befriend(b, pairA, pairB, torWait)
		// Warm the link up both ways.
		m := mustSend(b, pairA, pairB.Address(), "warm up")
		pairA.waitFor(b, torWait, "delivered", isMsgState(m.ID, Delivered))
	})
	if pairErr != nil {
		b.Fatal(pairErr)
	}
	return pairA, pairB
}

func isReachable(e Event) bool {
	r, ok := e.(ReachableEvent)
	return ok && r.Reachable
}

// BenchmarkTorMessageLatency: send → delivered event (Bob's node decrypted,
// stored and acknowledged it) over an established onion link, against the
// raw echo RTT (ping/pong) of the same link measured in the same run.
func BenchmarkTorMessageLatency(b *testing.B) {
	alice, bob := benchPair(b)
	l := alice.currentLink(alice.peer(onionAddr(bob)))
	if l == nil {
		b.Fatal("no link")
	}
	// Each op is 10 messages, one after the other, interleaved with 10
	// pings, so both figures see the same circuit conditions.
	const per = 10
	var msgTotal, rttTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range per {
			// A random pause before each measurement: tor schedules cell
			// writes on a 10 ms tick, and a fixed phase would favor one side.
			b.StopTimer()
			time.Sleep(time.Duration(rand.IntN(10_000)) * time.Microsecond)
			b.StartTimer()
			start := time.Now()
			m := mustSend(b, alice, bob.Address(), fmt.Sprintf("latency %d/%d", i, j))
			alice.waitFor(b, torWait, "delivered", isMsgState(m.ID, Delivered))
			msgTotal += time.Since(start)

			b.StopTimer()
			time.Sleep(time.Duration(rand.IntN(10_000)) * time.Microsecond)
			rtt, err := l.Ping(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			rttTotal += rtt
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(msgTotal.Nanoseconds())/float64(b.N*per), "latency-ns/msg")
	b.ReportMetric(float64(rttTotal.Nanoseconds())/float64(b.N*per), "rtt-ns/ping")
	b.ReportMetric(float64(msgTotal)/float64(rttTotal), "latency/rtt")
}

// BenchmarkTorBurst: 1,000 messages sent at once; time until the last is
// acknowledged.
func BenchmarkTorBurst(b *testing.B) {
	alice, bob := benchPair(b)
	const burst = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var last Message
		for j := range burst {
			last = mustSend(b, alice, bob.Address(), fmt.Sprintf("burst %d/%d", i, j))
		}
		alice.waitFor(b, 10*time.Minute, "last delivered", isMsgState(last.ID, Delivered))
	}
	b.ReportMetric(float64(burst*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkTorStartReachable: node.Start → our onion service is published.
func BenchmarkTorStartReachable(b *testing.B) {
	testnet.Shared(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n := openNode(b, torOptions(b, newProfile(b, fmt.Sprintf("r%d", i))))
		b.StartTimer()
		if err := n.Start(b.Context()); err != nil {
			b.Fatal(err)
		}
		n.waitFor(b, 4*time.Minute, "reachable", isReachable)
		b.StopTimer()
		n.Close()
		b.StartTimer()
	}
}

// BenchmarkTorFirstContact: a new user asks Bob, Bob's side accepts
// automatically, and the new user's first message is delivered.
func BenchmarkTorFirstContact(b *testing.B) {
	_, bob := benchPair(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev, err := bob.Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	go func() { // auto-accept
		for e := range ev {
			if r, ok := e.(ContactRequestEvent); ok {
				bob.AcceptContact(ctx, r.Contact.Address)
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		carol := openNode(b, torOptions(b, newProfile(b, fmt.Sprintf("c%d", i))))
		carol.Start(b.Context())
		carol.waitFor(b, 4*time.Minute, "reachable", isReachable)
		b.StartTimer()
		if _, err := carol.AddContact(b.Context(), bob.Address(), "bob", "hello"); err != nil {
			b.Fatal(err)
		}
		carol.waitFor(b, torWait, "accepted", isState(bob.Address(), StateAccepted))
		m := mustSend(b, carol, "bob", "first message")
		carol.waitFor(b, torWait, "delivered", isMsgState(m.ID, Delivered))
		b.StopTimer()
		carol.Close()
		b.StartTimer()
	}
}

// Throughput (issue 12). A burst is 1,000 messages to one contact, timed
// from the first send to the last acknowledgement, over an established
// onion link, in three shapes measured in the same run:
//   - sequential: one Send after another (a loop calling chive send);
//   - pipelined: 16 senders at once (a script with 16 requests in flight on
//     the JSON-RPC socket, the server's limit per connection);
// each against a pair that commits every frame on its own (maxBatch 1: no
// group commit, one receive transaction per frame, as chive did before) and
// the default batched pair; and the same bytes as a bare stream over the
// same two tor processes (a second onion service on Bob's tor): Alice's
// frames one way, an ack's worth of bytes back per frame, no crypto, no
// storage: the ceiling.
//
//	go test -run '^$' -bench 'TorBurst|TorFanout' -benchtime 3x ./node

var (
	unbatchedOnce        sync.Once
	unbatchedA, unbatchB *tnode
	unbatchedErr         error
)

// benchPairUnbatched is benchPair with one commit per frame.
func benchPairUnbatched(b *testing.B) (*tnode, *tnode) {
	b.Helper()
	testnet.Shared(b)
	unbatchedOnce.Do(func() {
		owner := benchOwner{b}
		var ns [2]*tnode
		for i, name := range []string{"alice1", "bob1"} {
			o := benchOptions(b, newProfile(owner, name))
			o.tune.maxBatch = 1
			n, err := Open(context.Background(), o)
			if err != nil {
				unbatchedErr = err
				return
			}
			ns[i] = wrap(owner, n, o)
			n.Start(context.Background())
		}
		for _, n := range ns {
			n.waitFor(b, 4*time.Minute, "reachable", isReachable)
		}
		befriend(b, ns[0], ns[1], torWait)
		m := mustSend(b, ns[0], ns[1].Address(), "warm up")
		ns[0].waitFor(b, torWait, "delivered", isMsgState(m.ID, Delivered))
		unbatchedA, unbatchB = ns[0], ns[1]
	})
	if unbatchedErr != nil {
		b.Fatal(unbatchedErr)
	}
	return unbatchedA, unbatchB
}

const burstSize = 1000

// burst sends burstSize messages from a to b with the given number of
// concurrent senders and waits until all are acknowledged.
func burst(b *testing.B, a, to *tnode, senders, round int) {
	b.Helper()
	// A subscription of its own: counting Delivered events as they come
	// keeps the measurement O(n) (waitFor rescans every recorded event).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := a.Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	want := make(map[string]bool, burstSize) // sent
	delivered := map[string]bool{}
	n := 0 // sent and delivered
	done := make(chan struct{})
	count := func() { // mu held
		if n++; n == burstSize {
			close(done)
		}
	}
	go func() {
		for e := range events {
			s, ok := e.(MessageStateEvent)
			if !ok || s.State != Delivered {
				continue
			}
			mu.Lock()
			if !delivered[s.ID] {
				delivered[s.ID] = true
				if want[s.ID] {
					count()
				}
			}
			mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	next := make(chan int)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				m, err := a.Send(context.Background(), to.Address(), fmt.Sprintf("burst %d/%d", round, j))
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				want[m.ID] = true
				if delivered[m.ID] {
					count()
				}
				mu.Unlock()
			}
		}()
	}
	for j := range burstSize {
		next <- j
	}
	close(next)
	wg.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatal("burst not delivered in 10 minutes")
	}
}

func BenchmarkTorBurstShapes(b *testing.B) {
	for _, shape := range []struct {
		name    string
		senders int
	}{{"sequential", 1}, {"pipelined", 16}} {
		for _, batched := range []bool{false, true} {
			name := shape.name + "/unbatched"
			if batched {
				name = shape.name + "/batched"
			}
			b.Run(name, func(b *testing.B) {
				a, to := benchPairUnbatched(b)
				if batched {
					a, to = benchPair(b)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					burst(b, a, to, shape.senders, i)
				}
				b.ReportMetric(float64(burstSize*b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
	b.Run("bytestream", func(b *testing.B) {
		alice, bob := benchPair(b)
		frames, acks := burstBytes(b, alice, bob)
		trA, err := alice.waitTransport(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		trB, err := bob.waitTransport(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		_, key, _ := ed25519.GenerateKey(nil)
		ln, err := trB.Listen(b.Context(), key)
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() { // bob: for every frame read, an ack's worth of bytes back
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					br := bufio.NewReader(c)
					for {
						if _, _, err := wire.ReadFrame(br); err != nil {
							return
						}
						if _, err := c.Write(acks[:len(acks)/burstSize]); err != nil {
							return
						}
					}
				}()
			}
		}()
		addr := onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey))
		ctx, cancel := context.WithTimeout(b.Context(), torWait)
		defer cancel()
		c, err := trA.Dial(ctx, addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		round := func() {
			go c.Write(frames)
			if _, err := io.ReadFull(c, make([]byte, len(acks))); err != nil {
				b.Fatal(err)
			}
		}
		round() // warm up the circuit, as the pairs' links are
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			round()
		}
		b.ReportMetric(float64(burstSize*b.N)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(float64(len(frames)+len(acks)), "bytes/burst")
	})
}

// burstBytes is what a burst puts on the link: burstSize Message frames as
// a encrypts them for b (the session is not advanced: nothing is stored),
// and the Acks that answer them.
func burstBytes(b *testing.B, a, to *tnode) (frames, acks []byte) {
	c, err := a.book.Lookup(b.Context(), onionAddr(to))
	if err != nil {
		b.Fatal(err)
	}
	err = a.db.Update(b.Context(), func(tx *storage.Tx) error {
		ch, err := loadChain(tx, c.ID)
		if err != nil {
			return err
		}
		now := time.Now()
		for j := range burstSize {
			id := wire.NewID()
			f, err := a.encrypt(ch, id, wire.Content{Text: fmt.Sprintf("burst %d/%d", 0, j), Time: now.UnixMilli()}, now)
			if err != nil {
				return err
			}
			frames = append(frames, f...)
			ack, _ := wire.Marshal(&wire.Ack{ID: id})
			acks = append(acks, ack...)
		}
		return errors.New("rollback") // only the bytes were wanted
	})
	if err == nil || err.Error() != "rollback" {
		b.Fatal(err)
	}
	return frames, acks
}

// BenchmarkTorFanout: one message to 20 contacts (send_many, one
// transaction) against one message to one contact, each timed until every
// copy is acknowledged. The 20 contacts are nodes on one extra tor (each its
// own onion service), befriended and linked before timing.
func BenchmarkTorFanout(b *testing.B) {
	alice, _ := benchPair(b)
	peers := fanoutPeers(b, alice)
	one := []string{peers[0].Address()}
	all := make([]string, len(peers))
	for i, p := range peers {
		all[i] = p.Address()
	}
	for _, tc := range []struct {
		name string
		to   []string
	}{{"one", one}, {"twenty", all}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ms, err := alice.SendMany(b.Context(), SendRequest{To: tc.to, Text: fmt.Sprintf("fan-out %d", i)})
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range ms {
					alice.waitFor(b, torWait, "delivered", isMsgState(m.ID, Delivered))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/send")
		})
	}
}

var (
	fanoutOnce  sync.Once
	fanoutNodes []*tnode
	fanoutErr   error
)

// sharedTor is a Transport over a tor that several nodes share: closing
// it (when a node stops) leaves the tor running; the tor stops at exit.
type sharedTor struct{ t *onion.Tor }

func (s sharedTor) Listen(ctx context.Context, key ed25519.PrivateKey) (net.Listener, error) {
	return s.t.Listen(ctx, key)
}
func (s sharedTor) Dial(ctx context.Context, addr onion.Address) (net.Conn, error) {
	return s.t.Dial(ctx, addr)
}
func (s sharedTor) Done() <-chan struct{} { return s.t.Done() }
func (s sharedTor) Close() error          { return nil }

func fanoutPeers(b *testing.B, alice *tnode) []*tnode {
	b.Helper()
	fanoutOnce.Do(func() {
		owner := benchOwner{b}
		ctx := context.Background()
		tor, err := onion.Start(ctx, onion.Config{DataDir: owner.TempDir(), ExtraTorrc: testnet.Shared(b).ClientTorrc()})
		if err != nil {
			fanoutErr = err
			return
		}
		testnet.AtExit(func() { tor.Close() })
		if fanoutErr = tor.WaitReady(ctx); fanoutErr != nil {
			return
		}
		start := func(context.Context, func(TorStatus)) (Transport, error) { return sharedTor{tor}, nil }
		nodes := make([]*tnode, 20)
		for i := range nodes {
			dir := newProfile(owner, fmt.Sprintf("f%02d", i))
			o := benchOptions(b, dir)
			o.ExtraTorrc, o.Transport = nil, start
			n, err := Open(ctx, o)
			if err == nil {
				err = n.Start(ctx)
			}
			if err != nil {
				fanoutErr = err
				return
			}
			nodes[i] = wrap(owner, n, o)
		}
		// All at once: the requests and acceptances travel in parallel.
		for i, n := range nodes {
			n.waitFor(b, 4*time.Minute, "reachable", isReachable)
			if _, err := alice.AddContact(ctx, n.Address(), fmt.Sprintf("f%02d", i), "fan-out"); err != nil {
				fanoutErr = err
				return
			}
		}
		for _, n := range nodes {
			n.waitFor(b, torWait, "request", isState(alice.Address(), StatePendingIncoming))
			if _, err := n.AcceptContact(ctx, alice.Address()); err != nil {
				fanoutErr = err
				return
			}
		}
		var warm []Message
		for _, n := range nodes {
			alice.waitFor(b, torWait, "accepted", isState(n.Address(), StateAccepted))
			warm = append(warm, mustSend(b, alice, n.Address(), "warm up"))
		}
		for _, m := range warm {
			alice.waitFor(b, torWait, "delivered", isMsgState(m.ID, Delivered))
		}
		fanoutNodes = nodes
	})
	if fanoutErr != nil {
		b.Fatal(fanoutErr)
	}
	return fanoutNodes
}
