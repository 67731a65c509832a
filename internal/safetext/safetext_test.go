package safetext

import (
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, text, line string }{
		{"hello", "hello", "hello"},
		{"a\nb", "a\nb", "a b"},
		{"a\r\nb\rc", "a\nb\nc", "a b c"},
		{"tab\there", "tab    here", "tab    here"},
		{"red \x1b[31mX\x1b[0m", "red X", "red X"},
		{"title \x1b]0;pwned\x07 ok", "title  ok", "title  ok"},
		{"clip \x1b]52;c;aGk=\x1b\\ ok", "clip  ok", "clip  ok"},
		{"c1 \u009b31m csi", "c1  csi", "c1  csi"},
		{"c1 \u009d0;x\u009c osc", "c1  osc", "c1  osc"},
		{"bell\a nul\x00 del\x7f", "bell nul del", "bell nul del"},
		{"gpj\u202e.exe", "gpj.exe", "gpj.exe"},
		{"iso\u2066late\u2069", "isolate", "isolate"},
		{"lrm\u200e rlm\u200f alm\u061c", "lrm rlm alm", "lrm rlm alm"},
		{"zw\u200bsp wj\u2060 bom\ufeff", "zwsp wj bom", "zwsp wj bom"},
		{"bob\u200dby", "bobby", "bobby"},
		{"tag\U000E0041s", "tags", "tags"},
		{"soft\u00adhyphen", "softhyphen", "softhyphen"},
		{"line\u2028sep", "line\nsep", "line sep"},
		{"bad \xff byte", "bad \ufffd byte", "bad \ufffd byte"},
		// Kept: emoji sequences, flags, scripts.
		{"👩\u200d💻 coder", "👩\u200d💻 coder", "👩\u200d💻 coder"},
		{"👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"},
		{"❤\ufe0f\u200d🔥", "❤\ufe0f\u200d🔥", "❤\ufe0f\u200d🔥"},
		{"🇩🇪 flag", "🇩🇪 flag", "🇩🇪 flag"},
		{"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"},
		{"می\u200cخواهم", "می\u200cخواهم", "می\u200cخواهم"},
		{"a\u200cb", "ab", "ab"},
		{"日本語 עברית العربية", "日本語 עברית العربية", "日本語 עברית العربية"},
	} {
		if got := Text(tc.in); got != tc.text {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
		}
		if got := Line(tc.in); got != tc.line {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
		}
	}
	if got := LineWith("a\nb", "↵"); got != "a↵b" {
		t.Errorf("LineWith = %q", got)
	}
}

func TestUnsafe(t *testing.T) {
	for _, s := range []string{"ok", "multi\nline", "👩\u200d💻", "ünïcödé"} {
		if r, bad := Unsafe(s); bad {
			t.Errorf("Unsafe(%q) = %U", s, r)
		}
		if !Safe(s) {
			t.Errorf("Safe(%q) = false", s)
		}
	}
	for _, s := range []string{"\x1b[2J", "a\u202eb", "x\u0085", "z\u200b", "\xff", "tab\t", "cr\r"} {
		if _, bad := Unsafe(s); !bad {
			t.Errorf("Unsafe(%q) found nothing", s)
		}
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"hi", "\x1b[31mX", "\x1b]52;c;x\x07", "a\u202eb", "👩\u200d💻", "\u009b1m", "\x1b", "\x1b]", "\u009d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: invalid UTF-8", s, out)
		}
		if Text(out) != out {
			t.Fatalf("Text is not idempotent on %q: %q then %q", s, out, Text(out))
		}
		for _, r := range out {
			if r == 0x1b || (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == '\u202e' || r == '\u2066' {
				t.Fatalf("Text(%q) = %q keeps %U", s, out, r)
			}
		}
	})
}
