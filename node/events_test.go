package node

import "testing"

func TestDroppable(t *testing.T) {
	for _, e := range []Event{MessageEvent{}, MessageStateEvent{}, ContactEvent{}, ContactRequestEvent{}, ConnectionEvent{}} {
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
