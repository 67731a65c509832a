package node

import (
	"context"
	"fmt"
	"time"

	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// A full disk on the receiving side must neither lose anything nor start a
// reconnect storm. A frame that cannot be stored is not acknowledged, so
// its sender keeps it; the link stays up (closing it would make the peer
// redial at once and resend into the same full disk), and every later
// frame on that link is refused too, so nothing is stored out of order.
// The node probes the disk; once a write works again it closes the links
// it refused frames on, and the peers resend what they kept.

// storeFault is the node's "cannot store" state. Guarded by Node.faultMu.
type storeFault struct {
	since time.Time            // zero: storing works
	err   string               // the first error, for Status
	links map[*wire.Link]*peer // links whose frames were refused
	warn  time.Time            // last warning logged
}

// orderedFrame reports whether m waits for an acknowledgement and must be
// stored in the order it came: everything but typing and acks.
func orderedFrame(m wire.Msg) bool {
	switch m.(type) {
	case *wire.Typing, *wire.Ack:
		return false
	}
	return true
}

// refusing reports whether frames on l are being refused.
func (n *Node) refusing(l *wire.Link) bool {
	n.faultMu.Lock()
	defer n.faultMu.Unlock()
	_, ok := n.fault.links[l]
	return ok
}

// storeFailed records that a write failed because the disk is full (err
// is such an error), refusing l's frames from now on if l is not nil.
// It reports whether err was a full disk; other errors are the caller's.
func (n *Node) storeFailed(err error, p *peer, l *wire.Link) bool {
	if !storage.IsDiskFull(err) {
		return false
	}
	now := time.Now()
	n.faultMu.Lock()
	first := n.fault.since.IsZero()
	if first {
		n.fault.since, n.fault.err = now, err.Error()
		n.fault.links = map[*wire.Link]*peer{}
	}
	if l != nil {
		n.fault.links[l] = p
	}
	warn := first || now.Sub(n.fault.warn) >= time.Minute
	if warn {
		n.fault.warn = now
	}
	n.faultMu.Unlock()
	if warn {
		n.log.Warn("disk full: refusing incoming messages until space is freed (their senders keep them)", "err", err)
	}
	if first {
		n.events.publish(ErrorEvent{Message: "The disk is full: incoming messages wait with their senders until you free some space."})
		n.spawn(n.probeStorage)
	}
	return true
}

// storageError is Status.StorageError.
func (n *Node) storageError() string {
	n.faultMu.Lock()
	defer n.faultMu.Unlock()
	if n.fault.since.IsZero() {
		return ""
	}
	return fmt.Sprintf("disk full since %s: incoming messages are refused (their senders keep them) until space is freed",
		n.fault.since.Local().Format(time.TimeOnly))
}

// probeStorage tries a small write every storageProbe until one works,
// then ends the refusal: the links frames were refused on are closed, so
// their peers redial and resend.
func (n *Node) probeStorage() {
	t := time.NewTicker(n.tune.storageProbe)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(n.ctx, n.tune.storageProbe)
		err := n.db.WriteProbe(ctx)
		cancel()
		if err != nil {
			if !storage.IsDiskFull(err) && n.ctx.Err() == nil {
				n.log.Warn("probing the disk", "err", err)
			}
			continue
		}
		n.faultMu.Lock()
		links, since := n.fault.links, n.fault.since
		n.fault = storeFault{}
		n.faultMu.Unlock()
		n.log.Warn("disk writable again; asking peers to resend", "full_for", time.Since(since).Round(time.Second), "links", len(links))
		for l := range links {
			l.Close()
		}
		return
	}
}
