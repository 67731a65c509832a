package node

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chive-im/chive/onion/testnet"
	"github.com/chive-im/chive/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain()) // a node of the kill -9 test (kill_test.go)
	}
	// The Tor tests share one private network (testnet.Shared), started on
	// first use, so unit tests never pay for it; Main stops it at the end.
	code := testnet.Main(m)
	// Every node, tor and the network are closed now: nothing the tests
	// started may still run.
	if err := findLeaks(10 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks reports goroutines (other than the test framework's and those
// ignored) still running after wait, giving the ones winding down time.
func findLeaks(wait time.Duration, ignore ...goleak.Option) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(ignore...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// checkLeaks fails t if goroutines started during it outlive it. Call it
// first, so its check runs after the test's other cleanups (closing nodes).
func checkLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := findLeaks(10*time.Second, before); err != nil {
			t.Error(err)
		}
	})
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
	t.workBits = 12
	return t
}

// torOptions are the options of a node of dir on the shared network.
func torOptions(tb testing.TB, dir string) Options {
	return Options{Dir: dir, Passphrase: testPass, ExtraTorrc: testnet.Shared(tb).ClientTorrc(), tune: torTuning(), Logger: testLogger(dir[len(dir)-5:])}
}

// startTorOwned opens and starts the node of dir on the test network and
// waits until it is reachable; owner's end closes it (it may outlive the
// subtest tb starting it).
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
