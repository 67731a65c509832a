package node

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Dials are capped: each one holds a socket to tor and makes tor fetch a
// descriptor and build circuits, and a profile with hundreds of contacts
// whose addresses are offline would otherwise start them all at once (the
// fault pass saw 520 open fds and tor at 93% of a core for as long as it
// watched). At most tuning.maxDials run at once; the others wait in order
// of priority, so the contacts most likely to answer, and those with
// something to deliver, are linked first.

// dialPrio orders waiting dials: lower sorts first.
type dialPrio struct {
	// active: the contact has queued items or was seen lately; such
	// contacts go before the rest.
	active bool
	// seen is when the contact was last linked (or accepted, if later):
	// the more recent, the likelier it is online now.
	seen time.Time
	// work: queued items; between two contacts seen alike, the one with
	// something to send first.
	work bool
}

func (a dialPrio) before(b dialPrio) bool {
	if a.active != b.active {
		return a.active
	}
	if !a.seen.Equal(b.seen) {
		return a.seen.After(b.seen)
	}
	return a.work && !b.work
}

// dialer hands out dial slots by priority.
type dialer struct {
	mu    sync.Mutex
	queue dialQueue
	free  int    // slots not in use
	seq   uint64 // waiters so far
}

type dialWaiter struct {
	prio    dialPrio
	seq     uint64        // FIFO among equals
	granted chan struct{} // closed when the slot is ours
	index   int           // in the heap; -1 once granted or gone
}

func newDialer(slots int) *dialer { return &dialer{free: max(slots, 1)} }

// acquire waits for a dial slot, ahead of waiters with a lower priority.
// The returned release gives the slot back; call it once the dial is done.
func (d *dialer) acquire(ctx context.Context, p dialPrio) (release func(), err error) {
	d.mu.Lock()
	if d.free > 0 && d.queue.Len() == 0 {
		d.free--
		d.mu.Unlock()
		return d.release, nil
	}
	d.seq++
	w := &dialWaiter{prio: p, seq: d.seq, granted: make(chan struct{})}
	heap.Push(&d.queue, w)
	d.mu.Unlock()
	select {
	case <-w.granted:
		return d.release, nil
	case <-ctx.Done():
		d.mu.Lock()
		if w.index >= 0 {
			heap.Remove(&d.queue, w.index)
			d.mu.Unlock()
			return nil, ctx.Err()
		}
		d.mu.Unlock()
		// Granted while giving up: pass the slot on.
		d.release()
		return nil, ctx.Err()
	}
}

// release frees a slot, handing it to the first waiter if there is one.
func (d *dialer) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.queue.Len() > 0 {
		w := heap.Pop(&d.queue).(*dialWaiter)
		close(w.granted)
		return
	}
	d.free++
}

// waiting returns how many dials wait for a slot.
func (d *dialer) waiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queue.Len()
}

// dialQueue is a heap of waiters, first by priority, then by arrival.
type dialQueue []*dialWaiter

func (q dialQueue) Len() int { return len(q) }
func (q dialQueue) Less(i, j int) bool {
	if q[i].prio.before(q[j].prio) {
		return true
	}
	if q[j].prio.before(q[i].prio) {
		return false
	}
	return q[i].seq < q[j].seq
}
func (q dialQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *dialQueue) Push(x any) {
	w := x.(*dialWaiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *dialQueue) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*q = old[:len(old)-1]
	return w
}
