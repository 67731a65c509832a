package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/ratchet"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Errors from Open, re-exported so callers need not import storage. Test
// them with errors.Is (and errors.As for the two error types).
var (
	ErrWrongPassphrase = storage.ErrWrongPassphrase
	ErrNoProfile       = storage.ErrNoProfile
	ErrNewerVersion    = storage.ErrNewerVersion
)

type (
	// LockedError: another process has the profile open ("already running (pid N)").
	LockedError = storage.LockedError
	// PermissionError: the profile is readable by others; Fix says how to repair it.
	PermissionError = storage.PermissionError
)

// Options say which profile to open and how to reach Tor.
type Options struct {
	Dir        string
	Passphrase []byte
	// ExtraTorrc are torrc lines added to our tor's configuration: a
	// private test network's client lines (testnet.ClientTorrcFromDir).
	// nil: the real Tor network.
	ExtraTorrc []string
	TorPath    string // optional
	// ControlAddr and ControlPassword attach to an existing tor (optional).
	ControlAddr, ControlPassword string
	// Logger gets diagnostics; nil discards them. It never sees message
	// text, greetings or keys, and every value it gets has been through
	// safetext.Line (errors can carry what a peer sent).
	Logger *slog.Logger
	// Transport replaces Tor, e.g. with an in-memory network
	// (node/nodetest/memnet) in tests. nil: Tor as the fields above say.
	Transport StartTransport
	// WaitLock, if set, is asked what to do while another process holds
	// the profile (after the passphrase was checked): nil means try again,
	// an error gives up with it. nil WaitLock: fail at once with
	// *LockedError.
	WaitLock func(ctx context.Context, locked *LockedError) error
	// ReloadTorrc, if set, is called each time tor is (re)started and
	// replaces ExtraTorrc: a private test network restarted on the same
	// directory has new ports and relay keys (testnet.ClientTorrcFromDir).
	ReloadTorrc func() ([]string, error)

	tune *tuning // nil: defaults; tests shorten the timers
}

// tuning holds the node's timers and limits. Tests shorten them.
type tuning struct {
	link         wire.Config
	dialTimeout  time.Duration // one dial + link handshake
	backoffMin   time.Duration // first redial delay after a failure
	backoffMax   time.Duration // cap of the exponential backoff
	torRetryMin  time.Duration // restart delay after tor failed
	torRetryMax  time.Duration
	listenTry    time.Duration // one attempt to publish the onion service
	strangerIdle time.Duration // links to non-contacts close when idle this long
	typingEvery  time.Duration // at most one typing frame per contact per this
	storageProbe time.Duration // how often a full disk is probed for space
	shortLink    time.Duration // a link closed this soon without a frame counts as a failed dial
	// Reachability checks (health.go): a self-dial every healthEvery, every
	// healthRetry while they fail, each bounded by healthTimeout; after
	// republishAfter failures in a row the service is published again
	// (within republishTry), after restartAfter tor is restarted.
	healthEvery, healthRetry, healthTimeout, republishTry time.Duration
	republishAfter, restartAfter                          int
	kickEvery                                             time.Duration // at most one check per this on dial trouble
	reloadEvery                                           time.Duration // how often ReloadTorrc is read for changes
	// announce dials accepted contacts last seen within this (see announce).
	announceWithin time.Duration
	maxStrangers   int // concurrent links to peers that are not accepted contacts
	maxHandshake   int // concurrent inbound link handshakes
	// Key rotation: the signed prekey and ML-KEM key are replaced when
	// older than rotateEvery (checked every rotateCheck); replaced keys are
	// kept rotateKeep for acceptances of requests sent before.
	rotateEvery, rotateKeep, rotateCheck time.Duration
	resetEvery                           time.Duration // a contact may start a new session this often
	maxDials                             int           // concurrent outgoing dials (dialer.go)
	dialRate                             float64       // dial starts per second after a burst of maxDials
	// Contact request limits (zero: the contacts package's defaults).
	perAddress, totalRequests contacts.Rate
	maxPending                int // pending requests kept (0: the contacts package's default)

	// The flood guard (guard.go).
	preAuth          time.Duration // an inbound handshake must finish within this
	messageRate      rate          // per contact
	receiptRate      rate
	typingRate       rate          // typing frames over it are dropped
	frameRate        rate          // acks and the rest
	unreadQuota      int           // unread messages per contact before its link waits
	unreadBytesQuota int64         // and their bytes at rest
	failWindow       time.Duration // one decryption-failure notice per contact per window
	seenMaxAge       time.Duration // seen ids are kept this long...
	seenKeep         int           // ...and at most this many per contact
	pruneEvery       time.Duration
	workBits         int // proof of work asked of requests without an invite
	// Mailbox (issue 16): see mailboxTuning.
	mbox mailboxTuning

	// maxBatch bounds the frames one receive transaction stores (and then
	// acknowledges) and the sends one transaction queues; 1 commits each
	// on its own, as chive did before batching (benchmarks compare).
	maxBatch int
	// Files: chunks in flight per transfer, and the wait before a
	// transfer stalled by a full disk tries again (zero: files' defaults).
	fileWindow int
	fileRetry  time.Duration
	chunkRate  rate          // file chunks per contact (we asked for them; this bounds the rest)
	filePace   time.Duration // tests: a pause after each chunk sent
}

