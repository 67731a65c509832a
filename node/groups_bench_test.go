package node

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/wire"
)

// Group delivery over real tor processes on the shared private network:
// eight nodes, Alice everyone's contact, a group of 4 (Alice and three)
// and one of 8, set up once for the run.
var (
	groupBenchOnce  sync.Once
	groupBenchNodes []*tnode
	groupBench4     Group
	groupBench8     Group
	groupBenchErr   error
)

func benchGroups(b *testing.B) ([]*tnode, Group, Group) {
	b.Helper()
	groupBenchOnce.Do(func() {
		start := time.Now()
		owner := benchOwner{b}
		var dirs []string
		for i := range 8 {
			dirs = append(dirs, newProfile(owner, fmt.Sprintf("m%d", i)))
		}
		nodes := startTorAll(owner, dirs...)
		alice := nodes[0]
		ctx := context.Background()
		for i, n := range nodes[1:] {
			if _, err := alice.AddContact(ctx, n.Address(), fmt.Sprintf("m%d", i+1), ""); err != nil {
				groupBenchErr = err
				return
			}
		}
		for _, n := range nodes[1:] {
			n.waitFor(b, torWait, "request", isState(alice.Address(), StatePendingIncoming))
			if _, err := n.AcceptContact(ctx, alice.Address()); err != nil {
				groupBenchErr = err
				return
			}
		}
		for _, n := range nodes[1:] {
			alice.waitFor(b, torWait, "accepted", isState(n.Address(), StateAccepted))
		}
		var refs []string
		for _, n := range nodes[1:] {
			refs = append(refs, n.Address())
		}
		g4, err := alice.CreateGroup(ctx, "four", refs[:3])
		if err != nil {
			groupBenchErr = err
			return
		}
		g8, err := alice.CreateGroup(ctx, "eight", refs)
		if err != nil {
			groupBenchErr = err
			return
		}
		for i, n := range nodes {
			if i < 4 {
				waitUntil(b, 5*time.Minute, "group of 4 ready", func() bool { g, err := n.Group(ctx, g4.ID); return err == nil && ready(4)(g) })
			}
			waitUntil(b, 5*time.Minute, "group of 8 ready", func() bool { g, err := n.Group(ctx, g8.ID); return err == nil && ready(8)(g) })
		}
		b.Logf("8 nodes, groups of 4 and 8 ready in %v", time.Since(start).Round(time.Second))
		groupBenchNodes, groupBench4, groupBench8 = nodes, g4, g8
	})
	if groupBenchErr != nil {
		b.Fatal(groupBenchErr)
	}
	return groupBenchNodes, groupBench4, groupBench8
}

// BenchmarkGroupDelivery: the time for one message from Alice to reach
// every member of a group of 4 and of 8 (the last member's node decrypted,
// verified and stored it), against a 1:1 message from Alice to one of
// them, interleaved in the same run so the machine's load hits all three
// alike; and the bytes on the wire per message per member.
//
// go test ./node -run '^$' -bench GroupDelivery -benchtime 20x
func BenchmarkGroupDelivery(b *testing.B) {
	nodes, g4, g8 := benchGroups(b)
	alice, bob := nodes[0], nodes[1]
	ctx := context.Background()
	// reach sends text to ref and waits until every node in to has it.
	reach := func(ref, text string, to []*tnode) time.Duration {
		start := time.Now()
		if _, err := alice.Send(ctx, ref, text); err != nil {
			b.Fatal(err)
		}
		for _, n := range to {
			n.waitFor(b, torWait, "message "+text, func(e Event) bool {
				m, ok := e.(MessageEvent)
				return ok && m.Message.Direction == Incoming && m.Message.Text == text
			})
		}
		return time.Since(start)
	}
	var one, four, eight time.Duration
	bytes0, frames0 := alice.grpBytes.Load(), alice.grpFrames.Load()
	b.ResetTimer()
	for i := range b.N {
		one += reach(bob.Address(), fmt.Sprintf("1:1 %d", i), nodes[1:2])
		four += reach(g4.ID, fmt.Sprintf("four %d", i), nodes[1:4])
		eight += reach(g8.ID, fmt.Sprintf("eight %d", i), nodes[1:8])
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(one), "1:1-ms")
	b.ReportMetric(ms(four), "group4-ms")
	b.ReportMetric(ms(eight), "group8-ms")
	b.ReportMetric(float64(four)/float64(one), "group4/1:1")
	b.ReportMetric(float64(eight)/float64(one), "group8/1:1")
	// Bytes: Alice's group frames (sealed, on the wire) per member copy;
	// a 1:1 message of the same text, computed the same way.
	copies := int64(b.N * (3 + 7))
	if n := alice.grpFrames.Load() - frames0; n != copies {
		b.Logf("%d group frames for %d copies (batching or syncs)", n, copies)
	}
	b.ReportMetric(float64(alice.grpBytes.Load()-bytes0)/float64(copies), "group-B/member")
	pt, _ := wire.MarshalContent(wire.Content{Text: "1:1 10", Time: time.Now().UnixMilli()})
	frame, _ := wire.Marshal(&wire.Message{ID: wire.NewID(), Ciphertext: make([]byte, len(pt)+ratchet.Overhead)})
	b.ReportMetric(float64(len(frame)+wire.SealOverhead), "1:1-B")
}
