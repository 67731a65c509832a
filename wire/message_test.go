package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func sampleMsgs() []Msg {
	id := ID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	id2 := ID{0xff, 1}
	return []Msg{
		&Hello{E: bytes.Repeat([]byte{7}, 32), EK: bytes.Repeat([]byte{8}, 1184)},
		&KeyShare{E: bytes.Repeat([]byte{9}, 32), CT: bytes.Repeat([]byte{10}, 1088)},
		&Auth{Key: bytes.Repeat([]byte{1}, 32), Sig: bytes.Repeat([]byte{3}, 64)},
		&Ping{Seq: 42},
		&Pong{Seq: 42},
		&Request{ID: id, Bundle: []byte("bundle"), Greeting: "hi, it's alice ✓"},
		&Request{ID: id, Bundle: []byte("bundle")},
		&Accept{ID: id, Handshake: []byte("handshake")},
		&Message{ID: id, Ciphertext: []byte("ciphertext")},
		&Ack{ID: id},
		&Receipt{ID: id2, IDs: []ID{id, id2}, Read: true},
		&Typing{},
		// issue 11: display names
		&Request{ID: id, Bundle: []byte("bundle"), Greeting: "hi", Name: "Alice ☕"},
		&Accept{ID: id, Handshake: []byte("handshake"), Name: "Bob"},
		// issue 13: invite token and proof of work
		&Request{ID: id, Bundle: []byte("bundle"), Invite: bytes.Repeat([]byte{9}, InviteSize), Work: &Work{Time: 1750000000, Nonce: 1 << 40}},
		// issue 16: the mailbox protocol
		&MailboxOpen{},
		&MailboxOpen{Pair: bytes.Repeat([]byte{4}, MailboxSecretSize)},
		&MailboxOpen{Token: bytes.Repeat([]byte{5}, MailboxSecretSize)},
		&MailboxOpened{Code: MailboxDenied},
		&MailboxPut{ID: id, Item: []byte("padded frame")},
		&MailboxPut{ID: id, Slot: bytes.Repeat([]byte{6}, MailboxSlotSize), Item: []byte("padded frame")},
		&MailboxRefused{ID: id, Code: MailboxFull},
		&MailboxItem{ID: id, Slot: bytes.Repeat([]byte{6}, MailboxSlotSize), Item: []byte("padded frame")},
		&MailboxTaken{IDs: []ID{id, id2}},
		&MailboxNotice{ID: id2, Slot: bytes.Repeat([]byte{6}, MailboxSlotSize), Delivered: []ID{id}, Expired: []ID{id2}},
		&MailboxSlot{ID: id, Slot: bytes.Repeat([]byte{6}, MailboxSlotSize), Remove: true},
		&MailboxUnlink{ID: id},
		// issue 12: refusals
		&Refuse{ID: id2, Reason: ReasonExpired},
		&Refuse{ID: id, Reason: 200}, // a newer peer's reason
		// issue 15: file transfer
		&FileChunk{File: id, Index: 7, Data: bytes.Repeat([]byte{9}, ChunkOverhead+3)},
		&FileRequest{File: id, Ranges: []Range{{First: 0, Count: 16}, {First: 40, Count: 1}}},
		&FileStop{File: id},
		&FileEnd{ID: id2, File: id, Reason: EndCancelled},
		// issue 18: groups
		&GroupRequest{ID: id, Group: id2, Bundle: []byte("bundle"), Name: "Carol"},
		&GroupRequest{ID: id, Group: id2, Bundle: []byte("bundle")},
		&GroupAccept{ID: id, Group: id2, Handshake: []byte("handshake"), Name: "Dave"},
		&GroupMessage{ID: id, Group: id2, Ciphertext: []byte("ciphertext")},
		&GroupAck{ID: id},
		&GroupTyping{Group: id2},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, m := range sampleMsgs() {
		frame, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", m, err)
		}
		typ, body, err := ReadFrame(bytes.NewReader(frame))
		if err != nil {
			t.Fatalf("ReadFrame(%T): %v", m, err)
		}
		if typ != m.Type() {
			t.Errorf("type = %v, want %v", typ, m.Type())
		}
		got, err := Unmarshal(typ, body)
		if err != nil {
			t.Fatalf("Unmarshal(%T): %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip: got %#v, want %#v", got, m)
		}
	}
}

