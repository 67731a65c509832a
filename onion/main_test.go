package onion_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/testnet"
)

// TestMain runs the tests on the binary's shared Tor network (testnet.Main
// stops it), then fails the run if any goroutine outlived them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(withNetwork{m}) }

// withNetwork runs the tests through testnet.Main, so the shared network
// and everything registered with testnet.AtExit are gone before goleak looks.
type withNetwork struct{ m *testing.M }

func (w withNetwork) Run() int { return testnet.Main(w.m) }

// needTor skips tb in -short mode and when tor is not installed: for tests
// that run tor without the shared network.
func needTor(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("tor skipped in -short mode")
	}
	if _, err := onion.FindTor(""); err != nil {
		tb.Skipf("skipping a test that needs tor: %v", err)
	}
}

// noLeaks fails t if a goroutine started after this call still runs once
// t's cleanups are done (it registers its check first, so it runs last).
// Call it after testnet.Shared: the network's own goroutines live on.
func noLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// tempDirAtExit makes a directory that outlives one benchmark; it is
// removed after every test and benchmark of the binary has run.
func tempDirAtExit() (string, error) {
	d, err := os.MkdirTemp("", "chive-onion-bench-")
	if err == nil {
		testnet.AtExit(func() { os.RemoveAll(d) })
	}
	return d, err
}
