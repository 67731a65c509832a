package rpc

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if goroutines started by the tests (servers,
// connections, subscriptions, clients' read loops) outlive them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		leaked := ourGoroutines()
		for len(leaked) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			leaked = ourGoroutines()
		}
		if len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines of ours outlive the tests:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// ourGoroutines returns the stacks of goroutines running chive code, other
// than the one running TestMain. (The testing package's own, e.g. the
// fuzzer's signal loop, are not ours to judge.)
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "chive-im/chive/") && !strings.Contains(g, "rpc.TestMain") {
			out = append(out, g)
		}
	}
	return out
}