func TestReadFrameTooLargeDoesNotAllocate(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	// The reader fails the test if the body is read at all.
	r := io.MultiReader(bytes.NewReader(hdr), failReader{t})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := ReadFrame(r)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Errorf("allocated %d bytes rejecting an oversized frame", d)
	}

	// Just over the limit, too.
	hdr = binary.BigEndian.AppendUint32(nil, MaxFrameSize+1)
	if _, _, err := ReadFrame(io.MultiReader(bytes.NewReader(hdr), failReader{t})); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	// And the writer refuses to produce one.
	if _, err := AppendFrame(nil, TypeMessage, make([]byte, MaxFrameSize)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("AppendFrame: err = %v, want ErrFrameTooLarge", err)
	}
}

type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("read past the length of an oversized frame")
	return 0, io.EOF
}

func TestReadFrameErrors(t *testing.T) {
	good, _ := Marshal(&Ack{ID: ID{1}})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"length one", []byte{0, 0, 0, 1, Version}, ErrMalformed},
		{"truncated body", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"truncated header", good[:5], io.ErrUnexpectedEOF},
		{"bad version", append(append([]byte{}, good[:4]...), append([]byte{Version + 1}, good[5:]...)...), ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadFrame(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	id16 := append([]byte{0x50}, bytes.Repeat([]byte{1}, 16)...)
	tests := []struct {
		name string
		t    Type
		body []byte
	}{
		{"unknown type", Type(0x7f), []byte{0xa0}},
		{"empty body", TypeAck, nil},
		{"not a map", TypeAck, []byte{0x01}},
		{"zero id", TypeAck, append([]byte{0xa1, 0x01}, append([]byte{0x50}, make([]byte, 16)...)...)},
		{"short id", TypeAck, append([]byte{0xa1, 0x01, 0x4f}, bytes.Repeat([]byte{1}, 15)...)},
		{"long id", TypeAck, append([]byte{0xa1, 0x01, 0x51}, bytes.Repeat([]byte{1}, 17)...)},
		{"id as text", TypeAck, append([]byte{0xa1, 0x01, 0x70}, bytes.Repeat([]byte{'a'}, 16)...)},
		{"unknown field", TypeAck, append(append([]byte{0xa2, 0x01}, id16...), 0x09, 0x01)},
		{"duplicate key", TypeAck, append(append(append([]byte{0xa2, 0x01}, id16...), 0x01), id16...)},
		{"trailing bytes", TypeAck, append(append([]byte{0xa1, 0x01}, id16...), 0x00)},
		{"indefinite map", TypeAck, append(append([]byte{0xbf, 0x01}, id16...), 0xff)},
		{"tag", TypeAck, append([]byte{0xa1, 0x01, 0xd8, 0x40}, id16...)},
		{"missing bundle", TypeRequest, append([]byte{0xa1, 0x01}, id16...)},
		{"bad utf8 greeting", TypeRequest, append(append(append([]byte{0xa3, 0x01}, id16...), 0x02, 0x41, 'b', 0x03, 0x62), 0xff, 0xfe)},
		{"empty receipt", TypeReceipt, append(append([]byte{0xa2, 0x01}, id16...), 0x02, 0x80)},
		{"hello short nonce", TypeHello, []byte{0xa1, 0x01, 0x41, 0x00}},
		{"auth missing sig", TypeAuth, []byte{0xa0}},
		{"deep nesting", TypeTyping, []byte{0xa1, 0x01, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00}},
		{"short invite", TypeRequest, append(append([]byte{0xa3, 0x01}, id16...), 0x02, 0x41, 'b', 0x0d, 0x41, 0x01)},
		{"empty invite", TypeRequest, append(append([]byte{0xa3, 0x01}, id16...), 0x02, 0x41, 'b', 0x0d, 0x40)},
		{"work without time", TypeRequest, append(append([]byte{0xa3, 0x01}, id16...), 0x02, 0x41, 'b', 0x0e, 0xa1, 0x02, 0x01)},
		{"work unknown field", TypeRequest, append(append([]byte{0xa3, 0x01}, id16...), 0x02, 0x41, 'b', 0x0e, 0xa2, 0x01, 0x01, 0x03, 0x01)},
		{"work negative time", TypeRequest, append(append([]byte{0xa3, 0x01}, id16...), 0x02, 0x41, 'b', 0x0e, 0xa1, 0x01, 0x20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unmarshal(tt.t, tt.body)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Unmarshal = %#v, %v; want ErrMalformed", m, err)
			}
		})
	}
}

