package wire

import (
	"bytes"
	"errors"
	"testing"
)

// TestMailboxRejects: the mailbox frames are as strict as the others.
func TestMailboxRejects(t *testing.T) {
	slot := bytes.Repeat([]byte{6}, MailboxSlotSize)
	for name, m := range map[string]Msg{
		"open short token":  &MailboxOpen{Token: []byte{1}},
		"open short secret": &MailboxOpen{Pair: []byte{1}},
		"open both":         &MailboxOpen{Pair: bytes.Repeat([]byte{1}, 32), Token: bytes.Repeat([]byte{1}, 32)},
		"put zero id":       &MailboxPut{Item: []byte{1}},
		"put empty item":    &MailboxPut{ID: ID{1}},
		"put huge item":     &MailboxPut{ID: ID{1}, Item: make([]byte, MaxMailboxItem+1)},
		"put short slot":    &MailboxPut{ID: ID{1}, Slot: []byte{1}, Item: []byte{1}},
		"item short slot":   &MailboxItem{ID: ID{1}, Slot: []byte{1}, Item: []byte{1}},
		"taken nothing":     &MailboxTaken{Slot: slot},
		"taken too many":    &MailboxTaken{IDs: make([]ID, MaxMailboxIDs+1)},
		"notice empty":      &MailboxNotice{ID: ID{1}},
		"notice zero id":    &MailboxNotice{Delivered: []ID{{1}}},
		"slot without slot": &MailboxSlot{ID: ID{1}},
		"unlink zero id":    &MailboxUnlink{},
		"refused zero id":   &MailboxRefused{Code: MailboxFull},
	} {
		if _, err := Marshal(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal %s: err = %v, want ErrMalformed", name, err)
		}
		body, err := encMode.Marshal(m)
		if err != nil {
			continue // the encoder itself refused (too many elements)
		}
		if _, err := Unmarshal(m.Type(), body); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal %s: err = %v, want ErrMalformed", name, err)
		}
	}
	// A frame that is exactly as big as a mailbox item may be still fits
	// in one frame with its id and slot around it.
	if _, err := Marshal(&MailboxPut{ID: ID{1}, Slot: slot, Item: make([]byte, MaxMailboxItem)}); err != nil {
		t.Errorf("largest put: %v", err)
	}
}

func TestContentMailbox(t *testing.T) {
	info := &MailboxInfo{Key: bytes.Repeat([]byte{1}, 32), Token: bytes.Repeat([]byte{2}, MailboxSecretSize)}
	for _, c := range []Content{{Time: 5, Mailbox: info}, {Time: 5, Mailbox: &MailboxInfo{}}} {
		b, err := MarshalContent(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalContent(b)
		if err != nil || got.Mailbox == nil || !bytes.Equal(got.Mailbox.Key, c.Mailbox.Key) || !bytes.Equal(got.Mailbox.Token, c.Mailbox.Token) {
			t.Fatalf("UnmarshalContent = %+v, %v", got, err)
		}
	}
	for name, bad := range map[string]Content{
		"with text":   {Text: "hi", Mailbox: info},
		"key only":    {Mailbox: &MailboxInfo{Key: info.Key}},
		"short token": {Mailbox: &MailboxInfo{Key: info.Key, Token: []byte{1}}},
	} {
		if _, err := MarshalContent(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal %s: err = %v, want ErrMalformed", name, err)
		}
		raw, _ := encMode.Marshal(bad)
		if _, err := UnmarshalContent(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal %s: err = %v, want ErrMalformed", name, err)
		}
	}
}
