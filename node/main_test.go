package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/wire"
)

// The Tor tests share one private network, started on first use and
// stopped by TestMain, so unit tests never pay for it.
var (
	netOnce    sync.Once
	shared     *testnet.Network
	netErr     error
	netStartup time.Duration
	torMissing string
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	if _, err := exec.LookPath("tor"); err != nil {
		if _, err := os.Stat("/usr/sbin/tor"); err != nil {
			torMissing = "tor is not installed (sudo apt-get install tor); skipping tests that need a Tor network"
		}
	}
	code := m.Run()
	for i := len(globalClose) - 1; i >= 0; i-- {
		globalClose[i]()
	}
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the test network:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// network returns the shared test network, starting it if needed.
func network(tb testing.TB) *testnet.Network {
	tb.Helper()
	if testing.Short() {
		tb.Skip("Tor test network skipped in -short mode")
	}
	if torMissing != "" {
		tb.Skip(torMissing)
	}
	netOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		shared, netErr = testnet.Start(ctx, testnet.Options{})
		netStartup = time.Since(start)
	})
	if netErr != nil {
		tb.Fatalf("start the test network: %v", netErr)
	}
	return shared
}

// torTuning suits the private network on a loaded machine: short backoff so
// tests do not wait for it, generous timeouts so -race does not break links.
func torTuning() *tuning {
	t := defaultTuning()
	t.link = wire.Config{KeepaliveInterval: 5 * time.Second, Timeout: 45 * time.Second, HandshakeTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second}
	t.dialTimeout = 60 * time.Second
	t.backoffMin = time.Second
	t.backoffMax = 4 * time.Second
	t.torRetryMin = time.Second
	t.torRetryMax = 5 * time.Second
	t.strangerIdle = 30 * time.Second
	return t
}

// torOptions are the options of a node of dir on the shared network.
func torOptions(tb testing.TB, dir string) Options {
	return Options{Dir: dir, Passphrase: testPass, ExtraTorrc: network(tb).ClientTorrc(), tune: torTuning(), Logger: testLogger(dir[len(dir)-5:])}
}

// startTor opens and starts the node of dir on the test network and waits
// until it is reachable.
func startTor(tb testing.TB, dir string) *tnode { return startTorOwned(tb, tb, dir) }

// startTorOwned is startTor for a node that outlives the subtest tb
// starting it: owner's end closes it.
func startTorOwned(tb, owner testing.TB, dir string) *tnode {
	tb.Helper()
	nn, err := Open(tb.Context(), torOptions(tb, dir))
	if err != nil {
		tb.Fatal(err)
	}
	n := wrap(owner, nn, torOptions(tb, dir))
	if err := n.Start(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	n.waitFor(tb, 4*time.Minute, "reachable", func(e Event) bool {
		r, ok := e.(ReachableEvent)
		return ok && r.Reachable
	})
	return n
}

// startTorAll starts several nodes at once: bootstrap is most of the time.
func startTorAll(tb testing.TB, dirs ...string) []*tnode {
	tb.Helper()
	nodes := make([]*tnode, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := Open(tb.Context(), torOptions(tb, d))
			if err != nil {
				errs[i] = err
				return
			}
			nodes[i] = wrap(tb, n, torOptions(tb, d))
			errs[i] = n.Start(tb.Context())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.waitFor(tb, 4*time.Minute, "reachable", func(e Event) bool {
			r, ok := e.(ReachableEvent)
			return ok && r.Reachable
		})
	}
	return nodes
}