func TestUnmarshalLimits(t *testing.T) {
	ids := make([]ID, MaxReceiptIDs+1)
	for i := range ids {
		ids[i] = ID{byte(i), byte(i >> 8), 1}
	}
	body, err := encMode.Marshal(&Receipt{ID: ID{1}, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(TypeReceipt, body); !errors.Is(err, ErrMalformed) {
		t.Errorf("receipt with %d ids: err = %v, want ErrMalformed", len(ids), err)
	}
	if _, err := Marshal(&Receipt{ID: ID{1}, IDs: ids}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Marshal receipt with %d ids: err = %v, want ErrMalformed", len(ids), err)
	}
	if _, err := Marshal(&Request{ID: ID{1}, Bundle: []byte{1}, Greeting: strings.Repeat("x", MaxGreeting+1)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("long greeting: err = %v, want ErrMalformed", err)
	}
	body, _ = encMode.Marshal(&Request{ID: ID{1}, Bundle: []byte{1}, Greeting: strings.Repeat("x", MaxGreeting+1)})
	if _, err := Unmarshal(TypeRequest, body); !errors.Is(err, ErrMalformed) {
		t.Errorf("long greeting: err = %v, want ErrMalformed", err)
	}
	long := strings.Repeat("n", MaxName+1)
	for _, m := range []Msg{&Request{ID: ID{1}, Bundle: []byte{1}, Name: long}, &Accept{ID: ID{1}, Handshake: []byte{1}, Name: long}} {
		if _, err := Marshal(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal %T with a long name: err = %v, want ErrMalformed", m, err)
		}
		body, _ := encMode.Marshal(m)
		if _, err := Unmarshal(m.Type(), body); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal %T with a long name: err = %v, want ErrMalformed", m, err)
		}
	}
}

func TestIDString(t *testing.T) {
	id := NewID()
	if id.IsZero() || id == NewID() {
		t.Fatal("NewID is not random")
	}
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("ParseID(%q) = %v, %v", id.String(), got, err)
	}
	for _, bad := range []string{"", "00", strings.Repeat("g", 32), strings.Repeat("0", 33)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
}

func TestContent(t *testing.T) {
	c := Content{Text: "héllo", Time: 1700000000123}
	b, err := MarshalContent(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalContent(b)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("UnmarshalContent = %+v, %v; want %+v", got, err, c)
	}
	if _, err := MarshalContent(Content{Text: strings.Repeat("x", MaxText+1)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("long text: err = %v", err)
	}
	if _, err := UnmarshalContent(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: err = %v", err)
	}
	// Key 3, the sender-declared expiry, round-trips.
	c = Content{Text: "code 493817", Time: 1700000000123, Expires: 1700000300123}
	b, _ = MarshalContent(c)
	if got, err := UnmarshalContent(b); err != nil || got.Text != c.Text || got.Time != c.Time || got.Expires != c.Expires {
		t.Fatalf("with expiry: %+v, %v", got, err)
	}
	// A newer sender's keys are ignored, not an error: the message still
	// shows (an older reader dropped it as undecryptable before).
	newer, _ := encMode.Marshal(map[int]any{1: "hi", 2: int64(5), 99: "a field of a later version", 97: map[int]any{1: []byte{1}}})
	if got, err := UnmarshalContent(newer); err != nil || got.Text != "hi" || got.Time != 5 {
		t.Fatalf("unknown keys: %+v, %v", got, err)
	}
	bad, _ := encMode.Marshal(map[int]any{1: "hi", 3: int64(-1)})
	if _, err := UnmarshalContent(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("negative expiry: err = %v", err)
	}
	dup := []byte{0xa2, 0x01, 0x61, 'a', 0x01, 0x61, 'b'} // {1: "a", 1: "b"}
	if _, err := UnmarshalContent(dup); !errors.Is(err, ErrMalformed) {
		t.Errorf("duplicate key: err = %v", err)
	}
}

// TestContentPadding: every text length pads to its bucket exactly, and
// decodes back to the same content. Before padding, the encoding of a
// one-letter text was 13 bytes: its length showed through the ratchet.
func TestContentPadding(t *testing.T) {
	sizes := map[int]bool{}
	for _, n := range []int{0, 1, 2, 100, 220, 230, 235, 236, 237, 238, 239, 240, 241, 250, 255, 256, 300, 500, 1000, 4000, 8170, 8180, 8190, 16000, MaxText} {
		c := Content{Text: strings.Repeat("x", n), Time: 1700000000123}
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if len(b) != PaddedSize(len(b)) || len(b) < MinPadded {
			t.Errorf("text of %d bytes: encoding of %d bytes is not a bucket size", n, len(b))
		}
		got, err := UnmarshalContent(b)
		if err != nil || got.Text != c.Text || got.Time != c.Time || got.Padding != nil {
			t.Fatalf("%d: UnmarshalContent = %+v, %v", n, got, err)
		}
		sizes[len(b)] = true
	}
	if len(sizes) > 8 {
		t.Errorf("%d distinct sizes for 25 lengths: %v", len(sizes), sizes)
	}
	for n, want := range map[int]int{1: 256, 256: 256, 257: 512, 32768: 32768, 32769: 40960} {
		if got := PaddedSize(n); got != want {
			t.Errorf("PaddedSize(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestContentPaddingOverhead measures what padding costs on texts of
// typical chat lengths (logged with -v; docs/protocol.md quotes it).
func TestContentPaddingOverhead(t *testing.T) {
	// Lengths of chat messages: mostly short, a long tail.
	lengths := []int{2, 5, 8, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 300, 500, 1000, 3000}
	var plain, padded int
	for _, n := range lengths {
		c := Content{Text: strings.Repeat("x", n), Time: 1700000000123}
		raw, err := encMode.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatal(err)
		}
		plain += len(raw)
		padded += len(b)
	}
	t.Logf("%d texts: %d bytes encoded unpadded, %d padded (×%.2f); with the ratchet's 122 bytes per message: ×%.2f",
		len(lengths), plain, padded, float64(padded)/float64(plain),
		float64(padded+122*len(lengths))/float64(plain+122*len(lengths)))
}

// TestContentLengthHidden: texts of 1 and of 200 bytes encrypt to the same
// length. (Before padding they differed by 199 bytes: this test failed.)
func TestContentLengthHidden(t *testing.T) {
	a, err := MarshalContent(Content{Text: "k", Time: 1700000000123})
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalContent(Content{Text: strings.Repeat("long answer ", 17)[:200], Time: 1700000000123})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("1-byte text: %d bytes, 200-byte text: %d bytes", len(a), len(b))
	}
}

// TestContentProfile: key 10 carries a display name; keys a reader does
// not know are skipped (a newer peer's kinds), anything malformed is not.
func TestContentProfile(t *testing.T) {
	c := Content{Time: 1700000000123, Profile: &Profile{Name: "Alice ☕"}}
	b, err := MarshalContent(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalContent(b)
	if err != nil || got.Profile == nil || got.Profile.Name != "Alice ☕" || got.Text != "" || got.Time != c.Time {
		t.Fatalf("UnmarshalContent = %+v, %v", got, err)
	}
	// {1: "hi", 2: 1, 99: {1: "x"}}: an unknown key, skipped.
	unknown := []byte{0xa3, 0x01, 0x62, 'h', 'i', 0x02, 0x01, 0x18, 99, 0xa1, 0x01, 0x61, 'x'}
	if got, err := UnmarshalContent(unknown); err != nil || got.Text != "hi" || got.Profile != nil {
		t.Errorf("content with an unknown key = %+v, %v; want it skipped", got, err)
	}
	for name, bad := range map[string]Content{
		"long name":         {Profile: &Profile{Name: strings.Repeat("n", MaxName+1)}},
		"profile with text": {Text: "hi", Profile: &Profile{Name: "x"}},
	} {
		if _, err := MarshalContent(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal %s: err = %v, want ErrMalformed", name, err)
		}
		raw, _ := encMode.Marshal(bad)
		if _, err := UnmarshalContent(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal %s: err = %v, want ErrMalformed", name, err)
		}
	}
	for name, raw := range map[string][]byte{
		"duplicate key":   {0xa3, 0x01, 0x60, 0x02, 0x01, 0x01, 0x60},
		"profile not map": {0xa2, 0x01, 0x60, 0x0a, 0x01},
		"bad utf8 name":   {0xa2, 0x01, 0x60, 0x0a, 0xa1, 0x01, 0x62, 0xff, 0xfe},
		"indefinite":      {0xbf, 0x01, 0x60, 0xff},
	} {
		if _, err := UnmarshalContent(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
