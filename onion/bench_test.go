package onion_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
)

// Benchmarks run on the shared private network. Each iteration of the
// start/publish and cold-connect benchmarks starts a tor, so run them with
// a small count: go test -run '^$' -bench . -benchtime 3x ./onion/

// startTor starts and bootstraps a managed tor for a benchmark; the caller
// closes it.
func startTor(b *testing.B, ctx context.Context) *onion.Tor {
	b.Helper()
	tor, err := onion.Start(ctx, onion.Config{DataDir: b.TempDir(), ExtraTorrc: testnet.Shared(b).ClientTorrc()})
	if err != nil {
		b.Fatal(err)
	}
	if err := tor.WaitReady(ctx); err != nil {
		tor.Close()
		b.Fatal(err)
	}
	return tor
}

// BenchmarkStartToPublished: from starting tor to the onion service's
// descriptor being uploaded, i.e. how long until a user is reachable.
func BenchmarkStartToPublished(b *testing.B) {
	n := testnet.Shared(b)
	var boot, publish time.Duration
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := time.Now()
		tor, err := onion.Start(ctx, onion.Config{DataDir: b.TempDir(), ExtraTorrc: n.ClientTorrc()})
		if err != nil {
			b.Fatal(err)
		}
		if err := tor.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		ready := time.Now()
		l, err := tor.Listen(ctx, newKey(b))
		if err != nil {
			b.Fatal(err)
		}
		done := time.Now()
		boot += ready.Sub(start)
		publish += done.Sub(ready)
		b.StopTimer()
		l.Close()
		tor.Close()
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(boot.Seconds()/float64(b.N), "bootstrap-s/op")
	b.ReportMetric(publish.Seconds()/float64(b.N), "publish-s/op")
	b.ReportMetric(0, "ns/op") // the two metrics above say it better
}

// benchPair is a published echo service and a second, bootstrapped tor to
// reach it from, shared by the connect and echo benchmarks.
type benchPair struct {
	server, client *onion.Tor
	addr           onion.Address
}

var (
	pairOnce sync.Once
	pair     *benchPair
	pairErr  error
)

func getPair(b *testing.B) *benchPair {
	n := testnet.Shared(b)
	pairOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		p := &benchPair{}
		dirs := [2]string{}
		for i := range dirs {
			if dirs[i], pairErr = tempDirAtExit(); pairErr != nil {
				return
			}
		}
		tors := [2]*onion.Tor{}
		for i := range tors {
			if tors[i], pairErr = onion.Start(ctx, onion.Config{DataDir: dirs[i], ExtraTorrc: n.ClientTorrc()}); pairErr != nil {
				return
			}
			testnet.AtExit(func() { tors[i].Close() })
		}
		for _, t := range tors {
			if pairErr = t.WaitReady(ctx); pairErr != nil {
				return
			}
		}
		p.server, p.client = tors[0], tors[1]
		_, key, _ := ed25519.GenerateKey(nil)
		l, err := p.server.Listen(ctx, key)
		if err != nil {
			pairErr = err
			return
		}
		p.addr = l.Address()
		go rawEcho(l)
		pair = p
	})
	if pairErr != nil {
		b.Fatal(pairErr)
	}
	return pair
}

// rawEcho copies every byte back.
func rawEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); io.Copy(c, c) }()
	}
}

// loopbackDial is the baseline for the connect benchmarks: the median time
// of a plain TCP connection on 127.0.0.1.
func loopbackDial(b *testing.B) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go rawEcho(ln)
	ds := make([]time.Duration, 50)
	for i := range ds {
		start := time.Now()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		ds[i] = time.Since(start)
		c.Close()
	}
	return median(ds)
}

// BenchmarkConnectCold: a freshly bootstrapped tor's first connection to
// an onion service (descriptor fetch, introduction, rendezvous).
func BenchmarkConnectCold(b *testing.B) {
	p := getPair(b)
	base := loopbackDial(b)
	defer func() {
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(base), "x-loopback")
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		tor := startTor(b, ctx)
		b.StartTimer()
		c, err := tor.Dial(ctx, p.addr)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		tor.Close()
		cancel()
		b.StartTimer()
	}
}

// BenchmarkConnectWarm: another connection once the rendezvous circuit
// exists (what reconnects after a dropped link cost).
func BenchmarkConnectWarm(b *testing.B) {
	p := getPair(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, err := p.client.Dial(ctx, p.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer first.Close()
	base := loopbackDial(b)
	defer func() {
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(base), "x-loopback")
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := p.client.Dial(ctx, p.addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkEchoRTT: one 64-byte round trip through the onion link, and the
// same over plain loopback TCP in the same run; reports the ratio.
func BenchmarkEchoRTT(b *testing.B) {
	p := getPair(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	oc, err := p.client.Dial(ctx, p.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer oc.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go rawEcho(ln)
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()

	msg := make([]byte, 64)
	buf := make([]byte, 64)
	rtt := func(c net.Conn) {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	rtt(oc) // warm up both paths
	rtt(tc)
	// Medians of at least minSamples round trips each, whatever b.N is
	// ("make bench" runs 3x): one slow round trip must not decide the ratio.
	const minSamples = 50
	sample := func(c net.Conn, n int) []time.Duration {
		ds := make([]time.Duration, n)
		for i := range ds {
			start := time.Now()
			rtt(c)
			ds[i] = time.Since(start)
		}
		return ds
	}
	loopback := sample(tc, max(b.N, minSamples))

	b.ResetTimer()
	onionRTTs := sample(oc, b.N)
	b.StopTimer()
	if len(onionRTTs) < minSamples {
		onionRTTs = append(onionRTTs, sample(oc, minSamples-len(onionRTTs))...)
	}
	on, lo := median(onionRTTs), median(loopback)
	b.ReportMetric(float64(on.Nanoseconds()), "onion-median-ns")
	b.ReportMetric(float64(lo.Nanoseconds()), "loopback-median-ns")
	b.ReportMetric(float64(on)/float64(lo), "x-loopback")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
