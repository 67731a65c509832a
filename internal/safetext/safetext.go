// Package safetext makes text that peers control safe to show: in the
// terminal UI, in the CLI's text output, in logs (LogHandler) and in JSON
// output (JSON, which escapes rather than removes).
//
// A peer chooses its messages, names, greetings and file names. Drawn raw,
// an escape sequence could rewrite the screen or the clipboard, a bidi
// override could make "gpj.exe" read as "exe.jpg", and a zero-width
// character could make two names look the same. Text removes all of those
// and keeps what people write: every script, emoji sequences with their
// joiners and flags, and newlines.
package safetext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text returns s with control characters, escape sequences, bidi controls
// and invisible format characters removed. Newlines are kept (CR LF, CR,
// U+2028 and U+2029 become "\n"); a tab becomes four spaces; invalid UTF-8
// becomes U+FFFD.
func Text(s string) string { return clean(s, "\n") }

// Line is Text on one line: each newline becomes a space.
func Line(s string) string { return clean(s, " ") }

// LineWith is Text on one line with each newline replaced by nl (the CLI
// prints "↵" so one message stays one line and the break stays visible).
func LineWith(s, nl string) string { return clean(s, nl) }

// Safe reports whether Text would return s unchanged.
func Safe(s string) bool { return Text(s) == s }

// Unsafe reports the first rune of s that Text would remove or change, for
// an error message; ok is false when there is none.
func Unsafe(s string) (r rune, ok bool) {
	if !utf8.ValidString(s) {
		return utf8.RuneError, true
	}
	t := []rune(s)
	for i, c := range t {
		if c == '\t' || c == '\r' || c == '\u2028' || c == '\u2029' || c == 0x1b || (c != '\n' && dropped(t, i)) {
			return c, true
		}
	}
	return 0, false
}

func clean(s, nl string) string {
	if isPlain(s, nl == "\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	t := []rune(s)
	for i := 0; i < len(t); i++ {
		r := t[i]
		switch {
		case r == '\r':
			if i+1 < len(t) && t[i+1] == '\n' {
				i++
			}
			b.WriteString(nl)
		case r == '\n', r == '\u2028', r == '\u2029':
			b.WriteString(nl)
		case r == '\t':
			b.WriteString("    ")
		case r == 0x1b:
			i = skipEscape(t, i)
		case r == 0x9b || r == 0x9d || r == 0x90 || r == 0x9e || r == 0x9f:
			// C1 CSI, OSC, DCS, PM, APC: drop the whole sequence.
			i = skipC1(t, i)
		case dropped(t, i):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPlain is the fast path: printable ASCII (and newlines when they stay).
func isPlain(s string, newlines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || (c < 0x20 && !(c == '\n' && newlines)) || c == 0x7f {
			return false
		}
	}
	return true
}

// skipEscape returns the index of the last rune of the escape sequence that
// starts at t[i] (ESC), following ECMA-48: CSI (ESC [) ends at a final
// byte 0x40–0x7e; OSC, DCS, SOS, PM and APC (ESC ] P X ^ _) end at BEL or
// ST (ESC \); other escapes are ESC, intermediates 0x20–0x2f, and a final.
func skipEscape(t []rune, i int) int {
	if i+1 >= len(t) {
		return i
	}
	switch t[i+1] {
	case '[':
		j := i + 2
		for j < len(t) && (t[j] >= 0x20 && t[j] <= 0x3f) {
			j++
		}
		if j < len(t) && t[j] >= 0x40 && t[j] <= 0x7e {
			return j
		}
		return j - 1
	case ']', 'P', 'X', '^', '_':
		return skipString(t, i+2)
	}
	j := i + 1
	for j < len(t) && t[j] >= 0x20 && t[j] <= 0x2f {
		j++
	}
	if j < len(t) && t[j] >= 0x30 && t[j] <= 0x7e {
		return j
	}
	return j - 1
}

func skipC1(t []rune, i int) int {
	if t[i] == 0x9b {
		j := i + 1
		for j < len(t) && (t[j] >= 0x20 && t[j] <= 0x3f) {
			j++
		}
		if j < len(t) && t[j] >= 0x40 && t[j] <= 0x7e {
			return j
		}
		return j - 1
	}
	return skipString(t, i+1)
}

// skipString skips a control string's body up to and including its
// terminator (BEL, ESC \, or C1 ST). An unterminated string runs to the end:
// a terminal would swallow it all too.
func skipString(t []rune, j int) int {
	for ; j < len(t); j++ {
		switch t[j] {
		case 0x07, 0x9c:
			return j
		case 0x1b:
			if j+1 < len(t) && t[j+1] == '\\' {
				return j + 1
			}
			return j
		}
	}
	return len(t) - 1
}

// dropped reports whether the rune at t[i] is removed: controls, bidi
// controls, invisible format characters, and joiners or tags outside the
// emoji and scripts that need them.
func dropped(t []rune, i int) bool {
	r := t[i]
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == '\u200d': // zero-width joiner: only inside an emoji sequence
		return !(i > 0 && i+1 < len(t) && emojiPart(t[i-1]) && emojiPart(t[i+1]))
	case r == '\u200c': // zero-width non-joiner: Persian and Indic spelling need it
		return !(i > 0 && i+1 < len(t) && joinScript(t[i-1]) && joinScript(t[i+1]))
	case r >= 0xe0020 && r <= 0xe007f: // tags: only in a subdivision flag
		return !inTagFlag(t, i)
	case r >= 0xfe00 && r <= 0xfe0f: // variation selectors are harmless presentation hints
		return false
	case unicode.Is(unicode.Cf, r): // bidi controls, zero-width space, word joiner, BOM, soft hyphen, …
		return true
	case r == '\u115f', r == '\u1160', r == '\u3164', r == '\uffa0': // Hangul fillers draw as nothing
		return true
	case unicode.Is(unicode.Co, r), unicode.Is(unicode.Cs, r), r == '\ufffe', r == '\uffff':
		return true
	}
	return false
}

// emojiPart reports whether r can sit next to a joiner in an emoji ZWJ
// sequence: pictographs, dingbats, skin tones, variation selector 16.
func emojiPart(r rune) bool {
	switch {
	case r >= 0x1f000 && r <= 0x1faff,
		r >= 0x2600 && r <= 0x27bf,
		r >= 0x2300 && r <= 0x23ff,
		r >= 0x2b00 && r <= 0x2bff,
		r == 0xfe0f, r == 0x2640, r == 0x2642, r == 0x2695, r == 0x2696, r == 0x2708,
		r == 0x2764, r == 0x00a9, r == 0x00ae, r == 0x203c, r == 0x2049:
		return true
	}
	return false
}

func joinScript(r rune) bool {
	return unicode.In(r, unicode.Arabic, unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi,
		unicode.Gujarati, unicode.Oriya, unicode.Tamil, unicode.Telugu, unicode.Kannada,
		unicode.Malayalam, unicode.Sinhala, unicode.Syriac)
}

// inTagFlag reports whether the tag character at t[i] belongs to a
// subdivision flag: U+1F3F4, tag letters, U+E007F.
func inTagFlag(t []rune, i int) bool {
	j := i
	for j > 0 && t[j-1] >= 0xe0020 && t[j-1] <= 0xe007e {
		j--
	}
	if j == 0 || t[j-1] != 0x1f3f4 {
		return false
	}
	k := i
	for k < len(t) && t[k] >= 0xe0020 && t[k] <= 0xe007e {
		k++
	}
	return k < len(t) && t[k] == 0xe007f
}
