package wire

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

func testKeys(t testing.TB) (a, b ed25519.PublicKey) {
	a, _, _ = ed25519.GenerateKey(rand.Reader)
	b, _, _ = ed25519.GenerateKey(rand.Reader)
	return a, b
}

func TestWork(t *testing.T) {
	req, rcpt := testKeys(t)
	other, _ := testKeys(t)
	now := time.Unix(1750000000, 0)
	const bits = 12
	w, err := SolveWork(t.Context(), req, rcpt, now, bits)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Check(req, rcpt, now, bits) {
		t.Fatal("solved work does not check")
	}
	tests := []struct {
		name string
		ok   bool
		w    Work
		req  ed25519.PublicKey
		rcpt ed25519.PublicKey
		now  time.Time
		bits int
	}{
		{"later, within the age", true, w, req, rcpt, now.Add(WorkMaxAge - time.Second), bits},
		{"stale", false, w, req, rcpt, now.Add(WorkMaxAge + time.Second), bits},
		{"from the near future", true, w, req, rcpt, now.Add(-WorkMaxSkew + time.Second), bits},
		{"from the far future", false, w, req, rcpt, now.Add(-WorkMaxSkew - time.Second), bits},
		{"another recipient", false, w, req, other, now, bits},
		{"another requester", false, w, other, rcpt, now, bits},
		{"keys swapped", false, w, rcpt, req, now, bits},
		{"time changed", false, Work{Time: w.Time + 1, Nonce: w.Nonce}, req, rcpt, now, bits},
		{"harder than solved", false, w, req, rcpt, now, 64},
		{"short key", false, w, req[:31], rcpt, now, bits},
	}
	for _, tt := range tests {
		if got := tt.w.Check(tt.req, tt.rcpt, tt.now, tt.bits); got != tt.ok {
			t.Errorf("%s: Check = %v, want %v", tt.name, got, tt.ok)
		}
	}
	// The hash really has the zero bits (an independent computation).
	seed := sha256.Sum256(append(append(append([]byte("chive request work v1\x00"), req...), rcpt...), byte(w.Time>>56), byte(w.Time>>48),
		byte(w.Time>>40), byte(w.Time>>32), byte(w.Time>>24), byte(w.Time>>16), byte(w.Time>>8), byte(w.Time)))
	n := w.Nonce
	h := sha256.Sum256(append(seed[:], byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n)))
	if h[0] != 0 || h[1]>>4 != 0 {
		t.Errorf("hash %x lacks %d leading zero bits", h[:4], bits)
	}
}

func TestSolveWorkCancelled(t *testing.T) {
	req, rcpt := testKeys(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SolveWork(ctx, req, rcpt, time.Now(), 60); err == nil {
		t.Fatal("cancelled solve returned work")
	}
}

// BenchmarkSolveWork measures the requester's cost at WorkBits, against
// BenchmarkCheckWork, the recipient's, in the same run:
//
//	go test ./wire -run '^$' -bench Work -benchtime 20x
func BenchmarkSolveWork(b *testing.B) {
	req, rcpt := testKeys(b)
	now := time.Now()
	for b.Loop() {
		now = now.Add(time.Second) // a new puzzle each time
		if _, err := SolveWork(context.Background(), req, rcpt, now, WorkBits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckWork(b *testing.B) {
	req, rcpt := testKeys(b)
	now := time.Now()
	w, _ := SolveWork(context.Background(), req, rcpt, now, 8)
	for b.Loop() {
		if !w.Check(req, rcpt, now, 8) {
			b.Fatal("check failed")
		}
	}
}
