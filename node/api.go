// Package node is chive's engine: it owns the profile, Tor, links to contacts,
// the outbox and delivery, and publishes what happens as typed events.
//
// The terminal UI, the daemon's JSON-RPC server and the CLI all drive it
// through API. The in-process *Node and the daemon's client (node/rpc)
// implement the same interface, so a UI works the same either way.
//
// Where things are: node.go starts, supervises (Tor) and closes; links.go
// keeps one authenticated link per peer; delivery.go moves the outbox
// (dialing with backoff, writing, marking sent); handle.go takes each frame
// a peer sends; contactapi.go and messageapi.go are the API's methods;
// events.go and broker.go are the events and their delivery promise.
// Contacts are read and changed through contacts.Book only.
package node

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// API is the one surface the UI and scripts use. Every method may block on
// storage or the network, so callers in a UI run them off the UI loop.
//
// A contact reference (ref) is a contact's nickname or onion address in any
// form a user might paste (see onion.ParseAddress). Unknown refs return an
// error wrapping ErrUnknownContact.
type API interface {
	// Status reports Tor, reachability and counters.
	Status(ctx context.Context) (Status, error)

	// Contacts lists every contact: pending requests first, then by last activity.
	Contacts(ctx context.Context) ([]Contact, error)
	// Contact returns one contact.
	Contact(ctx context.Context, ref string) (Contact, error)
	// AddContact sends a contact request with a greeting; the contact is
	// "requested" until the peer accepts.
	AddContact(ctx context.Context, address, name, greeting string) (Contact, error)
	// AcceptContact accepts a pending-incoming request and starts the session.
	AcceptContact(ctx context.Context, ref string) (Contact, error)
	// DeclineContact drops a pending-incoming request; the requester learns nothing.
	DeclineContact(ctx context.Context, ref string) error
	// BlockContact blocks an address: no links, no requests, silently.
	BlockContact(ctx context.Context, ref string) error
	// RenameContact sets the local nickname.
	RenameContact(ctx context.Context, ref, name string) error
	// RemoveContact forgets a contact, keeping or deleting the conversation.
	RemoveContact(ctx context.Context, ref string, keepHistory bool) error
	// SetVerified records that safety numbers were compared out of band.
	SetVerified(ctx context.Context, ref string, verified bool) error
	// SafetyNumber is the fingerprint of our identity and the contact's,
	// identical on both sides.
	SafetyNumber(ctx context.Context, ref string) (string, error)

	// Send encrypts and queues text for a contact and returns at once with
	// the message in state "queued" (durably stored); delivery goes on in
	// the background and is reported by MessageStateEvent. A contact we
	// asked who has not accepted yet ("requested") gets it once they do.
	// SendMany does the same with more options.
	Send(ctx context.Context, ref, text string) (Message, error)
	// Retry re-queues a failed outgoing message (encrypted afresh, same id),
	// or redials the contact of one still waiting. An expired, cancelled,
	// delivered or read message is an error.
	Retry(ctx context.Context, messageID string) error
	// History returns up to limit messages of a conversation, newest first,
	// older than the message with id before ("" for the newest page). A
	// limit of 0 means 50, and more than MaxPage means MaxPage.
	History(ctx context.Context, ref string, before string, limit int) ([]Message, error)
	// Inbox returns received messages, oldest first, after the cursor
	// (a Message.Seq; 0 for all), optionally only from one contact. A limit
	// of 0 means 100, and more than MaxPage means MaxPage.
	Inbox(ctx context.Context, q InboxQuery) ([]Message, error)
	// MarkRead marks every received message of a conversation read and,
	// when read receipts are on, tells the sender.
	MarkRead(ctx context.Context, ref string) error
	// Typing tells the contact we are typing. Ephemeral and rate-limited.
	Typing(ctx context.Context, ref string) error

	// Settings and SetSettings read and change user preferences.
	Settings(ctx context.Context) (Settings, error)
	SetSettings(ctx context.Context, s Settings) error

	// Subscribe streams events until ctx is done. The channel is closed then.
	// Messages, message state changes, contact requests and contact changes
	// are never dropped, however slow the reader; progress, presence and
	// typing events may be dropped (coalesced) for a reader that falls behind.
	Subscribe(ctx context.Context) (<-chan Event, error)

	// --- Drafts, display names, unblock (issue 11) ---

	// SetDraft keeps the unsent text of a conversation, sealed in the
	// profile and across restarts; "" clears it (Send does not: the UI
	// clears the draft it sent). Contact.Draft returns it. A draft belongs
	// to the client typing it: SetDraft publishes no event (other clients
	// see it when they next load the contact), and the peer never learns of
	// it. Each call is a durable write: save when the user leaves the
	// conversation, quits or pauses typing, not on every key. Errors:
	// ErrUnknownContact, ErrTooLong (over MaxText bytes).
	SetDraft(ctx context.Context, ref, text string) error
	// SetName changes our display name (Status.Name): the name sent with
	// our contact requests and acceptances, and now, inside the encrypted
	// session, to every accepted contact (and to a requested one once it
	// accepts). Their nickname for us follows only where they never chose
	// one. At most MaxName characters; "" is refused.
	SetName(ctx context.Context, name string) error
	// UnblockContact undoes BlockContact. The contact returns to the state it
	// had when blocked: accepted (same session; nothing is sent, the peer
	// never learned of the block), pending-incoming (their request, to
	// accept or decline; also when they asked again while blocked), or
	// requested (our request is sent again). An address blocked while not in
	// the book, or blocked by a chive before this one (which forgot the
	// session), is removed instead: a stranger again, its history kept
	// hidden until it is added again. Publishes ContactEvent (Removed set in
	// the last case). Unblocking a contact that is not blocked changes
	// nothing. Errors: ErrUnknownContact.
	UnblockContact(ctx context.Context, ref string) error

	// Invite links (issue 13). A contact request that carries an invite's
	// token skips the limits that protect the user from strangers' floods.

	// CreateInvite makes an invite link: chive:<address>?invite=<token>,
	// good for o.Uses requests (default 1) until o.Expires (default in 7 days).
	CreateInvite(ctx context.Context, o InviteOptions) (Invite, error)
	// Invites lists the invites that can still be used, oldest first.
	Invites(ctx context.Context) ([]Invite, error)
	// RevokeInvite deletes an invite; its link stops working at once.
	// Unknown ids return an error wrapping ErrUnknownInvite.
	RevokeInvite(ctx context.Context, id int64) error

	// Session reset (issue 13).

	// ResetSession drops our session with an accepted contact and asks them
	// for a new one (a contact request with our current keys): for when ours
	// is lost or not to be trusted (a restored old backup, a tampered
	// profile). Messages queued for them, and those sent meanwhile, wait and
	// go out under the new session. Their node
	// answers by itself; both sides then get a SessionEvent. For a contact
	// we asked (requested), the request is sent again.
	ResetSession(ctx context.Context, ref string) (Contact, error)
	// --- Mailbox (issue 16) ---

	// MailboxLink pairs our profile with a chive mailbox (an always-on
	// "chive mailbox run") over Tor, with the one-time pairing link it
	// printed (chive:ADDRESS?pair=SECRET), and tells every accepted contact,
	// inside the session, how to leave messages there while we are offline.
	// From then on our node also hands it what contacts that cannot be
	// reached are waiting for. It needs the network (Start): it returns
	// once the mailbox has accepted us. Errors: ErrMailboxLinked (unlink
	// first), ErrNotPairingLink, ErrMailboxRefused (the secret was used, or
	// the mailbox is paired already), a dial error.
	MailboxLink(ctx context.Context, uri string) (MailboxStatus, error)
	// MailboxUnlink forgets our mailbox: it is told to delete everything
	// it holds for us, and contacts are told we have none. If the mailbox
	// cannot be reached it fails with ErrMailboxUnreachable and changes
	// nothing, unless force (then the mailbox keeps what it holds until
	// its retention ends, or "chive mailbox unlink" on it). ErrNoMailbox if
	// none is linked.
	MailboxUnlink(ctx context.Context, force bool) error
	// MailboxStatus says which mailbox is ours, whether we are connected
	// to it, and per contact whether they were told and how many of our
	// items for them a mailbox holds.
	MailboxStatus(ctx context.Context) (MailboxStatus, error)

	// --- Groups (issue 18) ---
	//
	// A group ref is a group's name (any case) or id (32 hex digits). A
	// group ref works wherever a contact ref does: Send, History, Inbox's
	// Contact, MarkRead, Typing and SetDraft act on the group. A ref that
	// names both a group and a contact, or two groups, is an error wrapping
	// ErrAmbiguous (use the id, or the contact's address); one naming
	// neither wraps ErrUnknownContact. Group messages are Messages with
	// Group set; Contact is the group's name and Address the author's.

	// CreateGroup makes a group with us as creator and admin, and invites
	// the members (refs of accepted contacts, at most MaxGroupMembers-1):
	// each gets the invitation inside our 1:1 session. Publishes GroupEvent.
	CreateGroup(ctx context.Context, name string, members []string) (Group, error)
	// Groups lists the groups we are or were in, by last activity.
	Groups(ctx context.Context) ([]Group, error)
	// Group returns one group. Errors: ErrUnknownGroup, ErrAmbiguous.
	Group(ctx context.Context, ref string) (Group, error)
	// InviteToGroup adds an accepted contact to a group we administer; the
	// other members learn of it from us and open sessions with them.
	// Errors: ErrNotAdmin, ErrUnknownContact, ErrNotAccepted, ErrGroupFull.
	InviteToGroup(ctx context.Context, group, member string) (Group, error)
	// RemoveFromGroup removes a member (a contact ref or a member's
	// address); from then on no member seals anything for them, and they
	// learn of it. Errors: ErrNotAdmin, ErrNotMember.
	RemoveFromGroup(ctx context.Context, group, member string) (Group, error)
	// PromoteInGroup makes a member an admin. Errors: ErrNotAdmin, ErrNotMember.
	PromoteInGroup(ctx context.Context, group, member string) (Group, error)
	// LeaveGroup leaves a group: the others learn of it; its history stays.
	LeaveGroup(ctx context.Context, group string) error
	// RenameGroup renames a group we administer. Errors: ErrNotAdmin.
	RenameGroup(ctx context.Context, group, name string) error

	// --- Conversation features (issue 17) ---
	// Each is a message inside the session, applied by the contact's node.
	// A message is named by the contact and its id; ErrNoMessage if the
	// conversation has none. Changes to a message are published as
	// MessageChangedEvent.

	// Reply sends text as a reply to the message to, with an excerpt of it
	// (Message.ReplyTo) the contact sees even if they no longer have it.
	Reply(ctx context.Context, ref, to, text string) (Message, error)
	// React sets our one reaction to a message (either side's) to emoji,
	// replacing the one we had; "" removes it.
	React(ctx context.Context, ref, id, emoji string) error
	// Edit replaces the text of one of our messages, within EditWindow of
	// sending it (ErrNotAuthor, ErrTooLate). Every version is kept (Edits).
	Edit(ctx context.Context, ref, id, text string) (Message, error)
	// Delete deletes a message. For everyone (our own messages, within
	// DeleteWindow): both sides keep a tombstone (Message.Deleted) and
	// erase its text, edits and reactions. For us only: the message is
	// erased from our profile; the contact keeps theirs.
	Delete(ctx context.Context, ref, id string, forEveryone bool) error
	// Edits returns every version of a message, the original first.
	Edits(ctx context.Context, ref, id string) ([]Version, error)
	// SetTimer sets the conversation's disappearing-messages timer (one of
	// Timers; 0 turns it off) for both sides; the change is a message of
	// the conversation (Kind "timer"), returned. Messages sent from then on
	// are erased from both profiles the timer after each side read them
	// (ours: after sending).
	SetTimer(ctx context.Context, ref string, timer time.Duration) (Message, error)
	// Search finds messages whose text holds every word of q.Text (case
	// and accents aside), newest first.
	Search(ctx context.Context, q SearchQuery) ([]Message, error)
	// Backup writes the whole profile (identity, contacts, sessions,
	// history) to one file at o.Path, encrypted under o.Passphrase.
	Backup(ctx context.Context, o BackupOptions) (BackupInfo, error)

	// Files (issue 15). A file travels as a message (Message.File) whose
	// id is the file's id. Its chunks move in the background, reported by
	// FileStateEvent (never dropped) and FileProgressEvent (coalesced).

	// SendFile offers the file at path (on the node's machine) to an
	// accepted contact, with an optional caption. The file is copied into
	// the profile, sealed, before it returns, so the original may change
	// or go away afterwards. It returns the message, state "queued", its
	// File "offered".
	SendFile(ctx context.Context, ref, path, caption string) (Message, error)
	// Files lists transfers, newest first.
	Files(ctx context.Context, q FileQuery) ([]Transfer, error)
	// File returns one transfer by id.
	File(ctx context.Context, id string) (Transfer, error)
	// AcceptFile starts fetching an offered file.
	AcceptFile(ctx context.Context, id string) (Transfer, error)
	// CancelFile stops a transfer on both sides (declining an offer, too)
	// and deletes its data; the peer is told.
	CancelFile(ctx context.Context, id string) (Transfer, error)
	// PauseFile pauses a transfer on this side; ResumeFile goes on (and
	// retries one stalled by a full disk at once).
	PauseFile(ctx context.Context, id string) (Transfer, error)
	ResumeFile(ctx context.Context, id string) (Transfer, error)
	// SaveFile decrypts a complete file to path (mode 0600, never over an
	// existing file; a directory gets the file under its name) and
	// returns the path written.
	SaveFile(ctx context.Context, id, path string) (string, error)
	// OpenFile decrypts a complete file to a private temporary directory
	// for a viewer and returns its path; copies are removed when the node
	// closes.
	OpenFile(ctx context.Context, id string) (string, error)
	// Thumbnail returns the small preview (JPEG, PNG or GIF, at most 16
	// KiB) the sender made of an image, checked with limits; Data is nil
	// when there is none.
	Thumbnail(ctx context.Context, id string) (Thumbnail, error)

	// Delivery for scripts and bots (issue 12).

	// SendMany queues req.Text for every contact in req.To (duplicates
	// count once) in one transaction: all are queued, or none is and the
	// error names the contact that failed. The messages come back in the
	// order of req.To, each in its own state ("queued"; or, for an
	// idempotency key already used with that contact, the first message
	// sent with it, in whatever state it is now).
	SendMany(ctx context.Context, req SendRequest) ([]Message, error)
	// Scheduled lists our messages scheduled for later (SendRequest.At)
	// that have not been sent yet, earliest first.
	Scheduled(ctx context.Context) ([]Message, error)
	// CancelScheduled cancels a scheduled message that has not been sent
	// yet: it becomes "cancelled" and is never sent. An error once it was.
	CancelScheduled(ctx context.Context, messageID string) error
}

