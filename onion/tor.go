// Package onion runs Tor for chive: it starts (or attaches to) a tor process,
// reports bootstrap progress, hosts the user's v3 onion service from their
// ed25519 key and dials other users' onion services.
//
// Most callers want:
//
//	t, err := onion.Start(ctx, onion.Config{DataDir: filepath.Join(profile, "tor")})
//	defer t.Close()
//	err = t.WaitReady(ctx)
//	ln, err := t.Listen(ctx, key)   // ln.Accept() yields peers' connections
//	c, err := t.Dial(ctx, peerAddr) // connects to peerAddr:VirtualPort
//
// Tor is driven through its control port with github.com/cretz/bine/control;
// no other chive package imports bine.
package onion

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"

	"github.com/chive-im/chive/onion/internal/proc"
)

// Errors reported by Start, WaitReady, Listen and Dial, matched with errors.Is.
var (
	// ErrTorNotFound: no tor binary; the message says how to install it.
	ErrTorNotFound = errors.New("tor is not installed (Debian/Ubuntu: sudo apt-get install tor; Fedora: sudo dnf install tor; macOS: brew install tor)")
	// ErrBadConfig: tor refused its configuration (e.g. a bad ExtraTorrc line).
	ErrBadConfig = errors.New("tor rejected its configuration")
	// ErrTorExited: the tor process (or, when attached, the control
	// connection) went away.
	ErrTorExited = errors.New("tor exited")
	// ErrNoNetwork: bootstrap is stuck because tor cannot reach any relay.
	ErrNoNetwork = errors.New("tor cannot reach the network")
	// ErrClosed: the Tor or Listener was closed. It wraps net.ErrClosed.
	ErrClosed = fmt.Errorf("onion: %w", net.ErrClosed)
)

// Progress is one step of tor's bootstrap, as tor reports it.
type Progress struct {
	Percent int    // 0..100; 100 means ready
	Tag     string // tor's phase tag, e.g. "conn_done", "done"
	Summary string // tor's phase text, e.g. "Loading relay descriptors"
	// Warning is tor's latest complaint during bootstrap (e.g. "Connection
	// refused", "no network"), empty when tor has none. It does not mean
	// bootstrap has failed: tor keeps retrying. While Liveness is
	// LivenessDown it says why tor thinks the network is gone.
	Warning string
	// Liveness is whether a bootstrapped tor can use the network, from
	// tor's own events (see Liveness). Before bootstrap it is LivenessUp.
	Liveness Liveness
}

// Liveness is a bootstrapped tor's view of the network.
type Liveness string

const (
	// LivenessUp: circuits get built (the zero value).
	LivenessUp Liveness = ""
	// LivenessDown: tor says the network is gone: its NETWORK_LIVENESS
	// event went DOWN, it reported CIRCUIT_NOT_ESTABLISHED (every
	// directory server unreachable, the clock jumped, our address
	// changed) or NOT_ENOUGH_DIR_INFO, or circuits failed
	// circuitFailuresDown times in a row without one being built.
	LivenessDown Liveness = "down"
	// LivenessRecovering: after LivenessDown, tor sees the network again
	// (network activity, a relay connection, enough directory
	// information); LivenessUp follows when a circuit is built.
	LivenessRecovering Liveness = "recovering"
)

// circuitFailuresDown is how many circuits in a row must fail on our side
// (no REMOTE_REASON), none built in between, for a bootstrapped tor to
// count as offline. Failures further along a path (a relay down) and
// circuits to other users' onion services that fail after they are built
// (an intro point gone) do not count.
const circuitFailuresDown = 3

func (p Progress) String() string {
	s := fmt.Sprintf("%d%% %s", p.Percent, p.Summary)
	if p.Liveness != LivenessUp {
		s += " [network " + string(p.Liveness) + "]"
	}
	if p.Warning != "" {
		s += " (" + p.Warning + ")"
	}
	return s
}

