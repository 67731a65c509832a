package wire

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// Link protocol 1's handshake, as it was (handshake.go before version 2),
// kept here as the baseline: Hello{nonce}, Auth{key, nonce, sig}, Welcome{}.
type v1Hello struct {
	Nonce []byte `cbor:"1,keyasint"`
}
type v1Auth struct {
	Key   []byte `cbor:"1,keyasint"`
	Nonce []byte `cbor:"2,keyasint"`
	Sig   []byte `cbor:"3,keyasint"`
}
type v1Welcome struct{}

func v1Transcript(dialer, listener ed25519.PublicKey, ln, dn []byte) []byte {
	t := append([]byte("chive link auth v1\x00"), dialer...)
	t = append(t, listener...)
	t = append(t, ln...)
	return append(t, dn...)
}

func v1Frame(b *testing.B, t Type, m any) []byte {
	body, err := encMode.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	f, err := AppendFrame(nil, t, body)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func v1Read(b *testing.B, frame []byte, m any) {
	_, body, err := ReadFrame(bytes.NewReader(frame))
	if err != nil {
		b.Fatal(err)
	}
	if err := decMode.Unmarshal(body, m); err != nil {
		b.Fatal(err)
	}
}

// handshakeV1 runs both sides of link protocol 1's handshake in turn and
// returns the bytes exchanged.
func handshakeV1(b *testing.B, sk, ck ed25519.PrivateKey) int {
	// listener
	ln := make([]byte, 32)
	rand.Read(ln)
	hello := v1Frame(b, 0x01, &v1Hello{Nonce: ln})
	// dialer
	var h v1Hello
	v1Read(b, hello, &h)
	dn := make([]byte, 32)
	rand.Read(dn)
	auth := v1Frame(b, 0x02, &v1Auth{Key: pub(ck), Nonce: dn, Sig: ed25519.Sign(ck, v1Transcript(pub(ck), pub(sk), h.Nonce, dn))})
	// listener
	var a v1Auth
	v1Read(b, auth, &a)
	if !ed25519.Verify(a.Key, v1Transcript(a.Key, pub(sk), ln, a.Nonce), a.Sig) {
		b.Fatal("v1: bad signature")
	}
	welcome := v1Frame(b, 0x03, &v1Welcome{})
	// dialer
	var w v1Welcome
	v1Read(b, welcome, &w)
	return len(hello) + len(auth) + len(welcome)
}

// handshakeV2 runs both sides of link protocol 2's handshake in turn, the
// same steps Server and Client take, and returns the bytes exchanged.
func handshakeV2(b *testing.B, sk, ck ed25519.PrivateKey) int {
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	// listener
	srv, err := newServerHS(sk)
	must(err)
	hello, err := Marshal(&srv.hello)
	must(err)
	// dialer
	h, err := readMsg(bufioReader(hello), maxHandshakeFrame)
	must(err)
	cli := &clientHS{self: ck, pub: pub(ck), peer: pub(sk)}
	ks, err := cli.hello(h.(*Hello))
	must(err)
	ksFrame, err := Marshal(ks)
	must(err)
	ctx, crx := newSealer(cli.keys.dl), newSealer(cli.keys.ld)
	dAuth, err := sealMsg(ctx, cli.auth())
	must(err)
	// listener
	m, err := readMsg(bufioReader(ksFrame), maxHandshakeFrame)
	must(err)
	must(srv.keyShare(m.(*KeyShare)))
	srx, stx := newSealer(srv.keys.dl), newSealer(srv.keys.ld)
	m, err = readSealed(bytes.NewReader(dAuth), srx, maxHandshakeFrame)
	must(err)
	peer, err := srv.verify(m.(*Auth))
	must(err)
	lAuth, err := sealMsg(stx, srv.auth(peer))
	must(err)
	// dialer
	m, err = readSealed(bytes.NewReader(lAuth), crx, maxHandshakeFrame)
	must(err)
	must(cli.verify(m.(*Auth)))
	return len(hello) + len(ksFrame) + len(dAuth) + len(lAuth)
}

// BenchmarkHandshake: the CPU cost of one link handshake, both sides, of
// link protocol 1 and 2 in the same run (go test ./wire -run '^$' -bench
// Handshake). Both take three flights; Tor's round trips dominate the time
// a real link takes to come up.
func BenchmarkHandshake(b *testing.B) {
	sk, ck := newKey(b), newKey(b)
	for _, bc := range []struct {
		name string
		run  func(*testing.B, ed25519.PrivateKey, ed25519.PrivateKey) int
	}{{"v1", handshakeV1}, {"v2", handshakeV2}} {
		b.Run(bc.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				n = bc.run(b, sk, ck)
			}
			b.ReportMetric(float64(n), "wire-bytes")
		})
	}
}

// BenchmarkFrame: a frame's trip through the link's codec, written and
// read, in the clear (link protocol 1) and sealed (2), for a small frame
// (an Ack), a 1 KiB message and the largest message.
func BenchmarkFrame(b *testing.B) {
	for _, c := range []struct {
		name string
		m    Msg
	}{
		{"ack", &Ack{ID: ID{1}}},
		{"1KiB", &Message{ID: ID{1}, Ciphertext: make([]byte, 1<<10)}},
		{"60KiB", &Message{ID: ID{1}, Ciphertext: make([]byte, MaxCiphertext)}},
	} {
		b.Run("clear/"+c.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				f, err := Marshal(c.m)
				if err != nil {
					b.Fatal(err)
				}
				t, body, err := ReadFrame(bytes.NewReader(f))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Unmarshal(t, body); err != nil {
					b.Fatal(err)
				}
				n = len(f)
			}
			b.ReportMetric(float64(n), "wire-bytes")
			b.SetBytes(int64(n))
		})
		b.Run("sealed/"+c.name, func(b *testing.B) {
			tx, rx := newSealer([32]byte{1}), newSealer([32]byte{1})
			var n int
			for b.Loop() {
				f, err := Marshal(c.m)
				if err != nil {
					b.Fatal(err)
				}
				s, err := tx.seal(f)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := readSealed(bytes.NewReader(s), rx, MaxFrameSize+SealOverhead); err != nil {
					b.Fatal(err)
				}
				n = len(s)
			}
			b.ReportMetric(float64(n), "wire-bytes")
			b.SetBytes(int64(n))
		})
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
