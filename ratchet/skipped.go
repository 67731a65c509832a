package ratchet

import "sort"

// skipStore holds the message keys of skipped messages, grouped by the
// header key of their chain so that trial decryption costs one header
// decryption per chain, not per key. It is persistent: every operation
// returns a new store sharing what it did not change, so State copies stay
// cheap and an old State is never affected.
type skipStore struct {
	chains []*skipChain // oldest first
	total  int
}

type skipChain struct {
	hk   [32]byte
	keys []skippedKey // ascending n; never mutated after creation
}

type skippedKey struct {
	n  uint32
	mk [32]byte
}

func (c *skipChain) find(n uint32) int {
	i := sort.Search(len(c.keys), func(i int) bool { return c.keys[i].n >= n })
	if i < len(c.keys) && c.keys[i].n == n {
		return i
	}
	return -1
}

// with returns the store plus keys (ascending, all newer than any stored
// under hk), evicting the oldest keys beyond MaxSkippedTotal.
func (s *skipStore) with(hk [32]byte, keys []skippedKey) *skipStore {
	if len(keys) == 0 {
		return s
	}
	var chains []*skipChain
	total := len(keys)
	if s != nil {
		total += s.total
		chains = make([]*skipChain, len(s.chains), len(s.chains)+1)
		copy(chains, s.chains)
	}
	if n := len(chains); n > 0 && chains[n-1].hk == hk {
		old := chains[n-1].keys
		merged := make([]skippedKey, 0, len(old)+len(keys))
		merged = append(append(merged, old...), keys...)
		chains[n-1] = &skipChain{hk: hk, keys: merged}
	} else {
		chains = append(chains, &skipChain{hk: hk, keys: keys})
	}
	// Oldest-first eviction: chains are in creation order and keys within a
	// chain ascend, which is insertion order.
	for total > MaxSkippedTotal {
		c := chains[0]
		drop := min(total-MaxSkippedTotal, len(c.keys))
		if drop == len(c.keys) {
			chains = chains[1:]
		} else {
			chains[0] = &skipChain{hk: c.hk, keys: c.keys[drop:]}
		}
		total -= drop
	}
	return &skipStore{chains: chains, total: total}
}

// without returns the store minus key ki of chain ci.
func (s *skipStore) without(ci, ki int) *skipStore {
	if s.total == 1 {
		return nil
	}
	c := s.chains[ci]
	chains := make([]*skipChain, 0, len(s.chains))
	chains = append(chains, s.chains[:ci]...)
	if len(c.keys) > 1 {
		keys := make([]skippedKey, 0, len(c.keys)-1)
		keys = append(append(keys, c.keys[:ki]...), c.keys[ki+1:]...)
		chains = append(chains, &skipChain{hk: c.hk, keys: keys})
	}
	chains = append(chains, s.chains[ci+1:]...)
	return &skipStore{chains: chains, total: s.total - 1}
}

func (s *skipStore) len() int {
	if s == nil {
		return 0
	}
	return s.total
}
