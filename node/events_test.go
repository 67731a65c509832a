package node

import (
	"reflect"
	"testing"
	"time"
)

func TestEventJSONRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, e := range []Event{
		TorProgressEvent{Tor: TorStatus{State: TorBootstrapping, Percent: 45, Summary: "Loading relay descriptors"}},
		ReachableEvent{Reachable: true},
		PresenceEvent{Address: "abc", Presence: Online, LastSeen: at},
		ContactRequestEvent{Contact: Contact{Address: "abc", Name: "bob", State: StatePendingIncoming, Greeting: "hi", Created: at}},
		ContactEvent{Contact: Contact{Address: "abc", State: StateAccepted, Created: at}, Removed: true},
		MessageEvent{Message: Message{ID: "00", Seq: 3, Text: "hé", Time: at, State: Received, Direction: Incoming}},
		MessageStateEvent{ID: "00", Address: "abc", State: Delivered, At: at},
		TypingEvent{Address: "abc"},
		ErrorEvent{Message: "boom"},
	} {
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

func TestDroppable(t *testing.T) {
	for _, e := range []Event{MessageEvent{}, MessageStateEvent{}, ContactEvent{}, ContactRequestEvent{}} {
		if Droppable(e) {
			t.Errorf("%s must never be dropped", e.Kind())
		}
	}
	for _, e := range []Event{TorProgressEvent{}, PresenceEvent{}, TypingEvent{}} {
		if !Droppable(e) {
			t.Errorf("%s should be droppable", e.Kind())
		}
	}
}
