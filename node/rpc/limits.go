package rpc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// Limits on what clients can make the daemon hold. Only the profile's owner
// can connect, so this is about a buggy script (a loop that connects and
// never finishes a line), not an attacker: the daemon's memory stays
// bounded and comes back down when the script stops.
const (
	// maxConns bounds the connections served at once; one more is told so
	// (an error line) and closed.
	maxConns = 128
	// maxBuffered bounds the request bytes held at once, across all
	// connections: lines being read and requests being handled. A
	// connection whose line does not fit is told the server is busy and
	// closed (a request it already sent is still answered). Lines over
	// smallLine may fill only seven eighths of it.
	maxBuffered = 32 << 20
	// readBufSize is each connection's read buffer; longer lines grow in
	// memory counted by maxBuffered, released when handled.
	readBufSize = 16 << 10
	// freeAfter: once this much was held and almost all is released,
	// the memory is returned to the operating system.
	freeAfter = 8 << 20
)

var errBusy = errors.New("server busy: too many request bytes in flight")

// budget counts the request bytes held, against maxBuffered.
type budget struct {
	mu    sync.Mutex
	used  int
	limit int
	peak  int       // highest use since memory was last given back
	freed time.Time // when it was
	// free returns memory to the OS (debug.FreeOSMemory; tests count calls).
	free func()
}

func newBudget(limit int) *budget {
	return &budget{limit: limit, free: debug.FreeOSMemory}
}

// smallLine is the longest line that may use the budget's last eighth:
// ordinary requests still get through while big ones fill the rest.
const smallLine = 64 << 10

// take reserves n bytes for a line of size bytes, or reports false when
// they would exceed the limit.
func (b *budget) take(n, size int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.limit
	if size > smallLine {
		limit -= b.limit / 8
	}
	if b.used+n > limit {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

// release returns n bytes. When a burst has drained, the freed buffers go
// back to the OS at once: the Go runtime would otherwise keep them for
// minutes, and the daemon's RSS would stay at its peak.
func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	giveBack := b.peak >= freeAfter && b.used < freeAfter/8 && time.Since(b.freed) > time.Second
	if giveBack {
		b.peak, b.freed = b.used, time.Now()
	}
	free := b.free
	b.mu.Unlock()
	if giveBack {
		go free()
	}
}

// inUse returns the bytes held now.
func (b *budget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// refuse tells a connection over maxConns why it is closed.
func (s *Server) refuse(nc net.Conn) {
	defer s.wg.Done()
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(append(mustMarshal(response{JSONRPC: "2.0", ID: nullID,
		Error: &Error{Code: CodeError, Message: fmt.Sprintf("too many connections (at most %d at once); close some and try again", maxConns)}}), '\n'))
}

// readRequest is readLine for the server: the line's memory is counted in
// b. It also returns how many bytes it took from b for the line (release
// them when done with it). A line that does not fit in b is errBusy;
// nothing is held after an error other than io.EOF.
func readRequest(r *bufio.Reader, limit int, b *budget) (line []byte, held int, err error) {
	for {
		frag, err := r.ReadSlice('\n')
		need := len(line) + len(frag)
		if need > limit+1 { // +1: the newline itself
			b.release(held)
			return nil, 0, errLineTooLong
		}
		if need > cap(line) {
			// frag lives in r's buffer, reused by the next read: copy it
			// into memory of our own, counted.
			size := min(max(need, 2*cap(line)), limit+1)
			if !b.take(size-held, size) {
				b.release(held)
				return nil, 0, errBusy
			}
			grown := make([]byte, len(line), size)
			copy(grown, line)
			line, held = grown, size
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return line, held, io.EOF
			}
			b.release(held)
			return nil, 0, err
		}
		return line[:len(line)-1], held, nil
	}
}