// MaxPage caps the limit of History and Inbox.
const MaxPage = 1000

// MaxIdempotencyKey is the longest SendRequest.IdempotencyKey, in bytes.
const MaxIdempotencyKey = 256

// SendRequest is what SendMany sends.
type SendRequest struct {
	To   []string // contact references; at least one
	Text string
	// TTL, if positive, is how long the message is worth delivering: not
	// delivered TTL after it was sent (after At, for a scheduled message),
	// it becomes "expired" and is never delivered. The receiver refuses it
	// after that time too.
	TTL time.Duration
	// At schedules the message: it is encrypted and sent at that time
	// (later, if the node is not running then). Zero or past: now.
	At time.Time
	// IdempotencyKey, if set, makes the send safe to repeat: a second send
	// with the same key to the same contact returns the first message and
	// sends nothing. At most MaxIdempotencyKey bytes.
	IdempotencyKey string
}

// ContactState values are part of the CLI and JSON-RPC contract.
type ContactState string

const (
	StateRequested       ContactState = "requested"        // we asked, they have not accepted yet
	StatePendingIncoming ContactState = "pending-incoming" // they asked, we have not answered
	StateAccepted        ContactState = "accepted"
	StateBlocked         ContactState = "blocked"
)

// Presence of a contact.
type Presence string

