package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/cryptotest"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// FuzzReadFrame feeds arbitrary bytes to the frame reader and decoder, as a
// hostile peer would after the handshake. Whatever decodes must re-encode to
// something that decodes to the same value.
func FuzzReadFrame(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			typ, body, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(body)+2 > MaxFrameSize {
				t.Fatalf("ReadFrame returned %d bytes", len(body))
			}
			checkRoundTrip(t, typ, body)
		}
	})
}

// FuzzUnmarshal decodes arbitrary bodies; data[0] is the frame type.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range bodySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkRoundTrip(t, Type(data[0]), data[1:])
	})
}

// FuzzUnmarshalContent decodes arbitrary plaintexts, as a contact's node
// could encrypt them: what decodes must re-encode to the same value.
func FuzzUnmarshalContent(f *testing.F) {
	for _, s := range contentSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := UnmarshalContent(data)
		if err != nil {
			return
		}
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatalf("MarshalContent(%+v) after a successful decode: %v", c, err)
		}
		if len(b) != PaddedSize(len(b)) {
			t.Fatalf("re-encoded to %d bytes, not a padding bucket", len(b))
		}
		c2, err := UnmarshalContent(b)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed %+v to %+v (%v)", c, c2, err)
		}
	})
}

func contentSeeds() [][]byte {
	var seeds [][]byte
	for _, c := range []Content{
		{Text: "héllo", Time: 1700000000123},
		{Time: 1700000000123, Profile: &Profile{Name: "Alice ☕"}},
		{Time: 1700000000123, Mailbox: &MailboxInfo{Key: bytes.Repeat([]byte{1}, 32), Token: bytes.Repeat([]byte{2}, MailboxSecretSize)}},
		{Time: 1700000000123, Mailbox: &MailboxInfo{}},
		{Text: "", Time: 0},
		{Text: "code 493817", Time: 1, Expires: 300001},
		// issue 15: file offers
		{Text: "the report", Time: 1, File: sampleOffer()},
		{Time: 2, File: &FileOffer{ID: ID{9}, Name: "../../etc/passwd\x00", Size: 0, SHA256: make([]byte, 32), Key: make([]byte, 32)}},
		{Time: 1700000000123, GroupInvite: &GroupInvite{Group: ID{1, 2, 3}, Name: "family ☕"}},
	} {
		b, err := MarshalContent(c)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	// Unpadded (an older chive's), with an unknown key (99), skipped by
	// readers that do not know it, and a later version's kind (44) as a map.
	raw, _ := encMode.Marshal(Content{Text: strings.Repeat("x", 300), Time: -5})
	newer, err := encMode.Marshal(map[int]any{1: "hi", 2: int64(5), 99: "later", 44: map[int]any{1: []byte{1}}})
	if err != nil {
		panic(err)
	}
	return append(seeds, raw, []byte{0xa3, 0x01, 0x62, 'h', 'i', 0x02, 0x01, 0x18, 99, 0xa1, 0x01, 0x61, 'x'}, newer)
}

func checkRoundTrip(t *testing.T, typ Type, body []byte) {
	m, err := Unmarshal(typ, body)
	if err != nil {
		return
	}
	if m.Type() != typ {
		t.Fatalf("Unmarshal(%v) returned %T", typ, m)
	}
	frame, err := Marshal(m)
	if err != nil {
		t.Fatalf("Marshal(%#v) after a successful Unmarshal: %v", m, err)
	}
	typ2, body2, err := ReadFrame(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Unmarshal(typ2, body2)
	if err != nil {
		t.Fatalf("re-decode: %v", err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip changed %#v to %#v", m, m2)
	}
}

func frameSeeds() [][]byte {
	var seeds [][]byte
	var all []byte
	for _, m := range sampleMsgs() {
		b, err := Marshal(m)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
		all = append(all, b...)
	}
	return append(seeds, all, []byte{0, 1, 0, 0, Version, byte(TypeMessage)}, []byte{0xff, 0xff, 0xff, 0xff})
}

func bodySeeds() [][]byte {
	var seeds [][]byte
	for _, m := range sampleMsgs() {
		b, err := encMode.Marshal(m)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, append([]byte{byte(m.Type())}, b...))
	}
	return seeds
}

// TestWriteSeeds keeps testdata/fuzz in step with the message types: run
// `go test ./wire -run TestWriteSeeds -write-seeds` after changing them.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("use -write-seeds to rewrite testdata/fuzz")
	}
	one := func(seeds [][]byte) [][]any {
		var out [][]any
		for _, s := range seeds {
			out = append(out, []any{s})
		}
		return out
	}
	var server, client, sealed [][]any
	for _, s := range handshakeSeeds() {
		server = append(server, []any{s.keyShare, s.auth})
		client = append(client, []any{s.hello, s.auth})
	}
	for _, s := range sealedSeeds() {
		sealed = append(sealed, []any{s, uint32(1 << 31)}, []any{s, uint32(8*40 + 3)})
	}
	for name, seeds := range map[string][][]any{
		"FuzzReadFrame": one(frameSeeds()), "FuzzUnmarshal": one(bodySeeds()),
		"FuzzHandshakeServer": server, "FuzzHandshakeClient": client, "FuzzSealedFrames": sealed,
		"FuzzUnmarshalContent": one(contentSeeds()),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, args := range seeds {
			content := "go test fuzz v1\n"
			for _, a := range args {
				switch a := a.(type) {
				case []byte:
					content += fmt.Sprintf("[]byte(%q)\n", a)
				case uint32:
					content += fmt.Sprintf("uint32(%d)\n", a)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fuzzKey is a fixed onion key for the handshake targets.
func fuzzKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// plainFrame builds the frame a sealer expects (length, version, then the
// type and body in pt) from an arbitrary pt.
func plainFrame(pt []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(1+len(pt))), append([]byte{Version}, pt...)...)
}

// FuzzHandshakeServer plays the dialer against the listener's handshake:
// keyShare is the KeyShare body (an honest one when it does not decode),
// auth the plaintext (type byte, body) of the dialer's first sealed frame,
// sealed under the right key so the decoder behind the AEAD is reached.
// Nothing the fuzzer sends may authenticate: the transcript is fresh.
func FuzzHandshakeServer(f *testing.F) {
	for _, s := range handshakeSeeds() {
		f.Add(s.keyShare, s.auth)
	}
	f.Fuzz(func(t *testing.T, keyShare, auth []byte) {
		cryptotest.SetGlobalRandom(t, 1)
		hs, err := newServerHS(fuzzKey(1))
		if err != nil {
			t.Fatal(err)
		}
		ks, ok := decodeAs[*KeyShare](TypeKeyShare, keyShare)
		if !ok {
			c := &clientHS{self: fuzzKey(2), pub: pub(fuzzKey(2)), peer: hs.pub}
			if ks, err = c.hello(&hs.hello); err != nil {
				t.Fatal(err)
			}
		}
		if hs.keyShare(ks) != nil || len(auth) == 0 || len(auth) > maxHandshakeFrame {
			return
		}
		sealed, err := newSealer(hs.keys.dl).seal(plainFrame(auth))
		if err != nil {
			return
		}
		m, err := readSealed(bytes.NewReader(sealed), newSealer(hs.keys.dl), maxHandshakeFrame)
		if err != nil {
			return
		}
		if a, ok := m.(*Auth); ok {
			if key, err := hs.verify(a); err == nil {
				t.Fatalf("a fuzzed Auth authenticated as %x", key)
			}
		}
	})
}

// FuzzHandshakeClient plays the listener against the dialer's handshake:
// hello is the Hello body, auth the plaintext of the listener's sealed
// Auth. Nothing may authenticate as the listener without its key.
func FuzzHandshakeClient(f *testing.F) {
	for _, s := range handshakeSeeds() {
		f.Add(s.hello, s.auth)
	}
	f.Fuzz(func(t *testing.T, hello, auth []byte) {
		cryptotest.SetGlobalRandom(t, 2)
		h, ok := decodeAs[*Hello](TypeHello, hello)
		if !ok {
			return
		}
		c := &clientHS{self: fuzzKey(2), pub: pub(fuzzKey(2)), peer: pub(fuzzKey(1))}
		if _, err := c.hello(h); err != nil || len(auth) == 0 || len(auth) > maxHandshakeFrame {
			return
		}
		sealed, err := newSealer(c.keys.ld).seal(plainFrame(auth))
		if err != nil {
			return
		}
		m, err := readSealed(bytes.NewReader(sealed), newSealer(c.keys.ld), maxHandshakeFrame)
		if err != nil {
			return
		}
		if a, ok := m.(*Auth); ok && c.verify(a) == nil {
			t.Fatal("a fuzzed Auth authenticated as the listener")
		}
	})
}

// FuzzSealedFrames decodes a stream of sealed frames, as a link's reader
// does after the handshake. frames holds plaintexts (a 2-byte length, then
// type and body), sealed in order under a fixed key; flip, if it indexes a
// bit of the sealed stream, flips it. Every frame before the flipped bit
// decodes as it was sealed (and round-trips); the frame holding it fails.
func FuzzSealedFrames(f *testing.F) {
	for _, s := range sealedSeeds() {
		f.Add(s, uint32(1<<31))
		f.Add(s, uint32(7))
		f.Add(s, uint32(8*40+3))
	}
	f.Fuzz(func(t *testing.T, frames []byte, flip uint32) {
		key := [32]byte{42}
		tx := newSealer(key)
		var stream []byte
		var ends []int
		for len(frames) >= 2 {
			n := int(binary.BigEndian.Uint16(frames))
			frames = frames[2:]
			if n == 0 || n > len(frames) {
				break
			}
			sealed, err := tx.seal(plainFrame(frames[:n]))
			if err != nil {
				t.Fatal(err)
			}
			frames = frames[n:]
			stream = append(stream, sealed...)
			ends = append(ends, len(stream))
		}
		at := int(flip / 8)
		if at < len(stream) {
			stream[at] ^= 1 << (flip % 8)
		}
		rx := newSealer(key)
		r := bytes.NewReader(stream)
		for i, end := range ends {
			m, err := readSealed(r, rx, MaxFrameSize+SealOverhead)
			if at < end {
				if err == nil {
					t.Fatalf("frame %d decoded as %T with bit %d flipped", i, m, flip)
				}
				return
			}
			if err != nil {
				if errors.Is(err, ErrAuth) || errors.Is(err, ErrVersion) || errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrUnexpected) {
					t.Fatalf("frame %d of an untouched stream: %v", i, err)
				}
				return // a plaintext that is no valid message: the link would end here
			}
			frame, err := Marshal(m)
			if err != nil {
				t.Fatalf("Marshal(%#v) after a successful decode: %v", m, err)
			}
			checkRoundTrip(t, m.Type(), frame[frameHeader:])
		}
	})
}

func decodeAs[T Msg](t Type, body []byte) (T, bool) {
	var zero T
	m, err := Unmarshal(t, body)
	if err != nil {
		return zero, false
	}
	v, ok := m.(T)
	return v, ok
}

type handshakeSeed struct{ hello, keyShare, auth []byte }

func handshakeSeeds() []handshakeSeed {
	body := func(m Msg) []byte {
		b, err := encMode.Marshal(m)
		if err != nil {
			panic(err)
		}
		return b
	}
	auth := append([]byte{byte(TypeAuth)}, body(&Auth{Key: pub(fuzzKey(2)), Sig: bytes.Repeat([]byte{3}, 64)})...)
	idAuth := append([]byte{byte(TypeAuth)}, body(&Auth{Key: append([]byte{1}, make([]byte, 31)...), Sig: append([]byte{1}, make([]byte, 63)...)})...)
	hs, err := newServerHS(fuzzKey(1))
	if err != nil {
		panic(err)
	}
	c := &clientHS{self: fuzzKey(2), pub: pub(fuzzKey(2)), peer: hs.pub}
	ks, err := c.hello(&hs.hello)
	if err != nil {
		panic(err)
	}
	msg := append([]byte{byte(TypeMessage)}, body(&Message{ID: ID{1}, Ciphertext: []byte("x")})...)
	return []handshakeSeed{
		{hello: body(&hs.hello), keyShare: nil, auth: auth},
		{hello: body(&hs.hello), keyShare: body(ks), auth: idAuth},
		{hello: body(&Hello{E: make([]byte, 32), EK: make([]byte, 1184)}), keyShare: body(&KeyShare{E: make([]byte, 32), CT: make([]byte, 1088)}), auth: msg},
	}
}

func sealedSeeds() [][]byte {
	var all []byte
	var seeds [][]byte
	for _, m := range sampleMsgs() {
		b, err := Marshal(m)
		if err != nil {
			panic(err)
		}
		pt := b[frameHeader-1:]
		one := append(binary.BigEndian.AppendUint16(nil, uint16(len(pt))), pt...)
		seeds = append(seeds, one)
		all = append(all, one...)
	}
	return append(seeds, all)
}
