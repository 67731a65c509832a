// Package testnet runs a private Tor network on 127.0.0.1: a few directory
// authorities and relays, configured like chutney's minimal networks, so
// that chive can be tested and demonstrated without the internet.
//
//	n, err := testnet.Start(ctx, testnet.Options{})
//	defer n.Close()
//	t, err := onion.Start(ctx, onion.Config{DataDir: d, ExtraTorrc: n.ClientTorrc()})
//
// A network started with a Dir can be used and stopped by other processes
// through ClientTorrcFromDir and StopDir ("chive testnet up/down").
//
// To take the network away from one client (and give it back), route that
// client through a Switch: ExtraTorrc: append(n.ClientTorrc(), sw.Torrc()...).
package testnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/internal/proc"
)

// Options configures Start. The zero value starts 3 authorities and 3
// relays in a new temporary directory, tied to this process's lifetime.
type Options struct {
	// Dir holds the network's state (keys, torrc files, logs, state.json).
	// Empty means a new temporary directory, removed by Close. An existing
	// Dir is reused: a network already running there is an error, old
	// state is wiped.
	Dir string
	// Authorities and Relays default to 3 each, the smallest network on
	// which onion services work reliably.
	Authorities, Relays int
	// TorPath is the tor binary (default: $PATH, then /usr/sbin/tor);
	// tor-gencert is looked up next to it, then on $PATH.
	TorPath string
	// Detach lets the tor processes outlive this process ("chive testnet up
	// --detach"); stop them with StopDir. Otherwise they exit when this
	// process exits, even on kill -9 (within tor's 15 s poll).
	Detach bool
	// KeyCache is where authority keys are kept between runs (generating
	// them is the slow part of Start). Empty means the user cache dir
	// ($XDG_CACHE_HOME/chive/testnet-keys); "off" disables the cache.
	KeyCache string
	// Progress, if set, receives one line per step while the network comes
	// up.
	Progress func(string)
}

// Errors matched with errors.Is.
var (
	ErrNotRunning     = errors.New("no test network is running there")
	ErrAlreadyRunning = errors.New("a test network is already running there")
)

// stateFile is what ClientTorrcFromDir and StopDir read.
const stateFile = "state.json"

// state is saved (0600) in the network's directory.
type state struct {
	Created     time.Time `json:"created"`
	ClientTorrc []string  `json:"client_torrc"`
	Nodes       []node    `json:"nodes"`
}

type node struct {
	Name      string `json:"name"`
	Dir       string `json:"dir"`
	Authority bool   `json:"authority"`
	ORPort    int    `json:"or_port"`
	DirPort   int    `json:"dir_port"`
	PID       int    `json:"pid"`

	fingerprint, v3ident string
	cmd                  *exec.Cmd
	exited               chan struct{}
}

// Network is a running private Tor network.
type Network struct {
	dir     string
	tempDir bool
	st      state
	nodes   []*node

	closeOnce sync.Once
	closeErr  error
}