const (
	Online     Presence = "online"     // a link is up
	Connecting Presence = "connecting" // dialling now
	Offline    Presence = "offline"
)

// Contact is one entry of the contact book as the UI sees it.
type Contact struct {
	Address     string       `json:"address"` // canonical onion address, no ".onion"
	Name        string       `json:"name"`
	State       ContactState `json:"state"`
	Verified    bool         `json:"verified"`
	Presence    Presence     `json:"presence"`
	LastSeen    time.Time    `json:"last_seen,omitzero"`
	Greeting    string       `json:"greeting,omitempty"` // of a pending-incoming request
	Unread      int          `json:"unread"`
	LastMessage string       `json:"last_message,omitempty"` // preview of the newest message
	LastAt      time.Time    `json:"last_at,omitzero"`
	Created     time.Time    `json:"created"`

	// Draft is the unsent text of the conversation (SetDraft).
	Draft string `json:"draft,omitempty"`
	// PeerName is the display name the contact gives itself, cleaned with
	// safetext and at most MaxName characters: theirs to change, never a
	// name we chose. Name is our nickname for them; while we have not chosen
	// one it is filled from PeerName.
	PeerName string `json:"peer_name,omitempty"`

	// ID is the contact's local number, stable for the profile: logs name
	// contacts by it ("#3"), and "#3" works as a ref.
	ID int64 `json:"id,omitempty"`
	// Invited: their pending request came with one of our invite links.
	Invited bool `json:"invited,omitempty"`

	// Timer is the conversation's disappearing-messages timer (issue 17);
	// 0: off. In JSON: seconds.
	Timer Seconds `json:"timer,omitempty"`
}

