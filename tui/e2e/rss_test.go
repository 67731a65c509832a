package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
)

// BenchmarkRSS measures the resident memory of the real chive process
// (TUI and in-process node) showing a conversation of n messages stored in
// the profile, n=100 being the baseline, and the time from starting chive
// to the screen showing the newest message (unlock of a profile without
// passphrase, node start, first page; tmux polled every 50 ms). Tor is pointed at no network: it
// only needs to start. Run with: go test -run '^$' -bench RSS -benchtime 1x ./tui/e2e
func BenchmarkRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		b.Skip("tmux not installed")
	}
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("msgs=%d", n), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "alice")
			seed(b, dir, n)
			x := &tmux{t: nil, sock: "chive-rss-" + strconv.Itoa(os.Getpid())}
			defer x.kill()
			var rss, secs float64
			for b.Loop() {
				rss, secs = measureRSS(b, x, dir, n)
			}
			b.ReportMetric(rss, "MB-RSS")
			b.ReportMetric(secs, "s-to-frame")
		})
	}
}

// seed creates a profile holding one accepted contact, Bob, and n
// messages from him, written straight through storage.
func seed(b *testing.B, dir string, n int) {
	ctx := context.Background()
	if _, err := node.CreateProfile(ctx, dir, "Alice", nil, true); err != nil {
		b.Fatal(err)
	}
	db, err := storage.Open(ctx, dir, nil, storage.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	pub := make([]byte, 32)
	pub[0] = 7
	bob := string(onion.AddressFromPublicKey(pub))
	var ct storage.Contact
	if err := db.Update(ctx, func(tx *storage.Tx) error {
		ct, err = tx.InsertContact(storage.Contact{Address: bob, Nickname: "Bob", State: storage.StateAccepted, Created: time.Now()})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-time.Duration(n) * time.Minute)
	const batch = 5000
	for i := 0; i < n; i += batch {
		if err := db.Update(ctx, func(tx *storage.Tx) error {
			for j := i; j < min(n, i+batch); j++ {
				at := start.Add(time.Duration(j) * time.Minute)
				if _, err := tx.ReceiveMessage(storage.IncomingMessage{ContactID: ct.ID, ID: storage.NewMessageID(),
					Body: fmt.Sprintf("message %d: the quick brown fox jumps over the lazy dog", j), Created: at, Received: at, Session: []byte{1}}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

var vmRSS = regexp.MustCompile(`VmRSS:\s+(\d+) kB`)

func measureRSS(b *testing.B, x *tmux, dir string, n int) (mb, secs float64) {
	x.cmd("kill-session", "-t", "rss")
	cmdline := fmt.Sprintf("%s --profile %s --no-bell; sleep 600", chiveBin, dir)
	started := time.Now()
	if out, err := x.cmd("new-session", "-d", "-s", "rss", "-x", "120", "-y", "40", cmdline); err != nil {
		b.Fatalf("tmux: %v %s", err, out)
	}
	want := fmt.Sprintf("message %d:", n-1)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if s := x.screen("rss"); strings.Contains(s, want) {
			secs = time.Since(started).Seconds()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%q never shown:\n%s", want, x.screen("rss"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // let it settle (Tor starting, first events)
	out, err := exec.Command("pgrep", "-f", "^"+regexp.QuoteMeta(chiveBin)+" ").Output()
	if err != nil {
		b.Fatalf("pgrep: %v", err)
	}
	pid := strings.Fields(string(out))[0]
	st, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		b.Fatal(err)
	}
	m := vmRSS.FindSubmatch(st)
	if m == nil {
		b.Fatalf("no VmRSS in %s", st)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	x.cmd("send-keys", "-t", "rss", "C-q")
	waitExit(b, chiveBin, 30*time.Second)
	x.cmd("kill-session", "-t", "rss")
	return float64(kb) / 1024, secs
}
