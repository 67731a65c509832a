package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The fuzz targets share the known-answer session of testdata/kat.json, so
// the seed corpus in testdata/fuzz stays meaningful across runs.
var (
	katOnce sync.Once
	katData *katFile
	katErr  error
)

func loadKAT(tb testing.TB) *katFile {
	katOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join("testdata", "kat.json"))
		if err != nil {
			katErr = err
			return
		}
		katData = new(katFile)
		katErr = json.Unmarshal(data, katData)
	})
	if katErr != nil {
		tb.Fatal(katErr)
	}
	return katData
}

var (
	katStatesOnce sync.Once
	katStates     []*State
)

// receiverState returns the recorded receiver state of message i, decoded
// once: States are immutable, so the fuzz targets can share them.
func receiverState(tb testing.TB, i int) *State {
	k := loadKAT(tb)
	katStatesOnce.Do(func() {
		for _, m := range k.Messages {
			st, err := UnmarshalState(unhexTB(tb, m.ReceiverState))
			if err != nil {
				tb.Fatal(err)
			}
			katStates = append(katStates, st)
		}
	})
	return katStates[i]
}

func unhexTB(tb testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// writeCorpus stores seeds as files under testdata/fuzz/<name> (with -update).
func writeCorpus(f *testing.F, name string, seeds [][]any) {
	if !*update {
		return
	}
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for i, args := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case byte:
				fmt.Fprintf(&b, "byte(%q)\n", v)
			case uint32:
				fmt.Fprintf(&b, "uint32(%d)\n", v)
			default:
				f.Fatalf("corpus type %T", a)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}

func addSeeds(f *testing.F, name string, seeds [][]any) {
	for _, s := range seeds {
		f.Add(s...)
	}
	writeCorpus(f, name, seeds)
}

// decryptUnchanged runs Decrypt and fails if an error left any trace.
func decryptUnchanged(t *testing.T, st *State, msg, ad []byte, now time.Time) ([]byte, error) {
	before := mustMarshal(t, st)
	next, pt, err := st.Decrypt(msg, ad, now)
	if err != nil {
		if next != nil || pt != nil {
			t.Fatal("error with a result")
		}
		if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrTooManySkipped) {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if !bytes.Equal(before, mustMarshal(t, st)) {
		t.Fatal("Decrypt changed its receiver")
	}
	if err == nil {
		reload(t, next)
	}
	return pt, err
}

// FuzzDecrypt feeds arbitrary messages to each recorded receiver state.
// Only the recorded messages may decrypt.
func FuzzDecrypt(f *testing.F) {
	k := loadKAT(f)
	var seeds [][]any
	for i, m := range k.Messages {
		seeds = append(seeds, []any{byte(i), unhexTB(f, m.Message), unhexTB(f, m.AD)})
	}
	addSeeds(f, "FuzzDecrypt", seeds)
	f.Fuzz(func(t *testing.T, which byte, msg, ad []byte) {
		k := loadKAT(t)
		i := int(which) % len(k.Messages)
		m, st := k.Messages[i], receiverState(t, i)
		pt, err := decryptUnchanged(t, st, msg, ad, time.Unix(m.Time, 0))
		if err == nil {
			for _, o := range k.Messages {
				if bytes.Equal(msg, unhexTB(t, o.Message)) && bytes.Equal(pt, unhexTB(t, o.Plaintext)) {
					return
				}
			}
			t.Fatalf("decrypted a message nobody sent: %q", pt)
		}
	})
}

// FuzzDecryptHeader gets past header authentication: the fuzzer chooses
// the header fields, PQ blob and body, and the header is sealed with a key
// the receiver accepts (current, next, or a skipped chain's). This reaches
// skipping, DH and PQ steps with hostile values.
func FuzzDecryptHeader(f *testing.F) {
	k := loadKAT(f)
	var seeds [][]any
	for i, m := range k.Messages {
		st, _ := UnmarshalState(unhexTB(f, m.ReceiverState))
		msg := unhexTB(f, m.Message)
		for kind, hk := range []*[32]byte{&st.hkr, &st.nhkr} {
			if h, ok := openHeader(hk, msg); ok {
				_, _, bodyStart, _ := splitBlob(msg, h.flags)
				seeds = append(seeds, []any{byte(i), byte(kind), h.dh[:], h.n, h.pn, h.flags,
					msg[hdrEnd:bodyStart], msg[bodyStart:], unhexTB(f, m.AD)})
			}
		}
	}
	seeds = append(seeds, []any{byte(0), byte(1), make([]byte, 32), uint32(1 << 31), uint32(5000), byte(3), []byte{}, []byte{}, []byte{}})
	addSeeds(f, "FuzzDecryptHeader", seeds)
	f.Fuzz(func(t *testing.T, which, kind byte, dhPub []byte, n, pn uint32, flags byte, blob, body, ad []byte) {
		k := loadKAT(t)
		i := int(which) % len(k.Messages)
		m, st := k.Messages[i], receiverState(t, i)
		hk := &st.nhkr
		switch {
		case kind%3 == 0 && st.hasHKr:
			hk = &st.hkr
		case kind%3 == 2 && st.skipped != nil:
			hk = &st.skipped.chains[int(kind)%len(st.skipped.chains)].hk
		}
		h := header{n: n, pn: pn, flags: flags}
		copy(h.dh[:], dhPub)
		hp := h.marshal()
		msg := []byte{msgVersion}
		msg = append(msg, make([]byte, nonceSize)...)
		msg = sealHeader(hk, msg, hp[:])
		msg = append(append(msg, blob...), body...)
		decryptUnchanged(t, st, msg, ad, time.Unix(m.Time, 0))
	})
}

func FuzzParseBundle(f *testing.F) {
	k := loadKAT(f)
	good := unhexTB(f, k.RequesterBundle)
	onion := good[1:33]
	addSeeds(f, "FuzzParseBundle", [][]any{
		{good}, {append(bytes.Clone(good[:97]), good[97+pqEKSize:]...)}, {good[:200]}, {[]byte{2}},
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data, onion)
		if err != nil {
			for _, e := range []error{ErrBundleMalformed, ErrBundleVersion, ErrBundleDowngrade, ErrBundleAddress, ErrBundleSignature} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("imprecise error %v", err)
		}
		again, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatal("accepted bundle does not re-marshal to itself")
		}
		// Only the real bundle carries a valid signature.
		if !bytes.Equal(data, good) {
			t.Fatal("accepted a modified bundle")
		}
	})
}

