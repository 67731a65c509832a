// Package shell quotes words for a POSIX shell, so a command chive prints
// (a chmod hint, a tmux command line) can be pasted as it is.
package shell

import "strings"

// Quote returns s as one shell word: unchanged when it is made only of
// characters no shell treats specially, otherwise in single quotes.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, special) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word and joins them with spaces.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

func special(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("/.-_~:@%+=,", r))
}
