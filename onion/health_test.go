package onion_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
)

// TestRefreshAndSelfDial: a tor reaches its own onion service (how the node
// checks that peers can), and Refresh (NEWNYM) leaves it able to, with its
// client-side onion state forgotten.
func TestRefreshAndSelfDial(t *testing.T) {
	tor := client(t, t.TempDir())
	_, key, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ln, err := tor.Listen(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	self := onion.AddressFromPublicKey(key.Public().(ed25519.PublicKey))
	for i, step := range []string{"before", "after"} {
		if i == 1 {
			if err := tor.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		c, err := tor.Dial(ctx, self)
		if err != nil {
			t.Fatalf("self-dial %s Refresh: %v", step, err)
		}
		c.Close()
		t.Logf("self-dial %s Refresh: %v", step, time.Since(start).Round(time.Millisecond))
	}
}
