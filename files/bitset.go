package files

import "math/bits"

// bitset is a set of chunk indexes.
type bitset []uint64

func newBitset(n uint64) bitset { return make(bitset, (n+63)/64) }

// bitsetFrom restores a bitset of n bits stored by bytes; a short or
// missing stored value reads as empty.
func bitsetFrom(b []byte, n uint64) bitset {
	s := newBitset(n)
	for i := range s {
		for j := range 8 {
			if k := i*8 + j; k < len(b) {
				s[i] |= uint64(b[k]) << (8 * j)
			}
		}
	}
	// Bits past n (a damaged value) are not chunks.
	if r := n % 64; r != 0 && len(s) > 0 {
		s[len(s)-1] &= 1<<r - 1
	}
	return s
}

func (s bitset) has(i uint64) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s bitset) set(i uint64)      { s[i/64] |= 1 << (i % 64) }
func (s bitset) clear(i uint64)    { s[i/64] &^= 1 << (i % 64) }

func (s bitset) count() uint64 {
	var n int
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

func (s bitset) reset() {
	for i := range s {
		s[i] = 0
	}
}

// bytes is the stored form, little endian.
func (s bitset) bytes() []byte {
	b := make([]byte, 0, len(s)*8)
	for _, w := range s {
		for j := range 8 {
			b = append(b, byte(w>>(8*j)))
		}
	}
	return b
}
