package groups

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/chive-im/chive/wire"
)

func TestEnvelope(t *testing.T) {
	us := users(t, 2)
	a, b := us[0], us[1]
	gid := ID{1, 2, 3}
	e, err := SignEnvelope(a.key, Envelope{Group: gid, ID: [16]byte{9}, Seq: 1, Lamport: 7, Epoch: 3, Time: t0, Text: "hello ☕"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEnvelope(e.Bytes(), gid)
	if err != nil {
		t.Fatal(err)
	}
	if got.Author != a.k() || got.Text != "hello ☕" || got.Lamport != 7 || got.Epoch != 3 || !got.Time.Equal(t0) {
		t.Errorf("parsed %+v", got)
	}
	if _, err := ParseEnvelope(e.Bytes(), ID{4}); !errors.Is(err, ErrNotGroup) {
		t.Errorf("another group: %v", err)
	}
	// Bob cannot make a message that verifies as Alice's: re-signing
	// Alice's body with his key fails under her key, and changing any
	// byte of hers breaks her signature.
	var s signed
	decMode.Unmarshal(e.Bytes(), &s)
	forged, _ := encMode.Marshal(signed{Body: s.Body, Sig: sign(b.key, labelEnvelope, s.Body)})
	if _, err := ParseEnvelope(forged, gid); !errors.Is(err, ErrSignature) {
		t.Errorf("bob's signature on alice's message: %v", err)
	}
	for i := range e.Bytes() {
		bad := bytes.Clone(e.Bytes())
		bad[i] ^= 0x40
		if m, err := ParseEnvelope(bad, gid); err == nil {
			t.Fatalf("byte %d flipped, still verifies: %+v", i, m)
		}
	}
	for _, bad := range []Envelope{
		{Group: gid, Seq: 1, Lamport: 1, Text: "zero id"},
		{Group: gid, ID: [16]byte{1}, Lamport: 1},
		{Group: gid, ID: [16]byte{1}, Seq: 1, Lamport: MaxLamport + 1},
		{Group: gid, ID: [16]byte{1}, Seq: 1, Lamport: 1, Text: string([]byte{0xff})},
	} {
		if _, err := SignEnvelope(a.key, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestBefore(t *testing.T) {
	type m struct {
		l  uint64
		id [16]byte
	}
	ms := []m{{3, [16]byte{1}}, {1, [16]byte{9}}, {3, [16]byte{0}}, {2, [16]byte{5}}}
	slices.SortFunc(ms, func(a, b m) int {
		if Before(a.l, a.id, b.l, b.id) {
			return -1
		}
		return 1
	})
	want := []m{{1, [16]byte{9}}, {2, [16]byte{5}}, {3, [16]byte{0}}, {3, [16]byte{1}}}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("order %v", ms)
	}
}

func samplePayloads() []Payload {
	return []Payload{
		{Messages: [][]byte{[]byte("env1"), []byte("env2")}},
		{Ops: [][]byte{[]byte("op")}},
		{Sync: &Sync{Have: []Have{{Author: Key{1}, First: 1, Last: 20}, {Author: Key{2}, First: 5, Last: 5}}, OpCount: 7, OpDigest: [32]byte{3}}},
		{Sync: &Sync{OpCount: 0}},
		{Receipt: &Receipt{IDs: [][16]byte{{1}, {2}}, Read: true}},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, p := range samplePayloads() {
		b, err := MarshalPayload(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != wire.PaddedSize(len(b)) {
			t.Errorf("%d bytes: not a bucket", len(b))
		}
		got, err := UnmarshalPayload(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip %+v → %+v", p, got)
		}
	}
	if _, err := MarshalPayload(Payload{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty payload: %v", err)
	}
	big := Payload{Messages: [][]byte{make([]byte, MaxEnvelope), make([]byte, MaxEnvelope), make([]byte, MaxEnvelope)}}
	if _, err := MarshalPayload(big); !errors.Is(err, ErrTooBig) {
		t.Errorf("60 KiB payload: %v", err)
	}
}

// TestRemovedCannotDecrypt is the guarantee at the crypto layer: after
// Eve's removal is in a member's log, a message fanned out by that member
// yields no ciphertext for Eve, and none of the ciphertexts it yields
// opens under any session Eve holds, including the ones she shared with
// each member before. Before the removal, she could read it.
func TestRemovedCannotDecrypt(t *testing.T) {
	us := users(t, 5)
	alice, eve := us[0], us[4]
	sess := mesh(t, us)
	l, _ := NewLog(alice.key, "team", t0)
	for _, u := range us[1:] {
		mustSign(t, l, alice, KindInvite, u.k(), "")
	}
	gid := l.ID()
	send := func(text string) map[Key]Sealed {
		e, err := SignEnvelope(alice.key, Envelope{Group: gid, ID: wire.NewID(), Seq: 1, Lamport: 1, Epoch: l.State().Epoch, Time: t0, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		next, out, err := FanOut(l.State(), alice.k(), sess[0], gid, Payload{Messages: [][]byte{e.Bytes()}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		sess[0] = next
		return out
	}
	// eveOpens tries every ciphertext under every session Eve has.
	eveOpens := func(out map[Key]Sealed) (opened []string) {
		for _, s := range out {
			for _, st := range sess[4] {
				if _, p, err := Open(st, gid, s.FrameID, s.Ciphertext, t0); err == nil {
					e, _ := ParseEnvelope(p.Messages[0], gid)
					opened = append(opened, e.Text)
				}
			}
		}
		return opened
	}
	before := send("before")
	if _, ok := before[eve.k()]; !ok || len(eveOpens(before)) != 1 {
		t.Fatalf("eve, still a member, should read exactly her copy: %v", eveOpens(before))
	}
	mustSign(t, l, alice, KindRemove, eve.k(), "")
	after := send("after")
	if _, ok := after[eve.k()]; ok || len(after) != 3 {
		t.Fatalf("copies after removal: %d, eve's included: %v", len(after), ok)
	}
	if got := eveOpens(after); len(got) != 0 {
		t.Fatalf("eve read %q after her removal", got)
	}
	// The remaining members each read their own copy.
	for i, u := range us[1:4] {
		s := after[u.k()]
		_, p, err := Open(sess[i+1][alice.k()], gid, s.FrameID, s.Ciphertext, t0)
		if err != nil {
			t.Fatalf("%s: %v", u.name, err)
		}
		if e, err := ParseEnvelope(p.Messages[0], gid); err != nil || e.Text != "after" || e.Author != alice.k() {
			t.Fatalf("%s read %+v, %v", u.name, e, err)
		}
	}
	// A copy is bound to its group and frame id.
	s := after[us[1].k()]
	if _, _, err := Open(sess[1][alice.k()], ID{7}, s.FrameID, s.Ciphertext, t0); !errors.Is(err, ErrDecrypt) {
		t.Errorf("opened under another group id: %v", err)
	}
	if _, _, err := Open(sess[1][alice.k()], gid, [16]byte{7}, s.Ciphertext, t0); !errors.Is(err, ErrDecrypt) {
		t.Errorf("opened under another frame id: %v", err)
	}
}

// TestForwardedVerifies: Carol gets Alice's message from Bob, re-sealed
// under the Bob–Carol session, and checks it is Alice's; Bob cannot pass
// off a message of his own as hers.
func TestForwardedVerifies(t *testing.T) {
	us := users(t, 3)
	alice, bob := us[0], us[1]
	sess := mesh(t, us)
	gid := ID{5}
	e, _ := SignEnvelope(alice.key, Envelope{Group: gid, ID: [16]byte{1}, Seq: 1, Lamport: 1, Time: t0, Text: "from alice"})
	fake, _ := SignEnvelope(bob.key, Envelope{Group: gid, ID: [16]byte{2}, Seq: 1, Lamport: 2, Time: t0, Text: "also alice, honest"})
	fid := wire.NewID()
	_, ct, err := Seal(sess[1][us[2].k()], gid, fid, Payload{Messages: [][]byte{e.Bytes(), fake.Bytes()}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := Open(sess[2][bob.k()], gid, fid, ct, t0)
	if err != nil {
		t.Fatal(err)
	}
	got0, _ := ParseEnvelope(p.Messages[0], gid)
	got1, _ := ParseEnvelope(p.Messages[1], gid)
	if got0.Author != alice.k() || got1.Author != bob.k() {
		t.Errorf("authors %s %s", got0.Author, got1.Author)
	}
}
