package wire

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// FuzzReadFrame feeds arbitrary bytes to the frame reader and decoder, as a
// hostile peer would after the handshake. Whatever decodes must re-encode to
// something that decodes to the same value.
func FuzzReadFrame(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			typ, body, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(body)+2 > MaxFrameSize {
				t.Fatalf("ReadFrame returned %d bytes", len(body))
			}
			checkRoundTrip(t, typ, body)
		}
	})
}

// FuzzUnmarshal decodes arbitrary bodies; data[0] is the frame type.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range bodySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkRoundTrip(t, Type(data[0]), data[1:])
	})
}

// FuzzUnmarshalContent decodes arbitrary plaintexts, as a contact's node
// could encrypt them: what decodes must re-encode to the same value.
func FuzzUnmarshalContent(f *testing.F) {
	for _, s := range contentSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := UnmarshalContent(data)
		if err != nil {
			return
		}
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatalf("MarshalContent(%+v) after a successful decode: %v", c, err)
		}
		c2, err := UnmarshalContent(b)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed %+v to %+v (%v)", c, c2, err)
		}
	})
}

func contentSeeds() [][]byte {
	var seeds [][]byte
	for _, c := range []Content{
		{Text: "héllo", Time: 1700000000123},
		{Time: 1700000000123, Profile: &Profile{Name: "Alice ☕"}},
		{Text: "", Time: 0},
		// issue 15: file offers
		{Text: "the report", Time: 1, File: sampleOffer()},
		{Time: 2, File: &FileOffer{ID: ID{9}, Name: "../../etc/passwd\x00", Size: 0, SHA256: make([]byte, 32), Key: make([]byte, 32)}},
	} {
		b, err := MarshalContent(c)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	// An unknown key (99), skipped by readers that do not know it.
	return append(seeds, []byte{0xa3, 0x01, 0x62, 'h', 'i', 0x02, 0x01, 0x18, 99, 0xa1, 0x01, 0x61, 'x'})
}

func checkRoundTrip(t *testing.T, typ Type, body []byte) {
	m, err := Unmarshal(typ, body)
	if err != nil {
		return
	}
	if m.Type() != typ {
		t.Fatalf("Unmarshal(%v) returned %T", typ, m)
	}
	frame, err := Marshal(m)
	if err != nil {
		t.Fatalf("Marshal(%#v) after a successful Unmarshal: %v", m, err)
	}
	typ2, body2, err := ReadFrame(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Unmarshal(typ2, body2)
	if err != nil {
		t.Fatalf("re-decode: %v", err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip changed %#v to %#v", m, m2)
	}
}

func frameSeeds() [][]byte {
	var seeds [][]byte
	var all []byte
	for _, m := range sampleMsgs() {
		b, err := Marshal(m)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
		all = append(all, b...)
	}
	return append(seeds, all, []byte{0, 1, 0, 0, Version, byte(TypeMessage)}, []byte{0xff, 0xff, 0xff, 0xff})
}

func bodySeeds() [][]byte {
	var seeds [][]byte
	for _, m := range sampleMsgs() {
		b, err := encMode.Marshal(m)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, append([]byte{byte(m.Type())}, b...))
	}
	return seeds
}

// TestWriteSeeds keeps testdata/fuzz in step with the message types: run
// `go test ./wire -run TestWriteSeeds -write-seeds` after changing them.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("use -write-seeds to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{"FuzzReadFrame": frameSeeds(), "FuzzUnmarshal": bodySeeds(), "FuzzUnmarshalContent": contentSeeds()} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
