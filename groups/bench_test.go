package groups

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/chive-im/chive/wire"
)

// The two ways to encrypt a group message, measured on the same messages
// (docs/protocol.md, "Groups", has the figures and the choice):
//
//   - pairwise fan-out (what chive does): the author signs the envelope
//     once and seals it for each member under the pairwise double ratchet
//     the two share for the group;
//   - sender keys (Signal's groups): the author encrypts once under its
//     own symmetric chain, signed by a per-chain signing key, and every
//     member gets the same ciphertext; the chain is handed to each member
//     over the pairwise sessions, and handed out anew by every member on
//     every membership change (so a removed member cannot follow it).
//
// Either way each member's copy travels on its own link (no multicast over
// Tor): the bytes per member are what differ, not the number of copies.
//
// go test ./groups -run '^$' -bench GroupMessage -benchtime 200x
// go test ./groups -run '^$' -bench MembershipChange -benchtime 5x

const benchText = "on my way, see you at the station in 10 minutes" // a typical chat line

// BenchmarkGroupMessage: one op is one message from one member (the
// authors take turns, so pairwise sessions step their DH ratchet as in a
// real conversation) reaching every other member. Metrics: the author's
// CPU per message, one recipient's CPU per message, and bytes per member
// on the wire (the ciphertext in a sealed group frame: frame header,
// group id, frame id, CBOR, seal).
func BenchmarkGroupMessage(b *testing.B) {
	for _, n := range []int{4, 8, 50} {
		us := users(b, n)
		b.Run(fmt.Sprintf("pairwise/members=%d", n), func(b *testing.B) { benchPairwise(b, us) })
		b.Run(fmt.Sprintf("senderkeys/members=%d", n), func(b *testing.B) { benchSenderKeys(b, us) })
	}
}

// frameOverhead is what a group frame adds to its ciphertext on the wire:
// the length and type of the sealed frame and its seal (wire.SealOverhead
// 17 bytes, 4 + 1 + 1 header), and the CBOR map {1: id, 2: group, 3: ct}.
func frameOverhead(ctLen int) int {
	cborHead := 1 + (1 + 17) + (1 + 17) + 1 + 3
	if ctLen >= 1<<16 {
		cborHead += 2
	}
	return 4 + 1 + 1 + 17 + cborHead
}

func benchPairwise(b *testing.B, us []*user) {
	sess := mesh(b, us)
	l, _ := NewLog(us[0].key, "bench", t0)
	for _, u := range us[1:] {
		mustSign(b, l, us[0], KindInvite, u.k(), "")
	}
	s, gid := l.State(), l.ID()
	var sendT, recvT time.Duration
	var wireBytes, copies int
	b.ResetTimer()
	for i := range b.N {
		ai := i % len(us)
		author := us[ai]
		t := time.Now()
		e, err := SignEnvelope(author.key, Envelope{Group: gid, ID: wire.NewID(), Seq: uint64(i + 1), Lamport: uint64(i + 1), Epoch: s.Epoch, Time: t0, Text: benchText})
		if err != nil {
			b.Fatal(err)
		}
		next, out, err := FanOut(s, author.k(), sess[ai], gid, Payload{Messages: [][]byte{e.Bytes()}}, t0)
		if err != nil {
			b.Fatal(err)
		}
		sess[ai] = next
		sendT += time.Since(t)
		t = time.Now()
		for j, u := range us {
			if j == ai {
				continue
			}
			c := out[u.k()]
			st, p, err := Open(sess[j][author.k()], gid, c.FrameID, c.Ciphertext, t0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ParseEnvelope(p.Messages[0], gid); err != nil {
				b.Fatal(err)
			}
			sess[j][author.k()] = st
			wireBytes += len(c.Ciphertext) + frameOverhead(len(c.Ciphertext))
			copies++
		}
		recvT += time.Since(t)
	}
	report(b, sendT, recvT, wireBytes, copies)
}

func report(b *testing.B, sendT, recvT time.Duration, wireBytes, copies int) {
	b.ReportMetric(float64(sendT.Microseconds())/float64(b.N), "author-µs/msg")
	b.ReportMetric(float64(recvT.Microseconds())/float64(copies), "member-µs/msg")
	b.ReportMetric(float64(wireBytes)/float64(copies), "wire-B/member")
}

// senderKey is a member's sending chain in the sender-keys scheme
// (Signal's SenderKeyMessage: iteration, ciphertext, signature).
type senderKey struct {
	chain [32]byte
	iter  uint32
	sign  ed25519.PrivateKey
}

func newSenderKey() *senderKey {
	sk := &senderKey{}
	rand.Read(sk.chain[:])
	_, sk.sign, _ = ed25519.GenerateKey(rand.Reader)
	return sk
}

func hm(key []byte, b byte) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte{b})
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// seal encrypts pt under the chain's next message key.
func (sk *senderKey) seal(gid ID, pt []byte) []byte {
	mk := hm(sk.chain[:], 1)
	sk.chain = hm(sk.chain[:], 2)
	aead, _ := chacha20poly1305.NewX(mk[:])
	msg := binary.BigEndian.AppendUint32(nil, sk.iter)
	sk.iter++
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	msg = append(msg, nonce...)
	msg = aead.Seal(msg, nonce, pt, gid[:])
	return append(msg, ed25519.Sign(sk.sign, msg)...)
}

