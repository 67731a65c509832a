package onion

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeControl is a control port that answers what attaching asks
// (PROTOCOLINFO, AUTHENTICATE, SETEVENTS, GETINFO) and then, like a wedged
// tor, never answers again.
func fakeControl(t *testing.T) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 1)
	served := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		select {
		case c := <-conns:
			c.Close() // else a hung client would keep the server waiting
		default:
		}
		<-served
	})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns <- c
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			var reply string
			switch cmd {
			case "PROTOCOLINFO":
				reply = "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"0.4.9.0\"\r\n250 OK\r\n"
			case "AUTHENTICATE", "SETEVENTS":
				reply = "250 OK\r\n"
			case "GETINFO":
				reply = "250-net/listeners/socks=\"127.0.0.1:9\"\r\n" +
					"250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n250 OK\r\n"
			default:
				continue // wedged: no reply, connection kept open
			}
			if _, err := c.Write([]byte(reply)); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String()
}

// TestCloseWedgedControl: Close returns promptly and leaves no goroutine
// behind when the tor it attached to stops answering.
func TestCloseWedgedControl(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	addr := fakeControl(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tor, err := Start(ctx, Config{ControlAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := tor.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tor.SOCKSAddr(); got != "127.0.0.1:9" {
		t.Errorf("SOCKSAddr %q", got)
	}
	closed := make(chan error, 1)
	go func() { closed <- tor.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a tor that stopped answering")
	}
	if err := tor.Err(); err == nil {
		t.Error("Err is nil after Close")
	}
}
