package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	_, ka, _ := ed25519.GenerateKey(nil)
	_, kb, _ := ed25519.GenerateKey(nil)
	a, err := NewIdentity(ka, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewIdentity(kb, now)
	ab, _ := a.Bundle().MarshalBinary()
	pb, err := ParseBundle(ab, a.OnionKey())
	if err != nil {
		t.Fatal(err)
	}
	sb, hs, err := Accept(b, pb, now)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := Complete(a, b.OnionKey(), hs, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		from, to := &sa, &sb
		if (i/7)%2 == 1 {
			from, to = &sb, &sa
		}
		pt := []byte("hello " + string(rune('a'+i%26)))
		n1, m, err := (*from).Encrypt(pt, []byte("id"), now)
		if err != nil {
			t.Fatal(err)
		}
		n2, got, err := (*to).Decrypt(m, []byte("id"), now)
		if err != nil {
			t.Fatalf("msg %d: %v", i, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatal("mismatch")
		}
		*from, *to = n1, n2
	}
}
