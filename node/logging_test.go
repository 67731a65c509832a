package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/onion"
)

// TestLogsAreSafe: what a peer controls reaches the log without escape
// sequences, other C0/C1 controls, bidi controls or line breaks, whatever
// shape it is logged in.
func TestLogsAreSafe(t *testing.T) {
	const evil = "a\x1b]52;c;aGk=\x07b\u202ecod.exe\nforged=line\x9b31m"
	var buf bytes.Buffer
	log := slog.New(safeHandler{h: slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	log = log.With("peer", evil).WithGroup("g" + evil)
	log.Warn("msg "+evil,
		"err", fmt.Errorf("request: %w", errors.New(evil)),
		"text", evil,
		"stringer", stringer(evil),
		"other", struct{ S string }{evil},
		slog.Group("sub", "x", evil),
		"n", 42, "ok", true, "d", time.Second,
	)
	out := buf.String()
	var rec map[string]any
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("log line is not one JSON object: %v\n%s", err, out)
	}
	// Decode the JSON escapes and look at the text itself.
	var text strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			text.WriteString(v)
		case map[string]any:
			for k, x := range v {
				text.WriteString(k)
				walk(x)
			}
		}
	}
	walk(rec)
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "\n", "\x9b"} {
		if strings.Contains(text.String(), bad) {
			t.Errorf("log carries %q: %s", bad, out)
		}
	}
	if !strings.Contains(text.String(), "cod.exe forged=line") {
		t.Errorf("the visible text was not kept: %s", out)
	}
	g, _ := rec[firstKey(rec, "g")].(map[string]any)
	if g == nil || g["n"] != float64(42) || g["ok"] != true || g["d"] != float64(time.Second) {
		t.Errorf("numbers, bools and durations changed: %s", out)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func firstKey(m map[string]any, prefix string) string {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return k
		}
	}
	return ""
}

// TestNodeLoggerIsSafe: the logger a caller passes is wrapped.
func TestNodeLoggerIsSafe(t *testing.T) {
	var buf bytes.Buffer
	n, err := Open(t.Context(), Options{Dir: newProfile(t, "a"), Passphrase: testPass, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, ok := n.log.Handler().(safeHandler); !ok {
		t.Fatalf("node logs through %T, not safeHandler", n.log.Handler())
	}
}

// TestPeerNamesRedact: addresses, their prefixes and cuts in any text
// become local names; other words stay.
func TestPeerNamesRedact(t *testing.T) {
	self := onion.Address("selfselfselfselfselfselfselfselfselfselfselfselfselfself")
	bob := onion.Address("bobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbo")
	eve := onion.Address("eveeveeveeveeveeveeveeveeveeveeveeveeveeveeveeveeveeveev")
	pn := newPeerNames(self, func(a onion.Address) (int64, bool) { return 7, a == bob })
	pn.add(bob)
	pn.add(eve)
	for in, want := range map[string]string{
		"onion: dial " + bob.Short() + ": not found":   "onion: dial #7: not found",
		"chive:" + string(bob) + " and " + eve.Short(): "chive:#7 and stranger-2",
		string(bob) + ".onion:7467":                    "#7.onion:7467",
		"reachable as " + self.Short():                 "reachable as self",
		"bobbobbo is a prefix, bobbobbox is not":       "#7 is a prefix, bobbobbox is not",
		"xbobbobbob inside a word":                     "xbobbobbob inside a word",
		"nothing here":                                 "nothing here",
	} {
		if got := pn.redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