// Config says how to run tor. The zero value (plus a DataDir) starts a
// managed tor on the public Tor network.
type Config struct {
	// DataDir is tor's data directory, inside the user's profile. It is
	// created with mode 0700 and must not be shared by two running tors.
	// Required unless ControlAddr is set.
	DataDir string
	// TorPath is the tor binary. Empty means "tor" on $PATH, then
	// /usr/sbin/tor and /usr/bin/tor.
	TorPath string
	// ControlAddr, if set, attaches to an already running tor (the system
	// tor, Tor Browser's) instead of starting one: "host:port" or
	// "unix:/path". Authentication uses the cookie file tor advertises, else
	// ControlPassword. DataDir, TorPath and ExtraTorrc are then ignored.
	ControlAddr     string
	ControlPassword string
	// ExtraTorrc lines are appended to the managed tor's torrc, e.g. the
	// private test network's lines from testnet.Network.ClientTorrc.
	ExtraTorrc []string
	// OnProgress, if set, receives every bootstrap step. It is called from
	// the event loop and must not block.
	OnProgress func(Progress)
}

// Tor is a running tor, managed or attached. Its methods are safe for
// concurrent use.
type Tor struct {
	cfg  Config
	cmd  *exec.Cmd // nil when attached
	logs *logTail

	// ctrlMu serialises control-port requests: bine's control.Conn deadlocks
	// when two goroutines send requests at once.
	ctrlMu sync.Mutex
	ctrl   *control.Conn
	raw    net.Conn // ctrl's connection, closed directly by Close

	events     chan control.Event
	eventsDone chan struct{} // closed when readEvents returns
	loopDone   chan struct{} // closed when dispatchEvents returns; nil if never started
	done       chan struct{} // closed when tor (or the control connection) is gone
	ready      chan struct{} // closed at bootstrap 100%

	closeOnce sync.Once
	closing   chan struct{}

	mu        sync.Mutex
	socksAddr string
	progress  Progress
	failures  int   // circuits failed in a row (see circuitFailuresDown)
	exitErr   error // why done was closed
	readyOnce bool
	listeners map[*Listener]struct{}
	hsWaiters map[string][]chan hsResult // service id -> waiters for publication
	// torVersion is tor's version (GETINFO version), "" until asked.
	torVersion string
}

