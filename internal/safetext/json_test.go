package safetext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

func TestJSON(t *testing.T) {
	evil := "csi\u009b31m osc\u009d0;x\u009c nel\u0085 del\x7f rlo\u202e lri\u2066 pdi\u2069 zwsp\u200b zwj\u200d wj\u2060 bom\ufeff alm\u061c ls\u2028 ps\u2029 tag\U000E0041 ok: ünïcödé 日本 👩\u200d💻"
	raw, err := json.Marshal(map[string]string{"text": evil})
	if err != nil {
		t.Fatal(err)
	}
	out := JSON(raw)
	for _, r := range string(out) {
		if r == 0x7f || r >= 0x80 && r <= 0x9f || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			t.Errorf("JSON left %U raw: %s", r, out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("not JSON any more: %v: %s", err, out)
	}
	if back["text"] != evil {
		t.Errorf("decoded %q, want %q", back["text"], evil)
	}
	if !strings.Contains(string(out), `\u009b`) || !strings.Contains(string(out), `\udb40\udc41`) || !strings.Contains(string(out), "日本") {
		t.Errorf("escapes: %s", out)
	}
	plain := []byte(`{"a":"b"}`)
	if got := JSON(plain); &got[0] != &plain[0] {
		t.Error("ASCII input was copied")
	}
}

func FuzzJSON(f *testing.F) {
	f.Add("\u009b\u202e\U000E0041x")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, s string) {
		raw, _ := json.Marshal(s)
		var back string
		if err := json.Unmarshal(JSON(raw), &back); err != nil {
			t.Fatalf("JSON(%q) is not JSON: %v", raw, err)
		}
		var want string
		json.Unmarshal(raw, &want)
		if back != want {
			t.Fatalf("JSON changed the value: %q → %q", want, back)
		}
	})
}
