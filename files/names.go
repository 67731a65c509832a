package files

import (
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/chive-im/chive/internal/safetext"
)

// MaxName is the longest name SanitizeName returns, in bytes.
const MaxName = 160

// windowsReserved are device names Windows opens instead of a file.
var windowsReserved = map[string]bool{
	"con": true, "prn": true, "aux": true, "nul": true,
	"com1": true, "com2": true, "com3": true, "com4": true, "com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true, "lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true,
}

// SanitizeName makes a file name a peer chose safe to use as the last
// element of a path and to show: no path separators (/ \ :), no control,
// bidi or invisible characters (safetext), no "..", no leading dot (a
// hidden file) or trailing dot or space, no Windows device name, at most
// MaxName bytes (the extension kept). What is left of nothing is "file".
func SanitizeName(name string) string {
	s := safetext.Line(name)
	s = strings.Map(func(r rune) rune {
		switch r {
		case '/', '\\', ':', '*', '?', '"', '<', '>', '|':
			return '_'
		}
		return r
	}, s)
	for strings.Contains(s, "..") {
		s = strings.ReplaceAll(s, "..", ".")
	}
	s = strings.Trim(s, ". ")
	if s == "" {
		return "file"
	}
	if len(s) > MaxName {
		ext := filepath.Ext(s)
		if len(ext) > 16 || !utf8.ValidString(ext) {
			ext = ""
		}
		s = truncateUTF8(strings.TrimSuffix(s, ext), MaxName-len(ext)) + ext
	}
	base := strings.ToLower(strings.TrimSuffix(s, filepath.Ext(s)))
	if windowsReserved[base] {
		s = "_" + s
	}
	return s
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