// open is a member's side, with its copy of the author's chain.
func (sk *senderKey) open(gid ID, pub ed25519.PublicKey, msg []byte) ([]byte, error) {
	body, sig := msg[:len(msg)-64], msg[len(msg)-64:]
	if !ed25519.Verify(pub, body, sig) {
		return nil, ErrSignature
	}
	mk := hm(sk.chain[:], 1)
	sk.chain = hm(sk.chain[:], 2)
	aead, _ := chacha20poly1305.NewX(mk[:])
	return aead.Open(nil, body[4:4+24], body[4+24:], gid[:])
}

func benchSenderKeys(b *testing.B, us []*user) {
	gid := ID{1}
	own := make([]*senderKey, len(us))
	copies := make([]map[int]*senderKey, len(us)) // copies[j][i]: j's copy of i's chain
	for i := range us {
		own[i] = newSenderKey()
		copies[i] = map[int]*senderKey{}
	}
	for i := range us {
		for j := range us {
			if i != j {
				c := *own[i]
				copies[j][i] = &c
			}
		}
	}
	var sendT, recvT time.Duration
	var wireBytes, n int
	b.ResetTimer()
	for i := range b.N {
		ai := i % len(us)
		t := time.Now()
		// The envelope is signed by the author's onion key as in fan-out,
		// so a forwarded copy still proves its author.
		e, err := SignEnvelope(us[ai].key, Envelope{Group: gid, ID: wire.NewID(), Seq: uint64(i + 1), Lamport: uint64(i + 1), Time: t0, Text: benchText})
		if err != nil {
			b.Fatal(err)
		}
		pt, err := MarshalPayload(Payload{Messages: [][]byte{e.Bytes()}})
		if err != nil {
			b.Fatal(err)
		}
		msg := own[ai].seal(gid, pt)
		sendT += time.Since(t)
		t = time.Now()
		pub := own[ai].sign.Public().(ed25519.PublicKey)
		for j := range us {
			if j == ai {
				continue
			}
			pt, err := copies[j][ai].open(gid, pub, msg)
			if err != nil {
				b.Fatal(err)
			}
			p, err := UnmarshalPayload(pt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ParseEnvelope(p.Messages[0], gid); err != nil {
				b.Fatal(err)
			}
			wireBytes += len(msg) + frameOverhead(len(msg))
			n++
		}
		recvT += time.Since(t)
	}
	report(b, sendT, recvT, wireBytes, n)
}

// BenchmarkMembershipChange: what one removal costs the group. Pairwise
// fan-out: nothing beyond the signed change itself (each member just stops
// sealing for the removed one). Sender keys: every remaining member makes
// a new chain and seals it for every other remaining member over their
// pairwise session: (n-1)(n-2) pairwise messages. Metrics: CPU over all
// members, and bytes on the wire over all members.
func BenchmarkMembershipChange(b *testing.B) {
	for _, n := range []int{4, 8, 50} {
		us := users(b, n)
		sess := mesh(b, us)
		b.Run(fmt.Sprintf("pairwise/members=%d", n), func(b *testing.B) {
			l, _ := NewLog(us[0].key, "bench", t0)
			for _, u := range us[1:] {
				mustSign(b, l, us[0], KindInvite, u.k(), "")
			}
			var wireBytes int
			b.ResetTimer()
			for range b.N {
				// The admin signs the change and seals it for each member,
				// who merges it: one small payload per member.
				o := mustSign(b, l, us[0], KindRename, Key{}, "renamed")
				for j := 1; j < n; j++ {
					next, ct, err := Seal(sess[0][us[j].k()], l.ID(), [16]byte{1}, Payload{Ops: [][]byte{o.Bytes()}}, t0)
					if err != nil {
						b.Fatal(err)
					}
					sess[0][us[j].k()] = next
					st, _, err := Open(sess[j][us[0].k()], l.ID(), [16]byte{1}, ct, t0)
					if err != nil {
						b.Fatal(err)
					}
					sess[j][us[0].k()] = st
					wireBytes += len(ct) + frameOverhead(len(ct))
				}
			}
			b.ReportMetric(float64(wireBytes)/float64(b.N), "wire-B/change")
		})
		b.Run(fmt.Sprintf("senderkeys/members=%d", n), func(b *testing.B) {
			var wireBytes int
			b.ResetTimer()
			for range b.N {
				// Besides the signed change (the same as above, not counted
				// here), n-1 members each hand a new chain (32-byte key,
				// iteration, signing key) to n-2 others.
				for i := 1; i < n; i++ {
					sk := newSenderKey()
					dist := append(append(append([]byte{}, sk.chain[:]...), 0, 0, 0, 0), sk.sign.Public().(ed25519.PublicKey)...)
					for j := 1; j < n; j++ {
						if i == j {
							continue
						}
						pt, _ := MarshalPayload(Payload{Ops: [][]byte{dist}})
						next, ct, err := sess[i][us[j].k()].Encrypt(pt, []byte{1}, t0)
						if err != nil {
							b.Fatal(err)
						}
						sess[i][us[j].k()] = next
						st, _, err := sess[j][us[i].k()].Decrypt(ct, []byte{1}, t0)
						if err != nil {
							b.Fatal(err)
						}
						sess[j][us[i].k()] = st
						wireBytes += len(ct) + frameOverhead(len(ct))
					}
				}
			}
			b.ReportMetric(float64(wireBytes)/float64(b.N), "wire-B/change")
		})
	}
}
