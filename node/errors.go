package node

import "errors"

// Errors callers test with errors.Is. The CLI maps them to exit codes.
var (
	ErrUnknownContact = errors.New("unknown contact")
	ErrNotAccepted    = errors.New("contact has not accepted yet")
	ErrBlocked        = errors.New("contact is blocked")
	ErrTooLong        = errors.New("message too long")
	ErrClosed         = errors.New("node closed")

	// --- issue 11: errors a UI shows as they are ---

	// ErrAlreadyContact: AddContact of an address that is already a contact
	// (accepted, or requested and waiting for them). The returned Contact is
	// the existing one; nothing was sent.
	ErrAlreadyContact = errors.New("already a contact")
	// ErrSelf: AddContact of our own address.
	ErrSelf = errors.New("that is your own address")
	// ErrShortPassphrase: CreateProfile with a passphrase shorter than
	// MinPassphrase characters (and not NoPassphrase).
	ErrShortPassphrase = errors.New("passphrase too short")

	// ErrUnknownInvite: no invite with that id (revoked, used up or expired).
	ErrUnknownInvite = errors.New("unknown invite")
	// ErrBadLink: a chive: link that is not an address or an invite link.
	ErrBadLink = errors.New("not a chive link")

	// --- issue 13: sessions ---

	// ErrSessionMismatch: the stored session with a contact was made with
	// another key than theirs (or ours): a tampered profile. It is never
	// used; ResetSession makes a new one.
	ErrSessionMismatch = errors.New("the stored session belongs to another key")
	// --- issue 16: mailbox ---

	// ErrMailboxLinked: MailboxLink while a mailbox is linked.
	ErrMailboxLinked = errors.New("a mailbox is already linked")
	// ErrNoMailbox: MailboxUnlink without a linked mailbox.
	ErrNoMailbox = errors.New("no mailbox is linked")
	// ErrNotPairingLink: MailboxLink of something that is not a pairing link.
	ErrNotPairingLink = errors.New("not a mailbox pairing link")
	// ErrMailboxRefused: the mailbox refused to pair (the link was used
	// already, or it has another owner).
	ErrMailboxRefused = errors.New("the mailbox refused")
	// ErrMailboxUnreachable: MailboxUnlink could not reach the mailbox.
	ErrMailboxUnreachable = errors.New("the mailbox cannot be reached")

	// --- issue 12 ---

	// ErrUnknownMessage: no outgoing message has that id (Retry,
	// CancelScheduled).
	ErrUnknownMessage = errors.New("unknown message")
	// --- issue 18: groups ---

	// ErrUnknownGroup: no group has that name or id.
	ErrUnknownGroup = errors.New("unknown group")
	// ErrAmbiguous: a ref names a group and a contact, or two groups.
	ErrAmbiguous = errors.New("ambiguous name")
	// ErrNotAdmin: the change needs an admin of the group.
	ErrNotAdmin = errors.New("not an admin of the group")
	// ErrNotMember: they are not a member of the group (or we are no
	// longer one).
	ErrNotMember = errors.New("not a member of the group")
	// ErrGroupFull: the group has MaxGroupMembers members.
	ErrGroupFull = errors.New("the group is full")
)

// MinPassphrase is the fewest characters (runes) a profile's passphrase may
// have. A UI shows a strength hint beyond that; this is only the floor.
const MinPassphrase = 8

// MaxName is the longest display name (ours, SetName) and nickname, in
// characters (runes).
const MaxName = 64
