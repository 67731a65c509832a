//go:build unix

package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "CHIVE_STORAGE_CRASH_CHILD"

func crashID(i int) MessageID {
	var id MessageID
	copy(id[:], fmt.Sprintf("crash-%09d", i))
	return id
}

// TestCrashChild is the child half of TestKill9: it queues messages as
// fast as it can, printing each index once committed, until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestKill9")
	}
	ctx := context.Background()
	db, err := Open(ctx, dir, testPass, OpenOptions{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(2 * time.Minute) // never outlive a crashed parent for long
	for i := 0; time.Now().Before(deadline); i++ {
		_, err := db.QueueMessage(ctx, OutgoingMessage{ContactID: 1, ID: crashID(i), Body: "body-" + strconv.Itoa(i),
			Session: []byte("session-" + strconv.Itoa(i)), Frame: []byte("frame-" + strconv.Itoa(i))})
		if err != nil {
			fmt.Println("queue:", err)
			os.Exit(2)
		}
		fmt.Println(i)
	}
	os.Exit(3)
}

// TestKill9 kills a process in the middle of a burst of queued messages
// and checks every message is either fully there (message row, outbox row,
// session state) or absent, and that every acknowledged commit survived.
func TestKill9(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip()
	}
	ctx := context.Background()
	db := newTestDB(t)
	dir := db.Dir()
	c := addContact(t, db, "bob", "Bob", StateAccepted)
	if c.ID != 1 {
		t.Fatalf("contact id %d", c.ID)
	}
	db.Close()

	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		committed := -1
		target := 20 + round*37
		for sc.Scan() {
			n, err := strconv.Atoi(sc.Text())
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %s", sc.Text())
			}
			committed = n
			if n >= target {
				break
			}
		}
		// Mid-burst: the child is inside its next transaction or about to
		// be; a varying delay lands the kill at different points of it.
		time.Sleep(time.Duration(round) * 700 * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if committed < target {
			t.Fatalf("child stopped after %d messages", committed)
		}

		db, err := Open(ctx, dir, testPass, OpenOptions{})
		if err != nil {
			t.Fatalf("reopen after kill -9 (stale lock must not block): %v", err)
		}
		msgs, err := db.History(ctx, 1, 0, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := db.Outbox(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		inOutbox := make(map[MessageID]OutboxItem)
		for _, it := range ob {
			inOutbox[it.ID] = it
		}
		present := make(map[int]bool)
		maxIdx := -1
		for _, m := range msgs {
			i, err := strconv.Atoi(m.Body[len("body-"):])
			if err != nil || m.ID != crashID(i) {
				t.Fatalf("unexpected message %+v", m)
			}
			it, ok := inOutbox[m.ID]
			if !ok || string(it.Frame) != "frame-"+strconv.Itoa(i) {
				t.Fatalf("message %d without its outbox row", i)
			}
			delete(inOutbox, m.ID)
			present[i] = true
			maxIdx = max(maxIdx, i)
		}
		if len(inOutbox) != 0 {
			t.Fatalf("%d outbox rows without their message", len(inOutbox))
		}
		for i := 0; i <= committed; i++ {
			if !present[i] {
				t.Fatalf("message %d was committed before the kill but is gone", i)
			}
		}
		st, err := db.Session(ctx, 1)
		if err != nil || string(st) != "session-"+strconv.Itoa(maxIdx) {
			t.Fatalf("session %q does not match the newest message %d (%v)", st, maxIdx, err)
		}
		t.Logf("round %d: killed after %d reported commits; %d messages present, all whole", round, committed+1, len(msgs))
		// The next round continues the index sequence.
		if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteHistory(1) }); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}
