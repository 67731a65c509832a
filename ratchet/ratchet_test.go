package ratchet

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestScriptedConversations(t *testing.T) {
	// Each script is a list of steps: "a"/"b" send from the requester /
	// accepter; "A<i>"/"B<i>" deliver the i-th pending message to the
	// requester / accepter; "x<i>"/"y<i>" drop it; "d<i>"/"e<i>" redeliver
	// the i-th delivered message (a duplicate); "p<i>"/"q<i>" decrypt and
	// discard (crash before commit).
	scripts := map[string][]string{
		"ping-pong":            {"a", "B0", "b", "A0", "a", "B0", "b", "A0"},
		"accepter-first":       {"b", "b", "A0", "A0", "a", "B0"},
		"both-before-delivery": {"a", "b", "a", "b", "B0", "A0", "B0", "A0"},
		"delay-across-dh":      {"a", "a", "a", "B1", "b", "A0", "a", "B1", "B0", "b", "A0"},
		"drop-then-continue":   {"b", "b", "b", "x0", "A1", "A0", "a", "B0"},
		"duplicate":            {"a", "B0", "d0", "a", "B0", "d0", "d1", "b", "A0", "e0"},
		"crash-before-commit":  {"a", "a", "q1", "q0", "B1", "q0", "B0", "d0", "d1"},
		"lost-whole-chain":     {"a", "a", "y0", "y0", "b", "A0", "a", "B0", "b", "A0"},
		"old-chain-after-two-dh": {"b", "b", "A0", "a", "B0", "b", "A1", "a", "B0",
			"b", "A1", "A0"},
	}
	for name, steps := range scripts {
		t.Run(name, func(t *testing.T) {
			s := newSim(t, true)
			for _, st := range steps {
				i := 0
				if len(st) > 1 {
					i = int(st[1] - '0')
				}
				switch st[0] {
				case 'a':
					s.send(0)
				case 'b':
					s.send(1)
				case 'A':
					s.deliver(0, i)
				case 'B':
					s.deliver(1, i)
				case 'x':
					s.drop(0, i)
				case 'y':
					s.drop(1, i)
				case 'd':
					s.duplicate(1, i)
				case 'e':
					s.duplicate(0, i)
				case 'p':
					s.peek(0, i)
				case 'q':
					s.peek(1, i)
				default:
					t.Fatalf("bad step %q", st)
				}
			}
			s.converge()
		})
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// Every delivery order of a burst of five, in the first chain and in a chain
// that starts with a DH step, from either side.
func TestBurstPermutations(t *testing.T) {
	perms := permutations(5)
	if len(perms) != 120 {
		t.Fatalf("%d permutations", len(perms))
	}
	for _, afterDH := range []bool{false, true} {
		for from := range 2 {
			base := newSim(t, false)
			if afterDH {
				base.send(1 - from)
				base.deliver(from, 0)
			}
			var burst []*flight
			for range 5 {
				burst = append(burst, base.send(from))
			}
			snap := base.st
			for _, p := range perms {
				s := *base
				s.st = snap
				s.pending = [2][]*flight{}
				s.log = nil
				for _, i := range p {
					next, pt, err := s.st[1-from].Decrypt(burst[i].msg, burst[i].ad, s.now)
					if err != nil || !bytes.Equal(pt, burst[i].pt) {
						t.Fatalf("afterDH=%v from=%d order %v: message %d: %v", afterDH, from, p, i, err)
					}
					s.st[1-from] = next
				}
				for _, f := range burst {
					if _, _, err := s.st[1-from].Decrypt(f.msg, f.ad, s.now); !errors.Is(err, ErrDecrypt) {
						t.Fatalf("order %v: replay of #%d: %v", p, f.id, err)
					}
				}
				if sk := s.st[1-from].skipped.len(); sk != 0 {
					t.Fatalf("order %v: %d skipped keys left", p, sk)
				}
			}
		}
	}
}

// Messages of an old chain arriving after the peer has ratcheted twice.
func TestReorderAcrossDHSteps(t *testing.T) {
	s := newSim(t, true)
	old := []*flight{s.send(0), s.send(0)} // chain 1 of the requester
	s.send(0)
	s.deliver(1, 2) // accepter sees #3 first: skips #1, #2
	s.send(1)
	s.deliver(0, 0)
	s.send(0) // chain 2
	s.send(0)
	s.deliver(1, 3)
	s.send(1)
	s.deliver(0, 0)
	s.send(0) // chain 3
	s.deliver(1, 3)
	// Now the two oldest, then the rest.
	for _, f := range old {
		for i, p := range s.pending[1] {
			if p == f {
				s.deliver(1, i)
				break
			}
		}
	}
	s.converge()
}

func TestRandomRuns(t *testing.T) {
	runs, actions := 4, 2500
	if testing.Short() {
		runs, actions = 1, 500
	}
	for seed := range runs {
		rng := rand.New(rand.NewPCG(uint64(seed), 42))
		s := newSim(t, seed%2 == 0)
		for range actions {
			to := rng.IntN(2)
			switch r := rng.IntN(100); {
			case r < 35:
				if len(s.pending[1-to]) < 60 {
					s.send(1 - to)
				}
			case r < 75:
				if n := len(s.pending[to]); n > 0 {
					// Mostly in order, sometimes anything.
					i := 0
					if rng.IntN(3) == 0 {
						i = rng.IntN(n)
					}
					s.deliver(to, i)
				}
			case r < 80:
				if n := len(s.pending[to]); n > 0 {
					s.drop(to, rng.IntN(n))
				}
			case r < 85:
				if n := len(s.delivered[to]); n > 0 {
					s.duplicate(to, rng.IntN(n))
				}
			case r < 90:
				if n := len(s.pending[to]); n > 0 {
					s.peek(to, rng.IntN(n))
				}
			case r < 95:
				s.now = s.now.Add(time.Duration(rng.IntN(3600)) * time.Second)
			default:
				// Encrypt and throw away: the message is never sent.
				if _, _, err := s.st[to].Encrypt([]byte("lost"), nil, s.now); err != nil {
					t.Fatal(err)
				}
			}
		}
		s.converge()
		size := len(mustMarshal(t, s.st[0]))
		t.Logf("seed %d: %d messages, state %d and %d bytes", seed, s.seq, size, len(mustMarshal(t, s.st[1])))
	}
}

func TestTamperLeavesStateIdentical(t *testing.T) {
	for _, pq := range []string{"plain", "pq-key", "pq-ciphertext"} {
		t.Run(pq, func(t *testing.T) {
			s := newSim(t, false)
			// Drive the session until a message of the wanted kind is sent.
			var f *flight
			for i := 0; i < 400; i++ {
				from := (i / 3) % 2
				f = s.send(from)
				flags := msgFlags(t, s.st[1-from], f.msg)
				if (pq == "plain" && flags == 0 && i > 5) || (pq == "pq-key" && flags == flagPQKey) ||
					(pq == "pq-ciphertext" && flags == flagPQCiphertext) {
					break
				}
				s.deliver(1-from, len(s.pending[1-from])-1)
				f = nil
			}
			if f == nil {
				t.Fatalf("no %s message in 400", pq)
			}
			to := 0
			if len(s.pending[1]) > 0 {
				to = 1
			}
			regions := map[string][2]int{
				"version":     {0, 1},
				"header":      {1, hdrEnd},
				"blob+body":   {hdrEnd, len(f.msg)},
				"last byte":   {len(f.msg) - 1, len(f.msg)},
				"body nonce":  {len(f.msg) - len(f.pt) - tagSize - nonceSize, len(f.msg) - len(f.pt) - tagSize},
				"body cipher": {len(f.msg) - len(f.pt) - tagSize, len(f.msg) - tagSize},
			}
			for name, r := range regions {
				for _, pos := range []int{r[0], (r[0] + r[1]) / 2, r[1] - 1} {
					m := bytes.Clone(f.msg)
					m[pos] ^= 0x20
					s.expectFail(to, m, f.ad, ErrDecrypt, "tampered "+name)
				}
			}
			s.expectFail(to, f.msg, []byte("other id"), ErrDecrypt, "wrong ad")
			s.expectFail(to, f.msg, nil, ErrDecrypt, "missing ad")
			s.expectFail(to, f.msg[:len(f.msg)-1], f.ad, ErrDecrypt, "truncated")
			s.expectFail(to, append(bytes.Clone(f.msg), 0), f.ad, ErrDecrypt, "extended")
			s.expectFail(to, nil, f.ad, ErrDecrypt, "empty")
			s.deliver(to, len(s.pending[to])-1)
			s.duplicate(to, len(s.delivered[to])-1)
			s.converge()
		})
	}
}

// msgFlags opens the header of msg as its recipient would, to learn what PQ
// material it carries.
func msgFlags(t *testing.T, recipient *State, msg []byte) byte {
	t.Helper()
	for _, hk := range []*[32]byte{&recipient.hkr, &recipient.nhkr} {
		if h, ok := openHeader(hk, msg); ok {
			return h.flags
		}
	}
	if recipient.skipped != nil {
		for _, c := range recipient.skipped.chains {
			if h, ok := openHeader(&c.hk, msg); ok {
				return h.flags
			}
		}
	}
	t.Fatal("header does not open")
	return 0
}

// A message from another session fails like any forgery.
func TestWrongSession(t *testing.T) {
	_, _, sa, _ := newPair(t)
	_, _, _, sb2 := newPair(t)
	_, msg, err := sa.Encrypt([]byte("hi"), nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sb2.Decrypt(msg, nil, t0); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("err = %v", err)
	}
}

func TestMaxSkip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		skip    int
		wantErr error
	}{
		{"at limit", MaxSkip, nil},
		{"one past", MaxSkip + 1, ErrTooManySkipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, false)
			s.send(1)
			s.deliver(0, 0) // the requester now has a receiving chain at N=1
			for range tc.skip {
				s.send(1)
			}
			last := s.send(1)
			if tc.wantErr != nil {
				s.expectFail(0, last.msg, last.ad, tc.wantErr, "past MaxSkip")
				// The session still works for the messages in range.
				s.deliver(0, 0)
				s.deliver(0, tc.skip-1)
				return
			}
			s.deliver(0, tc.skip)
			if got := s.st[0].skipped.len(); got != MaxSkip {
				t.Fatalf("%d skipped keys stored, want %d", got, MaxSkip)
			}
			s.deliver(0, 0)
			s.deliver(0, MaxSkip-2)
			s.converge()
		})
	}
}

