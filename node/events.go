package node

import "time"

// Event is one thing that happened in the node. The concrete types below are
// the whole set; switch on the type. Kind names are the JSON-RPC contract
// (node/rpc encodes events as {"kind": ..., "data": ...}).
type Event interface {
	Kind() string
}

// TorProgressEvent reports bootstrap progress or failure. May be dropped.
type TorProgressEvent struct {
	Tor TorStatus `json:"tor"`
}

// ReachableEvent says whether our onion service is published. May be dropped.
type ReachableEvent struct {
	Reachable bool `json:"reachable"`
}

// PresenceEvent reports a contact's link going up or down. May be dropped.
type PresenceEvent struct {
	Address  string    `json:"address"`
	Presence Presence  `json:"presence"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// ContactRequestEvent is an incoming contact request. Never dropped.
type ContactRequestEvent struct {
	Contact Contact `json:"contact"`
}

// ContactEvent says a contact was added, accepted, renamed, blocked, removed
// (Removed set) or otherwise changed. Never dropped.
type ContactEvent struct {
	Contact Contact `json:"contact"`
	Removed bool    `json:"removed,omitempty"`
}

// MessageEvent is a message received, or one we sent from another client
// of the same node. Never dropped.
type MessageEvent struct {
	Message Message `json:"message"`
}

// MessageStateEvent is a change of an outgoing message's state. Never dropped.
type MessageStateEvent struct {
	ID      string       `json:"id"`
	Address string       `json:"address"`
	State   MessageState `json:"state"`
	At      time.Time    `json:"at"`
	Error   string       `json:"error,omitempty"`
}

// TypingEvent says a contact is typing now. Ephemeral; may be dropped.
type TypingEvent struct {
	Address string `json:"address"`
	// Group: they are typing in this group (its id; issue 18).
	Group string `json:"group,omitempty"`
}

// ErrorEvent is a problem worth showing the user. May be dropped.
type ErrorEvent struct {
	Message string `json:"message"`
}

// SessionEvent says a new session with a contact replaced the old one: the
// contact started it (ByPeer: they lost their state, restored an old
// backup or reinstalled, and asked again) or we did (ResetSession, now
// answered). The contact and the conversation stay. SafetyNumberChanged
// says whether the contact's safety number differs from before (then
// Verified was cleared). Notice is a sentence for the user. Never dropped.
type SessionEvent struct {
	Contact             Contact `json:"contact"`
	ByPeer              bool    `json:"by_peer"`
	SafetyNumberChanged bool    `json:"safety_number_changed"`
	Notice              string  `json:"notice"`
}

// FileStateEvent is a transfer's new state (offered, accepted, paused,
// completed, failed, cancelled), or a change of its error (a full disk,
// and its end). Never dropped.
type FileStateEvent struct {
	Transfer Transfer `json:"transfer"`
}

// FileProgressEvent reports bytes moved. May be dropped: a slow reader
// sees the latest of each file.
type FileProgressEvent struct {
	ID        string    `json:"id"`
	Address   string    `json:"address"`
	Direction Direction `json:"direction"`
	Bytes     int64     `json:"bytes"` // stored (in) or sent (out)
	Size      int64     `json:"size"`
	Rate      float64   `json:"rate"` // bytes per second, recent
}

func (FileStateEvent) Kind() string    { return "file.state" }
func (FileProgressEvent) Kind() string { return "file.progress" }

func (TorProgressEvent) Kind() string    { return "tor.progress" }
func (ReachableEvent) Kind() string      { return "reachable" }
func (PresenceEvent) Kind() string       { return "presence" }
func (ContactRequestEvent) Kind() string { return "contact.request" }
func (ContactEvent) Kind() string        { return "contact" }
func (MessageEvent) Kind() string        { return "message" }
func (MessageStateEvent) Kind() string   { return "message.state" }
func (TypingEvent) Kind() string         { return "typing" }
func (ErrorEvent) Kind() string          { return "error" }
func (SessionEvent) Kind() string        { return "session" }

// Droppable reports whether an event may be dropped for a slow subscriber.
func Droppable(e Event) bool {
	switch e.(type) {
	case ContactRequestEvent, ContactEvent, MessageEvent, MessageStateEvent, SessionEvent, FileStateEvent:
		return false
	case ConnectionEvent:
		return false
	case MessageChangedEvent, GroupEvent, GroupReceiptEvent:
		return false
	}
	return true
}

// --- Connection to the daemon (issue 11) ---

// ConnectionEvent is published by node/rpc's Client (never by a node) when
// its subscription to the daemon drops (Connected false, Error says why)
// and when it is back (Connected true). Events the daemon published in
// between were not seen: on Connected true, reload what is shown (Status,
// Contacts, the open conversation's History). Never dropped.
type ConnectionEvent struct {
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"`
}

func (ConnectionEvent) Kind() string { return "connection" }

// --- Mailbox (issue 16) ---

// MailboxEvent is the state of our mailbox after a change: linked or
// unlinked, connected or not, an error. May be dropped (coalesced: the
// latest state is kept).
type MailboxEvent struct {
	Mailbox MailboxStatus `json:"mailbox"`
}

func (MailboxEvent) Kind() string { return "mailbox" }

// --- Conversation features (issue 17) ---

// MessageChangedEvent says a message of a conversation changed after it
// was shown: edited, reacted to, deleted for everyone (a tombstone), or
// gone (deleted for us, or disappeared). Never dropped.
type MessageChangedEvent struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Change  Change `json:"change"`
	// Message is the message as it is now; nil when it is gone
	// (ChangeRemoved, ChangeExpired).
	Message *Message `json:"message,omitempty"`
}

func (MessageChangedEvent) Kind() string { return "message.changed" }

// Change says how a message changed.
type Change string

const (
	ChangeEdited   Change = "edited"   // its author edited it
	ChangeReaction Change = "reaction" // a reaction was set, changed or removed
	ChangeDeleted  Change = "deleted"  // its author deleted it for everyone: a tombstone
	ChangeRemoved  Change = "removed"  // we deleted it for us: gone
	ChangeExpired  Change = "expired"  // its disappearing timer ran out: gone
)

// --- Groups (issue 18) ---

// GroupEvent says a group was created, joined, changed (members, admins,
// name) or that our standing in it changed (removed, left). Never dropped.
type GroupEvent struct {
	Group Group `json:"group"`
}

// GroupReceiptEvent says how far one of our group messages got: for how
// many members it is, how many have it, how many read it ("delivered to
// 4/5, read by 2"); State is the message's. Never dropped.
type GroupReceiptEvent struct {
	Group       string       `json:"group"`
	ID          string       `json:"id"`
	State       MessageState `json:"state"`
	Recipients  int          `json:"recipients"`
	DeliveredTo int          `json:"delivered_to"`
	ReadBy      int          `json:"read_by"`
}

func (GroupEvent) Kind() string        { return "group" }
func (GroupReceiptEvent) Kind() string { return "group.receipt" }
