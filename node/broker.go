package node

import (
	"context"
	"sync"
)

// broker fans events out to subscribers with the promise API.Subscribe
// states: each subscriber has an unbounded FIFO, in which a droppable event
// (Droppable) replaces a not-yet-delivered one with the same coalescing key
// (the same kind, and the same contact for presence and typing). So the
// queue holds every must-deliver event plus at most one event per key: a
// slow reader misses intermediate progress, never a message.
type broker struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	mu      sync.Mutex
	queue   []*queued
	pending map[string]*queued // droppable events still queued, by key
	wake    chan struct{}      // cap 1
}

type queued struct {
	ev  Event
	key string // "" for must-deliver events
}

func newBroker() *broker { return &broker{subs: make(map[*subscriber]struct{})} }

// coalesceKey is the slot a droppable event occupies.
func coalesceKey(e Event) string {
	switch e := e.(type) {
	case PresenceEvent:
		return e.Kind() + ":" + e.Address
	case TypingEvent:
		return e.Kind() + ":" + e.Address + ":" + e.Group
	case FileProgressEvent:
		return e.Kind() + ":" + e.ID
	}
	return e.Kind()
}

// publish queues e for every subscriber. It never blocks on a reader.
func (b *broker) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.push(e)
	}
}

func (s *subscriber) push(e Event) {
	s.mu.Lock()
	if Droppable(e) {
		k := coalesceKey(e)
		if q := s.pending[k]; q != nil {
			q.ev = e // replace the undelivered one in place
		} else {
			q := &queued{ev: e, key: k}
			s.pending[k] = q
			s.queue = append(s.queue, q)
		}
	} else {
		s.queue = append(s.queue, &queued{ev: e})
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) pop() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, false
	}
	q := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	if q.key != "" && s.pending[q.key] == q {
		delete(s.pending, q.key)
	}
	return q.ev, true
}

// subscribe returns a channel of events until ctx is done or the broker is
// closed; then the channel is closed. initial events are queued first.
func (b *broker) subscribe(ctx context.Context, initial ...Event) (<-chan Event, error) {
	s := &subscriber{pending: make(map[string]*queued), wake: make(chan struct{}, 1)}
	for _, e := range initial {
		s.push(e)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()

	ch := make(chan Event)
	go func() {
		defer close(ch)
		defer func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
		}()
		for {
			e, ok := s.pop()
			if !ok {
				select {
				case <-s.wake:
					continue
				case <-ctx.Done():
					return
				}
			}
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// close refuses new subscriptions. Existing ones end with the node's
// context (see Node.Subscribe); what they had queued is dropped, as the
// node is going away.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
}
