package node

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSearchIndexModel checks the index against a plain map of texts under
// random adds, edits (out of order), removals and compactions.
func TestSearchIndexModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	words := []string{"apple", "Banana", "cherry", "date", "elder", "fig", "grape", "ÄPFEL", "kiwi"}
	x := newSearchIndex()
	x.state = indexReady
	model := map[int64]struct {
		contact int64
		text    string
	}{}
	var next int64
	compactions, extra := 0, 0
	for step := range 20000 {
		switch op := r.IntN(10); {
		case op < 6 || len(model) == 0: // a new message
			next++
			text := words[r.IntN(len(words))] + " " + words[r.IntN(len(words))]
			c := int64(1 + r.IntN(3))
			x.update(indexOp{seq: next, contact: c, text: text})
			model[next] = struct {
				contact int64
				text    string
			}{c, text}
		case op < 8: // an edit of an older one
			seq := int64(1 + r.IntN(int(next)))
			m, ok := model[seq]
			if !ok {
				continue
			}
			m.text = words[r.IntN(len(words))] + " edited " + strings.Repeat("x", r.IntN(300))
			x.update(indexOp{seq: seq, contact: m.contact, text: m.text})
			model[seq] = m
		default: // a removal
			seq := int64(1 + r.IntN(int(next)))
			x.update(indexOp{seq: seq, remove: true})
			delete(model, seq)
		}
		if len(x.extra.seqs) < extra {
			compactions++
		}
		extra = len(x.extra.seqs)
		if step%997 != 0 {
			continue
		}
		for _, q := range []string{"apple", "äpfel cherry", "edited fig", "banana banana", "zzz", "ape"} {
			for _, c := range []int64{0, 2} {
				for _, limit := range []int{1, 7, 1000000} {
					terms := searchTerms(q)
					var want []int64
					for seq, m := range model {
						ok := c == 0 || m.contact == c
						for _, term := range terms {
							ok = ok && strings.Contains(fold(m.text), term)
						}
						if ok {
							want = append(want, seq)
						}
					}
					slices.SortFunc(want, func(a, b int64) int { return int(b - a) })
					want = want[:min(limit, len(want))]
					if got := x.search(terms, c, limit); !slices.Equal(got, want) {
						t.Fatalf("step %d: %q contact %d limit %d: got %v, want %v", step, q, c, limit, got, want)
					}
				}
			}
		}
	}
	if compactions == 0 {
		t.Fatal("the test never compacted the index")
	}
}