func defaultTuning() *tuning {
	return &tuning{
		link:           wire.Config{KeepaliveInterval: 30 * time.Second, Timeout: 90 * time.Second, HandshakeTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second},
		dialTimeout:    2 * time.Minute,
		backoffMin:     5 * time.Second,
		backoffMax:     10 * time.Minute,
		torRetryMin:    time.Second,
		torRetryMax:    time.Minute,
		listenTry:      3 * time.Minute,
		strangerIdle:   2 * time.Minute,
		typingEvery:    3 * time.Second,
		storageProbe:   10 * time.Second,
		healthEvery:    5 * time.Minute,
		healthRetry:    15 * time.Second,
		healthTimeout:  45 * time.Second,
		republishTry:   90 * time.Second,
		republishAfter: 2,
		restartAfter:   4,
		kickEvery:      30 * time.Second,
		reloadEvery:    30 * time.Second,
		shortLink:      30 * time.Second,
		announceWithin: 30 * 24 * time.Hour,
		maxStrangers:   32,
		maxHandshake:   32,
		maxDials:       12,
		dialRate:       2,

		preAuth:          10 * time.Second,
		messageRate:      rate{burst: 500, every: time.Second / 50},
		receiptRate:      rate{burst: 100, every: time.Second / 5},
		typingRate:       rate{burst: 3, every: time.Second},
		frameRate:        rate{burst: 1000, every: time.Second / 200},
		chunkRate:        rate{burst: 256, every: time.Second / 2000}, // ~120 MB/s
		unreadQuota:      10000,
		unreadBytesQuota: 64 << 20,
		failWindow:       time.Minute,
		seenMaxAge:       30 * 24 * time.Hour,
		seenKeep:         10000,
		pruneEvery:       time.Hour,
		workBits:         wire.WorkBits,
		rotateEvery:      7 * 24 * time.Hour,
		rotateKeep:       28 * 24 * time.Hour,
		rotateCheck:      time.Hour,
		resetEvery:       time.Minute,
		mbox:             defaultMailboxTuning(),
		maxBatch:         256,
	}
}