// Direction of a message.
type Direction string

const (
	Incoming Direction = "in"
	Outgoing Direction = "out"
)

// MessageState values are part of the CLI and JSON-RPC contract.
//
// Outgoing: queued → sent → delivered → read, or one of three ends
// without delivery: failed (given up for a reason in Message.Error: the
// peer refused it, or the contact was removed or blocked; Retry queues it
// again), expired (its TTL passed before the peer acknowledged it; final,
// it is never delivered late) or cancelled (a scheduled message taken
// back before it was sent; final).
type MessageState string

const (
	Queued    MessageState = "queued"    // outgoing, stored and waiting (maybe for its scheduled time, SendAt)
	Sent      MessageState = "sent"      // outgoing, written to the peer's link
	Stored    MessageState = "stored"    // outgoing, kept by a mailbox (ours or theirs) until the peer collects it
	Delivered MessageState = "delivered" // outgoing, acknowledged by the peer's node
	Read      MessageState = "read"      // outgoing: the peer read it; incoming: we read it
	Failed    MessageState = "failed"    // outgoing, given up; see Message.Error; Retry re-queues
	Received  MessageState = "received"  // incoming, not read yet
	Expired   MessageState = "expired"   // outgoing, not delivered before ExpiresAt; final
	Cancelled MessageState = "cancelled" // outgoing, a scheduled message cancelled before it was sent; final
)

