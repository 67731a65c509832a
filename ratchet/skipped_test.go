package ratchet

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type modelKey struct {
	hk byte
	n  uint32
}

func storeContents(s *skipStore) []modelKey {
	var out []modelKey
	if s == nil {
		return out
	}
	for _, c := range s.chains {
		cnt := 0
		for _, b := range c.blocks {
			if len(b.keys) == 0 {
				panic("empty block")
			}
			for _, k := range b.keys {
				if k.mk[0] != c.hk[0] || k.mk[1] != byte(k.n) {
					panic("key does not match its chain and number")
				}
				out = append(out, modelKey{c.hk[0], k.n})
				cnt++
			}
		}
		if cnt != c.count || cnt == 0 {
			panic("bad chain count")
		}
	}
	if len(out) != s.total {
		panic("bad total")
	}
	return out
}

// The persistent store against a plain list: same contents, oldest-first
// eviction, and every earlier version unchanged by later operations.
func TestSkipStoreModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var s *skipStore
	var model []modelKey
	type version struct {
		s     *skipStore
		model []modelKey
	}
	var versions []version
	hk := byte(1)
	next := uint32(0)
	for step := range 3000 {
		if rng.IntN(3) > 0 || len(model) == 0 {
			if rng.IntN(4) == 0 {
				hk++
				next = 0
			}
			n := 1 + rng.IntN(200)
			keys := make([]skippedKey, n)
			for i := range keys {
				keys[i].n = next
				keys[i].mk[0], keys[i].mk[1] = hk, byte(next)
				model = append(model, modelKey{hk, next})
				next += 1 + uint32(rng.IntN(2))
			}
			s = s.with([32]byte{hk}, keys)
			if over := len(model) - MaxSkippedTotal; over > 0 {
				model = model[over:]
			}
		} else {
			i := rng.IntN(len(model))
			m := model[i]
			found := false
			for ci, c := range s.chains {
				if c.hk[0] != m.hk {
					continue
				}
				bi, ki := c.find(m.n)
				if ki < 0 {
					t.Fatalf("step %d: key %v not found", step, m)
				}
				s = s.without(ci, bi, ki)
				found = true
				break
			}
			if !found {
				t.Fatalf("step %d: chain of %v not found", step, m)
			}
			model = slices.Delete(slices.Clone(model), i, i+1)
		}
		if got := storeContents(s); !slices.Equal(got, model) {
			t.Fatalf("step %d: store %d keys, model %d", step, len(got), len(model))
		}
		if step%50 == 0 {
			versions = append(versions, version{s, slices.Clone(model)})
		}
	}
	for i, v := range versions {
		if got := storeContents(v.s); !slices.Equal(got, v.model) {
			t.Fatalf("version %d changed after later operations", i)
		}
	}
}
