package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
)

// tmuxServer is a private tmux server (its own socket) for one test.
type tmuxServer struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmuxServer {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	x := &tmuxServer{t: t, sock: fmt.Sprintf("chive-cli-%d", os.Getpid())}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screen at the end:\n%s", x.screen("ui"))
		}
		x.run("kill-server")
	})
	return x
}

func (x *tmuxServer) run(args ...string) (string, error) {
	c := exec.Command("tmux", append([]string{"-L", x.sock}, args...)...)
	c.Env = append(os.Environ(), "TMUX=")
	out, err := c.CombinedOutput()
	return string(out), err
}

func (x *tmuxServer) must(args ...string) {
	x.t.Helper()
	if out, err := x.run(args...); err != nil {
		x.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
}

func (x *tmuxServer) screen(target string) string {
	out, _ := x.run("capture-pane", "-p", "-t", target)
	return out
}

func (x *tmuxServer) waitFor(target, want string, timeout time.Duration) {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(x.screen(target), want) {
		if time.Now().After(deadline) {
			x.t.Fatalf("%q not on screen after %s:\n%s", want, timeout, x.screen(target))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contactsOf(t *testing.T, profile string) []node.Contact {
	t.Helper()
	r := cli(t, profile, "", "contacts", "--json")
	wantCode(t, r, exitOK)
	var cs []node.Contact
	if err := json.Unmarshal([]byte(r.stdout), &cs); err != nil {
		t.Fatalf("contacts --json: %v: %q", err, r.stdout)
	}
	return cs
}

// TestCLINextToTUI: the UI running its own node (no daemon) serves the
// profile's socket, so the CLI works next to it without the passphrase:
// adding a contact, sending, reading its state. With the real binary, the
// UI in tmux, and tor on the private network. It also carries the display
// names (Alice's reaches Bob with her request) and unblocking through a
// real daemon.
func TestCLINextToTUI(t *testing.T) {
	setup(t)
	x := newTmux(t)
	alice, bob := profileDir(t, "alice"), profileDir(t, "bob")
	pass := filepath.Join(filepath.Dir(alice), "pass")
	if err := os.WriteFile(pass, []byte("purple otter saxophone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCode(t, cli(t, alice, "", "init", "--name", "Alice", "--passphrase-file", pass), exitOK)
	wantCode(t, cli(t, bob, "", "init", "--name", "Bob", "--no-passphrase"), exitOK)
	startDaemon(t, bob)
	var bobInfo rpc.AddressInfo
	if err := json.Unmarshal([]byte(cli(t, bob, "", "address", "--json").stdout), &bobInfo); err != nil {
		t.Fatal(err)
	}
	bobAddr := bobInfo.Address

	// Alice opens the UI and types her passphrase; her node runs in it.
	cmdline := fmt.Sprintf("env -u CHIVE_PASSPHRASE_FILE -u CHIVE_HOME CHIVE_NO_BELL=1 %s --profile %s --tor-testnet %s; sleep 600", it.bin, alice, it.netDir)
	x.must("new-session", "-d", "-s", "ui", "-x", "100", "-y", "30", cmdline)
	x.waitFor("ui", "Passphrase", time.Minute)
	x.must("send-keys", "-t", "ui", "-l", "purple otter saxophone")
	x.must("send-keys", "-t", "ui", "Enter")
	until(t, 2*time.Minute, "the UI's socket", func() bool {
		c, err := rpc.Dial(context.Background(), rpc.SocketPath(alice))
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// The CLI, with no passphrase and no terminal, talks to the UI's node.
	st := statusOf(t, alice)
	if st.Name != "Alice" || !st.Daemon {
		t.Fatalf("status through the UI's socket: %+v", st)
	}
	waitReachable(t, alice)
	wantCode(t, cli(t, alice, "", "contacts", "add", bobAddr, "--name", "bob", "--greeting", "from the CLI"), exitOK)
	var req node.Contact
	until(t, 3*time.Minute, "alice's request at bob", func() bool {
		for _, c := range contactsOf(t, bob) {
			if c.State == node.StatePendingIncoming {
				req = c
				return true
			}
		}
		return false
	})
	if req.PeerName != "Alice" || req.Name != "Alice" || req.Greeting != "from the CLI" {
		t.Errorf("the request at bob: %+v; want Alice's name and greeting", req)
	}
	wantCode(t, cli(t, bob, "", "contacts", "accept", req.Address), exitOK)
	until(t, 3*time.Minute, "bob's acceptance at alice", func() bool {
		cs := contactsOf(t, alice)
		return len(cs) == 1 && cs[0].State == node.StateAccepted && cs[0].PeerName == "Bob" && cs[0].Name == "bob"
	})
	r := cli(t, alice, "", "send", "bob", "hello from the CLI next to the UI", "--wait", "delivered", "--timeout", "3m")
	wantCode(t, r, exitOK)
	r = cli(t, bob, "", "inbox")
	if !strings.Contains(r.stdout, "hello from the CLI next to the UI") {
		t.Errorf("bob's inbox: %q", r.stdout)
	}

	// Bob blocks and unblocks alice: accepted again, same session.
	wantCode(t, cli(t, bob, "", "contacts", "block", "Alice"), exitOK)
	r = cli(t, bob, "", "contacts", "unblock", "Alice")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "a contact again") {
		t.Errorf("unblock: %q", r.stdout)
	}
	wantCode(t, cli(t, bob, "", "send", "Alice", "still here", "--wait", "delivered", "--timeout", "3m"), exitOK)

	// Quitting the UI stops its node and removes the socket.
	x.must("send-keys", "-t", "ui", "C-q")
	until(t, time.Minute, "the UI's socket to go", func() bool {
		_, err := os.Stat(rpc.SocketPath(alice))
		return os.IsNotExist(err)
	})
}
