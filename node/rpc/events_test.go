package rpc

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
)

// sampleEvents is one event of every kind.
func sampleEvents() []node.Event {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return []node.Event{
		node.TorProgressEvent{Tor: node.TorStatus{State: node.TorBootstrapping, Percent: 45, Summary: "Loading relay descriptors"}},
		node.ReachableEvent{Reachable: true},
		node.PresenceEvent{Address: "abc", Presence: node.Online, LastSeen: at},
		node.ContactRequestEvent{Contact: node.Contact{Address: "abc", Name: "bob", State: node.StatePendingIncoming, Greeting: "hi", Created: at}},
		node.ContactEvent{Contact: node.Contact{Address: "abc", State: node.StateAccepted, Created: at}, Removed: true},
		node.MessageEvent{Message: node.Message{ID: "00", Seq: 3, Text: "hé", Time: at, State: node.Received, Direction: node.Incoming}},
		node.MessageStateEvent{ID: "00", Address: "abc", State: node.Delivered, At: at},
		node.TypingEvent{Address: "abc"},
		node.ErrorEvent{Message: "boom"},
		node.ConnectionEvent{Connected: false, Error: "the daemon closed the connection"},
		node.ContactEvent{Contact: node.Contact{Address: "abc", Name: "Al", PeerName: "Alice", Draft: "half", State: node.StateAccepted, Created: at}},
		node.TorProgressEvent{Tor: node.TorStatus{State: node.TorOffline, Percent: 100, Error: "tor: network down"}},
		node.SessionEvent{Contact: node.Contact{Address: "abc", Name: "bob", State: node.StateAccepted, Created: at}, ByPeer: true,
			Notice: "bob started a new session: the safety number is unchanged"},
		// issue 16
		node.MessageStateEvent{ID: "01", Address: "abc", State: node.Stored, At: at},
		node.MailboxEvent{Mailbox: node.MailboxStatus{Linked: true, Address: "mbx", LinkedAt: at, Connected: true,
			Contacts: []node.MailboxContact{{Contact: "bob", Address: "abc", Slot: "0a1b2c3d", Told: true, Stored: 2}}}},
		node.FileStateEvent{Transfer: node.Transfer{File: node.File{ID: "01", Name: "a.png", Size: 10, MediaType: "image/png", State: node.FileAccepted, Bytes: 5, Thumbnail: true},
			Address: "abc", Direction: node.Incoming, SHA256: "ff", Created: at, Updated: at}},
		node.FileProgressEvent{ID: "01", Address: "abc", Direction: node.Outgoing, Bytes: 5, Size: 10, Rate: 1.5},
		// issue 17
		node.MessageChangedEvent{ID: "02", Address: "abc", Change: node.ChangeEdited, Message: &node.Message{ID: "02", Seq: 4,
			Text: "see you at 8", Time: at, State: node.Received, Direction: node.Incoming, Edited: at.Add(time.Minute),
			ReplyTo:   &node.ReplyTo{ID: "01", Direction: node.Outgoing, Quote: "when?"},
			Reactions: []node.Reaction{{Emoji: "👍", From: node.Outgoing, At: at}}, Timer: node.Seconds(time.Hour), Disappears: at.Add(time.Hour)}},
		node.MessageChangedEvent{ID: "03", Address: "abc", Change: node.ChangeExpired},
		// issue 18
		node.GroupEvent{Group: node.Group{ID: "ab", Name: "team", State: node.GroupActive, Admin: true, Created: at,
			Members: []node.GroupMember{{Address: "abc", Name: "bob", Admin: true, Presence: node.Online, Session: true}}}},
		node.GroupReceiptEvent{Group: "ab", ID: "00", State: node.Sent, Recipients: 5, DeliveredTo: 4, ReadBy: 2},
		node.TypingEvent{Address: "abc", Group: "ab"},
		node.MessageEvent{Message: node.Message{ID: "01", Seq: 4, Text: "hi all", Time: at, State: node.Received, Direction: node.Incoming,
			Group: "ab", Author: "abc", AuthorName: "bob", Via: "def"}},
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	for _, e := range sampleEvents() {
		b, err := MarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalEvent(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip of %s:\n got %#v\nwant %#v", e.Kind(), got, e)
		}
	}
	for _, bad := range []string{`{`, `{"kind":"nope","data":{}}`, `{"kind":"message","data":[1]}`} {
		if _, err := UnmarshalEvent([]byte(bad)); err == nil {
			t.Errorf("UnmarshalEvent(%s): no error", bad)
		}
	}
}

// FuzzUnmarshalEvent: the client decodes whatever the socket sends. A
// decoded event encodes again and decodes to the same encoding.
func FuzzUnmarshalEvent(f *testing.F) {
	for _, e := range sampleEvents() {
		b, err := MarshalEvent(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalEvent(b)
		if err != nil {
			return
		}
		b1, err := MarshalEvent(e)
		if err != nil {
			t.Fatalf("re-encode %T: %v", e, err)
		}
		e2, err := UnmarshalEvent(b1)
		if err != nil {
			t.Fatalf("decode %s: %v", b1, err)
		}
		b2, err := MarshalEvent(e2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("not stable: %s then %s (%v)", b1, b2, err)
		}
	})
}