// Start runs tor (or attaches to one, see Config.ControlAddr) and returns
// once its control port answers. Bootstrap continues in the background:
// watch Config.OnProgress or call WaitReady.
func Start(ctx context.Context, cfg Config) (*Tor, error) {
	t := &Tor{
		cfg:        cfg,
		logs:       newLogTail(30),
		events:     make(chan control.Event, 128),
		eventsDone: make(chan struct{}),
		done:       make(chan struct{}),
		ready:      make(chan struct{}),
		closing:    make(chan struct{}),
		listeners:  map[*Listener]struct{}{},
		hsWaiters:  map[string][]chan hsResult{},
	}
	var err error
	if cfg.ControlAddr != "" {
		err = t.attach(ctx)
	} else {
		err = t.launch(ctx)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// FindTor locates the tor binary: path when given (a name on $PATH or a
// file), otherwise tor on $PATH or in the usual places ($PATH often lacks
// /usr/sbin for a non-root user). The error wraps ErrTorNotFound and says
// how to install it.
func FindTor(path string) (string, error) {
	if path != "" {
		p, err := exec.LookPath(path)
		if err != nil {
			return "", fmt.Errorf("onion: tor at %s: %w (%v)", path, ErrTorNotFound, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("tor"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/tor", "/usr/bin/tor", "/usr/local/bin/tor", "/opt/homebrew/bin/tor"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("onion: %w", ErrTorNotFound)
}

// launch starts a managed tor process owned by this process.
func (t *Tor) launch(ctx context.Context) error {
	torPath, err := FindTor(t.cfg.TorPath)
	if err != nil {
		return err
	}
	if t.cfg.DataDir == "" {
		return errors.New("onion: start: Config.DataDir is required")
	}
	dir, err := filepath.Abs(t.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("onion: start: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("onion: start: %w", err)
	}
	// Tor refuses a group-readable data directory; fix what an older run or
	// a careless copy left behind.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("onion: start: %w", err)
	}
	portFile := filepath.Join(dir, "control-port")
	os.Remove(portFile)
	torrc := []string{
		"DataDirectory " + dir,
		// ExtendedErrors makes tor say *why* an onion dial failed
		// (descriptor not found, intro failed, ...), see socks.go.
		"SocksPort auto ExtendedErrors",
		"ControlPort auto",
		"ControlPortWriteToFile " + portFile,
		"CookieAuthentication 1",
		// Tor exits when this process does, even after kill -9 (it polls
		// the pid), and at once when our control connection closes
		// (TAKEOWNERSHIP below).
		"__OwningControllerProcess " + strconv.Itoa(os.Getpid()),
		"ClientOnly 1",
		"Log notice stdout",
	}
	torrc = append(torrc, t.cfg.ExtraTorrc...)
	torrcPath := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrcPath, []byte(strings.Join(torrc, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("onion: start: %w", err)
	}
	// An empty defaults file keeps a distribution's /etc/tor/torrc-defaults
	// (User, RunAsDaemon, ...) out of our tor.
	defaultsPath := filepath.Join(dir, "torrc-defaults")
	if err := os.WriteFile(defaultsPath, nil, 0o600); err != nil {
		return fmt.Errorf("onion: start: %w", err)
	}
	cmd := exec.Command(torPath, "-f", torrcPath, "--defaults-torrc", defaultsPath)
	cmd.Dir = dir
	// Our own pipe, not StdoutPipe: Wait closes that one on exit, losing the
	// last lines that say why tor exited. Ours reads to EOF.
	out, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("onion: start: %w", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	proc.Detach(cmd)
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		return fmt.Errorf("onion: start %s: %w", torPath, err)
	}
	t.cmd = cmd
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		defer out.Close()
		t.logs.consume(out)
	}()
	go func() {
		werr := cmd.Wait()
		<-logsDone // the last log lines explain the exit
		t.finish(t.exitReason(werr))
	}()

	// Wait for tor to write its control port (or die trying).
	var ctrlAddr string
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for ctrlAddr == "" {
		select {
		case <-ctx.Done():
			return fmt.Errorf("onion: start: waiting for tor's control port: %w", ctx.Err())
		case <-t.done:
			return t.doneErr("start")
		case <-tick.C:
		}
		b, err := os.ReadFile(portFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			continue // not written yet (tor writes then renames, but be safe)
		}
		line := strings.TrimSpace(string(b))
		if a, ok := strings.CutPrefix(line, "PORT="); ok {
			ctrlAddr = a
		}
	}
	if err := t.connect(ctx, "tcp", ctrlAddr, ""); err != nil {
		return err
	}
	if err := t.request(func(c *control.Conn) error { return c.TakeOwnership() }); err != nil {
		return fmt.Errorf("onion: start: take ownership: %w", err)
	}
	return t.afterConnect()
}

// exitReason turns a finished tor process into an error naming the reason
// from its last log lines.
func (t *Tor) exitReason(werr error) error {
	select {
	case <-t.closing:
		return ErrClosed
	default:
	}
	reason := t.logs.lastProblem()
	if reason == "" && werr != nil {
		reason = werr.Error()
	}
	if reason == "" {
		reason = "no reason given"
	}
	if t.logs.sawConfigError() {
		return fmt.Errorf("%w: %w: %s", ErrTorExited, ErrBadConfig, reason)
	}
	return fmt.Errorf("%w: %s", ErrTorExited, reason)
}

// attach connects to an existing tor's control port.
func (t *Tor) attach(ctx context.Context) error {
	network, addr := "tcp", t.cfg.ControlAddr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	if err := t.connect(ctx, network, addr, t.cfg.ControlPassword); err != nil {
		return err
	}
	return t.afterConnect()
}

func (t *Tor) connect(ctx context.Context, network, addr, password string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("onion: connect to tor control port %s: %w", addr, err)
	}
	conn := control.NewConn(textproto.NewConn(c))
	// Authentication reads a cookie file and exchanges a few lines; bound it
	// by ctx since a wedged tor would otherwise hang us forever.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = conn.Authenticate(password)
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("onion: authenticate to tor control port %s: %w", addr, err)
	}
	t.ctrlMu.Lock()
	t.ctrl, t.raw = conn, c
	t.ctrlMu.Unlock()
	return nil
}

// afterConnect subscribes to events, learns the SOCKS port and the current
// bootstrap phase, and starts the event loop. Events tor sends meanwhile
// wait in t.events, so they apply after the initial phase, in order.
func (t *Tor) afterConnect() error {
	err := t.request(func(c *control.Conn) error {
		return c.AddEventListener(t.events, control.EventCodeStatusClient, control.EventCodeHSDesc, control.EventCodeNetworkLiveness,
			control.EventCodeCircuit, control.EventCodeORConn)
	})
	if err != nil {
		return fmt.Errorf("onion: subscribe to tor events: %w", err)
	}
	var socks, phase string
	err = t.request(func(c *control.Conn) error {
		kvs, err := c.GetInfo("net/listeners/socks", "status/bootstrap-phase")
		for _, kv := range kvs {
			switch kv.Key {
			case "net/listeners/socks":
				socks = kv.Val
			case "status/bootstrap-phase":
				phase = kv.Val
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("onion: ask tor for its socks port: %w", err)
	}
	t.setSOCKS(socks)
	if phase != "" {
		t.onStatus(parseStatus(phase))
	}
	t.loopDone = make(chan struct{})
	go t.readEvents()
	go t.dispatchEvents()
	return nil
}

// setSOCKS records the first TCP address of a net/listeners/socks value.
// Tor opens no listener while DisableNetwork is set: then it stays empty
// and Dial asks again.
func (t *Tor) setSOCKS(val string) {
	for _, f := range strings.Fields(val) {
		f = strings.Trim(f, `"`)
		if f != "" && !strings.HasPrefix(f, "unix:") {
			t.mu.Lock()
			t.socksAddr = f
			t.mu.Unlock()
			return
		}
	}
}

// socks returns tor's SOCKS address, asking tor if it is not known yet.
func (t *Tor) socks() (string, error) {
	t.mu.Lock()
	a := t.socksAddr
	t.mu.Unlock()
	if a != "" {
		return a, nil
	}
	err := t.request(func(c *control.Conn) error {
		kvs, err := c.GetInfo("net/listeners/socks")
		for _, kv := range kvs {
			t.setSOCKS(kv.Val)
		}
		return err
	})
	t.mu.Lock()
	a = t.socksAddr
	t.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("ask tor for its socks port: %w", err)
	}
	if a == "" {
		return "", errors.New("tor has no TCP SocksPort open (is DisableNetwork set?)")
	}
	return a, nil
}

// request runs one control-port request at a time.
func (t *Tor) request(f func(*control.Conn) error) error {
	t.ctrlMu.Lock()
	defer t.ctrlMu.Unlock()
	if t.ctrl == nil {
		return ErrClosed
	}
	return f(t.ctrl)
}

// readEvents pumps asynchronous events off the control connection until it
// closes. Synchronous replies are read by request's caller; bine arbitrates
// between the two with its read lock.
func (t *Tor) readEvents() {
	defer close(t.eventsDone)
	for {
		if err := t.ctrl.HandleNextEvent(); err != nil {
			// A managed tor's end is reported by its process exiting.
			// An attached one's is the connection closing.
			if t.cmd == nil {
				select {
				case <-t.closing:
					t.finish(ErrClosed)
				default:
					t.finish(fmt.Errorf("%w: control connection lost: %v", ErrTorExited, err))
				}
			}
			return
		}
		// HandleNextEvent returns at once when a synchronous reply is
		// waiting; yield so the requester gets the read lock.
		runtime.Gosched()
	}
}

func (t *Tor) dispatchEvents() {
	defer close(t.loopDone)
	for {
		select {
		case ev := <-t.events:
			switch ev := ev.(type) {
			case *control.StatusEvent:
				if ev.Action == "BOOTSTRAP" {
					// bine splits quoted values at spaces; parse Raw ourselves.
					t.onStatus(parseStatus(ev.Raw))
				} else {
					t.onClientStatus(ev.Action, ev.Arguments)
				}
			case *control.HSDescEvent:
				t.onHSDesc(ev)
			case *control.NetworkLivenessEvent:
				t.onLiveness(strings.TrimSpace(ev.Raw))
			case *control.CircuitEvent:
				t.onCircuit(ev.Status, ev.Reason, ev.RemoteReason)
			case *control.ORConnEvent:
				if ev.Status == "CONNECTED" {
					// A relay answers again: the way back from offline.
					t.setLiveness(LivenessRecovering, "")
				}
			}
		case <-t.eventsDone:
			// The connection is gone, so nothing can send any more.
			return
		}
	}
}

// status is a parsed "SEVERITY BOOTSTRAP K=V ..." line.
type status struct {
	severity string
	args     map[string]string
}

// parseStatus parses a STATUS_CLIENT BOOTSTRAP line, honouring quoted values
// ("SUMMARY=\"Loading relay descriptors\"").
func parseStatus(raw string) status {
	st := status{args: map[string]string{}}
	raw = strings.TrimSpace(raw)
	st.severity, raw, _ = strings.Cut(raw, " ")
	_, raw, _ = strings.Cut(raw, " ") // BOOTSTRAP
	for raw != "" {
		raw = strings.TrimLeft(raw, " ")
		key, rest, ok := strings.Cut(raw, "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			val, raw = b.String(), rest[min(i+1, len(rest)):]
		} else {
			val, raw, _ = strings.Cut(rest, " ")
		}
		st.args[key] = val
	}
	return st
}

func (t *Tor) onStatus(st status) {
	pct, err := strconv.Atoi(st.args["PROGRESS"])
	if err != nil {
		return
	}
	prev := t.Progress()
	p := Progress{Percent: pct, Tag: st.args["TAG"], Summary: st.args["SUMMARY"]}
	if st.severity == "WARN" || st.severity == "ERR" {
		p.Warning = st.args["WARNING"]
		if r := st.args["REASON"]; r != "" && p.Warning == "" {
			p.Warning = strings.ToLower(r)
		}
		if p.Warning == "" {
			p.Warning = "tor reported a problem"
		}
	} else if p.Percent == prev.Percent && prev.Warning != "" {
		p.Warning = prev.Warning
	}
	if p.Percent >= 100 && prev.Percent >= 100 {
		p.Liveness = prev.Liveness // a repeated "done" says nothing about the network
	}
	t.setProgress(p)
}

// onLiveness handles NETWORK_LIVENESS: tor's own verdict, from circuit
// build timeouts (DOWN) and traffic seen again (UP).
func (t *Tor) onLiveness(v string) {
	p := t.Progress()
	if strings.EqualFold(v, "DOWN") {
		if p.Percent < 100 {
			p.Warning = "no network"
			t.setProgress(p)
			return
		}
		t.setLiveness(LivenessDown, "tor sees no network activity")
		return
	}
	if p.Percent < 100 {
		if p.Warning == "no network" {
			p.Warning = ""
			t.setProgress(p)
		}
		return
	}
	t.setLiveness(LivenessRecovering, "")
}

// onClientStatus handles STATUS_CLIENT events other than BOOTSTRAP.
func (t *Tor) onClientStatus(action string, args map[string]string) {
	switch action {
	case "CIRCUIT_ESTABLISHED":
		t.setLiveness(LivenessUp, "")
	case "CIRCUIT_NOT_ESTABLISHED":
		reason := "tor cannot build circuits"
		switch args["REASON"] {
		case "DIR_ALL_UNREACHABLE":
			reason = "no Tor directory server answers: is the network down?"
		case "CLOCK_JUMPED":
			reason = "the clock jumped (after a suspend?); tor is reconnecting"
		case "EXTERNAL_ADDRESS":
			reason = "the network address changed; tor is reconnecting"
		}
		t.setLiveness(LivenessDown, reason)
	case "NOT_ENOUGH_DIR_INFO":
		t.setLiveness(LivenessDown, "tor has lost the directory information it needs to build circuits")
	case "ENOUGH_DIR_INFO":
		t.setLiveness(LivenessRecovering, "")
	}
}

// onCircuit counts circuits that fail while being built for a reason of
// our own (a relay further on that fails comes back as REMOTE_REASON, and
// says nothing about our network); one built (BUILT) means the network
// works.
func (t *Tor) onCircuit(status, reason, remoteReason string) {
	switch status {
	case "BUILT":
		t.mu.Lock()
		t.failures = 0
		t.mu.Unlock()
		t.setLiveness(LivenessUp, "")
	case "FAILED":
		if remoteReason != "" || reason == "REQUESTED" || t.Progress().Percent < 100 {
			// Not ours, closed on purpose (a stalled dial's circuits), or
			// bootstrap, which reports its own problems.
			return
		}
		t.mu.Lock()
		t.failures++
		n := t.failures
		t.mu.Unlock()
		if n >= circuitFailuresDown {
			why := "circuits fail"
			if reason != "" {
				why += " (" + strings.ToLower(reason) + ")"
			}
			t.setLiveness(LivenessDown, why+": is the network down?")
		}
	}
}

// setLiveness moves a bootstrapped tor's Liveness: Down from anywhere,
// Recovering only from Down, Up from anywhere. Before bootstrap it does
// nothing: bootstrap reports its own problems.
func (t *Tor) setLiveness(l Liveness, why string) {
	p := t.Progress()
	if p.Percent < 100 || p.Liveness == l && (l != LivenessDown || p.Warning == why) {
		return
	}
	if l == LivenessRecovering && p.Liveness != LivenessDown {
		return
	}
	if l == LivenessUp {
		t.mu.Lock()
		t.failures = 0
		t.mu.Unlock()
	}
	p.Liveness, p.Warning = l, why
	t.setProgress(p)
}

// setProgress records p and tells OnProgress, outside the lock so the
// callback may call Progress. Only the event loop calls it after Start.
func (t *Tor) setProgress(p Progress) {
	t.mu.Lock()
	t.progress = p
	if p.Percent >= 100 && !t.readyOnce {
		t.readyOnce = true
		close(t.ready)
	}
	t.mu.Unlock()
	if t.cfg.OnProgress != nil {
		t.cfg.OnProgress(p)
	}
}

// Progress returns the latest bootstrap step.
func (t *Tor) Progress() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.progress
}

// WaitReady returns nil once tor has bootstrapped (100%). Otherwise it
// returns when ctx ends, with an error naming where bootstrap is stuck and
// why (wrapping ErrNoNetwork when tor cannot reach any relay), or when tor
// exits (wrapping ErrTorExited and, for a bad torrc, ErrBadConfig).
func (t *Tor) WaitReady(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	default:
	}
	select {
	case <-t.ready:
		return nil
	case <-t.done:
		return t.doneErr("bootstrap")
	case <-ctx.Done():
		p := t.Progress()
		reason := p.Warning
		if reason == "" {
			reason = "no problem reported by tor"
		}
		if isNetworkProblem(p.Warning) {
			return fmt.Errorf("onion: bootstrap stuck at %d%% (%s): %w: %s: %w", p.Percent, p.Summary, ErrNoNetwork, reason, ctx.Err())
		}
		return fmt.Errorf("onion: bootstrap stuck at %d%% (%s): %s: %w", p.Percent, p.Summary, reason, ctx.Err())
	}
}

func isNetworkProblem(w string) bool {
	w = strings.ToLower(w)
	for _, s := range []string{"no network", "noroute", "no route", "network is unreachable", "connection refused", "connectrefused", "timeout", "timed out"} {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

// Done is closed when tor exits or, when attached, the control connection
// is lost. After it closes, Err says why; the node may Start a new Tor.
func (t *Tor) Done() <-chan struct{} { return t.done }

// Err returns why Done was closed (wrapping ErrTorExited or ErrClosed), or
// nil while tor runs.
func (t *Tor) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exitErr
}

func (t *Tor) doneErr(op string) error {
	return fmt.Errorf("onion: %s: %w", op, t.Err())
}

// finish records why tor is gone and wakes everyone waiting on it.
func (t *Tor) finish(reason error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exitErr != nil {
		return
	}
	t.exitErr = reason
	close(t.done)
}

// SOCKSAddr is tor's SOCKS5 listener, "127.0.0.1:port", or "" if tor
// has not opened it yet.
func (t *Tor) SOCKSAddr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.socksAddr
}

// PID is the managed tor process's id, or 0 when attached.
func (t *Tor) PID() int {
	if t.cmd == nil || t.cmd.Process == nil {
		return 0
	}
	return t.cmd.Process.Pid
}

// Close removes this Tor's onion services, closes their listeners, and
// stops a managed tor process, waiting until it has exited (killing it if it
// does not exit within a few seconds). An attached tor keeps running. Close
// returns within seconds even if tor stopped answering; after it returns,
// OnProgress is not called again. Later calls return ErrClosed.
func (t *Tor) Close() error {
	first := false
	t.closeOnce.Do(func() { first = true; close(t.closing) })
	if !first {
		return ErrClosed
	}
	t.mu.Lock()
	lns := make([]*Listener, 0, len(t.listeners))
	for l := range t.listeners {
		lns = append(lns, l)
	}
	t.mu.Unlock()
	for _, l := range lns {
		l.Close()
	}

	var errs []error
	t.ctrlMu.Lock()
	raw := t.raw
	t.ctrlMu.Unlock()
	if raw != nil {
		halted := make(chan struct{})
		if t.cmd != nil {
			// HALT may hang on a wedged tor; closing the connection below
			// stops it anyway thanks to TAKEOWNERSHIP.
			go func() {
				defer close(halted)
				t.request(func(c *control.Conn) error { return c.Signal("HALT") })
			}()
			select {
			case <-halted:
			case <-time.After(2 * time.Second):
			}
		} else {
			close(halted)
		}
		// Not ctrl.Close: it sends QUIT and waits for tor's answer, forever
		// if tor stopped answering. Closing the connection is enough: a
		// managed tor exits (TAKEOWNERSHIP), an attached one drops our
		// services. It also ends a HALT still waiting for its reply.
		raw.Close()
		<-halted
	}
	if t.cmd != nil && t.cmd.Process != nil {
		select {
		case <-t.done:
		case <-time.After(3 * time.Second):
			t.cmd.Process.Kill()
			select {
			case <-t.done:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("onion: close: tor (pid %d) did not exit", t.cmd.Process.Pid))
			}
		}
	} else {
		t.finish(ErrClosed)
	}
	t.finish(ErrClosed) // no-op if tor already reported its exit
	if t.loopDone != nil {
		<-t.loopDone // the closed connection ends the event loop
	}
	return errors.Join(errs...)
}

// logTail keeps tor's last log lines to explain failures.
type logTail struct {
	mu    sync.Mutex
	lines []string
	max   int
	conf  bool
}

func newLogTail(max int) *logTail { return &logTail{max: max} }

func (l *logTail) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		if len(l.lines) == l.max {
			copy(l.lines, l.lines[1:])
			l.lines = l.lines[:l.max-1]
		}
		l.lines = append(l.lines, line)
		if strings.Contains(line, "Failed to parse/validate config") ||
			strings.Contains(line, "Reading config failed") {
			l.conf = true
		}
		l.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

// lastProblem returns the most useful recent [err] or [warn] lines, without
// tor's timestamp prefix.
func (l *logTail) lastProblem() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errLine string
	var warns []string
	for _, line := range l.lines {
		if _, msg, ok := strings.Cut(line, "[err] "); ok {
			errLine = msg
		} else if _, msg, ok := strings.Cut(line, "[warn] "); ok {
			warns = append(warns, msg)
		}
	}
	if len(warns) > 3 {
		warns = warns[len(warns)-3:]
	}
	// "Reading config failed--see warnings above." says nothing by itself.
	if errLine != "" && (len(warns) == 0 || !strings.Contains(errLine, "see warnings")) {
		return errLine
	}
	return strings.Join(warns, "; ")
}

func (l *logTail) sawConfigError() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conf
}

// Lines returns tor's last log lines (for diagnostics; they contain no
// secrets, tor scrubs addresses with SafeLogging by default).
func (t *Tor) Lines() []string {
	t.logs.mu.Lock()
	defer t.logs.mu.Unlock()
	return append([]string(nil), t.logs.lines...)
}

// keyCheck validates a caller's onion key.
func keyCheck(key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("onion: listen: bad ed25519 private key length %d", len(key))
	}
	return nil
}