func FuzzComplete(f *testing.F) {
	k := loadKAT(f)
	hs := unhexTB(f, k.Handshake)
	addSeeds(f, "FuzzComplete", [][]any{{hs}, {hs[:HandshakeSize-1]}})
	self, err := UnmarshalIdentity(unhexTB(f, k.RequesterIdentity))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		peer := ed25519.PublicKey(hs[2:34])
		st, err := Complete(self, peer, data, time.Unix(0, 0))
		if err == nil && !bytes.Equal(data, hs) {
			t.Fatal("completed a modified handshake")
		}
		if err == nil {
			reload(t, st)
		}
	})
}

func FuzzUnmarshalState(f *testing.F) {
	k := loadKAT(f)
	var seeds [][]any
	for _, m := range k.Messages {
		seeds = append(seeds, []any{unhexTB(f, m.ReceiverState)})
	}
	addSeeds(f, "FuzzUnmarshalState", seeds)
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := UnmarshalState(data)
		if err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("imprecise error %v", err)
			}
			return
		}
		if again := mustMarshal(t, st); !bytes.Equal(again, data) {
			t.Fatal("decoding is not canonical")
		}
		// A decoded state must be safe to use, whatever it holds.
		m := k.Messages[len(data)%len(k.Messages)]
		decryptUnchanged(t, st, unhexTB(t, m.Message), unhexTB(t, m.AD), time.Unix(m.Time, 0))
		if _, _, err := st.Encrypt([]byte("x"), nil, time.Unix(m.Time, 0)); err != nil {
			t.Logf("encrypt: %v", err)
		}
	})
}

func FuzzUnmarshalIdentity(f *testing.F) {
	k := loadKAT(f)
	_, onion, _ := ed25519.GenerateKey(nil)
	other, _ := NewIdentity(onion, t0)
	rotated, _ := other.Rotate(onion, t0.Add(time.Hour), time.Hour*24)
	rotated, _ = rotated.Rotate(onion, t0.Add(2*time.Hour), time.Hour*24)
	v2, _ := rotated.MarshalBinary()
	addSeeds(f, "FuzzUnmarshalIdentity", [][]any{{unhexTB(f, k.RequesterIdentity)}, {unhexTB(f, k.AccepterIdentity)}, {v2}})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := UnmarshalIdentity(data)
		if err != nil {
			if !errors.Is(err, ErrIdentity) {
				t.Fatalf("imprecise error %v", err)
			}
			return
		}
		if again, _ := id.MarshalBinary(); !bytes.Equal(again, data) {
			t.Fatal("decoding is not canonical")
		}
	})
}

// FuzzActions drives a whole conversation from the fuzzer's bytes: sends,
// in-order and out-of-order deliveries, drops, duplicates, decrypt-and-
// discard (rollback to the state before a crash), encrypt-and-discard, time
// jumps, with states reloaded after every step. Every delivered message must
// decrypt exactly once and the session must converge.
var (
	basePairOnce sync.Once
	basePair     [2]*State
)

func FuzzActions(f *testing.F) {
	addSeeds(f, "FuzzActions", [][]any{
		{[]byte{0, 0, 1, 1, 2, 3, 0, 0, 0, 1, 1, 1}},
		{[]byte("\x01\x00\x00\x00\x10\x11\x12\x30\x31\x40\x41\x50\x51\x60\x61\x70")},
		{bytes.Repeat([]byte{0x00, 0x01, 0x07, 0x71, 0x13}, 30)},
	})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) == 0 || len(script) > 600 {
			return
		}
		// Sessions are immutable values, so every run can start from the
		// same fresh pair; only the script varies.
		basePairOnce.Do(func() { _, _, basePair[0], basePair[1] = newPair(t) })
		s := &sim{t: t, st: basePair, now: t0, reload: script[0]&1 == 1}
		for i := 1; i+1 < len(script); i += 2 {
			op, arg := script[i], int(script[i+1])
			to := int(op>>7) & 1
			switch op & 7 {
			case 0, 1:
				if len(s.pending[1-to]) < 60 {
					s.send(1 - to)
				}
			case 2:
				if n := len(s.pending[to]); n > 0 {
					s.deliver(to, arg%n)
				}
			case 3:
				if n := len(s.pending[to]); n > 0 {
					s.drop(to, arg%n)
				}
			case 4:
				if n := len(s.delivered[to]); n > 0 {
					s.duplicate(to, arg%n)
				}
			case 5:
				if n := len(s.pending[to]); n > 0 {
					s.peek(to, arg%n)
				}
			case 6:
				s.now = s.now.Add(time.Duration(binary.BigEndian.Uint16([]byte{byte(arg), op})) * time.Minute)
			case 7:
				if _, _, err := s.st[to].Encrypt([]byte("discarded"), nil, s.now); err != nil {
					t.Fatal(err)
				}
			}
		}
		s.converge()
	})
}