// Node is the engine of one profile. Open unlocks the profile, Start brings
// up Tor and delivery, Close stops everything. *Node implements API.
type Node struct {
	db     *storage.DB
	key    ed25519.PrivateKey
	pub    ed25519.PublicKey
	addr   onion.Address
	ident  atomic.Pointer[ownIdentity] // replaced when the keys rotate
	rotMu  sync.Mutex                  // one rotation at a time
	name   string
	log    *slog.Logger
	tune   *tuning
	opts   Options
	events *broker
	book   *contacts.Book

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node started
	hs     *handshakes    // inbound handshakes in progress
	stats  guardStats
	names  *peerNames // how logs name peers

	decrypts atomic.Int64 // messages decrypted (tests check duplicates are not)
	fl       *fileNode    // file transfers (fileswire.go)

	sendq               sendQueue     // sends waiting to be committed together
	schedWake           chan struct{} // cap 1: the next due time may have changed
	grp                 *nodeGroups   // groups (issue 18): groups.go
	grpBytes, grpFrames atomic.Int64  // group frames written, and their bytes on the wire

	// nameMu orders SetName with the Profile messages carrying the name,
	// so the name recorded as sent is the one that went out.
	nameMu sync.Mutex

	dials *dialer // caps and orders outgoing dials (dialer.go)

	checkMu sync.Mutex // held while the stored rows are checked (unreadable)
	checked bool       // they have been, once

	faultMu sync.Mutex
	fault   storeFault // the disk is full (diskfull.go)

	kick chan struct{} // cap 1: check reachability now (health.go)

	mu        sync.Mutex
	started   bool
	closed    bool
	tr        Transport     // nil while the network is down
	trUp      chan struct{} // closed when tr is set; replaced when it goes down
	reachable bool
	net       netState  // reachability checks (health.go)
	torrc     []string  // the ExtraTorrc lines the running tor was started with
	reloadErr string    // the last error of Options.ReloadTorrc, logged once
	kicked    time.Time // last dial-trouble kick
	tor       TorStatus
	peers     map[onion.Address]*peer
	strangers int       // links up to peers that are not accepted contacts
	defences  *Defences // tor's defences of our onion service, nil if unknown

	mbox       *mboxState // mailboxes: ours and our contacts' (issue 16)
	convoState            // conversation features: disappearing messages, search (convo.go)
}

var _ API = (*Node)(nil)

// Open unlocks the profile in o.Dir and holds its lock until Close. It
// starts nothing. Errors wrap ErrWrongPassphrase, ErrNoProfile,
// ErrNewerVersion, *LockedError or *PermissionError.
func Open(ctx context.Context, o Options) (*Node, error) {
	if o.Dir == "" {
		return nil, errors.New("node: open: no profile directory")
	}
	db, err := storage.Open(ctx, o.Dir, o.Passphrase, storage.OpenOptions{WaitLock: o.WaitLock})
	if err != nil {
		return nil, fmt.Errorf("node: open: %w", err)
	}
	n, err := newNode(ctx, db, o)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("node: open: %w", err)
	}
	return n, nil
}

func newNode(ctx context.Context, db *storage.DB, o Options) (*Node, error) {
	ident, err := db.Identity(ctx)
	if err != nil {
		return nil, err
	}
	rid, err := ratchet.UnmarshalIdentity(ident.Ratchet)
	if err != nil {
		return nil, err
	}
	own, err := newOwnIdentity(rid)
	if err != nil {
		return nil, err
	}
	tune := o.tune
	if tune == nil {
		tune = defaultTuning()
	}
	pub := ident.OnionKey.Public().(ed25519.PublicKey)
	n := &Node{
		db:        db,
		key:       ident.OnionKey,
		pub:       pub,
		addr:      onion.AddressFromPublicKey(pub),
		name:      ident.Name,
		log:       slog.New(slog.DiscardHandler),
		tune:      tune,
		opts:      o,
		events:    newBroker(),
		dials:     newDialer(tune.maxDials, tune.dialRate),
		trUp:      make(chan struct{}),
		kick:      make(chan struct{}, 1),
		schedWake: make(chan struct{}, 1),
		tor:       TorStatus{State: TorStarting},
		peers:     make(map[onion.Address]*peer),
		grp:       newNodeGroups(),
	}
	n.convoState = newConvoState()
	n.hs = &handshakes{max: tune.maxHandshake, limit: tune.preAuth, stats: &n.stats}
	n.names = newPeerNames(n.addr, func(a onion.Address) (int64, bool) {
		c, err := n.book.Lookup(n.ctx, a)
		return c.ID, err == nil
	})
	if o.Logger != nil {
		n.log = slog.New(safeHandler{h: o.Logger.Handler(), redact: n.names.redact})
	}
	n.book = contacts.New(db, contacts.Options{Self: n.addr, PerAddress: tune.perAddress, Total: tune.totalRequests, MaxPending: tune.maxPending})
	n.ident.Store(own)
	n.mbox = newMboxState()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.openFiles(ctx); err != nil {
		n.cancel()
		return nil, err
	}
	return n, nil
}

// Dir is the profile directory.
func (n *Node) Dir() string { return n.db.Dir() }

