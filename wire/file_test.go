package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleOffer() *FileOffer {
	return &FileOffer{
		ID: ID{1, 2, 3}, Name: "report.pdf", Size: 3*ChunkSize + 5, MediaType: "application/pdf",
		SHA256: bytes.Repeat([]byte{0xaa}, 32), Key: bytes.Repeat([]byte{0x55}, 32),
		Thumbnail: []byte("\\x89PNG thumbnail"),
	}
}

// TestChunkFrameFits: the largest chunk frame leaves room under the frame
// cap for a link layer's per-frame overhead (issue 13 encrypts frames).
func TestChunkFrameFits(t *testing.T) {
	b, err := Marshal(&FileChunk{File: ID{1}, Index: MaxChunks - 1, Data: make([]byte, MaxChunkData)})
	if err != nil {
		t.Fatal(err)
	}
	length := len(b) - 4 // the length prefix is not counted
	if margin := MaxFrameSize - length; margin < 2048 {
		t.Fatalf("largest chunk frame is %d bytes: only %d under MaxFrameSize", length, margin)
	}
	if _, err := Marshal(&FileChunk{File: ID{1}, Data: make([]byte, MaxChunkData+1)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized chunk: %v", err)
	}
}

func TestContentFileOffer(t *testing.T) {
	c := Content{Text: "the report", Time: 1700000000123, File: sampleOffer()}
	b, err := MarshalContent(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalContent(b)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("UnmarshalContent = %+v, %v", got, err)
	}
	// A plain message has no file.
	b, _ = MarshalContent(Content{Text: "hi", Time: 1})
	if got, err := UnmarshalContent(b); err != nil || got.File != nil {
		t.Fatalf("plain content: %+v %v", got, err)
	}
	bad := []func(o *FileOffer){
		func(o *FileOffer) { o.ID = ID{} },
		func(o *FileOffer) { o.Name = "" },
		func(o *FileOffer) { o.Name = strings.Repeat("n", MaxFileName+1) },
		func(o *FileOffer) { o.Size = MaxFileSize + 1 },
		func(o *FileOffer) { o.SHA256 = o.SHA256[:31] },
		func(o *FileOffer) { o.Key = nil },
		func(o *FileOffer) { o.Thumbnail = make([]byte, MaxThumbnail+1) },
		func(o *FileOffer) { o.MediaType = strings.Repeat("x", MaxMediaType+1) },
	}
	for i, f := range bad {
		o := sampleOffer()
		f(o)
		if _, err := MarshalContent(Content{File: o}); !errors.Is(err, ErrMalformed) {
			t.Errorf("bad offer %d: marshal err = %v", i, err)
		}
		body, err := encMode.Marshal(Content{File: o})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalContent(body); !errors.Is(err, ErrMalformed) {
			t.Errorf("bad offer %d: unmarshal err = %v", i, err)
		}
	}
}

// TestContentUnknownKeys: an older reader shows the text of a newer kind
// of message instead of failing on it.
func TestContentUnknownKeys(t *testing.T) {
	body, err := encMode.Marshal(map[int]any{1: "caption", 2: int64(5), 99: map[int]any{1: "new"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := UnmarshalContent(body)
	if err != nil || c.Text != "caption" || c.Time != 5 {
		t.Fatalf("content with an unknown key: %+v %v", c, err)
	}
}

func TestFileFramesReject(t *testing.T) {
	for _, m := range []Msg{
		&FileChunk{Index: 1, Data: make([]byte, ChunkOverhead)},
		&FileChunk{File: ID{1}, Index: MaxChunks, Data: make([]byte, ChunkOverhead)},
		&FileChunk{File: ID{1}, Data: make([]byte, ChunkOverhead-1)},
		&FileRequest{File: ID{1}},
		&FileRequest{File: ID{1}, Ranges: []Range{{First: 0, Count: 0}}},
		&FileRequest{File: ID{1}, Ranges: []Range{{First: MaxChunks - 1, Count: 2}}},
		&FileRequest{File: ID{1}, Ranges: make([]Range, MaxRanges+1)},
		&FileStop{},
		&FileEnd{File: ID{1}},
		&FileEnd{ID: ID{1}},
	} {
		if _, err := Marshal(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal(%#v) = %v, want ErrMalformed", m, err)
		}
		body, err := encMode.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unmarshal(m.Type(), body); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(%#v) = %v, want ErrMalformed", m, err)
		}
	}
	// A range is exactly two numbers.
	body := []byte{0xa2, 0x01, 0x50, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x81, 0x83, 0x00, 0x01, 0x02}
	if _, err := Unmarshal(TypeFileRequest, body); !errors.Is(err, ErrMalformed) {
		t.Errorf("three-element range: %v", err)
	}
}
