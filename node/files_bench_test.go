package node

import (
	"context"
	"crypto/ed25519"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/wire"
)

// benchMiB is the size of the throughput benchmark's file and stream
// (CHIVE_BENCH_MIB, default 100).
func benchMiB() int {
	if n, err := strconv.Atoi(os.Getenv("CHIVE_BENCH_MIB")); err == nil && n > 0 {
		return n
	}
	return 100
}

var (
	sinkOnce sync.Once
	sinkConn net.Conn // Alice's end of the bare stream, kept open (warm)
	sinkMark chan time.Time
	sinkErr  error
)

// bareStream publishes a second onion service on Bob's tor that reads and
// discards whatever is written to it, and connects Alice's tor to it once:
// every write of each bytes gets a mark on the channel when its last byte
// has arrived. One warm stream, as the chive link is.
func bareStream(b *testing.B, alice, bob *tnode, each int) (net.Conn, chan time.Time) {
	sinkOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		trB, err := bob.waitTransport(ctx)
		if err != nil {
			sinkErr = err
			return
		}
		trA, err := alice.waitTransport(ctx)
		if err != nil {
			sinkErr = err
			return
		}
		_, key, _ := ed25519.GenerateKey(nil)
		ln, err := trB.Listen(ctx, key)
		if err != nil {
			sinkErr = err
			return
		}
		sinkMark = make(chan time.Time, 16)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64<<10)
			var n int64
			for {
				k, err := c.Read(buf)
				if n/int64(each) != (n+int64(k))/int64(each) {
					sinkMark <- time.Now()
				}
				n += int64(k)
				if err != nil {
					return
				}
			}
		}()
		sinkConn, sinkErr = trA.Dial(ctx, onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey)))
		if sinkErr == nil {
			testnet.AtExit(func() { sinkConn.Close(); ln.Close() })
		}
	})
	if sinkErr != nil {
		b.Fatal(sinkErr)
	}
	return sinkConn, sinkMark
}

// BenchmarkTorFileThroughput: a file (100 MiB; CHIVE_BENCH_MIB) from Alice
// to Bob over their chive link, from Bob's AcceptFile to his "completed"
// (every chunk checked, stored, and the whole file's hash checked),
// against a bare byte stream of the same size between the same two tors (a
// second onion service on Bob's tor that discards what it reads), the two
// alternating in the same run so the machine's load hits both alike.
func BenchmarkTorFileThroughput(b *testing.B) {
	alice, bob := benchPair(b)
	size := benchMiB() << 20
	path, _ := writeRandom(b, benchOwner{b}.TempDir(), "bench.bin", size)
	conn, marks := bareStream(b, alice, bob, size)
	buf := make([]byte, 64<<10)
	var bare, file time.Duration
	var idleChat, busyChat []time.Duration
	// chat sends a message from Alice to Bob and returns how long until it
	// was delivered (Bob's node stored and acknowledged it).
	chat := func() (time.Duration, bool) {
		start := time.Now()
		m, err := alice.Send(context.Background(), bob.Address(), "during the file")
		if err != nil {
			return 0, false
		}
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if alice.count(isMsgState(m.ID, Delivered)) > 0 {
				return time.Since(start), true
			}
		}
		return 0, false
	}
	for range 3 {
		if d, ok := chat(); ok {
			idleChat = append(idleChat, d)
		}
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := conn.Write(buf[:min(len(buf), size-sent)]); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case end := <-marks:
			bare += end.Sub(start)
		case <-time.After(20 * time.Minute):
			b.Fatal("the bare stream stalled")
		}

		b.StopTimer()
		m, err := alice.SendFile(b.Context(), bob.Address(), path, "")
		if err != nil {
			b.Fatal(err)
		}
		bob.waitFor(b, torWait, "offer", fileMessage(m.ID))
		b.StartTimer()
		start = time.Now()
		if _, err := bob.AcceptFile(b.Context(), m.ID); err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		chatted := make(chan []time.Duration)
		go func() { // chat while the file moves
			var ds []time.Duration
			defer func() { chatted <- ds }()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
				if d, ok := chat(); ok {
					ds = append(ds, d)
				}
			}
		}()
		bob.waitFor(b, 20*time.Minute, "completed", isFileState(m.ID, FileCompleted))
		file += time.Since(start)
		close(stop)
		busyChat = append(busyChat, <-chatted...)
		b.StopTimer()
		if t, _ := bob.File(b.Context(), m.ID); t.DuplicateBytes != 0 {
			b.Errorf("duplicates: %+v", t)
		}
		b.StartTimer()
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/bare.Seconds(), "bare-MB/s")
	b.ReportMetric(mb/file.Seconds(), "file-MB/s")
	b.ReportMetric(bare.Seconds()/file.Seconds(), "file/bare")
	b.ReportMetric(float64(mean(idleChat).Milliseconds()), "chat-idle-ms")
	b.ReportMetric(float64(mean(busyChat).Milliseconds()), "chat-during-file-ms")
	b.ReportMetric(0, "ns/op")
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}

