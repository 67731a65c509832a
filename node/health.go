package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/chive-im/chive/onion"
)

// Reachability is checked, not assumed. Tor says "bootstrapped 100%" and
// the onion service was published once; after that, a frozen network, a
// frozen tor, or a private network restarted with new relays leaves the
// node unreachable while it looked fine (the fault pass: "tor ready,
// reachable" for 224 s while nothing could reach it). So the node dials
// its own onion service now and then, end to end through tor, and more
// often while that fails. When it fails it says so (Status.Reachable false,
// NetworkProblem), republishes the onion service, then restarts tor with a
// freshly read configuration (Options.ReloadTorrc). When it works again,
// dials that began while it did not are cancelled and every contact with
// something to deliver is dialed at once, not after its backoff.

// netState is the health of the current network. Guarded by Node.mu.
type netState struct {
	checked  time.Time // last successful self-dial
	failures int       // consecutive failed self-dials
	problem  string    // what is wrong, for Status; "" when healthy
	// gen counts recoveries; dials started under an older one are
	// cancelled (ctx) and their failure does not count toward backoff.
	gen    int
	ctx    context.Context // parent of dials; cancelled at a recovery
	cancel context.CancelFunc
}

// checkKick asks the health loop to check now (a dial failed, tor's
// liveness changed). Never blocks.
func (n *Node) checkKick() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// dialContext returns the context dials start under, and its generation.
func (n *Node) dialContext() (context.Context, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net.ctx == nil {
		n.net.ctx, n.net.cancel = context.WithCancel(n.ctx)
	}
	return n.net.ctx, n.net.gen
}

// netGen is the current network generation.
func (n *Node) netGen() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.net.gen
}

