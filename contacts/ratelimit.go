package contacts

import (
	"time"

	"github.com/chive-im/chive/onion"
)

// bucket is a token bucket refilled lazily from the time it is asked at.
type bucket struct {
	rate   Rate
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) && b.rate.Every > 0 {
		b.tokens += float64(now.Sub(b.last)) / float64(b.rate.Every)
		if b.tokens > float64(b.rate.Burst) {
			b.tokens = float64(b.rate.Burst)
		}
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
}

// maxTracked bounds the per-address map; full buckets carry no state and
// are dropped first.
const maxTracked = 4096

// allow takes a token from the address's bucket and the total bucket, or
// neither.
func (b *Book) allow(addr onion.Address, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	pb := b.per[addr]
	if pb == nil {
		if len(b.per) >= maxTracked {
			for a, x := range b.per {
				x.refill(now)
				if x.tokens >= float64(x.rate.Burst) {
					delete(b.per, a)
				}
			}
			if len(b.per) >= maxTracked {
				// Every tracked address is still limited: this is a flood.
				return false
			}
		}
		pb = &bucket{rate: b.rate, tokens: float64(b.rate.Burst)}
		b.per[addr] = pb
	}
	pb.refill(now)
	b.total.refill(now)
	if pb.tokens < 1 || b.total.tokens < 1 {
		return false
	}
	pb.tokens--
	b.total.tokens--
	return true
}
