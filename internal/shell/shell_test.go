package shell

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/home/a/.chive": "/home/a/.chive",
		"":               "''",
		"a b":            "'a b'",
		"it's":           `'it'\''s'`,
		"$HOME":          "'$HOME'",
		"~x":             "~x",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestShell runs the quoted words through sh and checks they come back.
func TestShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	words := []string{"plain", "with space", "it's", `back\slash`, "$(false)", "*", "new\nline", "", "tab\t"}
	cmd := `for a in ` + Join(words...) + `; do printf '%s\0' "$a"; done`
	got, err := exec.Command(sh, "-c", cmd).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, w := range words {
		want += w + "\x00"
	}
	if string(got) != want {
		t.Errorf("sh got %q, want %q", got, want)
	}
}