// BenchmarkTorFileResume: Bob's node stops in the middle of a transfer
// and starts again on the same profile (a new tor). It reports the time
// from his link to Alice coming back up to his first new chunk stored
// (resume-ms: the goal is under 2 s), and from Start to that link (tor
// bootstrap, publishing, dialing) for context.
func BenchmarkTorFileResume(b *testing.B) {
	testnet.Shared(b)
	owner := benchOwner{b}
	dirA, dirB := newProfile(owner, "alice"), newProfile(owner, "bob")
	nodes := startTorAll(b, dirA, dirB)
	alice, bob := nodes[0], nodes[1]
	befriend(b, alice, bob, torWait)
	path, _ := writeRandom(b, owner.TempDir(), "resume.bin", 400*wire.ChunkSize)
	var resume, relink time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		m, err := alice.SendFile(b.Context(), "b", path, "")
		if err != nil {
			b.Fatal(err)
		}
		bob.waitFor(b, torWait, "offer", fileMessage(m.ID))
		if _, err := bob.AcceptFile(b.Context(), m.ID); err != nil {
			b.Fatal(err)
		}
		bob.waitFor(b, torWait, "progress", func(e Event) bool {
			p, ok := e.(FileProgressEvent)
			return ok && p.ID == m.ID && p.Bytes > 50*wire.ChunkSize
		})
		bob.Close()
		before, _ := alice.File(b.Context(), m.ID)
		nn, err := Open(b.Context(), torOptions(b, dirB))
		if err != nil {
			b.Fatal(err)
		}
		bob = wrap(owner, nn, torOptions(b, dirB))
		stored, _ := bob.File(b.Context(), m.ID)
		b.StartTimer()
		start := time.Now()
		if err := bob.Start(b.Context()); err != nil {
			b.Fatal(err)
		}
		bob.waitFor(b, torWait, "link to alice", func(e Event) bool {
			p, ok := e.(PresenceEvent)
			return ok && p.Address == alice.Address() && p.Presence == Online
		})
		upAt := time.Now()
		bob.waitFor(b, torWait, "a new chunk", func(e Event) bool {
			p, ok := e.(FileProgressEvent)
			return ok && p.ID == m.ID && p.Bytes > stored.Bytes
		})
		resume += time.Since(upAt)
		relink += upAt.Sub(start)
		b.StopTimer()
		bob.waitFor(b, torWait, "completed", isFileState(m.ID, FileCompleted))
		if t, _ := bob.File(b.Context(), m.ID); t.DuplicateBytes != 0 {
			b.Errorf("duplicates after the restart: %+v (alice had sent %d)", t, before.SentBytes)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(resume.Milliseconds())/float64(b.N), "resume-ms")
	b.ReportMetric(float64(relink.Milliseconds())/float64(b.N), "start-to-link-ms")
	b.ReportMetric(0, "ns/op")
}
