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
	// paced: the contact is unlikely to answer (never linked, or not for
	// long), so its dial waits for the start rate too.
	paced bool
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

// dialer hands out dial slots by priority, and paces dial starts: a slot
// freed by a quick failure (an address nobody serves) is not refilled at
// once, or the cap alone would keep tor as busy as before, just steadily.
type dialer struct {
	mu    sync.Mutex
	queue dialQueue
	free  int    // slots not in use
	seq   uint64 // waiters so far

	rate   float64     // dial starts per second, sustained (0: unpaced)
	burst  float64     // starts allowed at once
	tokens float64     // starts allowed now
	last   time.Time   // when tokens was last refilled
	timer  *time.Timer // grants again when the next token is due
}

type dialWaiter struct {
	prio    dialPrio
	seq     uint64        // FIFO among equals
	granted chan struct{} // closed when the slot is ours
	index   int           // in the heap; -1 once granted or gone
}

func newDialer(slots int, rate float64) *dialer {
	slots = max(slots, 1)
	return &dialer{free: slots, rate: rate, burst: float64(slots), tokens: float64(slots), last: time.Now()}
}

// acquire waits for a dial slot (and, when paced, a start token), ahead of
// waiters with a lower priority. The returned release gives the slot back;
// call it once the dial is done.
func (d *dialer) acquire(ctx context.Context, p dialPrio) (release func(), err error) {
	d.mu.Lock()
	d.refillLocked()
	if d.queue.Len() == 0 && d.free > 0 && d.startableLocked(p) {
		d.takeLocked(p)
		d.mu.Unlock()
		return d.release, nil
	}
	d.seq++
	w := &dialWaiter{prio: p, seq: d.seq, granted: make(chan struct{})}
	heap.Push(&d.queue, w)
	d.grantLocked()
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
	d.free++
	d.grantLocked()
}

func (d *dialer) refillLocked() {
	now := time.Now()
	d.tokens = min(d.burst, d.tokens+now.Sub(d.last).Seconds()*d.rate)
	d.last = now
}

func (d *dialer) startableLocked(p dialPrio) bool { return !p.paced || d.rate <= 0 || d.tokens >= 1 }

func (d *dialer) takeLocked(p dialPrio) {
	d.free--
	if p.paced && d.rate > 0 {
		d.tokens--
	}
}

// grantLocked gives slots to the first waiters while slots (and, for
// paced dials, tokens) last; when only a token is missing, it comes back
// when the next is due.
func (d *dialer) grantLocked() {
	d.refillLocked()
	for d.queue.Len() > 0 && d.free > 0 && d.startableLocked(d.queue[0].prio) {
		w := heap.Pop(&d.queue).(*dialWaiter)
		d.takeLocked(w.prio)
		close(w.granted)
	}
	if d.queue.Len() > 0 && d.free > 0 && d.timer == nil {
		wait := time.Duration((1 - d.tokens) / d.rate * float64(time.Second))
		d.timer = time.AfterFunc(wait, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.timer = nil
			d.grantLocked()
		})
	}
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
