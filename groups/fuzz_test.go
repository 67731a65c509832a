package groups

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// fixedLog is a group with a fixed id (deterministic keys, nonce and
// signatures), so the seed corpora stay valid changes of it.
func fixedLog(tb testing.TB) (*Log, []*user) {
	tb.Helper()
	us := users(tb, 4)
	a := us[0]
	g, err := newOp(a.key, opBody{Kind: uint8(KindCreate), Signer: a.k().Public(), Name: "seeds", Nonce: bytes.Repeat([]byte{7}, 16), Time: t0.UnixMilli()})
	if err != nil {
		tb.Fatal(err)
	}
	l := &Log{id: g.Group, ops: map[[32]byte]*Op{g.hash: g}}
	mustSign(tb, l, a, KindInvite, us[1].k(), "")
	mustSign(tb, l, a, KindInvite, us[2].k(), "")
	mustSign(tb, l, a, KindPromote, us[1].k(), "")
	mustSign(tb, l, us[1], KindRemove, us[2].k(), "")
	mustSign(tb, l, a, KindRename, Key{}, "seeds ☕")
	mustSign(tb, l, us[1], KindInvite, us[3].k(), "")
	mustSign(tb, l, us[3], KindLeave, Key{}, "")
	return l, us
}

func opSeeds(tb testing.TB) [][]byte {
	l, _ := fixedLog(tb)
	return rawOps(l)
}

// FuzzParseOp decodes arbitrary bytes as a change of the fixed group, as a
// peer could send them: what parses keeps its bytes and hash, and merges
// into the group without breaking its invariants.
func FuzzParseOp(f *testing.F) {
	for _, s := range opSeeds(f) {
		f.Add(s)
	}
	base, _ := fixedLog(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseOp(data, base.ID())
		if err != nil {
			return
		}
		if !bytes.Equal(o.Bytes(), data) {
			t.Fatal("bytes changed")
		}
		o2, err := ParseOp(o.Bytes(), base.ID())
		if err != nil || o2.Hash() != o.Hash() {
			t.Fatalf("reparse: %v", err)
		}
		l := NewLogOf(base.ID())
		l.Merge(append(rawOps(base), data))
		checkInvariants(t, l.State())
	})
}

// FuzzMerge merges arbitrary changes (data split on a separator, with the
// fixed group's own among them) in two orders: the states must agree.
func FuzzMerge(f *testing.F) {
	seeds := opSeeds(f)
	f.Add(bytes.Join(seeds, []byte("|||")))
	rev := slices.Clone(seeds)
	slices.Reverse(rev)
	f.Add(bytes.Join(rev, []byte("|||")))
	base, _ := fixedLog(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := bytes.Split(data, []byte("|||"))
		if len(parts) > 64 {
			return
		}
		a, b := NewLogOf(base.ID()), NewLogOf(base.ID())
		a.Merge(parts)
		for i := len(parts) - 1; i >= 0; i-- {
			b.Merge([][]byte{parts[i]})
			b.Merge(parts[:i]) // late arrivals of what came before
		}
		if a.Digest() == b.Digest() && !reflect.DeepEqual(a.State(), b.State()) {
			t.Fatal("same changes, different states")
		}
		checkInvariants(t, a.State())
	})
}

func checkInvariants(t *testing.T, s *State) {
	t.Helper()
	if len(s.Members) > MaxMembers {
		t.Fatalf("%d members", len(s.Members))
	}
	seen := map[Key]bool{}
	admins := 0
	for _, m := range s.Members {
		if seen[m.Key] {
			t.Fatal("a member twice")
		}
		seen[m.Key] = true
		if _, gone := s.Gone[m.Key]; gone {
			t.Fatal("a member is gone")
		}
		if m.Admin {
			admins++
		}
	}
	if len(s.Members) > 0 && admins == 0 {
		t.Fatal("members without an admin")
	}
	if s.Creator != (Key{}) && s.IsMember(s.Creator) && !s.IsAdmin(s.Creator) {
		t.Fatal("the creator is not an admin")
	}
}

func envelopeSeeds(tb testing.TB) [][]byte {
	l, us := fixedLog(tb)
	var out [][]byte
	for i, text := range []string{"hello", "", "ünïcödé ☕", string(bytes.Repeat([]byte("x"), 2000))} {
		e, err := SignEnvelope(us[i%2].key, Envelope{Group: l.ID(), ID: [16]byte{byte(i + 1)}, Seq: uint64(i + 1), Lamport: uint64(10 + i), Epoch: 3, Time: t0, Text: text})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, e.Bytes())
	}
	return out
}

// FuzzParseEnvelope decodes arbitrary bytes as a message of the fixed
// group: what verifies keeps its bytes and re-parses the same.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds(f) {
		f.Add(s)
	}
	base, _ := fixedLog(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data, base.ID())
		if err != nil {
			return
		}
		e2, err := ParseEnvelope(e.Bytes(), base.ID())
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("reparse: %v", err)
		}
		if len(e.Text) > MaxText || e.Lamport > MaxLamport {
			t.Fatal("out of bounds")
		}
	})
}

func payloadSeeds(tb testing.TB) [][]byte {
	ps := samplePayloads()
	ps = append(ps, Payload{Messages: envelopeSeeds(tb)[:2], Ops: opSeeds(tb)[:3]})
	var out [][]byte
	for _, p := range ps {
		b, err := MarshalPayload(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzUnmarshalPayload decodes arbitrary plaintexts as a member's node
// could encrypt them: what decodes re-encodes to a bucket and decodes to
// the same.
func FuzzUnmarshalPayload(f *testing.F) {
	for _, s := range payloadSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := UnmarshalPayload(data)
		if err != nil {
			return
		}
		b, err := MarshalPayload(p)
		if err != nil {
			if len(data) > MaxPayload-64 {
				return // re-padding may need the next bucket
			}
			t.Fatalf("marshal after a successful decode: %v", err)
		}
		p2, err := UnmarshalPayload(b)
		if err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip %+v → %+v (%v)", p, p2, err)
		}
	})
}

// TestWriteSeeds rewrites testdata/fuzz with -write-seeds; without it, it
// checks the stored seeds are the ones the code makes, so a format change
// cannot leave stale seeds.
func TestWriteSeeds(t *testing.T) {
	corpora := map[string][][]byte{
		"FuzzParseOp":          opSeeds(t),
		"FuzzMerge":            {bytes.Join(opSeeds(t), []byte("|||"))},
		"FuzzParseEnvelope":    envelopeSeeds(t),
		"FuzzUnmarshalPayload": payloadSeeds(t),
	}
	for name, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", name)
		for i, s := range seeds {
			file := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s)
			if *writeSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run: go test ./groups -run TestWriteSeeds -write-seeds)", err)
			}
			if !bytes.Equal(got, want) {
				// Everything is deterministic (ed25519 signatures too): a
				// difference is a format change.
				t.Errorf("%s is stale (run: go test ./groups -run TestWriteSeeds -write-seeds)", file)
			}
		}
	}
}
