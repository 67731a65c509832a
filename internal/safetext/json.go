package safetext

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// JSON escapes, in JSON text (one encoded value, or several lines of them),
// every character a terminal would act on or not show: DEL, the C1
// controls U+0080–U+009F (U+009B is a one-byte CSI), U+2028 and U+2029, and
// the format characters (bidi overrides and isolates, zero-width
// characters, tags, the BOM). Each becomes a \uXXXX escape, so the value a
// JSON reader decodes is unchanged while the bytes on a terminal are
// harmless. encoding/json leaves those characters raw (except U+2028/9).
// Such characters only occur inside JSON strings, where the escape is
// valid, so this is safe on any JSON.
func JSON(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < 0x7f {
		i++
	}
	if i == len(b) {
		return b // ASCII without DEL: the usual case
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if n == 1 && r == utf8.RuneError || !escapeInJSON(r) {
			out = append(out, b[i:i+n]...)
		} else if r > 0xffff {
			r1, r2 := utf16Pair(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out
}

func escapeInJSON(r rune) bool {
	switch {
	case r == 0x7f, r >= 0x80 && r <= 0x9f, r == '\u2028', r == '\u2029':
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
