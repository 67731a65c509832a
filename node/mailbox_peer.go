package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/mailbox"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/wire"
)

// peerRun is a session with a contact's mailbox: opened when we have
// something for them and they are unreachable, or to visit (collect what
// they left for us, learn what they took), closed when idle.
type peerRun struct {
	wake chan struct{}    // cap 1
	sess *mailbox.Session // guarded by n.mbox.mu; nil until open
}

// peerFailing reports whether the last session with c's mailbox failed.
func (n *Node) peerFailing(cid int64) bool {
	n.mbox.mu.Lock()
	defer n.mbox.mu.Unlock()
	return n.mbox.failures[cid] > 0
}

// startPeer starts a session with c's mailbox (peer: its key and our
// token) unless one runs.
func (n *Node) startPeer(c contacts.Contact, peer []byte) {
	run := &peerRun{wake: make(chan struct{}, 1)}
	n.mbox.mu.Lock()
	if n.mbox.peers[c.ID] != nil {
		n.mbox.mu.Unlock()
		return
	}
	n.mbox.peers[c.ID] = run
	n.mbox.mu.Unlock()
	ok := n.spawn(func() {
		defer func() {
			n.mbox.mu.Lock()
			delete(n.mbox.peers, c.ID)
			n.mbox.mu.Unlock()
		}()
		n.runPeer(c, peer, run)
	})
	if !ok {
		n.mbox.mu.Lock()
		delete(n.mbox.peers, c.ID)
		n.mbox.mu.Unlock()
	}
}

func (n *Node) runPeer(c contacts.Contact, peer []byte, run *peerRun) {
	key, token := ed25519.PublicKey(peer[:32]), peer[32:]
	addr := onion.AddressFromPublicKey(key)
	ctx := n.ctx
	// A fresh link key per session: the mailbox must not learn who we are.
	_, eph, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return
	}
	var sess *mailbox.Session
	l, err := n.dialMailbox(ctx, addr, eph)
	if err == nil {
		sess, err = mailbox.OpenContact(ctx, l, token)
	}
	now := time.Now()
	n.mbox.mu.Lock()
	if err != nil {
		n.mbox.failures[c.ID]++
		d := n.mboxBackoff(n.mbox.failures[c.ID])
		if mailbox.Refused(err, wire.MailboxDenied) {
			d = n.tune.mbox.retryMax // our token is gone: they will tell us their new mailbox
		}
		n.mbox.failUntil[c.ID] = now.Add(d)
	} else {
		n.mbox.failures[c.ID] = 0
		n.mbox.lastPoll[c.ID] = now
	}
	n.mbox.mu.Unlock()
	if err != nil {
		n.log.Debug("contact's mailbox: no session", "peer", c.Address.Short(), "err", err)
		if ctx.Err() == nil {
			n.mailboxWake() // our own mailbox may take their items instead
		}
		return
	}
	defer sess.Close()
	n.log.Debug("contact's mailbox: session up", "peer", c.Address.Short())
	n.mbox.mu.Lock()
	run.sess = sess
	n.mbox.mu.Unlock()

	active := make(chan struct{}, 1)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		n.consume(func() { n.consumePeer(ctx, c.ID, sess, active) })
	}()
	idle := time.NewTimer(n.tune.mbox.linger)
	defer idle.Stop()
	for {
		if noLink, _ := n.unreachable(c); noLink {
			if err := n.putItems(ctx, sess, nil, c, false, false); err != nil {
				n.log.Debug("contact's mailbox: put", "peer", c.Address.Short(), "err", err)
			}
		}
		select {
		case <-run.wake:
		case <-active:
			idle.Reset(n.tune.mbox.linger)
		case <-idle.C:
			sess.Close()
			<-consumed
			return
		case <-sess.Done():
			<-consumed
			return
		case <-ctx.Done():
			sess.Close()
			<-consumed
			return
		}
	}
}

// consumePeer takes what c handed its mailbox for us and applies notices
// about what we left there, until the session ends.
func (n *Node) consumePeer(ctx context.Context, cid int64, sess *mailbox.Session, active chan<- struct{}) {
	var taken []wire.ID
	items, notices := sess.Items(), sess.Notices()
	poke := func() {
		select {
		case active <- struct{}{}:
		default:
		}
	}
	for items != nil || notices != nil {
		select {
		case it, ok := <-items:
			if !ok {
				items = nil
				continue
			}
			poke()
			take, err := n.handleRelayed(sess, cid, it.Msg)
			if err != nil {
				n.log.Warn("contact's mailbox: handling an item", "err", err)
				if len(taken) > 0 {
					sess.Taken(nil, taken)
				}
				taken = nil
				sess.Close()
				continue
			}
			if take {
				taken = append(taken, it.ID)
			}
			if len(items) == 0 || len(taken) >= wire.MaxMailboxIDs {
				sess.Taken(nil, taken)
				taken = nil
			}
		case nt, ok := <-notices:
			if !ok {
				notices = nil
				continue
			}
			poke()
			if err := n.applyNotice(cid, nt); err != nil {
				n.log.Warn("contact's mailbox: applying a notice", "err", err)
				sess.Close()
				continue
			}
			sess.AckNotice(nt)
		case <-n.mbox.quit:
			if len(taken) > 0 {
				sess.Taken(nil, taken)
			}
			return
		case <-ctx.Done():
			return
		}
	}
}