// selfDial connects to our own onion service through tr: proof that
// peers can too (descriptor on the HSDirs, introduction points up,
// circuits built).
func (n *Node) selfDial(ctx context.Context, tr Transport) error {
	ctx, cancel := context.WithTimeout(ctx, n.tune.healthTimeout)
	defer cancel()
	c, err := tr.Dial(ctx, n.addr)
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// outcome of keepReachable: what supervise does next.
type outcome int

const (
	transportDone outcome = iota // tor exited, or the node is closing
	restartTor                   // tor makes no progress: start it again
)

// keepReachable watches a published service until tor exits, the node
// closes, or tor must be restarted. It owns *ln: on republishing it closes
// it and stores the new one (supervise closes the last).
func (n *Node) keepReachable(tr Transport, ln *net.Listener) outcome {
	first := n.tune.healthEvery
	n.mu.Lock()
	if n.net.problem != "" {
		first = n.tune.healthRetry // after a restart: see that it helped
	}
	n.mu.Unlock()
	timer := time.NewTimer(first)
	defer timer.Stop()
	// A kick from before the service was published (bootstrap warnings)
	// is stale: a descriptor just uploaded may not have spread yet.
	select {
	case <-n.kick:
	default:
	}
	// The network's configuration (a private network's state file) is
	// cheap to read: look for a change often, not only when checks fail.
	var reload <-chan time.Time
	if n.opts.ReloadTorrc != nil {
		t := time.NewTicker(n.tune.reloadEvery)
		defer t.Stop()
		reload = t.C
	}
	for {
		select {
		case <-tr.Done():
			return transportDone
		case <-n.ctx.Done():
			return transportDone
		case <-reload:
			if n.torrcChanged() {
				n.setProblem("the Tor network's configuration changed; restarting Tor with it")
				return restartTor
			}
			continue
		case <-timer.C:
		case <-n.kick:
		}
		// Something looks wrong or it is time to look. First the cheap
		// answers: a changed network configuration, or tor saying the
		// network is gone (a self-dial would only wait for its timeout).
		if n.torrcChanged() {
			n.setProblem("the Tor network's configuration changed; restarting Tor with it")
			return restartTor
		}
		n.mu.Lock()
		offline := n.tor.State == TorOffline || n.tor.State == TorReconnecting
		n.mu.Unlock()
		if offline {
			timer.Reset(n.tune.healthRetry)
			continue
		}
		err := n.checkOnce(tr)
		if err == nil {
			timer.Reset(n.tune.healthEvery)
			continue
		}
		if n.torrcChanged() {
			// "chive testnet up" again: new ports, new relay keys. The tor
			// we run cannot reach that network; one started afresh can.
			n.setProblem("the Tor network's configuration changed; restarting Tor with it")
			return restartTor
		}
		timer.Reset(n.tune.healthRetry)
		n.mu.Lock()
		offline = n.tor.State == TorOffline || n.tor.State == TorReconnecting
		if !offline {
			n.net.failures++
		}
		k := n.net.failures
		n.mu.Unlock()
		if offline {
			// Tor knows the network is gone (Status says so): republishing
			// or restarting it would not bring the network back.
			continue
		}
		switch {
		case k == n.tune.republishAfter:
			n.setProblem(fmt.Sprintf("our onion service cannot be reached through Tor (%v); publishing it again", err))
			if !n.republish(tr, ln) {
				n.setProblem("publishing our onion service again failed; restarting Tor")
				n.mu.Lock()
				n.net.failures = 0
				n.mu.Unlock()
				return restartTor
			}
		case k >= n.tune.restartAfter:
			n.setProblem(fmt.Sprintf("our onion service still cannot be reached through Tor (%v); restarting Tor", err))
			n.mu.Lock()
			n.net.failures = 0 // a fresh tor gets the whole ladder again
			n.mu.Unlock()
			return restartTor
		}
	}
}

// checkOnce runs one self-dial (cancelled by a node close or tor's exit)
// and records the result; a success after failures is a recovery.
func (n *Node) checkOnce(tr Transport) error {
	ctx, cancel := context.WithCancel(n.ctx)
	stop := make(chan struct{})
	go func() {
		select {
		case <-tr.Done():
			cancel()
		case <-stop:
		}
	}()
	start := time.Now()
	err := n.selfDial(ctx, tr)
	close(stop)
	cancel()
	if n.ctx.Err() != nil {
		return nil
	}
	if err != nil {
		n.log.Warn("our onion service is not reachable through tor", "err", err, "took", time.Since(start).Round(time.Millisecond))
		n.mu.Lock()
		was := n.reachable
		n.reachable = false
		if n.net.problem == "" || n.net.problem == restartedProblem {
			n.net.problem = fmt.Sprintf("our onion service could not be reached through Tor (%v); checking again", err)
		}
		n.mu.Unlock()
		if was {
			n.events.publish(ReachableEvent{Reachable: false})
		}
		return err
	}
	n.log.Debug("our onion service is reachable", "took", time.Since(start).Round(time.Millisecond))
	n.recovered(time.Now(), tr)
	return nil
}

// restartedProblem is Status.NetworkProblem between a restart and the
// check that tells whether it helped.
const restartedProblem = "Tor was restarted and our onion service published again; checking that it can be reached"

// setProblem records what is wrong and logs it.
func (n *Node) setProblem(p string) {
	n.log.Warn(p)
	n.mu.Lock()
	n.net.problem = p
	n.mu.Unlock()
}

// recovered records a successful self-dial. After failures (or a restart
// that followed them) it cancels the dials begun meanwhile, has tor forget
// the lookups that failed while the network was down, and redials everyone
// with work at once.
func (n *Node) recovered(at time.Time, tr Transport) {
	n.mu.Lock()
	was := n.reachable
	after := n.net.failures > 0 || n.net.problem != ""
	n.net.checked, n.net.failures, n.net.problem = at, 0, ""
	// Reachable, unless tor itself says it is offline (setTor).
	reach := n.tor.State != TorOffline && n.tor.State != TorReconnecting
	n.reachable = reach
	var cancel context.CancelFunc
	if after {
		n.net.gen++
		cancel = n.net.cancel
		n.net.ctx, n.net.cancel = nil, nil
	}
	n.mu.Unlock()
	if reach != was {
		n.events.publish(ReachableEvent{Reachable: reach})
	}
	if !after {
		return
	}
	n.log.Info("reachable again; redialing contacts")
	if r, ok := tr.(refresher); ok {
		if err := r.Refresh(); err != nil {
			n.log.Warn("refreshing tor", "err", err)
		}
	}
	if cancel != nil {
		cancel()
	}
	n.networkBack()
}

// republish takes the onion service down and publishes it again: new
// introduction points and a fresh descriptor on the HSDirs.
func (n *Node) republish(tr Transport, ln *net.Listener) bool {
	(*ln).Close()
	ctx, cancel := context.WithTimeout(n.ctx, n.tune.republishTry)
	defer cancel()
	nl, err := tr.Listen(ctx, n.key)
	if err != nil {
		n.log.Warn("publishing the onion service again", "err", err)
		return false
	}
	*ln = nl
	if !n.spawn(func() { n.acceptLoop(nl) }) {
		nl.Close()
		return false
	}
	n.log.Info("onion service published again")
	return true
}

// startWatched runs start; if the network's configuration changes while
// tor bootstraps (which it then never finishes), it gives up on this start
// so that supervise starts tor again with the new configuration.
func (n *Node) startWatched(start StartTransport) (Transport, error) {
	if n.opts.ReloadTorrc == nil {
		return start(n.ctx, n.setTor)
	}
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(n.tune.reloadEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if n.torrcChanged() {
					n.setProblem("the Tor network's configuration changed while Tor started; starting it again")
					cancel()
					return
				}
			}
		}
	}()
	return start(ctx, n.setTor)
}

// setTorrc records the torrc lines tor was (re)started with.
func (n *Node) setTorrc(lines []string) {
	n.mu.Lock()
	n.torrc = slices.Clone(lines)
	n.mu.Unlock()
}

// torrcChanged reports whether Options.ReloadTorrc now gives other lines
// than those the running tor was started with.
func (n *Node) torrcChanged() bool {
	if n.opts.ReloadTorrc == nil {
		return false
	}
	lines, err := n.opts.ReloadTorrc()
	n.mu.Lock()
	if err != nil {
		// Say it once, not at every check (a network being restarted).
		say := err.Error() != n.reloadErr
		n.reloadErr = err.Error()
		n.mu.Unlock()
		if say {
			n.log.Warn("reading the tor configuration", "err", err)
		}
		return false
	}
	n.reloadErr = ""
	changed := !slices.Equal(lines, n.torrc)
	n.mu.Unlock()
	return changed
}

// dialTrouble looks at a failed dial: a timeout or an unreachable
// service (not "descriptor not found", the usual offline contact) can mean
// the network, not the peer, is in trouble; check ours, at most every
// kickEvery.
func (n *Node) dialTrouble(err error) {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, onion.ErrUnreachable) {
		return
	}
	n.mu.Lock()
	now := time.Now()
	kick := now.Sub(n.kicked) >= n.tune.kickEvery
	if kick {
		n.kicked = now
	}
	n.mu.Unlock()
	if kick {
		n.checkKick()
	}
}
