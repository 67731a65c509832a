package testnet

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
)

// One network per test binary: Tor tests in a package share it, so only the
// first one pays for its start-up, and -short runs never start it.
var shared struct {
	once    sync.Once
	net     *Network
	err     error
	startup time.Duration
	// cleanups run before the network stops (nodes that outlive a test).
	mu       sync.Mutex
	cleanups []func()
}

// Shared returns the test binary's private Tor network, starting it on
// first use. It skips tb in -short mode and when tor is not installed, and
// fails tb when the network cannot start. The network stops when the
// package's TestMain calls Main.
//
//	func TestMain(m *testing.M) { os.Exit(testnet.Main(m)) }
func Shared(tb testing.TB) *Network {
	tb.Helper()
	if testing.Short() {
		tb.Skip("Tor test network skipped in -short mode")
	}
	if _, err := onion.FindTor(""); err != nil {
		tb.Skipf("skipping a test that needs a Tor network: %v", err)
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		shared.net, shared.err = Start(ctx, Options{})
		shared.startup = time.Since(start)
	})
	if shared.err != nil {
		tb.Fatalf("start the test network: %v", shared.err)
	}
	return shared.net
}

// SharedStartup is how long the shared network took to come up (zero if it
// has not been started), for benchmarks that report it.
func SharedStartup() time.Duration { return shared.startup }

// AtExit registers f to run after every test of the binary, before the
// shared network stops: for nodes or processes that outlive one test.
// Functions run in reverse order of registration.
func AtExit(f func()) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.cleanups = append(shared.cleanups, f)
}

// Main runs the tests, then the AtExit functions, then stops the shared
// network if one was started. It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	fs := shared.cleanups
	shared.cleanups = nil
	shared.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	if shared.net != nil {
		if err := shared.net.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the shared test network:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}
