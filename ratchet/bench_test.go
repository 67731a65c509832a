package ratchet

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// The benchmark shape the issue fixes: one op is one 1 KiB message encrypted
// by one side and decrypted by the other; the direction flips every 10
// messages, so every 10th message is a DH ratchet step, and PQ steps happen at
// whatever frequency the protocol runs them.
const benchFlip = 10

func benchPair(b *testing.B) (*State, *State) {
	now := time.Unix(1_800_000_000, 0)
	_, ka, _ := ed25519.GenerateKey(rand.Reader)
	_, kb, _ := ed25519.GenerateKey(rand.Reader)
	a, _ := NewIdentity(ka, now)
	c, _ := NewIdentity(kb, now)
	sb, hs, err := Accept(c, a.Bundle(), now)
	if err != nil {
		b.Fatal(err)
	}
	sa, err := Complete(a, c.OnionKey(), hs, now)
	if err != nil {
		b.Fatal(err)
	}
	return sa, sb
}

func BenchmarkRatchet(b *testing.B) {
	b.Run("floor/xchacha20poly1305-1KiB-seal+open", func(b *testing.B) {
		key := make([]byte, 32)
		pt := make([]byte, 1024)
		ad := make([]byte, 16)
		nonce := make([]byte, nonceSize)
		buf := make([]byte, 0, 1024+tagSize)
		out := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			aead, _ := chacha20poly1305.NewX(key)
			ct := aead.Seal(buf[:0], nonce, pt, ad)
			aead2, _ := chacha20poly1305.NewX(key)
			if _, err := aead2.Open(out[:0], nonce, ct, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor/x25519-keygen", func(b *testing.B) {
		for b.Loop() {
			if _, err := ecdh.X25519().GenerateKey(rand.Reader); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor/x25519-dh", func(b *testing.B) {
		k1, _ := ecdh.X25519().GenerateKey(rand.Reader)
		k2, _ := ecdh.X25519().GenerateKey(rand.Reader)
		pub := k2.PublicKey()
		for b.Loop() {
			if _, err := k1.ECDH(pub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor/kdf-ck", func(b *testing.B) {
		var ck [32]byte
		for b.Loop() {
			_, ck = kdfCK(ck)
		}
	})
	b.Run("floor/kdf-rk", func(b *testing.B) {
		var rk [32]byte
		dhOut := make([]byte, 32)
		for b.Loop() {
			rk, _, _ = kdfRK(rk, dhOut, nil)
		}
	})
	b.Run("floor/mlkem768-keygen", func(b *testing.B) {
		for b.Loop() {
			if _, err := mlkem.GenerateKey768(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor/mlkem768-encaps+decaps", func(b *testing.B) {
		dk, _ := mlkem.GenerateKey768()
		ek := dk.EncapsulationKey()
		for b.Loop() {
			_, ct := ek.Encapsulate()
			if _, err := dk.Decapsulate(ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("conversation", benchConversation)
}

// floorOps performs the primitive operations a message shape cannot avoid:
// per message one XChaCha20-Poly1305 seal+open of the body and one KDF_CK on
// each side; per DH step (done by the receiver of a new ratchet key) one
// X25519 keygen, two X25519 DH and two KDF_RK; per PQ step one ML-KEM-768
// keygen, one encapsulation and one decapsulation.
type floorOps struct {
	key, pt, ad, nonce, buf, out []byte
	x1, x2                       *ecdh.PrivateKey
	pub                          *ecdh.PublicKey
	dk                           *mlkem.DecapsulationKey768
	ek                           *mlkem.EncapsulationKey768
	ck, rk                       [32]byte
}

func newFloorOps() *floorOps {
	f := &floorOps{key: make([]byte, 32), pt: make([]byte, 1024), ad: make([]byte, 16),
		nonce: make([]byte, nonceSize), buf: make([]byte, 0, 1024+tagSize), out: make([]byte, 0, 1024)}
	f.x1, _ = ecdh.X25519().GenerateKey(rand.Reader)
	f.x2, _ = ecdh.X25519().GenerateKey(rand.Reader)
	f.pub = f.x2.PublicKey()
	f.dk, _ = mlkem.GenerateKey768()
	f.ek = f.dk.EncapsulationKey()
	return f
}

func (f *floorOps) run(b *testing.B, msgs, dhSteps, kemKeygens, kemSteps int) {
	for range msgs {
		aead, _ := chacha20poly1305.NewX(f.key)
		ct := aead.Seal(f.buf[:0], f.nonce, f.pt, f.ad)
		aead2, _ := chacha20poly1305.NewX(f.key)
		if _, err := aead2.Open(f.out[:0], f.nonce, ct, f.ad); err != nil {
			b.Fatal(err)
		}
		_, f.ck = kdfCK(f.ck)
		_, f.ck = kdfCK(f.ck)
	}
	for range dhSteps {
		k, _ := ecdh.X25519().GenerateKey(rand.Reader)
		d1, _ := f.x1.ECDH(f.pub)
		d2, _ := k.ECDH(f.pub)
		f.rk, _, _ = kdfRK(f.rk, d1, nil)
		f.rk, _, _ = kdfRK(f.rk, d2, nil)
	}
	for range kemKeygens {
		if _, err := mlkem.GenerateKey768(); err != nil {
			b.Fatal(err)
		}
	}
	for range kemSteps {
		_, ct := f.ek.Encapsulate()
		if _, err := f.dk.Decapsulate(ct); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConversation times the ratchet and, interleaved in blocks of 20
// messages, the floor operations for exactly the events (DH steps, PQ steps)
// of each block, so that load from other processes hits both alike.
func benchConversation(b *testing.B) {
	sa, sb := benchPair(b)
	now := time.Unix(1_800_000_000, 0)
	pt := make([]byte, 1024)
	ad := make([]byte, 16)
	f := newFloorOps()
	var wire, dhSteps, pqEncaps int
	var convNs, floorTotal time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		t0 := time.Now()
		var blockMsgs, blockDH, blockKeygens, blockEncaps int
		for ; i < b.N && blockMsgs < 2*benchFlip; i++ {
			from, to := &sa, &sb
			if (i/benchFlip)%2 == 1 {
				from, to = &sb, &sa
			}
			nf, msg, err := (*from).Encrypt(pt, ad, now)
			if err != nil {
				b.Fatal(err)
			}
			nt, _, err := (*to).Decrypt(msg, ad, now)
			if err != nil {
				b.Fatal(err)
			}
			if nt.dhs != (*to).dhs {
				blockDH++
				if nt.sendCT != nil {
					blockEncaps++
				}
				if nt.pqDK != nil {
					blockKeygens++
				}
			}
			wire += len(msg)
			blockMsgs++
			*from, *to = nf, nt
		}
		convNs += time.Since(t0)
		b.StopTimer()
		t1 := time.Now()
		f.run(b, blockMsgs, blockDH, blockKeygens, blockEncaps)
		floorTotal += time.Since(t1)
		b.StartTimer()
		dhSteps += blockDH
		pqEncaps += blockEncaps
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(wire)/n, "wire-B/msg")
	b.ReportMetric(float64(wire)/n-float64(len(pt)+Overhead), "pq-B/msg")
	b.ReportMetric(float64(pqEncaps)/n*1000, "pq-steps/1000msg")
	sizeA, _ := sa.MarshalBinary()
	b.ReportMetric(float64(len(sizeA)), "state-B")
	b.ReportMetric(float64(floorTotal.Nanoseconds())/n, "floor-ns/msg")
	b.ReportMetric(float64(convNs)/float64(floorTotal), "x-floor")
}

// BenchmarkOutOfOrder is the cost of the copy-on-write skipped-key store:
// one op decrypts a message whose key sits among MaxSkip stored keys (the
// state keeps them all; each op starts from the same state).
func BenchmarkOutOfOrder(b *testing.B) {
	sa, sb := benchPair(b)
	now := time.Unix(1_800_000_000, 0)
	pt := make([]byte, 1024)
	var msgs [][]byte
	for range MaxSkip + 1 {
		var msg []byte
		var err error
		if sb, msg, err = sb.Encrypt(pt, nil, now); err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	st, _, err := sa.Decrypt(msgs[MaxSkip], nil, now)
	if err != nil {
		b.Fatal(err)
	}
	if st.skipped.len() != MaxSkip {
		b.Fatalf("%d skipped", st.skipped.len())
	}
	size, _ := st.MarshalBinary()
	b.ReportMetric(float64(len(size)), "state-B")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := st.Decrypt(msgs[i%MaxSkip], nil, now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
