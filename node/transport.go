package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"

	"github.com/chive-im/chive/onion"
)

// Transport is the node's network: Tor in production, memory in unit tests
// (node/nodetest/memnet). One Transport lives as long as the network under
// it; when Done closes (tor exited) the node starts a new one.
type Transport interface {
	// Listen publishes our onion service and accepts peers' connections.
	Listen(ctx context.Context, key ed25519.PrivateKey) (net.Listener, error)
	// Dial connects to addr's onion service, bounded by ctx.
	Dial(ctx context.Context, addr onion.Address) (net.Conn, error)
	// Done is closed when the transport has failed and must be replaced.
	Done() <-chan struct{}
	// Close stops the transport. Idempotent.
	Close() error
}

// StartTransport brings a network up, reporting Tor's progress, and returns
// once it is usable (bootstrapped). Options.Transport defaults to Tor.
type StartTransport func(ctx context.Context, progress func(TorStatus)) (Transport, error)

// torTransport is a Transport over one tor process.
type torTransport struct{ t *onion.Tor }

func (tt torTransport) Listen(ctx context.Context, key ed25519.PrivateKey) (net.Listener, error) {
	return tt.t.Listen(ctx, key)
}

func (tt torTransport) Dial(ctx context.Context, addr onion.Address) (net.Conn, error) {
	return tt.t.Dial(ctx, addr)
}

// Refresh implements refresher.
func (tt torTransport) Refresh() error { return tt.t.Refresh() }

// refresher is a Transport that can drop what it learned while the network
// was down (tor's circuits and onion-service client state).
type refresher interface{ Refresh() error }

func (tt torTransport) Done() <-chan struct{} { return tt.t.Done() }
func (tt torTransport) Close() error          { return tt.t.Close() }

// torStarter returns a StartTransport that runs (or attaches to) tor as cfg
// says and waits for its bootstrap. reload, if not nil, gives the torrc
// lines afresh at each start; used is told the lines tor runs with; kick
// is called when tor starts or stops complaining (no network, ...):
// reachability is worth checking then.
func torStarter(cfg onion.Config, reload func() ([]string, error), kick func(), used func([]string)) StartTransport {
	return func(ctx context.Context, progress func(TorStatus)) (Transport, error) {
		c := cfg
		if reload != nil {
			lines, err := reload()
			if err != nil {
				return nil, fmt.Errorf("read the tor configuration: %w", err)
			}
			c.ExtraTorrc = lines
		}
		used(c.ExtraTorrc)
		var warning string
		c.OnProgress = func(p onion.Progress) {
			if p.Warning != warning {
				warning = p.Warning
				kick()
			}
			progress(torStatus(p))
		}
		progress(TorStatus{State: TorStarting})
		t, err := onion.Start(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := t.WaitReady(ctx); err != nil {
			t.Close()
			return nil, err
		}
		return torTransport{t}, nil
	}
}

// torStatus is tor's progress as the API shows it. Once bootstrapped,
// tor's view of the network decides between ready, offline (Error says
// what tor saw) and reconnecting.
func torStatus(p onion.Progress) TorStatus {
	st := TorStatus{State: TorBootstrapping, Percent: p.Percent, Summary: p.Summary}
	switch {
	case p.Percent < 100:
	case p.Liveness == onion.LivenessDown:
		st.State, st.Summary, st.Error = TorOffline, "", p.Warning
	case p.Liveness == onion.LivenessRecovering:
		st.State, st.Summary = TorReconnecting, "the network is back; building circuits"
	default:
		st.State = TorReady
	}
	return st
}
