package rpc

import (
	"encoding/json"
	"fmt"

	"github.com/chive-im/chive/node"
)

// wireEvent is an event on the JSON-RPC wire: {"kind": "...", "data": {...}}.
// The kinds are node's Event.Kind names, part of the contract in docs/api.md.
type wireEvent struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// MarshalEvent encodes an event as {"kind": ..., "data": ...}: the params of
// an "event" notification.
func MarshalEvent(e node.Event) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("rpc: marshal event: %w", err)
	}
	return json.Marshal(wireEvent{Kind: e.Kind(), Data: data})
}

// UnmarshalEvent decodes what MarshalEvent produced.
func UnmarshalEvent(b []byte) (node.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("rpc: unmarshal event: %w", err)
	}
	var e node.Event
	var err error
	switch w.Kind {
	case node.TorProgressEvent{}.Kind():
		e, err = decodeAs[node.TorProgressEvent](w.Data)
	case node.ReachableEvent{}.Kind():
		e, err = decodeAs[node.ReachableEvent](w.Data)
	case node.PresenceEvent{}.Kind():
		e, err = decodeAs[node.PresenceEvent](w.Data)
	case node.ContactRequestEvent{}.Kind():
		e, err = decodeAs[node.ContactRequestEvent](w.Data)
	case node.ContactEvent{}.Kind():
		e, err = decodeAs[node.ContactEvent](w.Data)
	case node.MessageEvent{}.Kind():
		e, err = decodeAs[node.MessageEvent](w.Data)
	case node.MessageStateEvent{}.Kind():
		e, err = decodeAs[node.MessageStateEvent](w.Data)
	case node.TypingEvent{}.Kind():
		e, err = decodeAs[node.TypingEvent](w.Data)
	case node.ErrorEvent{}.Kind():
		e, err = decodeAs[node.ErrorEvent](w.Data)
	case node.ConnectionEvent{}.Kind():
		e, err = decodeAs[node.ConnectionEvent](w.Data)
	case node.SessionEvent{}.Kind():
		e, err = decodeAs[node.SessionEvent](w.Data)
	case node.MailboxEvent{}.Kind(): // issue 16
		e, err = decodeAs[node.MailboxEvent](w.Data)
	// Files (issue 15)
	case node.FileStateEvent{}.Kind():
		e, err = decodeAs[node.FileStateEvent](w.Data)
	case node.FileProgressEvent{}.Kind():
		e, err = decodeAs[node.FileProgressEvent](w.Data)
	case node.MessageChangedEvent{}.Kind(): // issue 17
		e, err = decodeAs[node.MessageChangedEvent](w.Data)
	// Groups (issue 18).
	case node.GroupEvent{}.Kind():
		e, err = decodeAs[node.GroupEvent](w.Data)
	case node.GroupReceiptEvent{}.Kind():
		e, err = decodeAs[node.GroupReceiptEvent](w.Data)
	default:
		return nil, fmt.Errorf("rpc: unmarshal event: unknown kind %q", w.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: unmarshal %s event: %w", w.Kind, err)
	}
	return e, nil
}

func decodeAs[T node.Event](data []byte) (node.Event, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}
