package node

import "errors"

// Errors callers test with errors.Is. The CLI maps them to exit codes.
var (
	ErrUnknownContact = errors.New("unknown contact")
	ErrNotAccepted    = errors.New("contact has not accepted yet")
	ErrBlocked        = errors.New("contact is blocked")
	ErrTooLong        = errors.New("message too long")
	ErrClosed         = errors.New("node closed")
	// ErrUnknownMessage: no outgoing message has that id (Retry,
	// CancelScheduled).
	ErrUnknownMessage = errors.New("unknown message")
)