// Address is our onion address.
func (n *Node) Address() string { return string(n.addr) }

// Start brings up Tor, our onion service and delivery in the background and
// returns at once; progress arrives as TorProgressEvent and ReachableEvent.
// If tor exits later it is restarted. Start may be called once.
func (n *Node) Start(ctx context.Context) error {
	start := n.opts.Transport
	if start == nil {
		cfg := onion.Config{
			DataDir:         n.db.TorDir(),
			TorPath:         n.opts.TorPath,
			ControlAddr:     n.opts.ControlAddr,
			ControlPassword: n.opts.ControlPassword,
			ExtraTorrc:      n.opts.ExtraTorrc,
		}
		start = torStarter(cfg, n.opts.ReloadTorrc, n.checkKick, n.setTorrc)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("node: start: %w", ErrClosed)
	}
	if n.started {
		return errors.New("node: start: already started")
	}
	n.started = true
	n.spawnLocked(func() { n.supervise(start) })
	n.spawnLocked(n.scheduleLoop)
	// Count damaged rows now, so Status has the number at hand.
	n.spawnLocked(func() { n.unreadable(n.ctx) })
	// A name change not yet sent (we stopped first, or they accepted
	// since): queued now, delivered once the network is up.
	n.spawnLocked(func() { n.syncNames(n.ctx) })
	n.spawnLocked(n.pruneLoop)
	n.spawnLocked(n.vanishLoop)       // disappearing messages (convo.go)
	n.spawnLocked(n.buildSearch)      // the search index (search.go)
	n.spawnLocked(n.restoredSessions) // a restored profile asks for new sessions (backup.go)
	n.nameContacts()
	n.spawnLocked(n.rotateLoop)
	n.startMailboxLocked()
	return nil
}

// spawnLocked runs f in a goroutine counted by n.wg, unless the node is
// closed; it reports whether f runs. n.mu must be held.
func (n *Node) spawnLocked(f func()) bool {
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// spawn is spawnLocked for callers not holding n.mu.
func (n *Node) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.spawnLocked(f)
}

// Close stops delivery and Tor, closes the database and releases the
// profile lock. Idempotent; other methods then fail with ErrClosed.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	// Going offline: our mailbox takes what unreachable contacts wait for.
	n.mailboxBeforeClose()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	var links []*wire.Link
	for _, p := range n.peers {
		if p.link != nil {
			links = append(links, p.link)
		}
	}
	n.mu.Unlock()

	n.cancel()
	n.events.close()
	for _, l := range links {
		l.Close()
	}
	n.wg.Wait() // outside n.mu: goroutines take it on their way out
	n.fl.m.Close()
	return n.db.Close()
}

// checkOpen fails with ErrClosed once the node is closed.
func (n *Node) checkOpen() error {
	if n.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}

// supervise keeps the network up: it starts the transport (tor), publishes
// our onion service, accepts links, and starts over whenever tor exits.
func (n *Node) supervise(start StartTransport) {
	delay := n.tune.torRetryMin
	retry := func(err error) bool {
		n.log.Warn("network down", "err", err, "retry_in", delay)
		n.setTor(TorStatus{State: TorFailed, Error: err.Error()})
		select {
		case <-time.After(delay):
		case <-n.ctx.Done():
			return false
		}
		delay = min(2*delay, n.tune.torRetryMax)
		return true
	}
	for n.ctx.Err() == nil {
		tr, err := n.startWatched(start)
		if err != nil {
			if n.ctx.Err() != nil || !retry(err) {
				return
			}
			continue
		}
		upAt := time.Now()
		ln, err := n.listen(tr)
		if err != nil {
			tr.Close()
			if n.ctx.Err() != nil || !retry(err) {
				return
			}
			continue
		}
		delay = n.tune.torRetryMin
		n.mu.Lock()
		n.tr = tr
		// Published, but not reachable while tor says it is offline.
		reach := n.tor.State != TorOffline && n.tor.State != TorReconnecting
		n.reachable = reach
		n.defences = defencesOf(ln)
		if n.net.problem != "" {
			// Restarted for a reason (health.go); the next check says
			// whether that helped.
			n.net.problem = restartedProblem
		}
		close(n.trUp)
		first := ln // republish (health.go) replaces ln; this loop serves the first
		n.spawnLocked(func() { n.acceptLoop(first) })
		n.mu.Unlock()
		n.events.publish(ReachableEvent{Reachable: reach})
		n.log.Info("onion service published")
		// The contacts seen lately first: they are the likeliest to answer
		// (dialer.go orders the dials; this orders who asks first).
		n.announce(upAt)
		n.dialPending()

		// Check that peers can reach us, republish or restart tor when
		// they cannot (health.go).
		switch n.keepReachable(tr, &ln) {
		case restartTor:
			n.log.Warn("restarting tor") // why was logged by keepReachable
		default:
			if n.ctx.Err() == nil {
				n.log.Warn("tor exited; restarting it")
			}
		}
		n.mu.Lock()
		n.tr = nil
		n.reachable = false
		n.defences = nil
		n.trUp = make(chan struct{})
		n.mu.Unlock()
		ln.Close()
		tr.Close()
		n.events.publish(ReachableEvent{Reachable: false})
	}
}

