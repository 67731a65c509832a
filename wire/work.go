package wire

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"time"
)

// Work is the proof of work a contact request without an invite carries.
// Identities are free (an ed25519 key), so without it a stranger could send
// requests from fresh addresses as fast as the recipient's limits allow. The
// work is bound to both onion keys and to the time it was made: it cannot be
// reused for another recipient, by another requester, or stored up for long.
//
//	seed = SHA-256("chive request work v1" || 0x00 || requester key || recipient key || time)
//	h    = SHA-256(seed || nonce)       time and nonce: 8 bytes big-endian
//
// The work is valid when h starts with at least WorkBits zero bits. Solving
// takes 2^WorkBits hashes of 40 bytes on average (one SHA-256 block each);
// checking takes two.
type Work struct {
	Time  int64  `cbor:"1,keyasint"` // Unix seconds, the requester's clock
	Nonce uint64 `cbor:"2,keyasint"`
}

// WorkBits is the difficulty every chive asks of a request without an
// invite: about 8 million hashes, ~0.7 s on one core of a 2020s x86 with
// SHA extensions (BenchmarkSolveWork). A later version may ask for more;
// it must then say so before old requesters are refused.
const WorkBits = 23

// Work freshness: a request's work may be this old, or this far ahead of
// the recipient's clock (clocks differ), and no more.
const (
	WorkMaxAge  = 2 * time.Hour
	WorkMaxSkew = 10 * time.Minute
)

const workLabel = "chive request work v1\x00"

func workSeed(requester, recipient ed25519.PublicKey, t int64) [32]byte {
	b := make([]byte, 0, len(workLabel)+2*ed25519.PublicKeySize+8)
	b = append(b, workLabel...)
	b = append(b, requester...)
	b = append(b, recipient...)
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	return sha256.Sum256(b)
}

// zeroBits is how many leading zero bits seed||nonce hashes to.
func zeroBits(buf *[40]byte, nonce uint64) int {
	binary.BigEndian.PutUint64(buf[32:], nonce)
	h := sha256.Sum256(buf[:])
	n := 0
	for i := 0; i < len(h); i += 8 {
		w := binary.BigEndian.Uint64(h[i:])
		n += bits.LeadingZeros64(w)
		if w != 0 {
			break
		}
	}
	return n
}

// SolveWork finds a Work of at least difficulty bits for a request from
// requester to recipient made at now. It uses one core and checks ctx
// every few thousand hashes.
func SolveWork(ctx context.Context, requester, recipient ed25519.PublicKey, now time.Time, difficulty int) (Work, error) {
	w := Work{Time: now.Unix()}
	var buf [40]byte
	seed := workSeed(requester, recipient, w.Time)
	copy(buf[:], seed[:])
	for w.Nonce = 0; ; w.Nonce++ {
		if w.Nonce&0xfff == 0 && ctx.Err() != nil {
			return Work{}, ctx.Err()
		}
		if zeroBits(&buf, w.Nonce) >= difficulty {
			return w, nil
		}
	}
}

// Check reports whether w is valid work of at least difficulty bits for a
// request from requester to recipient, fresh at now (see WorkMaxAge and
// WorkMaxSkew). Its cost is two SHA-256 computations.
func (w Work) Check(requester, recipient ed25519.PublicKey, now time.Time, difficulty int) bool {
	t := time.Unix(w.Time, 0)
	if t.Before(now.Add(-WorkMaxAge)) || t.After(now.Add(WorkMaxSkew)) {
		return false
	}
	if len(requester) != ed25519.PublicKeySize || len(recipient) != ed25519.PublicKeySize {
		return false
	}
	var buf [40]byte
	seed := workSeed(requester, recipient, w.Time)
	copy(buf[:], seed[:])
	return zeroBits(&buf, w.Nonce) >= difficulty
}