// Message is one message of a conversation.
type Message struct {
	ID          string       `json:"id"`  // 32 hex digits: the 128-bit message id
	Seq         int64        `json:"seq"` // local order; cursor for Inbox
	Contact     string       `json:"contact"`
	Address     string       `json:"address"`
	Direction   Direction    `json:"direction"`
	Text        string       `json:"text"`
	Time        time.Time    `json:"time"` // created (outgoing) or received (incoming)
	State       MessageState `json:"state"`
	Error       string       `json:"error,omitempty"` // failed or expired: why
	SentAt      time.Time    `json:"sent_at,omitzero"`
	DeliveredAt time.Time    `json:"delivered_at,omitzero"`
	ReadAt      time.Time    `json:"read_at,omitzero"`
	ExpiresAt   time.Time    `json:"expires_at,omitzero"` // outgoing with a TTL: never delivered after this
	SendAt      time.Time    `json:"send_at,omitzero"`    // outgoing, scheduled: when it is (or was) due

	// Resilience (issue 14):

	// Unreadable: the stored copy of this message is damaged, so Text is
	// UnreadableText, not what was written. Its other fields are intact.
	Unreadable bool `json:"unreadable,omitempty"`
	// File is the file the message carries (Text is then its caption).
	File *File `json:"file,omitempty"`

	// Conversation features (issue 17).

	// Kind is "" for a chat message, KindTimer for a change of the
	// disappearing-messages timer (Timer is the new one; Text is empty).
	Kind string `json:"kind,omitempty"`
	// ReplyTo is the message this one answers.
	ReplyTo *ReplyTo `json:"reply_to,omitempty"`
	// Reactions, one per person at most, oldest first.
	Reactions []Reaction `json:"reactions,omitempty"`
	// Edited is when the text was last changed by its author (their
	// clock); Edits has every version.
	Edited time.Time `json:"edited,omitzero"`
	// Deleted: its author deleted it for everyone; Text is empty.
	Deleted bool `json:"deleted,omitempty"`
	// Timer: a chat message is erased this long after it was read (ours:
	// sent); a timer change's new timer. In JSON: seconds.
	Timer Seconds `json:"timer,omitempty"`
	// Disappears is when it will be erased, once its timer runs.
	Disappears time.Time `json:"disappears,omitzero"`

	// Group messages (issue 18): Group is the group's id (Contact its
	// name, Address the author's); Author and AuthorName who wrote it; Via
	// the member it came from when not its author. Ours carry how many
	// members it is for and how many have it and read it (State is
	// "delivered" once all have it, "read" once all read it).
	Group       string `json:"group,omitempty"`
	Author      string `json:"author,omitempty"`
	AuthorName  string `json:"author_name,omitempty"`
	Via         string `json:"via,omitempty"`
	Recipients  int    `json:"recipients,omitempty"`
	DeliveredTo int    `json:"delivered_to,omitempty"`
	ReadBy      int    `json:"read_by,omitempty"`
}

