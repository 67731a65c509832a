package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
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
		go func() { defer wg.Done(); na, ea = Open(context.Background(), torOptions(b, dirA)) }()
		go func() { defer wg.Done(); nb, eb = Open(context.Background(), torOptions(b, dirB)) }()
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
