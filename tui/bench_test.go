package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// BenchmarkKeystroke is one key typed in the composer as Bubble Tea handles
// it: Update, then View for the frame, with a draft of n characters
// already there (a long message being written), at 80×24 and 250×70. The
// same file runs on an older tree as the baseline.
func BenchmarkKeystroke(b *testing.B) {
	for _, sz := range [][2]int{{80, 24}, {250, 70}} {
		for _, n := range []int{0, 1000, 5000} {
			b.Run(fmt.Sprintf("%dx%d/draft=%d", sz[0], sz[1], n), func(b *testing.B) {
				m := testModel(b, world(b), sz[0], sz[1])
				drive(b, m, press("down")) // Bob
				m.Update(tea.PasteMsg{Content: strings.Repeat("the quick brown fox jumps over a lazy dog ", n/42+1)[:n]})
				m.View()
				keys := []tea.KeyPressMsg{{Code: 'x', Text: "x"}, {Code: tea.KeyBackspace}}
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					m.Update(keys[i%2]) // the commands it returns run off the loop
					_ = m.View().Content
				}
			})
		}
	}
}
