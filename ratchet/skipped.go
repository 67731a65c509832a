package ratchet

import "sort"

// skipStore holds the message keys of skipped messages, grouped by the
// header key of their chain so that trial decryption costs one header
// decryption per chain, not per key. It is persistent: every operation
// returns a new store sharing everything it did not change, so State copies
// stay cheap and an old State is never affected. Within a chain, keys sit in
// immutable blocks of at most skipBlock entries, so using one skipped key
// copies one block and the block list, never the whole chain.
type skipStore struct {
	chains []*skipChain // oldest first
	total  int
}

type skipChain struct {
	hk     [32]byte
	blocks []*skipBlock // ascending n; never mutated after creation
	count  int
}

type skipBlock struct {
	keys []skippedKey // ascending n, non-empty; never mutated after creation
}

type skippedKey struct {
	n  uint32
	mk [32]byte
}

const skipBlockSize = 64

// find returns the block and key index of n, or -1, -1.
func (c *skipChain) find(n uint32) (int, int) {
	bi := sort.Search(len(c.blocks), func(i int) bool {
		k := c.blocks[i].keys
		return k[len(k)-1].n >= n
	})
	if bi == len(c.blocks) {
		return -1, -1
	}
	keys := c.blocks[bi].keys
	ki := sort.Search(len(keys), func(i int) bool { return keys[i].n >= n })
	if ki < len(keys) && keys[ki].n == n {
		return bi, ki
	}
	return -1, -1
}

func (c *skipChain) key(bi, ki int) *[32]byte { return &c.blocks[bi].keys[ki].mk }

// appendBlocks cuts keys (a fresh slice nobody else holds) into blocks.
func appendBlocks(blocks []*skipBlock, keys []skippedKey) []*skipBlock {
	for len(keys) > 0 {
		n := min(len(keys), skipBlockSize)
		blocks = append(blocks, &skipBlock{keys: keys[:n:n]})
		keys = keys[n:]
	}
	return blocks
}

// with returns the store plus keys (ascending, all newer than any stored
// under hk, in a slice the store may keep), evicting the oldest keys beyond
// MaxSkippedTotal.
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
		old := chains[n-1]
		blocks := make([]*skipBlock, len(old.blocks), len(old.blocks)+(len(keys)+skipBlockSize-1)/skipBlockSize)
		copy(blocks, old.blocks)
		chains[n-1] = &skipChain{hk: hk, blocks: appendBlocks(blocks, keys), count: old.count + len(keys)}
	} else {
		chains = append(chains, &skipChain{hk: hk, blocks: appendBlocks(nil, keys), count: len(keys)})
	}
	// Oldest-first eviction: chains are in creation order and keys within a
	// chain ascend, which is insertion order.
	for total > MaxSkippedTotal {
		c := chains[0]
		b := c.blocks[0]
		drop := min(total-MaxSkippedTotal, len(b.keys))
		total -= drop
		switch {
		case drop == c.count:
			chains = chains[1:]
		case drop == len(b.keys):
			chains[0] = &skipChain{hk: c.hk, blocks: c.blocks[1:], count: c.count - drop}
		default:
			blocks := make([]*skipBlock, len(c.blocks))
			copy(blocks, c.blocks)
			blocks[0] = &skipBlock{keys: b.keys[drop:]}
			chains[0] = &skipChain{hk: c.hk, blocks: blocks, count: c.count - drop}
		}
	}
	return &skipStore{chains: chains, total: total}
}

// without returns the store minus key ki of block bi of chain ci.
func (s *skipStore) without(ci, bi, ki int) *skipStore {
	if s.total == 1 {
		return nil
	}
	c := s.chains[ci]
	chains := make([]*skipChain, 0, len(s.chains))
	chains = append(chains, s.chains[:ci]...)
	if c.count > 1 {
		b := c.blocks[bi]
		blocks := make([]*skipBlock, 0, len(c.blocks))
		blocks = append(blocks, c.blocks[:bi]...)
		if len(b.keys) > 1 {
			keys := make([]skippedKey, 0, len(b.keys)-1)
			keys = append(append(keys, b.keys[:ki]...), b.keys[ki+1:]...)
			blocks = append(blocks, &skipBlock{keys: keys})
		}
		blocks = append(blocks, c.blocks[bi+1:]...)
		chains = append(chains, &skipChain{hk: c.hk, blocks: blocks, count: c.count - 1})
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
