package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/kat.json")

// katFile holds known-answer vectors: a whole session generated with
// deterministic randomness. Hex strings throughout.
type katFile struct {
	Comment           string       `json:"comment"`
	Seed              uint64       `json:"seed"`
	RequesterIdentity string       `json:"requester_identity"`
	AccepterIdentity  string       `json:"accepter_identity"`
	RequesterBundle   string       `json:"requester_bundle"`
	Handshake         string       `json:"handshake"`
	AccepterState0    string       `json:"accepter_state0"`
	RequesterState0   string       `json:"requester_state0"`
	SafetyNumber      string       `json:"safety_number"`
	Messages          []katMessage `json:"messages"`
}

type katMessage struct {
	From      string `json:"from"` // "requester" or "accepter"
	Time      int64  `json:"time"`
	AD        string `json:"ad"`
	Plaintext string `json:"plaintext"`
	// ReceiverState is the recipient's state just before decrypting.
	ReceiverState string `json:"receiver_state"`
	Message       string `json:"message"`
}

const katSeed = 20261126

func generateKAT(t *testing.T) *katFile {
	cryptotest.SetGlobalRandom(t, katSeed)
	_, ka, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, kb, _ := ed25519.GenerateKey(rand.Reader)
	a, err := NewIdentity(ka, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewIdentity(kb, t0)
	h := hex.EncodeToString
	k := &katFile{
		Comment: "chive ratchet known-answer vectors; regenerate with go test ./ratchet -run KAT -update " +
			"only for an intended format change (bump the versions then)",
		Seed: katSeed,
	}
	ida, _ := a.MarshalBinary()
	idb, _ := b.MarshalBinary()
	bundle, _ := a.Bundle().MarshalBinary()
	k.RequesterIdentity, k.AccepterIdentity, k.RequesterBundle = h(ida), h(idb), h(bundle)
	k.SafetyNumber = SafetyNumber(a.OnionKey(), b.OnionKey())
	pb, err := ParseBundle(bundle, a.OnionKey())
	if err != nil {
		t.Fatal(err)
	}
	sb, hs, err := Accept(b, pb, t0)
	if err != nil {
		t.Fatal(err)
	}
	k.Handshake = h(hs)
	k.AccepterState0 = h(mustMarshal(t, sb))
	sa, err := Complete(a, b.OnionKey(), hs, t0)
	if err != nil {
		t.Fatal(err)
	}
	k.RequesterState0 = h(mustMarshal(t, sa))

	st := map[string]*State{"requester": sa, "accepter": sb}
	other := map[string]string{"requester": "accepter", "accepter": "requester"}
	now := t0
	type pending struct {
		m  katMessage
		wb []byte
	}
	var inflight []pending
	send := func(from, text string) {
		ad := []byte("msgid:" + text)
		next, msg, err := st[from].Encrypt([]byte(text), ad, now)
		if err != nil {
			t.Fatal(err)
		}
		st[from] = next
		inflight = append(inflight, pending{katMessage{From: from, Time: now.Unix(), AD: h(ad),
			Plaintext: h([]byte(text)), Message: h(msg)}, msg})
	}
	deliver := func(i int) {
		p := inflight[i]
		inflight = append(inflight[:i], inflight[i+1:]...)
		to := other[p.m.From]
		p.m.ReceiverState = h(mustMarshal(t, st[to]))
		ad, _ := hex.DecodeString(p.m.AD)
		next, _, err := st[to].Decrypt(p.wb, ad, now)
		if err != nil {
			t.Fatal(err)
		}
		st[to] = next
		k.Messages = append(k.Messages, p.m)
	}
	send("accepter", "first, before the requester completed")
	send("accepter", "")
	deliver(1)
	deliver(0)
	send("requester", "hello")
	deliver(0)
	now = now.Add(PQMaxAge + time.Hour) // the next DH step is due a PQ step
	send("accepter", "after a week")
	deliver(0)
	send("requester", "this chain advertises an ML-KEM key")
	send("requester", string(bytes.Repeat([]byte{'x'}, 300)))
	deliver(1)
	deliver(0)
	send("accepter", "this chain carries the ML-KEM ciphertext")
	deliver(0)
	return k
}

func TestKAT(t *testing.T) {
	path := filepath.Join("testdata", "kat.json")
	got := generateKAT(t)
	if *update {
		data, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want katFile
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	// 1. Replay the stored vectors: independent of how the Go version
	// consumes randomness, this pins every format and KDF.
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, err := UnmarshalIdentity(unhex(want.RequesterIdentity))
	if err != nil {
		t.Fatal(err)
	}
	b, err := UnmarshalIdentity(unhex(want.AccepterIdentity))
	if err != nil {
		t.Fatal(err)
	}
	if bb, _ := a.Bundle().MarshalBinary(); !bytes.Equal(bb, unhex(want.RequesterBundle)) {
		t.Fatal("stored identity yields another bundle")
	}
	if _, err := ParseBundle(unhex(want.RequesterBundle), a.OnionKey()); err != nil {
		t.Fatal(err)
	}
	if sn := SafetyNumber(b.OnionKey(), a.OnionKey()); sn != want.SafetyNumber {
		t.Fatalf("safety number %s, want %s", sn, want.SafetyNumber)
	}
	completed, err := Complete(a, b.OnionKey(), unhex(want.Handshake), t0)
	if err != nil {
		t.Fatalf("stored handshake: %v", err)
	}
	want0, _ := UnmarshalState(unhex(want.RequesterState0))
	if completed.sessionID != want0.sessionID || completed.ckr != want0.ckr || completed.rk == ([32]byte{}) {
		t.Fatal("stored handshake derives other keys")
	}
	for i, m := range want.Messages {
		st, err := UnmarshalState(unhex(m.ReceiverState))
		if err != nil {
			t.Fatalf("message %d: state: %v", i, err)
		}
		_, pt, err := st.Decrypt(unhex(m.Message), unhex(m.AD), time.Unix(m.Time, 0))
		if err != nil || !bytes.Equal(pt, unhex(m.Plaintext)) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// The first accepter messages decrypt with a freshly completed state.
	if _, pt, err := completed.Decrypt(unhex(want.Messages[0].Message), unhex(want.Messages[0].AD), t0); err != nil ||
		!bytes.Equal(pt, unhex(want.Messages[0].Plaintext)) {
		t.Fatalf("first message after Complete: %v", err)
	}

	// 2. Regenerating with the same seed must give the same bytes.
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(&want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatal("regenerated vectors differ from testdata/kat.json: the wire format or KDFs drifted " +
			"(or a new Go version consumes randomness differently, if the replay above passed)")
	}
}
