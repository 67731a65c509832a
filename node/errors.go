package node

import "errors"

// Errors callers test with errors.Is. The CLI maps them to exit codes.
var (
	ErrUnknownContact = errors.New("unknown contact")
	ErrNotAccepted    = errors.New("contact has not accepted yet")
	ErrBlocked        = errors.New("contact is blocked")
	ErrTooLong        = errors.New("message too long")
	ErrClosed         = errors.New("node closed")
	// ErrUnknownInvite: no invite with that id (revoked, used up or expired).
	ErrUnknownInvite = errors.New("unknown invite")
	// ErrBadLink: a chive: link that is not an address or an invite link.
	ErrBadLink = errors.New("not a chive link")
)