// Start creates and starts a network, and returns once its consensus lists
// every node as a running HSDir, so clients can bootstrap and host onion
// services on it. If ctx ends first, everything started is stopped.
func Start(ctx context.Context, o Options) (_ *Network, err error) {
	if o.Authorities <= 0 {
		o.Authorities = 3
	}
	if o.Relays < 0 {
		return nil, errors.New("testnet: negative relay count")
	}
	if o.Relays == 0 {
		o.Relays = 3
	}
	say := o.Progress
	if say == nil {
		say = func(string) {}
	}
	torPath, gencert, err := findTools(o.TorPath)
	if err != nil {
		return nil, err
	}

	n := &Network{dir: o.Dir}
	if n.dir == "" {
		if n.dir, err = os.MkdirTemp("", "chive-testnet-"); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		n.tempDir = true
	} else {
		if n.dir, err = filepath.Abs(n.dir); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		if err := prepareDir(n.dir); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	// Pick every port first, holding them, so our own nodes cannot collide;
	// other processes picking ports at the same time are the residual risk.
	total := o.Authorities + o.Relays
	ports, release, err := freePorts(2 * total)
	if err != nil {
		return nil, err
	}
	for i := 0; i < total; i++ {
		nd := &node{Authority: i < o.Authorities, ORPort: ports[2*i], DirPort: ports[2*i+1], exited: make(chan struct{})}
		if nd.Authority {
			nd.Name = fmt.Sprintf("auth%d", i)
		} else {
			nd.Name = fmt.Sprintf("relay%d", i-o.Authorities)
		}
		nd.Dir = filepath.Join(n.dir, nd.Name)
		if err := os.MkdirAll(nd.Dir, 0o700); err != nil {
			release()
			return nil, fmt.Errorf("testnet: %w", err)
		}
		n.nodes = append(n.nodes, nd)
	}

	say(fmt.Sprintf("generating keys for %d authorities", o.Authorities))
	if err := n.makeAuthorityKeys(ctx, torPath, gencert, keyCache(o.KeyCache)); err != nil {
		release()
		return nil, err
	}
	var dirAuth []string
	for _, nd := range n.nodes {
		if nd.Authority {
			dirAuth = append(dirAuth, fmt.Sprintf("DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s",
				nd.Name, nd.ORPort, nd.v3ident, nd.DirPort, nd.fingerprint))
		}
	}
	n.st = state{
		Created: time.Now().UTC(),
		// What a client needs to join: the authorities and the testing
		// options that make a small network usable at once.
		ClientTorrc: append([]string{
			"TestingTorNetwork 1",
			"PathsNeededToBuildCircuits 0.25",
			"ClientUseIPv6 0",
		}, dirAuth...),
	}

	release() // tor binds the ports from here on
	say(fmt.Sprintf("starting %d authorities and %d relays", o.Authorities, o.Relays))
	for _, nd := range n.nodes {
		if err := n.startNode(nd, torPath, dirAuth, o.Detach); err != nil {
			return nil, err
		}
		n.st.Nodes = append(n.st.Nodes, *nd)
	}
	if err := n.save(); err != nil {
		return nil, err
	}

	say("waiting for the first consensus")
	if err := n.waitConsensus(ctx, say); err != nil {
		return nil, err
	}
	say("network ready")
	return n, nil
}

func keyCache(dir string) string {
	switch dir {
	case "off":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(base, "chive", "testnet-keys")
	}
	return dir
}

func findTools(torPath string) (tor, gencert string, err error) {
	tor, err = onion.FindTor(torPath)
	if err != nil {
		return "", "", fmt.Errorf("testnet: %w", err)
	}
	gencert = filepath.Join(filepath.Dir(tor), "tor-gencert")
	if _, err := os.Stat(gencert); err != nil {
		if gencert, err = exec.LookPath("tor-gencert"); err != nil {
			return "", "", fmt.Errorf("testnet: tor-gencert not found (it comes with tor: sudo apt-get install tor): %w", err)
		}
	}
	return tor, gencert, nil
}

// prepareDir refuses a directory with a live network and clears old state.
func prepareDir(dir string) error {
	if st, err := readState(dir); err == nil {
		for _, nd := range st.Nodes {
			if ours(nd) {
				return fmt.Errorf("testnet: %s: %w (tor pid %d); stop it with: chive testnet down --dir %s", dir, ErrAlreadyRunning, nd.PID, dir)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	// A fresh network needs fresh keys and no cached consensus from the last
	// one; only remove what we created.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == stateFile || e.IsDir() && (strings.HasPrefix(name, "auth") || strings.HasPrefix(name, "relay")) {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("testnet: clear old state: %w", err)
			}
		}
	}
	return nil
}

// freePorts reserves n distinct loopback TCP ports; release frees them.
func freePorts(n int) ([]int, func(), error) {
	var lns []net.Listener
	release := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("testnet: pick a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, release, nil
}

// makeAuthorityKeys creates each authority's v3 identity, signing key and
// certificate (tor-gencert) and its relay identity (tor --list-fingerprint),
// in parallel: RSA key generation is the slow part.
func (n *Network) makeAuthorityKeys(ctx context.Context, torPath, gencert, cacheDir string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(n.nodes))
	for i, nd := range n.nodes {
		if !nd.Authority {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = makeAuthorityKey(ctx, nd, i, torPath, gencert, cacheDir)
			if errs[i] == nil {
				errs[i] = relayFingerprint(ctx, nd, torPath)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// authorityKeyFiles are what tor-gencert makes and an authority reads from
// its keys directory.
var authorityKeyFiles = []string{"authority_identity_key", "authority_signing_key", "authority_certificate"}

func makeAuthorityKey(ctx context.Context, nd *node, i int, torPath, gencert, cacheDir string) error {
	keys := filepath.Join(nd.Dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	// The v3 identity is an RSA-3072 key: generating three of them takes
	// seconds on an idle machine and minutes on a loaded one. They are
	// throwaway test keys tied to no address, so reuse them from a cache.
	cached := ""
	if cacheDir != "" {
		cached = filepath.Join(cacheDir, fmt.Sprintf("auth%d", i))
		if certUsable(filepath.Join(cached, "authority_certificate")) && copyFiles(cached, keys, authorityKeyFiles) == nil {
			return nd.readV3Ident(keys)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(keys), "gencert-")
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, gencert,
		"--create-identity-key", "--passphrase-fd", "0",
		"-i", filepath.Join(tmp, "authority_identity_key"),
		"-s", filepath.Join(tmp, "authority_signing_key"),
		"-c", filepath.Join(tmp, "authority_certificate"),
		"-m", "12")
	cmd.Stdin = strings.NewReader("\n") // empty passphrase
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testnet: tor-gencert for %s: %w: %s", nd.Name, err, bytes.TrimSpace(out))
	}
	if err := copyFiles(tmp, keys, authorityKeyFiles); err != nil {
		return err
	}
	if cached != "" {
		// Publish to the cache atomically: parallel test processes may race.
		if err := os.MkdirAll(cacheDir, 0o700); err == nil {
			os.RemoveAll(cached)
			os.Rename(tmp, cached)
		}
	}
	return nd.readV3Ident(keys)
}

// certUsable reports whether an authority certificate exists and stays
// valid for at least another month.
func certUsable(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "dir-key-expires "); ok {
			exp, err := time.Parse(time.DateTime, strings.TrimSpace(v))
			return err == nil && time.Until(exp) > 30*24*time.Hour
		}
	}
	return false
}

func copyFiles(from, to string, names []string) error {
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
	}
	return nil
}

// readV3Ident reads the authority's v3 identity fingerprint from its
// certificate.
func (nd *node) readV3Ident(keys string) error {
	cert, err := os.ReadFile(filepath.Join(keys, "authority_certificate"))
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	for _, line := range strings.Split(string(cert), "\n") {
		if fp, ok := strings.CutPrefix(line, "fingerprint "); ok {
			nd.v3ident = strings.TrimSpace(fp)
		}
	}
	if len(nd.v3ident) != 40 {
		return fmt.Errorf("testnet: no v3 identity fingerprint in %s's certificate", nd.Name)
	}
	return nil
}

// relayFingerprint creates the node's relay identity key and reads its
// fingerprint (tor --list-fingerprint).
func relayFingerprint(ctx context.Context, nd *node, torPath string) error {
	empty := filepath.Join(nd.Dir, "torrc-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	cmd := exec.CommandContext(ctx, torPath, "--list-fingerprint", "--quiet",
		"-f", empty, "--defaults-torrc", empty,
		"--DataDirectory", nd.Dir, "--ORPort", strconv.Itoa(nd.ORPort), "--Nickname", nd.Name)
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("testnet: tor --list-fingerprint for %s: %w", nd.Name, err)
	}
	// Output: "<nickname> <fingerprint in groups of 4>".
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, nd.Name+" "); ok {
			nd.fingerprint = strings.ReplaceAll(strings.TrimSpace(rest), " ", "")
		}
	}
	if len(nd.fingerprint) != 40 {
		return fmt.Errorf("testnet: unexpected tor --list-fingerprint output for %s: %q", nd.Name, out)
	}
	return nil
}

