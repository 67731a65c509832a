package wire

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func convoContents() []Content {
	id := ID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	return []Content{
		{Text: "yes, at 8", Time: 1700000000123, ReplyTo: &Ref{ID: id}, Quote: "see you tonight?"},
		{Text: "and mine", Time: 1700000000124, ReplyTo: &Ref{ID: id, Mine: true}},
		{Time: 1700000000125, Reaction: &Reaction{To: Ref{ID: id}, Emoji: "👍🏽"}},
		{Time: 1700000000126, Reaction: &Reaction{To: Ref{ID: id, Mine: true}}},
		{Time: 1700000000127, Edit: &Edit{ID: id, Text: "see you tomorrow?"}},
		{Time: 1700000000128, Delete: &Delete{ID: id}},
		{Time: 1700000000129, Timer: &Timer{Seconds: 3600}},
		{Time: 1700000000130, Timer: &Timer{}},
		{Text: "gone in an hour", Time: 1700000000131, Disappear: 3600},
	}
}

func TestConvoContentRoundTrip(t *testing.T) {
	for _, c := range convoContents() {
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatalf("MarshalContent(%+v): %v", c, err)
		}
		got, err := UnmarshalContent(b)
		if err != nil {
			t.Fatalf("UnmarshalContent(%+v): %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip: got %+v, want %+v", got, c)
		}
	}
}

func TestConvoContentInvalid(t *testing.T) {
	id := ID{1}
	for name, c := range map[string]Content{
		"reply without text":     {ReplyTo: &Ref{ID: id}},
		"reply to zero id":       {Text: "x", ReplyTo: &Ref{}},
		"quote without reply":    {Text: "x", Quote: "q"},
		"quote too long":         {Text: "x", ReplyTo: &Ref{ID: id}, Quote: strings.Repeat("q", MaxQuote+1)},
		"quote not utf-8":        {Text: "x", ReplyTo: &Ref{ID: id}, Quote: "\xff"},
		"reaction with text":     {Text: "x", Reaction: &Reaction{To: Ref{ID: id}, Emoji: "👍"}},
		"reaction to zero id":    {Reaction: &Reaction{Emoji: "👍"}},
		"emoji too long":         {Reaction: &Reaction{To: Ref{ID: id}, Emoji: strings.Repeat("👍", 17)}},
		"edit without text":      {Edit: &Edit{ID: id}},
		"edit too long":          {Edit: &Edit{ID: id, Text: strings.Repeat("x", MaxText+1)}},
		"edit with outer text":   {Text: "x", Edit: &Edit{ID: id, Text: "y"}},
		"delete of zero id":      {Delete: &Delete{}},
		"two kinds":              {Delete: &Delete{ID: id}, Edit: &Edit{ID: id, Text: "y"}},
		"profile and a timer":    {Profile: &Profile{Name: "a"}, Timer: &Timer{}},
		"timer too long":         {Timer: &Timer{Seconds: MaxTimer + 1}},
		"disappear without text": {Disappear: 60},
		"disappear too long":     {Text: "x", Disappear: MaxTimer + 1},
		"timer with a disappear": {Timer: &Timer{Seconds: 60}, Disappear: 60},
		"reaction with a quote":  {Reaction: &Reaction{To: Ref{ID: id}}, Quote: "q"},
	} {
		if _, err := MarshalContent(c); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: MarshalContent = %v, want ErrMalformed", name, err)
		}
		// The decoder refuses it too (encoded without validation).
		b, err := encMode.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalContent(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: UnmarshalContent = %v, want ErrMalformed", name, err)
		}
	}
}

// TestConvoContentOlderReader: what an older chive decodes of the new
// kinds. A reply keeps its text (so it is shown as a plain message); the
// other kinds have no text, so an older reader treats them as content it
// does not know and shows nothing.
func TestConvoContentOlderReader(t *testing.T) {
	type older struct {
		Text string `cbor:"1,keyasint"`
		Time int64  `cbor:"2,keyasint"`
	}
	for _, c := range convoContents() {
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatal(err)
		}
		var o older
		if err := contentDecMode.Unmarshal(b, &o); err != nil {
			t.Fatalf("an older reader fails on %+v: %v", c, err)
		}
		if o.Text != c.Text || o.Time != c.Time {
			t.Errorf("older reader got %+v from %+v", o, c)
		}
	}
}

// TestWriteConvoSeeds writes the conversation contents as seeds of
// FuzzUnmarshalContent (files convo-NN, beside the other seeds): run
// `go test ./wire -run TestWriteConvoSeeds -write-seeds`.
func TestWriteConvoSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("use -write-seeds to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzUnmarshalContent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range convoContents() {
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("convo-%02d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