// KindTimer is Message.Kind of a change of the disappearing-messages timer.
const KindTimer = "timer"

// ReplyTo is the message a reply answers.
type ReplyTo struct {
	ID        string    `json:"id"`
	Direction Direction `json:"direction"` // who wrote it: "in" the contact, "out" us
	// Quote is the excerpt its author's reply carried: shown even when the
	// message answered is gone (deleted, disappeared, or never received).
	Quote string `json:"quote,omitempty"`
}

// Reaction is one person's reaction to a message.
type Reaction struct {
	Emoji string    `json:"emoji"`
	From  Direction `json:"from"` // "in": the contact; "out": us
	At    time.Time `json:"at"`
}

// Version is one text a message had (Edits).
type Version struct {
	Text string    `json:"text"`
	At   time.Time `json:"at"` // when its author wrote it, by their clock
}

// SearchQuery selects messages for Search.
type SearchQuery struct {
	Text    string `json:"query"`
	Contact string `json:"contact,omitempty"` // ref; "" searches every conversation
	Limit   int    `json:"limit,omitempty"`   // 0: 100
}

// BackupOptions say where Backup writes and under which passphrase.
type BackupOptions struct {
	Path       string `json:"path"` // a new file (an existing one is not replaced)
	Passphrase string `json:"passphrase"`
}

// BackupInfo describes a backup written.
type BackupInfo struct {
	Path     string    `json:"path"`
	Bytes    int64     `json:"bytes"`
	Contacts int       `json:"contacts"`
	Messages int       `json:"messages"`
	Created  time.Time `json:"created"`
}

// Seconds is a duration written in JSON as whole seconds.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(time.Duration(s)/time.Second), 10), nil
}

func (s *Seconds) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/int64(time.Second) {
		return fmt.Errorf("a number of seconds, not %s", b)
	}
	*s = Seconds(time.Duration(n) * time.Second)
	return nil
}

// UnreadableText stands in for the text of a message whose stored copy is
// damaged (Message.Unreadable).
const UnreadableText = "(this message could not be read: its stored copy is damaged; chive doctor checks the profile)"

// InboxQuery selects received messages for Inbox.
type InboxQuery struct {
	After   int64  `json:"after,omitempty"`   // Message.Seq of the last message seen; 0 for all
	Contact string `json:"contact,omitempty"` // ref; "" for every contact
	Limit   int    `json:"limit,omitempty"`   // 0 for a default page
	// Outgoing includes our own messages too, with their state (issue 16:
	// "chive inbox --outgoing" shows which are stored in a mailbox).
	Outgoing bool `json:"outgoing,omitempty"`
}

// TorState is the coarse state of Tor.
type TorState string

const (
	TorStarting      TorState = "starting"
	TorBootstrapping TorState = "bootstrapping"
	TorReady         TorState = "ready"
	TorFailed        TorState = "failed"
	// TorOffline: tor runs and was bootstrapped, but says the network is
	// gone (no circuit can be built: network liveness down, all directory
	// servers unreachable, or circuits failing one after another). Nothing
	// can be sent or received until it comes back; Error says what tor saw.
	TorOffline TorState = "offline"
	// TorReconnecting: the network came back (tor saw traffic again) and
	// tor is building circuits; "ready" follows once one is built.
	TorReconnecting TorState = "reconnecting"
)