// torrc is a node's configuration, after chutney's common.i, authority.i,
// relay and exit-v4.i templates.
func (nd *node) torrc(dirAuth []string, owner int) string {
	lines := []string{
		"TestingTorNetwork 1",
		// Rapid bootstrap: trust reachability, build circuits with a
		// quarter of the paths, vote every flag to every relay.
		"AssumeReachable 1",
		"PathsNeededToBuildCircuits 0.25",
		"TestingDirAuthVoteExit *",
		"TestingDirAuthVoteGuard *",
		"TestingDirAuthVoteHSDir *",
		"V3AuthNIntervalsValid 2",
		"TestingMinExitFlagThreshold 0",
		"DataDirectory " + nd.Dir,
		"PidFile " + filepath.Join(nd.Dir, "pid"),
		"Nickname " + nd.Name,
		"ContactInfo " + nd.Name + "@test.invalid",
		"ShutdownWaitLength 0",
		"Log notice file " + filepath.Join(nd.Dir, "notice.log"),
		"SafeLogging 0",
		"LogTimeGranularity 1",
		"ProtocolWarnings 1",
		"SocksPort 0",
		"Address 127.0.0.1",
		"ORPort 127.0.0.1:" + strconv.Itoa(nd.ORPort),
		"DirPort 127.0.0.1:" + strconv.Itoa(nd.DirPort),
		"ClientUseIPv6 0",
	}
	if owner != 0 {
		lines = append(lines, "__OwningControllerProcess "+strconv.Itoa(owner))
	}
	if nd.Authority {
		lines = append(lines,
			"AuthoritativeDirectory 1",
			"V3AuthoritativeDirectory 1",
			"ExitPolicy reject *:*",
			// The fastest consensus cycle tor allows: vote + distribution
			// delay must stay below half the interval.
			"TestingV3AuthInitialVotingInterval 5",
			"TestingV3AuthInitialVoteDelay 2",
			"TestingV3AuthInitialDistDelay 2",
			"V3AuthVotingInterval 10",
			"V3AuthVoteDelay 2",
			"V3AuthDistDelay 2",
		)
	} else {
		// Exits only to loopback: nothing here may touch the internet.
		lines = append(lines,
			"ExitPolicyRejectPrivate 0",
			"ExitPolicy accept 127.0.0.0/8:*",
			"ExitPolicy reject *:*",
		)
	}
	lines = append(lines, dirAuth...)
	return strings.Join(lines, "\n") + "\n"
}