// Past MaxSkippedTotal the oldest skipped keys go first.
func TestSkippedEviction(t *testing.T) {
	s := newSim(t, false)
	var firstChain []*flight
	for round := range 3 {
		for i := range MaxSkip {
			f := s.send(1)
			if round == 0 && i < 3 {
				firstChain = append(firstChain, f)
			}
		}
		s.send(1)
		s.deliver(0, len(s.pending[0])-1)
		s.send(0)
		s.deliver(1, 0)
	}
	if got := s.st[0].skipped.len(); got != MaxSkippedTotal {
		t.Fatalf("%d skipped keys, want %d", got, MaxSkippedTotal)
	}
	for _, f := range firstChain {
		s.expectFail(0, f.msg, f.ad, ErrDecrypt, "evicted")
	}
	// The newest skipped messages still decrypt.
	s.deliver(0, len(s.pending[0])-1)
	s.deliver(0, len(s.pending[0])-MaxSkip/2)
}

// Trial decryption against many stored chains of skipped keys: every
// message still finds its key, forgeries still fail, quickly.
func TestHeaderTrialDecryptionManyChains(t *testing.T) {
	s := newSim(t, false)
	var held []*flight
	for range 150 {
		for range 5 {
			held = append(held, s.send(1))
		}
		s.send(1)
		s.deliver(0, len(s.pending[0])-1)
		s.send(0)
		s.deliver(1, 0)
	}
	st := s.st[0]
	if st.skipped.len() != 750 || len(st.skipped.chains) != 150 {
		t.Fatalf("%d skipped keys in %d chains", st.skipped.len(), len(st.skipped.chains))
	}
	s.st[0] = reload(t, st)
	start := time.Now()
	forged := bytes.Clone(held[0].msg)
	forged[len(forged)-1] ^= 1
	s.expectFail(0, forged, held[0].ad, ErrDecrypt, "forged")
	t.Logf("rejecting a forgery against %d chains took %v", len(st.skipped.chains), time.Since(start))
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
	for _, f := range held {
		for i, p := range s.pending[0] {
			if p == f {
				s.deliver(0, i)
				break
			}
		}
	}
	if n := s.st[0].skipped.len(); n != 0 {
		t.Fatalf("%d skipped keys left", n)
	}
}

