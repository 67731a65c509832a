package rpc

import (
	"bytes"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestBufferedBytesBounded: a buggy script opens many connections, each
// sending about a megabyte without a newline, and leaves them open. The
// fault pass saw the daemon grow from 48 MB to 1.83 GB this way and stay
// there. Now the connections and the bytes held are capped, the excess is
// told why it is closed, other clients are still served, and the memory
// is released when the script goes away.
func TestBufferedBytesBounded(t *testing.T) {
	const conns = 300
	f := newFake()
	path, srv := serve(t, f)
	var frees atomic.Int32
	srv.buffered.free = func() { frees.Add(1) }
	base := heapInUse()

	chunk := bytes.Repeat([]byte("a"), 64<<10)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		clients []net.Conn
		refused atomic.Int32
	)
	for range conns {
		nc, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		clients = append(clients, nc)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent := 0; sent < MaxLine; sent += len(chunk) {
				nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if _, err := nc.Write(chunk); err != nil {
					refused.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Every write finished or failed: whatever the server holds, it holds now.
	held, heap := srv.buffered.inUse(), heapInUse()
	t.Logf("%d connections × 1 MiB without newline: %d refused, %d MiB held, heap %d → %d MiB",
		conns, refused.Load(), held>>20, base>>20, heap>>20)
	if held > maxBuffered {
		t.Errorf("%d bytes held, more than the %d allowed", held, maxBuffered)
	}
	if heap > base+2*maxBuffered {
		t.Errorf("heap grew from %d to %d MiB", base>>20, heap>>20)
	}
	if refused.Load() == 0 {
		t.Error("no connection was refused")
	}
	// Another client gets in once the script lets go of some connections.
	mu.Lock()
	for _, nc := range clients[:conns/2] {
		nc.Close()
	}
	mu.Unlock()
	waitFor(t, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.conns) < maxConns }, "a free connection slot")
	c := dialT(t, path)
	if _, err := c.Status(t.Context()); err != nil {
		t.Fatalf("another client while the script holds connections: %v", err)
	}

	// The script ends: everything held is released, and handed back.
	mu.Lock()
	for _, nc := range clients {
		nc.Close()
	}
	mu.Unlock()
	waitFor(t, func() bool { return srv.buffered.inUse() == 0 }, "the held bytes to be released")
	if heap := heapInUse(); heap > base+8<<20 {
		t.Errorf("heap still %d MiB after the connections closed (was %d)", heap>>20, base>>20)
	}
	if frees.Load() == 0 {
		t.Error("memory was not handed back to the OS")
	}
}

// TestTooManyConnections: past maxConns a connection gets an error line
// saying why, and is closed.
func TestTooManyConnections(t *testing.T) {
	path, srv := serve(t, newFake())
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range maxConns {
		nc, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, nc)
	}
	waitFor(t, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.conns) == maxConns }, "all connections accepted")
	rc := dialRaw(t, path)
	resp := rc.recv()
	if code := errCode(t, resp); code != CodeError || !strings.Contains(string(resp["error"]), "too many connections") {
		t.Errorf("connection %d: %v", maxConns+1, resp)
	}
	if _, err := rc.r.ReadByte(); err == nil {
		t.Error("the refused connection stays open")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
