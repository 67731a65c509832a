package onion_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/onion/internal/proc"
	"github.com/chive-im/chive/onion/testnet"
)

// client starts a managed tor on the shared network and waits until it has
// bootstrapped. It is closed (and checked gone) when the test ends.
func client(t testing.TB, dataDir string) *onion.Tor {
	t.Helper()
	n := testnet.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	var steps []onion.Progress
	tor, err := onion.Start(ctx, onion.Config{
		DataDir:    dataDir,
		ExtraTorrc: n.ClientTorrc(),
		OnProgress: func(p onion.Progress) { mu.Lock(); steps = append(steps, p); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, tor) })
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatalf("%v\ntor log:\n%s", err, strings.Join(tor.Lines(), "\n"))
	}
	if p := tor.Progress(); p.Percent != 100 || p.Tag != "done" {
		t.Fatalf("ready but Progress() = %+v", p)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(steps) == 0 || steps[len(steps)-1].Percent != 100 {
		t.Fatalf("OnProgress never reported 100%%: %+v", steps)
	}
	return tor
}

// closeAndCheck closes tor and checks, by pid, that the process is gone.
func closeAndCheck(t testing.TB, tor *onion.Tor) {
	t.Helper()
	pid := tor.PID()
	err := tor.Close()
	if err != nil && !errors.Is(err, onion.ErrClosed) {
		t.Errorf("close: %v", err)
	}
	if pid != 0 && proc.Alive(pid) {
		t.Errorf("tor pid %d still running after Close", pid)
	}
	select {
	case <-tor.Done():
	default:
		t.Error("Done not closed after Close")
	}
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// echo serves l: every line read is written back prefixed with name.
func echo(l net.Listener, name string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := io.WriteString(c, name+":"+line); err != nil {
					return
				}
			}
		}()
	}
}

func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(line, "\n")
}

func listen(t *testing.T, tor *onion.Tor, key ed25519.PrivateKey) *onion.Listener {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	l, err := tor.Listen(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("onion %s published in %v", l.Address().Short(), time.Since(start).Round(time.Millisecond))
	want := onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey))
	if l.Address() != want || l.Addr().String() != want.Hostname()+":"+strconv.Itoa(onion.VirtualPort) {
		t.Fatalf("listener address %s, want %s", l.Addr(), want)
	}
	return l
}