// The PQ ratchet runs on its own: after PQInterval messages (or PQMaxAge),
// an encapsulation key goes out, the answer carries a ciphertext, and both
// root keys change in step. Time alone triggers it too.
func TestPQRatchetSteps(t *testing.T) {
	for _, byTime := range []bool{false, true} {
		s := newSim(t, true)
		steps := 0
		for i := 0; i < 300; i++ {
			from := (i / 4) % 2
			if byTime {
				s.now = s.now.Add(PQMaxAge / 3)
			}
			f := s.send(from)
			if msgFlags(t, s.st[1-from], f.msg)&flagPQCiphertext != 0 {
				steps++
			}
			s.deliver(1-from, 0)
			if byTime && i >= 40 {
				break
			}
		}
		// Each PQ step is answered in one chain (4 messages here).
		if byTime && steps < 4 || !byTime && steps < 8 {
			t.Fatalf("byTime=%v: only %d messages carried a PQ ciphertext", byTime, steps)
		}
		s.converge()
	}
}

// The accepter may send right away and keep sending while the requester is
// offline for days; the requester reads everything once it completes.
func TestOfflineRequester(t *testing.T) {
	_, _, _, _ = newPair(t)
	s := newSim(t, true)
	for range 20 {
		s.send(1)
	}
	s.now = s.now.Add(10 * 24 * time.Hour)
	for i := 19; i >= 0; i -= 2 {
		s.deliver(0, i)
	}
	s.send(0)
	s.deliver(1, 0)
	s.converge()
}

