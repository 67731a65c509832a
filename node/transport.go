package node

import (
	"context"
	"crypto/ed25519"
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

func (tt torTransport) Done() <-chan struct{} { return tt.t.Done() }
func (tt torTransport) Close() error          { return tt.t.Close() }

// torStarter returns a StartTransport that runs (or attaches to) tor as cfg
// says and waits for its bootstrap.
func torStarter(cfg onion.Config) StartTransport {
	return func(ctx context.Context, progress func(TorStatus)) (Transport, error) {
		c := cfg
		c.OnProgress = func(p onion.Progress) { progress(torStatus(p)) }
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
