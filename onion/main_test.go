package onion_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion/testnet"
)

// The package's Tor tests share one private network, started on first use
// and stopped by TestMain, so unit tests and fuzzing never pay for it.
var (
	netOnce sync.Once
	shared  *testnet.Network
	netErr  error
	// netStartup is how long the shared network took to come up.
	netStartup time.Duration
)

// torMissing is non-empty when tor is not installed; Tor tests then skip.
var torMissing string

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("tor"); err != nil {
		if _, err := os.Stat("/usr/sbin/tor"); err != nil {
			torMissing = "tor is not installed (sudo apt-get install tor); skipping tests that need a Tor network"
		}
	}
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the test network:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cleanups run after all tests and benchmarks, before the network stops.
var (
	cleanups []func()
	tempDirs []string
)

// osMkdirTemp makes a directory that outlives one benchmark (removed by
// TestMain).
func osMkdirTemp() (string, error) {
	d, err := os.MkdirTemp("", "chive-onion-bench-")
	if err == nil {
		tempDirs = append(tempDirs, d)
	}
	return d, err
}

// network returns the shared test network, starting it if needed.
func network(tb testing.TB) *testnet.Network {
	tb.Helper()
	if torMissing != "" {
		tb.Skip(torMissing)
	}
	netOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
