package contacts

import (
	"context"
	"errors"
	"testing"
)

// TestNames: names are shown as they are, so they cannot hold what would
// hide or rearrange text: C1 controls, bidi overrides and isolates,
// zero-width characters, tags. Every script and emoji sequence is fine.
func TestNames(t *testing.T) {
	ctx := context.Background()
	b, _ := newBook(t, Options{})
	c, err := b.Add(ctx, string(newAddr(t)), "ok", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"csi\u009b31m", "osc\u009d", "ne\u0085l", "gpj\u202eexe", "lri\u2066x\u2069", "lrm\u200e", "rlm\u200f", "alm\u061c",
		"zw\u200bsp", "wj\u2060", "bom\ufeff", "tag\U000E0041", "esc\x1b[2J", "nl\nx", "tab\tx", "del\x7f", "ls\u2028x",
	} {
		if _, err := b.Rename(ctx, c.ID, bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Rename(%q) = %v, want ErrBadName", bad, err)
		}
		if _, err := b.Add(ctx, string(newAddr(t)), bad, ""); !errors.Is(err, ErrBadName) {
			t.Errorf("Add with name %q = %v, want ErrBadName", bad, err)
		}
		if _, err := ValidName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%q) = %v", bad, err)
		}
	}
	for _, good := range []string{"Zoë", "日本語", "עברית", "علی", "می\u200cخواهم", "👩\u200d💻 dev", "🇩🇪 Jan", "Ann-Marie O'Neil"} {
		if _, err := b.Rename(ctx, c.ID, good); err != nil {
			t.Errorf("Rename(%q) = %v", good, err)
		}
	}
}