func (n *Network) startNode(nd *node, torPath string, dirAuth []string, detach bool) error {
	owner := os.Getpid()
	if detach {
		owner = 0
	}
	torrc := filepath.Join(nd.Dir, "torrc")
	if err := os.WriteFile(torrc, []byte(nd.torrc(dirAuth, owner)), 0o600); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	empty := filepath.Join(nd.Dir, "torrc-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	cmd := exec.Command(torPath, "-f", torrc, "--defaults-torrc", empty, "--quiet")
	cmd.Dir = nd.Dir
	var out bytes.Buffer // early errors (bad config) before the log file opens
	cmd.Stdout, cmd.Stderr = &out, &out
	proc.Detach(cmd) // Ctrl-C in "chive testnet up" reaches chive only
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testnet: start %s: %w", nd.Name, err)
	}
	nd.cmd, nd.PID = cmd, cmd.Process.Pid
	go func() {
		cmd.Wait()
		close(nd.exited)
	}()
	return nil
}

func (n *Network) save() error {
	b, err := json.MarshalIndent(n.st, "", "  ")
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	tmp := filepath.Join(n.dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(n.dir, stateFile)); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	return nil
}

// waitConsensus polls the authorities until one serves a microdescriptor
// consensus that lists every node as Running, Valid, Guard and HSDir.
func (n *Network) waitConsensus(ctx context.Context, say func(string)) error {
	want := len(n.nodes)
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastSeen := -1
	for {
		for _, nd := range n.nodes {
			select {
			case <-nd.exited:
				return fmt.Errorf("testnet: %s exited: %s", nd.Name, nd.lastLog())
			default:
			}
		}
		best := 0
		for _, nd := range n.nodes {
			if !nd.Authority {
				continue
			}
			if c := usableRelays(ctx, client, nd.DirPort); c > best {
				best = c
			}
		}
		if best != lastSeen && best > 0 {
			say(fmt.Sprintf("consensus lists %d of %d relays", best, want))
			lastSeen = best
		}
		if best >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: waiting for a consensus with %d relays (best so far %d): %w", want, max(best, 0), ctx.Err())
		case <-tick.C:
		}
	}
}

// usableRelays counts relays in an authority's current consensus with the
// flags clients and onion services need; 0 if it has none yet.
func usableRelays(ctx context.Context, client *http.Client, dirPort int) int {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d/tor/status-vote/current/consensus-microdesc", dirPort), nil)
	if err != nil {
		return 0
	}
	// Without this tor answers in raw deflate, which net/http does not undo.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0
	}
	count := 0
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		flags, ok := strings.CutPrefix(sc.Text(), "s ")
		if !ok {
			continue
		}
		f := " " + flags + " "
		if strings.Contains(f, " Running ") && strings.Contains(f, " Valid ") &&
			strings.Contains(f, " Guard ") && strings.Contains(f, " HSDir ") {
			count++
		}
	}
	return count
}