// TorStatus is Tor's progress as the status bar shows it.
type TorStatus struct {
	State   TorState `json:"state"`
	Percent int      `json:"percent"`
	Summary string   `json:"summary,omitempty"` // tor's phase text
	Error   string   `json:"error,omitempty"`   // why it failed, and what to do
}

// Status is the node's state at a glance.
type Status struct {
	Address         string    `json:"address"`
	Name            string    `json:"name"`
	Tor             TorStatus `json:"tor"`
	Reachable       bool      `json:"reachable"` // our onion service is published
	Contacts        int       `json:"contacts"`
	ContactsOnline  int       `json:"contacts_online"`
	PendingRequests int       `json:"pending_requests"`
	Outbox          int       `json:"outbox"`    // items waiting to be delivered
	Daemon          bool      `json:"daemon"`    // served by a running daemon
	Scheduled       int       `json:"scheduled"` // messages scheduled for later, not sent yet
	// Defences are tor's flood defences of our onion service, once it is
	// published (nil before, and without tor).
	Defences *Defences `json:"defences,omitempty"`

	// Resilience (issue 14):

	// Unreadable counts stored rows that could not be read, by kind
	// ("messages", "contacts", "sessions", "outbox"): damaged on disk.
	// They are skipped or shown as unreadable; chive doctor finds and
	// repairs them. Absent when there are none.
	Unreadable map[string]int `json:"unreadable,omitempty"`
	// StorageError says why the node cannot store what arrives (the disk
	// is full) and since when; incoming frames are refused, unacknowledged,
	// until it clears, so peers keep them and resend. Empty when storing works.
	StorageError string `json:"storage_error,omitempty"`
	// NetworkProblem says why peers may not reach us although Tor runs
	// (our own onion service did not answer through Tor) and what the
	// node does about it; Reachable is false meanwhile. Empty when fine.
	NetworkProblem string `json:"network_problem,omitempty"`
	// ReachableChecked is when our onion service last answered us through
	// Tor (checked every few minutes); zero before the first check.
	ReachableChecked time.Time `json:"reachable_checked,omitzero"`
}

// Defences are tor's protections of our onion service against floods.
type Defences struct {
	TorVersion string `json:"tor_version,omitempty"`
	// MaxStreams: a rendezvous circuit opening more streams than this at
	// once is closed by tor.
	MaxStreams int `json:"max_streams"`
	// PoW: tor's proof-of-work defences are on (tor ≥ 0.4.9 with its pow
	// module); off, chive still works, with its own limits only.
	PoW           bool `json:"pow"`
	PoWQueueRate  int  `json:"pow_queue_rate,omitempty"`
	PoWQueueBurst int  `json:"pow_queue_burst,omitempty"`
}

// InviteOptions say how often and how long an invite works. Zero values
// mean the defaults.
type InviteOptions struct {
	Uses    int       `json:"uses,omitempty"`   // requests it lets in; default 1
	Expires time.Time `json:"expires,omitzero"` // default: 7 days from now
}

// Invite is an invite link and how much of it is left.
type Invite struct {
	ID      int64     `json:"id"`
	Link    string    `json:"link"` // chive:<address>?invite=<token>
	Uses    int       `json:"uses"` // requests it let in so far
	MaxUses int       `json:"max_uses"`
	Expires time.Time `json:"expires"`
	Created time.Time `json:"created"`
}

// Settings are user preferences stored in the profile.
type Settings struct {
	ReadReceipts bool `json:"read_receipts"` // default true
	Typing       bool `json:"typing"`        // send typing indicators; default true

	// Files (issue 15), in bytes. 0 means the default; Settings reports
	// the values in force.
	MaxFileSize  int64 `json:"max_file_size"` // largest file sent or accepted; default 1 GiB
	AutoDownload int64 `json:"auto_download"` // images and voice up to this are fetched unasked; default 10 MiB; negative: never
	FileQuota    int64 `json:"file_quota"`    // bytes of files accepted per contact; default 4 GiB
}

// FileState values are part of the CLI and JSON-RPC contract.
type FileState string