// listen publishes our onion service, retrying while the transport lives.
func (n *Node) listen(tr Transport) (net.Listener, error) {
	for {
		ctx, cancel := context.WithTimeout(n.ctx, n.tune.listenTry)
		ln, err := tr.Listen(ctx, n.key)
		cancel()
		if err == nil {
			return ln, nil
		}
		select {
		case <-tr.Done():
			return nil, fmt.Errorf("publish onion service: %w", err)
		case <-n.ctx.Done():
			return nil, n.ctx.Err()
		default:
		}
		n.log.Warn("publishing the onion service failed; retrying", "err", err)
		select {
		case <-time.After(n.tune.torRetryMin):
		case <-n.ctx.Done():
			return nil, n.ctx.Err()
		}
	}
}

// setTor records Tor's state. While the network is up (a transport runs),
// tor going offline makes us unreachable, and its return reachable again
// and redials at once rather than after the backoff the outage built up.
func (n *Node) setTor(st TorStatus) {
	n.mu.Lock()
	prev := n.tor.State
	n.tor = st
	var reach, changed, back bool
	if n.tr != nil {
		reach = n.reachable
		switch st.State {
		case TorOffline, TorReconnecting:
			reach = false
		case TorReady:
			// Tor says it is fine; our own check may know better (health.go).
			reach = n.net.failures == 0
			back = prev == TorOffline || prev == TorReconnecting
		}
		changed = reach != n.reachable
		n.reachable = reach
	}
	n.mu.Unlock()
	n.events.publish(TorProgressEvent{Tor: st})
	if changed {
		n.events.publish(ReachableEvent{Reachable: reach})
	}
	if back {
		n.log.Info("network back")
		n.spawn(n.networkBack)
	}
}

// networkBack redials every contact with something to send, and announces
// us to recent contacts, once tor has the network again.
func (n *Node) networkBack() {
	n.mu.Lock()
	peers := make([]*peer, 0, len(n.peers))
	for _, p := range n.peers {
		p.failures, p.nextDial = 0, time.Time{}
		peers = append(peers, p)
	}
	n.mu.Unlock()
	for _, p := range peers {
		select {
		case p.wakeDial <- struct{}{}:
		default:
		}
	}
	n.dialPending()
	n.announce(time.Now())
}

// waitTransport waits until the network is up, or ctx ends.
func (n *Node) waitTransport(ctx context.Context) (Transport, error) {
	for {
		n.mu.Lock()
		tr, up := n.tr, n.trUp
		n.mu.Unlock()
		if tr != nil {
			return tr, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// acceptLoop authenticates every inbound connection, a bounded number at
// a time, each within a short deadline; when all slots are taken the oldest
// half-open handshake makes room (guard.go): a flood of connections that
// never authenticate cannot exhaust the node or lock contacts out.
func (n *Node) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		ctx, done := n.hs.start(n.ctx)
		ok := n.spawn(func() {
			defer done()
			l, err := wire.Server(ctx, c, n.key, &n.tune.link)
			if err != nil {
				n.log.Debug("inbound handshake failed", "err", err)
				return
			}
			n.adopt(l)
		})
		if !ok {
			done()
			c.Close()
			return
		}
	}
}