// lastLog returns the last lines of a node's log, to explain a failure.
func (nd *node) lastLog() string {
	b, err := os.ReadFile(filepath.Join(nd.Dir, "notice.log"))
	if err != nil || len(b) == 0 {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}

// ClientTorrc returns the torrc lines a client needs to use this network,
// for onion.Config.ExtraTorrc.
func (n *Network) ClientTorrc() []string { return append([]string(nil), n.st.ClientTorrc...) }

// Dir is the network's state directory.
func (n *Network) Dir() string { return n.dir }

// PIDs returns the process ids of the network's tor processes.
func (n *Network) PIDs() []int {
	pids := make([]int, 0, len(n.nodes))
	for _, nd := range n.nodes {
		if nd.PID != 0 {
			pids = append(pids, nd.PID)
		}
	}
	return pids
}

// stopGrace is how long the nodes may take to exit after SIGTERM before
// they are killed. Tor usually exits at once, but tor 0.4.9 relays now and
// then deadlock in cpuworker_free_all while exiting (seen with gdb) and
// never exit; the network's state is disposable, so do not wait long.
const stopGrace = 2 * time.Second

// Close stops every tor process of the network and waits until they have
// exited; it removes the directory if Start created it. Later calls return
// the first call's result.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		for _, nd := range n.nodes {
			if nd.cmd != nil {
				proc.Terminate(nd.PID)
			}
		}
		// One deadline for all: a closed Done channel stays readable for
		// every node, unlike a time.After value.
		grace, cancel := context.WithTimeout(context.Background(), stopGrace)
		defer cancel()
		for _, nd := range n.nodes {
			if nd.cmd == nil {
				continue
			}
			select {
			case <-nd.exited:
				continue
			case <-grace.Done():
			}
			proc.Kill(nd.PID)
			select {
			case <-nd.exited:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("testnet: %s (pid %d) did not exit", nd.Name, nd.PID))
			}
		}
		if len(errs) == 0 {
			if n.tempDir {
				errs = append(errs, os.RemoveAll(n.dir))
			} else if n.dir != "" {
				os.Remove(filepath.Join(n.dir, stateFile))
			}
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

func readState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("testnet: %s: %w (start one with: chive testnet up --dir %s)", dir, ErrNotRunning, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// ours reports whether nd's pid is still the tor we started (not a reused
// pid): its pid file must still name it and, where /proc exists, its
// command line must name its torrc.
func ours(nd node) bool {
	if !proc.Alive(nd.PID) {
		return false
	}
	b, err := os.ReadFile(filepath.Join(nd.Dir, "pid"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(nd.PID) {
		return false
	}
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", nd.PID)); err == nil {
		return bytes.Contains(cmdline, []byte(filepath.Join(nd.Dir, "torrc")))
	}
	return true
}

// ClientTorrcFromDir returns the client torrc lines of the network running
// in dir (for --tor-testnet DIR and CHIVE_TOR_TESTNET). It fails with
// ErrNotRunning if no tor of that network is alive.
func ClientTorrcFromDir(dir string) ([]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	alive := 0
	for _, nd := range st.Nodes {
		if nd.Authority && ours(nd) {
			alive++
		}
	}
	if alive == 0 {
		return nil, fmt.Errorf("testnet: %s: %w (its authorities have stopped; restart with: chive testnet up --dir %s)", dir, ErrNotRunning, dir)
	}
	return st.ClientTorrc, nil
}

// StopDir stops the network running in dir, started by another process
// (chive testnet up --detach), and waits for its tor processes to exit.
func StopDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	st, err := readState(dir)
	if err != nil {
		return err
	}
	var live []node
	for _, nd := range st.Nodes {
		if ours(nd) {
			if err := proc.Terminate(nd.PID); err == nil {
				live = append(live, nd)
			}
		}
	}
	if len(live) == 0 {
		// Its processes died with their owner or were killed: clear the
		// stale state so nothing mistakes it for a running network.
		os.Remove(filepath.Join(dir, stateFile))
		return fmt.Errorf("testnet: %s: %w (none of its tor processes was alive)", dir, ErrNotRunning)
	}
	var errs []error
	deadline := time.Now().Add(stopGrace)
	for _, nd := range live {
		if proc.WaitExit(nd.PID, time.Until(deadline)) {
			continue
		}
		proc.Kill(nd.PID)
		if !proc.WaitExit(nd.PID, 5*time.Second) {
			errs = append(errs, fmt.Errorf("testnet: %s (pid %d) did not exit", nd.Name, nd.PID))
		}
	}
	if len(errs) == 0 {
		os.Remove(filepath.Join(dir, stateFile))
	}
	return errors.Join(errs...)
}