const (
	FileOffered   FileState = "offered"   // in: waiting for AcceptFile; out: waiting for the peer
	FileAccepted  FileState = "accepted"  // moving, or waiting for the link
	FilePaused    FileState = "paused"    // paused on this side
	FileCompleted FileState = "completed" // in: stored, hash checked; out: the peer has it
	FileFailed    FileState = "failed"    // refused, damaged or gone: see Error
	FileCancelled FileState = "cancelled" // by either side
)

// File is the file a message carries.
type File struct {
	ID        string    `json:"id"`   // the message's id
	Name      string    `json:"name"` // sanitized: safe as a file name and to print
	Size      int64     `json:"size"`
	MediaType string    `json:"media_type"` // sniffed from the content (incoming: once complete)
	State     FileState `json:"state"`
	Bytes     int64     `json:"bytes"`           // progress: stored (in) or sent (out)
	Error     string    `json:"error,omitempty"` // why it failed, or why it waits (a full disk)
	Thumbnail bool      `json:"thumbnail,omitempty"`
	Width     int       `json:"width,omitempty"` // of an image, when known
	Height    int       `json:"height,omitempty"`
}

// Transfer is a file with its conversation and counters.
type Transfer struct {
	File
	Contact        string    `json:"contact"`
	Address        string    `json:"address"`
	Direction      Direction `json:"direction"`
	SHA256         string    `json:"sha256"`
	SentBytes      int64     `json:"sent_bytes"`      // out: chunk bytes written to links, resends included
	ReceivedBytes  int64     `json:"received_bytes"`  // in: chunk bytes received, duplicates included
	DuplicateBytes int64     `json:"duplicate_bytes"` // in: received again after being stored
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
	Done           time.Time `json:"done,omitzero"`
}

// FileQuery selects transfers for Files.
type FileQuery struct {
	Contact   string    `json:"contact,omitempty"`   // ref; "" for every contact
	Direction Direction `json:"direction,omitempty"` // "in", "out" or "" for both
	Active    bool      `json:"active,omitempty"`    // only transfers not ended
	Limit     int       `json:"limit,omitempty"`     // 0: 100
}

// Thumbnail is a file's preview image.
type Thumbnail struct {
	MediaType string `json:"media_type,omitempty"` // image/jpeg, image/png or image/gif
	Data      []byte `json:"data,omitempty"`       // base64 in JSON
}

// --- Groups (issue 18) ---

// MaxGroupMembers is the most members a group can have, its creator
// included (see docs/protocol.md, "Groups": what limits it).
const MaxGroupMembers = 50

// GroupState is our standing in a group; part of the CLI and JSON-RPC contract.
type GroupState string

const (
	GroupActive GroupState = "active" // we are a member
	// GroupInvited: a contact invited us and their copy of the member list
	// has not arrived yet (it comes as soon as they are reachable).
	GroupInvited GroupState = "invited"
	GroupRemoved GroupState = "removed" // an admin removed us
	GroupLeft    GroupState = "left"    // we left
)

// Group is a group as the UI sees it.
type Group struct {
	ID          string        `json:"id"` // 32 hex digits
	Name        string        `json:"name"`
	State       GroupState    `json:"state"`
	Admin       bool          `json:"admin"` // we are an admin
	Members     []GroupMember `json:"members"`
	Unread      int           `json:"unread"`
	LastMessage string        `json:"last_message,omitempty"`
	LastAt      time.Time     `json:"last_at,omitzero"`
	Created     time.Time     `json:"created"`
	Draft       string        `json:"draft,omitempty"`
	// InvitedBy is the contact who added us (absent for our own groups).
	InvitedBy string `json:"invited_by,omitempty"`
}

// GroupMember is one member of a group.
type GroupMember struct {
	Address string `json:"address"`
	// Name is our nickname for them if they are a contact, else the
	// display name they gave the group (cleaned), else "".
	Name     string   `json:"name,omitempty"`
	Admin    bool     `json:"admin"`
	Creator  bool     `json:"creator,omitempty"`
	Self     bool     `json:"self,omitempty"`
	Contact  bool     `json:"contact,omitempty"` // an accepted contact of ours
	Presence Presence `json:"presence"`
	// Session: our group-scoped session with them exists (messages to them
	// wait in our outbox until it does).
	Session bool `json:"session"`
}