// TestTwoPeers is the core of chive's transport: two users, each a managed
// tor hosting an onion service on the private network, reach each other.
func TestTwoPeers(t *testing.T) {
	torrc := testnet.Shared(t).ClientTorrc()
	noLeaks(t)
	t.Logf("test network up in %v", testnet.SharedStartup().Round(time.Millisecond))
	dirA, dirB := t.TempDir(), t.TempDir()
	var a, b *onion.Tor
	var wg sync.WaitGroup
	wg.Add(2)
	// Bootstrap both at once: it is most of the test's time.
	go func() { defer wg.Done(); a = clientErr(t, dirA, torrc) }()
	go func() { defer wg.Done(); b = clientErr(t, dirB, torrc) }()
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	for _, d := range []string{dirA, dirB} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("data dir %s mode %v, want 0700 (%v)", d, fi.Mode().Perm(), err)
		}
	}

	keyA, keyB := newKey(t), newKey(t)
	var la, lb *onion.Listener
	wg.Add(2)
	var errA, errB error
	go func() { defer wg.Done(); la, errA = listenNoFatal(a, keyA) }()
	go func() { defer wg.Done(); lb, errB = listenNoFatal(b, keyB) }()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errors.Join(errA, errB))
	}
	go echo(la, "A")
	go echo(lb, "B")

	t.Run("BothWays", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start := time.Now()
		ab, err := a.Dial(ctx, lb.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer ab.Close()
		t.Logf("A→B connected in %v", time.Since(start).Round(time.Millisecond))
		if ab.RemoteAddr().String() != lb.Addr().String() {
			t.Errorf("RemoteAddr %s, want %s", ab.RemoteAddr(), lb.Addr())
		}
		start = time.Now()
		ba, err := b.Dial(ctx, la.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer ba.Close()
		t.Logf("B→A connected in %v", time.Since(start).Round(time.Millisecond))
		if got := roundTrip(t, ab, "hello from A"); got != "B:hello from A" {
			t.Errorf("A→B echo %q", got)
		}
		if got := roundTrip(t, ba, "hello from B"); got != "A:hello from B" {
			t.Errorf("B→A echo %q", got)
		}
		// A bigger payload, both directions at once.
		big := strings.Repeat("0123456789abcdef", 64<<10/16)
		var wg sync.WaitGroup
		for _, c := range []net.Conn{ab, ba} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err := io.WriteString(c, big+"\n"); err != nil {
					t.Error(err)
				}
			}()
		}
		for c, want := range map[net.Conn]string{ab: "B:" + big, ba: "A:" + big} {
			line, err := bufio.NewReaderSize(c, 128<<10).ReadString('\n')
			if err != nil || strings.TrimSuffix(line, "\n") != want {
				t.Errorf("64 KiB echo: %d bytes, %v", len(line), err)
			}
		}
		wg.Wait()
	})

	t.Run("UnknownOnionFails", func(t *testing.T) {
		// Well formed, never published.
		unknown := onion.AddressFromPublicKey(newKey(t).Public().(ed25519.PublicKey))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		c, err := a.Dial(ctx, unknown)
		if err == nil {
			c.Close()
			t.Fatal("dial to an unknown onion succeeded")
		}
		t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if !errors.Is(err, onion.ErrNotFound) {
			t.Errorf("error %v does not wrap ErrNotFound", err)
		}
		var de *onion.DialError
		if !errors.As(err, &de) || de.Address != unknown || de.Code != 0xF0 {
			t.Errorf("error %#v, want a DialError for %s with code 0xF0", err, unknown)
		}
		if !strings.Contains(err.Error(), unknown.Short()) || !strings.Contains(err.Error(), "not found") {
			t.Errorf("unclear error message: %q", err)
		}
	})

	t.Run("DialCancelled", func(t *testing.T) {
		unknown := onion.AddressFromPublicKey(newKey(t).Public().(ed25519.PublicKey))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := a.Dial(ctx, unknown)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("dial took %v after its context expired", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, onion.ErrNotFound) {
			t.Errorf("error %v, want a deadline error", err)
		}
	})

	t.Run("DuplicateListen", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if l, err := a.Listen(ctx, keyA); err == nil {
			l.Close()
			t.Fatal("second Listen with the same key succeeded")
		}
	})

	t.Run("Defences", func(t *testing.T) {
		d := lb.Defences()
		if d.MaxStreams != 4 || !d.PoW || d.TorVersion == "" {
			t.Fatalf("defences %+v, want 4 streams, proof of work, a tor version", d)
		}
		// One circuit opening more streams than MaxStreams is closed by tor,
		// streams and all: a flood of connections over one circuit never
		// reaches chive. A's dials share a rendezvous circuit to B.
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		var conns []net.Conn
		for i := range d.MaxStreams {
			c, err := a.Dial(ctx, lb.Address())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := roundTrip(t, c, fmt.Sprint("stream ", i)); got != fmt.Sprint("B:stream ", i) {
				t.Fatalf("echo %q", got)
			}
			conns = append(conns, c)
		}
		if extra, err := a.Dial(ctx, lb.Address()); err == nil {
			defer extra.Close()
		}
		for i, c := range conns {
			c.SetDeadline(time.Now().Add(60 * time.Second))
			io.WriteString(c, "still there?\n")
			if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				t.Errorf("stream %d still open after the circuit exceeded MaxStreams: %q", i, line)
			}
		}
	})

	t.Run("PoWFallback", func(t *testing.T) {
		// A tor that does not know the proof-of-work keywords refuses them;
		// Listen publishes without. (This tor knows them: a keyword it does
		// not know gets the same answer an older tor gives.)
		restore := onion.SetPoWKeywords("PoWNoSuchKeyword=1")
		defer restore()
		lc := listen(t, b, newKey(t))
		defer lc.Close()
		if d := lc.Defences(); d.PoW || d.MaxStreams != 4 {
			t.Errorf("defences after the fallback %+v", d)
		}
		go echo(lc, "C")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		c, err := a.Dial(ctx, lc.Address())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := roundTrip(t, c, "hi"); got != "C:hi" {
			t.Errorf("echo %q", got)
		}
	})

	t.Run("RestartSameAddress", func(t *testing.T) {
		// The caller persists the key; a new tor in the same data dir
		// brings the same onion back and peers reach it again.
		oldAddr, oldPID := la.Address(), a.PID()
		closeAndCheck(t, a)
		if _, err := a.Dial(context.Background(), lb.Address()); err == nil {
			t.Error("dial on a closed Tor succeeded")
		}
		a2 := client(t, dirA)
		if a2.PID() == oldPID {
			t.Fatal("same pid after restart")
		}
		la2 := listen(t, a2, keyA)
		defer la2.Close()
		if la2.Address() != oldAddr {
			t.Fatalf("address after restart %s, want %s", la2.Address(), oldAddr)
		}
		go echo(la2, "A2")
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
		defer cancel()
		// B may hold a cached descriptor with A's old introduction points;
		// tor refetches on failure, and so do we for a while. Each attempt
		// gets its own bound: tor can sit on a stale descriptor's dead
		// introduction points for longer than we want to wait.
		var c net.Conn
		var err error
		for {
			actx, acancel := context.WithTimeout(ctx, 20*time.Second)
			c, err = b.Dial(actx, oldAddr)
			acancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			t.Logf("retrying after: %v", err)
			time.Sleep(time.Second)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := roundTrip(t, c, "back again"); got != "A2:back again" {
			t.Errorf("echo after restart %q", got)
		}
	})
}