func TestStateEncodingRejectsGarbage(t *testing.T) {
	s := newSim(t, false)
	for range 5 {
		s.send(1)
	}
	s.deliver(0, 4)
	good := mustMarshal(t, s.st[0])
	bad := [][]byte{
		nil, {}, []byte("CHRS"), good[:len(good)-1], append(bytes.Clone(good), 0),
		append([]byte("XXXX"), good[4:]...),
	}
	v := bytes.Clone(good)
	v[4] = 99
	bad = append(bad, v)
	for cut := 5; cut < len(good); cut += 37 {
		bad = append(bad, good[:cut])
	}
	for i, b := range bad {
		if _, err := UnmarshalState(b); !errors.Is(err, ErrState) {
			t.Errorf("case %d (%d bytes): err = %v", i, len(b), err)
		}
	}
	if _, err := UnmarshalState(good); err != nil {
		t.Fatal(err)
	}
}

func TestUninitializedState(t *testing.T) {
	var s State
	if _, _, err := s.Encrypt(nil, nil, t0); err == nil {
		t.Fatal("Encrypt on zero State succeeded")
	}
	if _, _, err := s.Decrypt(make([]byte, 200), nil, t0); err == nil {
		t.Fatal("Decrypt on zero State succeeded")
	}
	if _, err := s.MarshalBinary(); err == nil {
		t.Fatal("MarshalBinary on zero State succeeded")
	}
}

func TestMessageSizes(t *testing.T) {
	_, _, sa, _ := newPair(t)
	_, msg, err := sa.Encrypt(make([]byte, 100), nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != 100+Overhead {
		t.Fatalf("message %d bytes, want %d", len(msg), 100+Overhead)
	}
}

func TestKDFCKIsHMAC(t *testing.T) {
	ck := [32]byte{1, 2, 3, 250}
	for range 3 {
		mk, next := kdfCK(ck)
		for _, c := range []struct {
			in   byte
			want [32]byte
		}{{1, mk}, {2, next}} {
			m := hmac.New(sha256.New, ck[:])
			m.Write([]byte{c.in})
			if !bytes.Equal(m.Sum(nil), c.want[:]) {
				t.Fatalf("kdfCK(%x) with 0x%02x differs from HMAC-SHA-256", ck, c.in)
			}
		}
		ck = next
	}
}
