package groups

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chive-im/chive/ratchet"
)

var t0 = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)

// user is a member under test: an onion key and its ratchet identity.
type user struct {
	name string
	key  ed25519.PrivateKey
	id   *ratchet.Identity
}

func (u *user) k() Key { return KeyOf(u.key.Public().(ed25519.PublicKey)) }

// newUser makes a user with a key from seed (deterministic for the tests).
func newUser(tb testing.TB, name string, seed byte) *user {
	tb.Helper()
	s := make([]byte, ed25519.SeedSize)
	s[0], s[1] = seed, 0x42
	key := ed25519.NewKeyFromSeed(s)
	id, err := ratchet.NewIdentity(key, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return &user{name: name, key: key, id: id}
}

func users(tb testing.TB, n int) []*user {
	out := make([]*user, n)
	for i := range out {
		out[i] = newUser(tb, string(rune('a'+i)), byte(i+1))
	}
	return out
}

// pair makes the two sides of a pairwise session: a requested, b accepted.
func pair(tb testing.TB, a, b *user) (ab, ba *ratchet.State) {
	tb.Helper()
	ba, hs, err := ratchet.Accept(b.id, a.id.Bundle(), t0)
	if err != nil {
		tb.Fatal(err)
	}
	ab, err = ratchet.Complete(a.id, b.key.Public().(ed25519.PublicKey), hs, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return ab, ba
}

// mesh gives every pair of us a session: sess[i][j] is i's with j.
func mesh(tb testing.TB, us []*user) []map[Key]*ratchet.State {
	sess := make([]map[Key]*ratchet.State, len(us))
	for i := range us {
		sess[i] = map[Key]*ratchet.State{}
	}
	for i := range us {
		for j := i + 1; j < len(us); j++ {
			sess[i][us[j].k()], sess[j][us[i].k()] = pair(tb, us[i], us[j])
		}
	}
	return sess
}

func mustSign(tb testing.TB, l *Log, u *user, kind Kind, target Key, name string) *Op {
	tb.Helper()
	o, err := l.Sign(u.key, kind, target, name, t0)
	if err != nil {
		tb.Fatalf("%s %s: %v", u.name, kind, err)
	}
	return o
}

func rawOps(l *Log) [][]byte {
	var out [][]byte
	for _, o := range l.Ops() {
		out = append(out, o.Bytes())
	}
	return out
}

func memberKeys(s *State) []Key {
	out := make([]Key, len(s.Members))
	for i, m := range s.Members {
		out[i] = m.Key
	}
	return out
}

func shuffled[T any](r *rand.Rand, in []T) []T {
	out := append([]T(nil), in...)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