// clientErr is client without t.Fatal, for use from goroutines.
func clientErr(t *testing.T, dir string, torrc []string) *onion.Tor {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tor, err := onion.Start(ctx, onion.Config{DataDir: dir, ExtraTorrc: torrc})
	if err != nil {
		t.Error(err)
		return nil
	}
	t.Cleanup(func() { closeAndCheck(t, tor) })
	if err := tor.WaitReady(ctx); err != nil {
		t.Errorf("%v\ntor log:\n%s", err, strings.Join(tor.Lines(), "\n"))
		return nil
	}
	return tor
}

func listenNoFatal(tor *onion.Tor, key ed25519.PrivateKey) (*onion.Listener, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return tor.Listen(ctx, key)
}

// TestAttach drives an already running tor through its control port, as
// chive does with a system tor: its onion service must be reachable, and
// closing the attached Tor must not stop the tor it attached to.
func TestAttach(t *testing.T) {
	testnet.Shared(t)
	noLeaks(t)
	dir := t.TempDir()
	owner := client(t, dir)
	port, err := os.ReadFile(filepath.Join(dir, "control-port"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	att, err := onion.Start(ctx, onion.Config{ControlAddr: strings.TrimPrefix(strings.TrimSpace(string(port)), "PORT=")})
	if err != nil {
		t.Fatal(err)
	}
	if att.PID() != 0 {
		t.Errorf("attached Tor reports pid %d", att.PID())
	}
	if err := att.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	l := listen(t, att, newKey(t))
	go echo(l, "att")
	c, err := owner.Dial(ctx, l.Address())
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, "hi"); got != "att:hi" {
		t.Errorf("echo %q", got)
	}
	c.Close()
	if err := att.Close(); err != nil {
		t.Fatal(err)
	}
	if !proc.Alive(owner.PID()) {
		t.Fatal("closing an attached Tor stopped the tor process")
	}
	select {
	case <-owner.Done():
		t.Fatal("owner's tor reported done")
	default:
	}
	// The service was removed with the attached connection.
	c, err = owner.Dial(ctx, l.Address())
	t.Logf("dial after the attached Tor closed: %v", err)
	if err == nil {
		c.Close()
		t.Error("dial after the attached Tor closed succeeded: its service is still up")
	}
}

// TestStartErrors checks the reasons Start and WaitReady give; no network
// needed.
func TestStartErrors(t *testing.T) {
	needTor(t)
	noLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, err := onion.Start(ctx, onion.Config{DataDir: t.TempDir(), TorPath: filepath.Join(t.TempDir(), "no-tor")})
	if !errors.Is(err, onion.ErrTorNotFound) || !strings.Contains(err.Error(), "apt-get install tor") {
		t.Errorf("missing tor: %v", err)
	}

	_, err = onion.Start(ctx, onion.Config{DataDir: t.TempDir(), ExtraTorrc: []string{"NoSuchOption 1"}})
	if !errors.Is(err, onion.ErrBadConfig) || !errors.Is(err, onion.ErrTorExited) || !strings.Contains(err.Error(), "NoSuchOption") {
		t.Errorf("bad config: %v", err)
	}

	_, err = onion.Start(ctx, onion.Config{})
	if err == nil {
		t.Error("Start without DataDir succeeded")
	}

	_, err = onion.Start(ctx, onion.Config{ControlAddr: "127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "control port") {
		t.Errorf("attach to nothing: %v", err)
	}

	// No network: every relay unreachable. Tor keeps trying; WaitReady
	// reports where it is stuck and why.
	warned := make(chan struct{})
	var warnOnce sync.Once
	tor, err := onion.Start(ctx, onion.Config{DataDir: t.TempDir(), ExtraTorrc: []string{
		"TestingTorNetwork 1",
		"DirAuthority bogus orport=1 no-v2 v3ident=0000000000000000000000000000000000000000 127.0.0.1:1 0000000000000000000000000000000000000000",
	}, OnProgress: func(p onion.Progress) {
		if p.Warning != "" {
			warnOnce.Do(func() { close(warned) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAndCheck(t, tor)
	// Wait (generously: the machine may be loaded) for tor's first
	// complaint, then WaitReady must name it.
	select {
	case <-warned:
	case <-time.After(45 * time.Second):
		t.Fatalf("tor reported no problem in 45 s (progress %+v)", tor.Progress())
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	defer wcancel()
	err = tor.WaitReady(wctx)
	t.Logf("no network: %v", err)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stuck at") {
		t.Errorf("no network: %v", err)
	}
	if !errors.Is(err, onion.ErrNoNetwork) {
		t.Errorf("no network: %v does not wrap ErrNoNetwork (progress %+v)", err, tor.Progress())
	}

	// Tor exiting under us is reported on Done and by WaitReady.
	if err := proc.Kill(tor.PID()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after tor was killed")
	}
	if err := tor.WaitReady(ctx); !errors.Is(err, onion.ErrTorExited) {
		t.Errorf("WaitReady after tor died: %v", err)
	}
}

// TestNoOrphanAfterKill9 starts a child process that runs a managed tor,
// kills the child with SIGKILL, and checks that tor exits by itself.
func TestNoOrphanAfterKill9(t *testing.T) {
	if os.Getenv("CHIVE_ONION_CHILD") != "" {
		childMain()
		return
	}
	needTor(t)
	noLeaks(t)
	if !proc.CanKill9() {
		t.Skip("needs SIGKILL")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoOrphanAfterKill9$")
	cmd.Env = append(os.Environ(), "CHIVE_ONION_CHILD="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %v", err)
	}
	torPID, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "TORPID="))
	if err != nil || !proc.Alive(torPID) {
		t.Fatalf("child said %q", line)
	}
	cmd.Process.Kill() // SIGKILL: no deferred cleanup runs in the child
	cmd.Wait()
	start := time.Now()
	if !proc.WaitExit(torPID, 30*time.Second) {
		proc.Kill(torPID)
		t.Fatalf("tor pid %d survived its owner's SIGKILL", torPID)
	}
	t.Logf("tor exited %v after its owner was killed", time.Since(start).Round(time.Millisecond))
}

func childMain() {
	ctx := context.Background()
	// No network needed: the point is the process's lifetime.
	tor, err := onion.Start(ctx, onion.Config{DataDir: os.Getenv("CHIVE_ONION_CHILD"), ExtraTorrc: []string{"DisableNetwork 1"}})
	if err == nil && tor.SOCKSAddr() != "" {
		err = fmt.Errorf("socks port %s open with DisableNetwork", tor.SOCKSAddr())
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Printf("TORPID=%d\n", tor.PID())
	select {} // wait to be killed
}

// TestAttachPassword attaches to a tor that only allows password
// authentication, as a system tor configured with HashedControlPassword.
func TestAttachPassword(t *testing.T) {
	needTor(t)
	noLeaks(t)
	torPath, err := exec.LookPath("tor")
	if err != nil {
		torPath = "/usr/sbin/tor"
	}
	out, err := exec.Command(torPath, "--quiet", "--hash-password", "correct horse").Output()
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(out))
	hash := fields[len(fields)-1]
	dir := t.TempDir()
	portFile := filepath.Join(dir, "port")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	cmd := exec.Command(torPath, "-f", empty, "--defaults-torrc", empty, "--quiet",
		"--DataDirectory", filepath.Join(dir, "data"), "--ControlPort", "auto",
		"--ControlPortWriteToFile", portFile, "--HashedControlPassword", hash,
		"--CookieAuthentication", "0", "--DisableNetwork", "1", "--SocksPort", "auto")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var addr string
	for i := 0; i < 200 && addr == ""; i++ {
		b, _ := os.ReadFile(portFile)
		if s := strings.TrimSpace(string(b)); strings.HasSuffix(string(b), "\n") {
			addr = strings.TrimPrefix(s, "PORT=")
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if addr == "" {
		t.Fatal("tor did not write its control port")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := onion.Start(ctx, onion.Config{ControlAddr: addr, ControlPassword: "wrong"}); err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Errorf("wrong password: %v", err)
	}
	att, err := onion.Start(ctx, onion.Config{ControlAddr: addr, ControlPassword: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if err := att.Close(); err != nil {
		t.Fatal(err)
	}
	if cmd.ProcessState != nil || !proc.Alive(cmd.Process.Pid) {
		t.Fatal("closing an attached Tor stopped the tor process")
	}
}
