package memnet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/chive-im/chive/onion"
)

func key(t *testing.T) (ed25519.PrivateKey, onion.Address) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, onion.AddressFromPublicKey(pub)
}

func TestDialListenFail(t *testing.T) {
	ctx := context.Background()
	m := New()
	k, addr := key(t)
	server, client := m.NewTransport(), m.NewTransport()
	defer client.Close()
	if _, err := client.Dial(ctx, addr); !errors.Is(err, onion.ErrNotFound) {
		t.Fatalf("dial before listen: %v, want onion.ErrNotFound", err)
	}
	ln, err := server.Listen(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewTransport().Listen(ctx, k); err == nil {
		t.Fatal("a second listener on the same address")
	}
	if got := ln.Addr().(*onion.Addr).Address; got != addr {
		t.Fatalf("listener address %s, want %s", got, addr)
	}
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Write([]byte("hi"))
		}
		accepted <- err
	}()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}

	m.SetOffline(addr, true)
	if _, err := client.Dial(ctx, addr); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial while offline: %v", err)
	}
	m.SetOffline(addr, false)
	if n := m.Dials(addr); n != 3 {
		t.Errorf("Dials = %d, want 3", n)
	}
	if n := m.Connects(addr); n != 1 {
		t.Errorf("Connects = %d, want 1", n)
	}

	// Fail kills the server's transport: its connections, listener and Done.
	m.Fail(addr)
	select {
	case <-server.Done():
	default:
		t.Fatal("Done not closed by Fail")
	}
	if _, err := c.Read(buf); err == nil {
		t.Fatal("connection survived its tor")
	}
	if _, err := ln.Accept(); !errors.Is(err, onion.ErrClosed) {
		t.Fatalf("Accept after Fail: %v", err)
	}
	if _, err := client.Dial(ctx, addr); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial after Fail: %v", err)
	}
	if _, err := server.Dial(ctx, addr); !errors.Is(err, onion.ErrClosed) {
		t.Fatalf("dial from a failed transport: %v", err)
	}
	// A new transport may listen on the address again.
	if _, err := m.NewTransport().Listen(ctx, k); err != nil {
		t.Fatalf("listen after Fail: %v", err)
	}
}
