package node

import "errors"

// Errors callers test with errors.Is. The CLI maps them to exit codes.
var (
	ErrUnknownContact = errors.New("unknown contact")
	ErrNotAccepted    = errors.New("contact has not accepted yet")
	ErrBlocked        = errors.New("contact is blocked")
	ErrTooLong        = errors.New("message too long")
	ErrClosed         = errors.New("node closed")
	// ErrSessionMismatch: the stored session with a contact was made with
	// another key than theirs (or ours): a tampered profile. It is never
	// used; ResetSession makes a new one.
	ErrSessionMismatch = errors.New("the stored session belongs to another key")
)
