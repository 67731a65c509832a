package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/onion"
)

// mountTmpfs mounts a tmpfs of size bytes at a fresh directory, or skips
// the test where that is not permitted (not root, no mount namespace).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a small tmpfs for a full disk (%v); run as root", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file in dir until the file system is full and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// TestDiskFull: Bob's profile is on a small tmpfs that fills up while
// Alice sends. Bob refuses what he cannot store, unacknowledged, and keeps
// the link: Alice does not redial in a loop (the fault pass saw 43 link
// drops in 30 s). Status and an error event say so. Once space is freed,
// every message arrives, once and in order.
func TestDiskFull(t *testing.T) {
	checkLeaks(t)
	small := mountTmpfs(t, 8<<20)
	mem := memnet.New()
	bobDir := filepath.Join(small, "bob")
	if _, err := CreateProfileWith(t.Context(), bobDir, ProfileOptions{Name: "bob", Passphrase: testPass, KDF: cheapKDF}); err != nil {
		t.Fatal(err)
	}
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, bobDir)
	befriend(t, alice, bob, 10*time.Second)
	ctx := t.Context()

	filler := fill(t, small)
	// Send until Bob cannot store any more (his WAL may still have room
	// for a few), then some more.
	body := strings.Repeat("x", 8<<10)
	var sent []string
	send := func() {
		text := fmt.Sprintf("%04d %s", len(sent), body)
		if _, err := alice.Send(ctx, "b", text); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
	}
	full := func(e Event) bool {
		ev, ok := e.(ErrorEvent)
		return ok && strings.Contains(ev.Message, "disk is full")
	}
	for bob.count(full) == 0 {
		if len(sent) > 400 {
			t.Fatal("bob stored 400 messages of 8 KiB on a full 8 MiB tmpfs")
		}
		send()
		time.Sleep(20 * time.Millisecond)
	}
	for range 10 {
		send()
	}
	st, err := bob.Status(ctx)
	if err != nil || !strings.Contains(st.StorageError, "disk full") {
		t.Fatalf("bob's status while full: %+v %v", st, err)
	}
	// A reconnect storm shows as new links: with this test's backoff
	// (20–200 ms) a loop of drops would make dozens in the window.
	links := func() int {
		return mem.Connects(onion.Address(bob.Address())) + mem.Connects(onion.Address(alice.Address()))
	}
	before := links()
	time.Sleep(2 * time.Second)
	if d := links() - before; d > 1 {
		t.Errorf("%d new links in 2 s while bob's disk was full", d)
	}
	if got := len(bob.received(alice.Address())); got >= len(sent) {
		t.Fatalf("bob stored all %d messages on a full disk", got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	got := bob.waitReceived(t, 30*time.Second, alice.Address(), len(sent))
	checkInOrder(t, got, sent)
	waitUntil(t, 10*time.Second, "bob's storage error to clear", func() bool {
		st, err := bob.Status(ctx)
		return err == nil && st.StorageError == ""
	})
	waitUntil(t, 10*time.Second, "alice's outbox to drain", func() bool {
		st, err := alice.Status(ctx)
		return err == nil && st.Outbox == 0
	})
}
