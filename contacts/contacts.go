// Package contacts is the contact book: who the user talks to, where each
// contact stands in the request handshake, and the flood limits on requests
// from strangers. It sits on top of storage and validates addresses with
// onion.ParseAddress.
//
// The states are storage's: "requested" (we asked), "pending-incoming"
// (they asked), "accepted", "blocked". Methods that change state take
// optional Then callbacks that run in the same SQL transaction, so the node
// can store a session or queue a frame atomically with the change:
//
//	c, err := book.Accept(ctx, id, func(tx *storage.Tx, c contacts.Contact) error {
//		if err := tx.PutSession(c.ID, state, now); err != nil {
//			return err
//		}
//		_, err := tx.QueueFrame(storage.OutboxItem{ContactID: c.ID, Kind: storage.KindAccept, Frame: frame})
//		return err
//	})
package contacts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
)

// State is a contact's state; the constants are storage's.
type State = storage.ContactState

const (
	Requested       = storage.StateRequested
	PendingIncoming = storage.StatePendingIncoming
	Accepted        = storage.StateAccepted
	Blocked         = storage.StateBlocked
)

var (
	// ErrBlocked: the address is blocked; its requests are refused.
	ErrBlocked = errors.New("contacts: address is blocked")
	// ErrRateLimited: too many requests from this address or in total;
	// the request was dropped (nothing stored).
	ErrRateLimited = errors.New("contacts: too many contact requests")
	// ErrNotFound: no such contact.
	ErrNotFound = errors.New("contacts: no such contact")
	// ErrExists: the address is already in the book (see the returned
	// contact's State).
	ErrExists = errors.New("contacts: already in the contact book")
	// ErrAmbiguous: a reference matches several contacts.
	ErrAmbiguous = errors.New("contacts: ambiguous name")
	// ErrNameTaken: another contact already has that name.
	ErrNameTaken = errors.New("contacts: name already used by another contact")
	// ErrSelf: the address is the user's own.
	ErrSelf = errors.New("contacts: that is your own address")
	// ErrState: the operation does not apply in the contact's state
	// (for example declining an accepted contact).
	ErrState = errors.New("contacts: not possible in this state")
)

// Contact is a contact as the UI and node see it.
type Contact struct {
	ID         int64
	Address    onion.Address
	Name       string // the user's nickname for them; may be empty for a pending request
	State      State
	Verified   bool
	Greeting   string
	PeerBundle []byte // their ratchet bundle (from their request), opaque
	Note       string
	Created    time.Time
	Updated    time.Time // last change of state, name, greeting or bundle
	LastSeen   time.Time
	// Removed: taken out of the book with its history kept. Only Lookup and
	// LookupID return removed contacts; to the node they are strangers.
	Removed bool
	// PeerName is the display name the contact gives itself (CleanName'd).
	PeerName string
	// NameSent is our display name as last sent to them ("": none yet).
	NameSent string
	// BlockedFrom is a blocked contact's state before the block, which
	// Unblock restores; "" when it was not in the book (or blocked by a
	// chive before schema version 3).
	BlockedFrom State
	// Invited: their (pending) request came with a valid invite token.
	Invited bool

	// Filled by List, Get, ByAddress and Find (not by the Lookup methods):
	Unread      int
	LastMessage *storage.Message // newest message, nil if none
}

// Display is the name to show: the nickname, else the short address.
func (c Contact) Display() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Address.Short()
}

// Preview is the newest message body on one line, cut to n runes.
func (c Contact) Preview(n int) string {
	if c.LastMessage == nil {
		return ""
	}
	s := strings.Join(strings.Fields(c.LastMessage.Body), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

// Then runs inside the transaction of a contact change, after the change;
// an error rolls the whole change back.
type Then func(tx *storage.Tx, c Contact) error

// Rate is a token bucket: Burst requests at once, then one per Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// Options configure a Book. Zero fields get the defaults noted.
type Options struct {
	Self       onion.Address // the user's own address (refused by Add)
	PerAddress Rate          // default: burst 3, one per 10 minutes
	Total      Rate          // default: burst 20, one per 30 seconds
	MaxPending int           // pending-incoming requests kept at most; default 100
}

// Book is the contact book. Safe for concurrent use.
type Book struct {
	db   *storage.DB
	self onion.Address
	max  int

	mu    sync.Mutex // guards the buckets
	total bucket
	per   map[onion.Address]*bucket
	rate  Rate
}

// New returns a Book over db.
func New(db *storage.DB, opts Options) *Book {
	if opts.PerAddress.Burst <= 0 {
		opts.PerAddress = Rate{Burst: 3, Every: 10 * time.Minute}
	}
	if opts.Total.Burst <= 0 {
		opts.Total = Rate{Burst: 20, Every: 30 * time.Second}
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100
	}
	return &Book{
		db: db, self: opts.Self, max: opts.MaxPending,
		total: bucket{rate: opts.Total, tokens: float64(opts.Total.Burst)},
		per:   make(map[onion.Address]*bucket),
		rate:  opts.PerAddress,
	}
}

func fromStorage(sc storage.Contact) Contact {
	return Contact{
		ID: sc.ID, Address: onion.Address(sc.Address), Name: sc.Nickname, State: sc.State, Verified: sc.Verified,
		Greeting: sc.Greeting, PeerBundle: sc.PeerBundle, Note: sc.Note, Created: sc.Created, Updated: sc.Updated,
		LastSeen: sc.LastSeen, Removed: sc.Removed,
		PeerName: sc.PeerName, NameSent: sc.NameSent, BlockedFrom: sc.BlockedFrom, Invited: sc.Invited,
	}
}

func notFound(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return err
}

// change loads contact id in a transaction, lets fn modify it, stores it
// and runs the Then callbacks.
func (b *Book) change(ctx context.Context, id int64, fn func(tx *storage.Tx, sc *storage.Contact) error, then []Then) (Contact, error) {
	var out Contact
	err := b.db.Update(ctx, func(tx *storage.Tx) error {
		sc, err := tx.Contact(id)
		if err != nil {
			return notFound(err)
		}
		if sc.Removed {
			return ErrNotFound
		}
		if err := fn(tx, &sc); err != nil {
			return err
		}
		if err := tx.UpdateContact(sc); err != nil {
			return err
		}
		out = fromStorage(sc)
		for _, t := range then {
			if err := t(tx, out); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// nameTaken reports whether another live contact (not exceptID) has name.
// It reads inside tx, whose write lock keeps the check and the write that
// follows together: no other Add, Rename or peer name can interleave.
func nameTaken(tx *storage.Tx, name string, exceptID int64) error {
	if name == "" {
		return nil
	}
	cs, err := tx.Contacts()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID != exceptID && !c.Removed && strings.EqualFold(c.Nickname, name) {
			return fmt.Errorf("%w: %q", ErrNameTaken, name)
		}
	}
	return nil
}

func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", errors.New("contacts: name has control characters")
	}
	if utf8.RuneCountInString(name) > MaxName {
		return "", fmt.Errorf("contacts: name longer than %d characters", MaxName)
	}
	if _, err := onion.ParseAddress(name); err == nil {
		return "", errors.New("contacts: a name cannot be an address")
	}
	if _, err := strconv.ParseInt(name, 10, 64); err == nil && name != "" {
		return "", errors.New("contacts: a name cannot be a number")
	}
	return name, nil
}

// Add puts the address (any paste form onion.ParseAddress accepts) in the
// book as "requested", with our greeting; then runs in the same transaction
// (typically to queue the request frame). Adding a removed or blocked
// contact revives it as requested (adding is an explicit choice). ErrExists
// (with the contact) if the address is already requested, pending or
// accepted.
func (b *Book) Add(ctx context.Context, address, name, greeting string, then ...Then) (Contact, error) {
	addr, err := onion.ParseAddress(address)
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: add: %w", err)
	}
	if addr == b.self && b.self != "" {
		return Contact{}, ErrSelf
	}
	if name, err = validName(name); err != nil {
		return Contact{}, err
	}
	var out Contact
	err = b.db.Update(ctx, func(tx *storage.Tx) error {
		sc, err := tx.ContactByAddress(string(addr))
		exceptID := int64(0)
		if err == nil {
			exceptID = sc.ID
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if !(err == nil && !sc.Removed && sc.State != Blocked) { // it would be (re)named
			if err := nameTaken(tx, name, exceptID); err != nil {
				return err
			}
		}
		switch {
		case errors.Is(err, storage.ErrNotFound):
			sc, err = tx.InsertContact(storage.Contact{Address: string(addr), Nickname: name, State: Requested, Greeting: greeting})
			if err != nil {
				return err
			}
		case sc.Removed || sc.State == Blocked:
			// A fresh request: whatever session there was is stale.
			if sc.State == Blocked {
				if err := tx.ForgetSession(sc.ID); err != nil {
					return err
				}
			}
			sc.Removed, sc.State, sc.Nickname, sc.Greeting, sc.Verified = false, Requested, name, greeting, false
			sc.BlockedFrom, sc.PeerBundle = "", nil
			if err := tx.UpdateContact(sc); err != nil {
				return err
			}
		default:
			out = fromStorage(sc)
			return fmt.Errorf("%w (%s, %s)", ErrExists, sc.Nickname, sc.State)
		}
		out = fromStorage(sc)
		for _, t := range then {
			if err := t(tx, out); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrExists) {
		return out, err
	}
	if err != nil {
		if errors.Is(err, ErrNameTaken) {
			return Contact{}, err
		}
		return Contact{}, fmt.Errorf("contacts: add: %w", err)
	}
	return out, nil
}

// IncomingRequest records a contact request from address with the peer's
// bundle and greeting, received at now: Receive without an invite token.
func (b *Book) IncomingRequest(ctx context.Context, address onion.Address, bundle []byte, greeting string, now time.Time, then ...Then) (Contact, error) {
	r, err := b.Receive(ctx, Request{Address: address, Bundle: bundle, Greeting: greeting, At: now}, then...)
	return r.Contact, err
}

// Request is a contact request as the node received it.
type Request struct {
	Address  onion.Address
	Bundle   []byte
	Greeting string
	At       time.Time
	// Invite is the invite token the request carried, if any. A usable one
	// is redeemed (one use) in the transaction that stores the request,
	// which then skips the rate limits and the pending cap and is never
	// evicted. An unusable one is ignored: the request is a stranger's.
	Invite []byte
}

// Received says what Receive did.
type Received struct {
	Contact Contact
	// Evicted are the pending requests dropped to make room: the oldest
	// request that came without an invite, when the pending list was full.
	Evicted []Contact
}

// Receive records a contact request. A stranger becomes "pending-incoming".
// Errors: ErrBlocked (blocked address), ErrRateLimited (too many requests
// from this address or in total: nothing stored), ErrSelf.
//
// When the pending list is full, the oldest request without an invite is
// dropped to make room (reported in Received.Evicted): a flood of requests
// from fresh addresses can push out older uninvited requests but never lock
// the list, and never touches invited ones.
//
// From a blocked address the request is kept silently (ErrBlocked, with
// the contact; then runs): Unblock then shows it as pending-incoming.
//
// From an address already in the book the bundle and greeting are updated
// and the state is left alone: for "requested" (both asked at once) and
// "accepted" (the peer lost its session) the node decides what to do.
func (b *Book) Receive(ctx context.Context, r Request, then ...Then) (Received, error) {
	addr, err := onion.ParseAddress(string(r.Address))
	if err != nil {
		return Received{}, fmt.Errorf("contacts: incoming request: %w", err)
	}
	if addr == b.self && b.self != "" {
		return Received{}, ErrSelf
	}
	if len(r.Greeting) > 4096 || len(r.Bundle) > 64<<10 {
		return Received{}, errors.New("contacts: incoming request: greeting or bundle too large")
	}
	now := r.At
	existing, err := b.db.ContactByAddress(ctx, string(addr))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Received{}, fmt.Errorf("contacts: incoming request: %w", err)
	}
	known := err == nil && !existing.Removed
	blocked := err == nil && existing.State == Blocked
	// An invited request that is still pending stays invited: its resends
	// and updates pass without using the invite again.
	invited := known && existing.Invited && existing.State == PendingIncoming
	redeem := false
	if !invited && !blocked && r.Invite != nil && (!known || existing.State == PendingIncoming) {
		if _, err := b.db.CheckInvite(ctx, r.Invite, now); err == nil {
			invited, redeem = true, true
		}
	}
	if !invited && !b.allow(addr, now) {
		if blocked {
			return Received{}, ErrBlocked
		}
		return Received{}, ErrRateLimited
	}
	var out Received
	err = b.db.Update(ctx, func(tx *storage.Tx) error {
		out = Received{}
		if redeem {
			if _, err := tx.RedeemInvite(r.Invite, now); err != nil {
				return err // used up meanwhile: the sender retries
			}
		}
		sc, err := tx.ContactByAddress(string(addr))
		switch {
		case errors.Is(err, storage.ErrNotFound):
			if err := b.makeRoom(tx, invited, &out); err != nil {
				return err
			}
			sc, err = tx.InsertContact(storage.Contact{Address: string(addr), State: PendingIncoming, Greeting: r.Greeting,
				PeerBundle: r.Bundle, Created: now, Invited: invited})
			if err != nil {
				return err
			}
		case err != nil:
			return err
		case sc.State == Blocked:
			// Kept silently: they asked (again), so unblocking shows their
			// request. Whatever session we had is stale for them.
			if err := tx.ForgetSession(sc.ID); err != nil {
				return err
			}
			sc.BlockedFrom, sc.PeerBundle, sc.Greeting, sc.Updated = PendingIncoming, r.Bundle, r.Greeting, now
			if err := tx.UpdateContact(sc); err != nil {
				return err
			}
		default:
			if sc.Removed {
				if err := b.makeRoom(tx, invited, &out); err != nil {
					return err
				}
				sc.Removed, sc.State, sc.Verified = false, PendingIncoming, false
			}
			if sc.State == PendingIncoming && invited {
				sc.Invited = true
			}
			sc.PeerBundle, sc.Greeting, sc.Updated = r.Bundle, r.Greeting, now
			if err := tx.UpdateContact(sc); err != nil {
				return err
			}
		}
		out.Contact = fromStorage(sc)
		for _, t := range then {
			if err := t(tx, out.Contact); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, storage.ErrInviteUsed) {
			return Received{}, fmt.Errorf("%w: the invite was used up meanwhile", ErrRateLimited)
		}
		return Received{}, fmt.Errorf("contacts: incoming request: %w", err)
	}
	if out.Contact.State == Blocked {
		return out, ErrBlocked
	}
	return out, nil
}

// makeRoom keeps the pending list under its cap before a new request joins
// it: requests without an invite count against the cap, and when it is
// reached the least recently asked one goes. An invited request needs no
// room (the invites bound how many there are). tx is Receive's.
func (b *Book) makeRoom(tx *storage.Tx, invited bool, out *Received) error {
	if invited {
		return nil
	}
	pending, err := tx.PendingRequests()
	if err != nil {
		return err
	}
	var plain []storage.PendingRef
	for _, p := range pending {
		if !p.Invited {
			plain = append(plain, p)
		}
	}
	for len(plain) >= b.max {
		sc, err := tx.Contact(plain[0].ID)
		if err != nil {
			return err
		}
		keep, err := tx.HasMessages(sc.ID)
		if err != nil {
			return err
		}
		if err := b.drop(tx, sc, keep); err != nil {
			return err
		}
		c := fromStorage(sc)
		c.Removed = true
		out.Evicted = append(out.Evicted, c)
		plain = plain[1:]
	}
	return nil
}

// Accept moves a contact to "accepted": a pending-incoming request the user
// accepts, or our own request the peer accepted (requested → accepted).
// then typically stores the new session and queues the acceptance frame.
func (b *Book) Accept(ctx context.Context, id int64, then ...Then) (Contact, error) {
	return b.AcceptBundle(ctx, id, nil, then...)
}

// AcceptBundle is Accept that also stores bundle (when not nil) as the
// peer's, in the same transaction: the fresh bundle of a request that
// crossed ours.
func (b *Book) AcceptBundle(ctx context.Context, id int64, bundle []byte, then ...Then) (Contact, error) {
	return b.change(ctx, id, func(tx *storage.Tx, sc *storage.Contact) error {
		switch sc.State {
		case PendingIncoming, Requested, Accepted:
			sc.State = Accepted
			if bundle != nil {
				sc.PeerBundle = bundle
			}
			return nil
		}
		return fmt.Errorf("%w: accept a %s contact", ErrState, sc.State)
	}, then)
}

// Decline drops a pending-incoming request (the stranger may ask again,
// within the rate limits; Block prevents that).
func (b *Book) Decline(ctx context.Context, id int64) error {
	return b.db.Update(ctx, func(tx *storage.Tx) error {
		sc, err := tx.Contact(id)
		if err != nil {
			return notFound(err)
		}
		if sc.State != PendingIncoming || sc.Removed {
			return fmt.Errorf("%w: decline a %s contact", ErrState, sc.State)
		}
		return b.drop(tx, sc, false)
	})
}

// drop deletes the contact, or hides it if it has history to keep.
func (b *Book) drop(tx *storage.Tx, sc storage.Contact, keepHistory bool) error {
	if err := tx.ForgetSession(sc.ID); err != nil {
		return err
	}
	if !keepHistory {
		return tx.DeleteContact(sc.ID)
	}
	sc.Removed, sc.Verified, sc.PeerBundle = true, false, nil
	return tx.UpdateContact(sc)
}

// Block blocks a contact: its outbox is dropped (the messages it carried
// fail; their ids are returned) and requests and messages from its address
// are refused silently. Its session, bundle and history are kept, with the
// state it had, so that Unblock can restore it.
func (b *Book) Block(ctx context.Context, id int64) (Contact, []storage.MessageID, error) {
	var failed []storage.MessageID
	c, err := b.change(ctx, id, func(tx *storage.Tx, sc *storage.Contact) error {
		var err error
		failed, err = block(tx, sc)
		return err
	}, nil)
	return c, failed, err
}

// block marks sc blocked, remembering its state. sc is stored by the caller.
func block(tx *storage.Tx, sc *storage.Contact) ([]storage.MessageID, error) {
	switch {
	case sc.State == Blocked:
		return nil, nil
	case sc.Removed:
		sc.BlockedFrom = "" // a stranger again, as far as we are concerned
	default:
		sc.BlockedFrom = sc.State
	}
	sc.State, sc.Removed = Blocked, false
	return tx.ForgetOutbox(sc.ID)
}

// BlockAddress blocks an address that may not be in the book yet (a
// stranger's request the user refuses for good).
func (b *Book) BlockAddress(ctx context.Context, address string) (Contact, []storage.MessageID, error) {
	addr, err := onion.ParseAddress(address)
	if err != nil {
		return Contact{}, nil, fmt.Errorf("contacts: block: %w", err)
	}
	var out Contact
	var failed []storage.MessageID
	err = b.db.Update(ctx, func(tx *storage.Tx) error {
		sc, err := tx.ContactByAddress(string(addr))
		switch {
		case errors.Is(err, storage.ErrNotFound):
			sc, err = tx.InsertContact(storage.Contact{Address: string(addr), State: Blocked})
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if failed, err = block(tx, &sc); err != nil {
				return err
			}
			if err := tx.UpdateContact(sc); err != nil {
				return err
			}
		}
		out = fromStorage(sc)
		return nil
	})
	return out, failed, err
}

// Unblock undoes Block: the contact returns to the state it had then.
// Accepted needs the session still stored, pending-incoming the peer's
// bundle; requested runs then (to send the request again). Otherwise (an
// address blocked while not in the book, or by a chive before schema
// version 3, which forgot the session) the contact is removed with its
// history kept: a stranger again (the result has Removed set). A contact
// that is not blocked is returned unchanged.
func (b *Book) Unblock(ctx context.Context, id int64, then ...Then) (Contact, error) {
	var out Contact
	err := b.db.Update(ctx, func(tx *storage.Tx) error {
		sc, err := tx.Contact(id)
		if err != nil {
			return notFound(err)
		}
		if sc.Removed {
			return ErrNotFound
		}
		if sc.State != Blocked {
			out = fromStorage(sc)
			return nil
		}
		next := sc.BlockedFrom
		switch next {
		case Accepted:
			if _, err := tx.Session(sc.ID); errors.Is(err, storage.ErrNotFound) {
				next = ""
			} else if err != nil {
				return err
			}
		case PendingIncoming:
			if sc.PeerBundle == nil {
				next = ""
			}
		}
		if next == "" {
			// A removed row's state means nothing, as long as it is not
			// "blocked": requests from the address are welcome again.
			sc.State, sc.BlockedFrom = Requested, ""
			if err := b.drop(tx, sc, true); err != nil {
				return err
			}
			sc.Removed, sc.Verified, sc.PeerBundle = true, false, nil
			out = fromStorage(sc)
			return nil
		}
		sc.State, sc.BlockedFrom = next, ""
		if err := tx.UpdateContact(sc); err != nil {
			return err
		}
		out = fromStorage(sc)
		if next != Requested {
			return nil
		}
		for _, t := range then {
			if err := t(tx, out); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// SetPeerName records the display name the contact gives itself, inside
// tx (typically a Then of the change that brought it: a request, an
// acceptance, or a profile message). raw is cleaned with CleanName. While
// we never chose a nickname for them (it is empty, or still what an
// earlier PeerName filled in), the nickname follows, if no other contact
// has that name (then "Name (2)"…). It reports whether anything changed.
func (b *Book) SetPeerName(tx *storage.Tx, id int64, raw string) (bool, error) {
	name := CleanName(raw)
	sc, err := tx.Contact(id)
	if err != nil {
		return false, notFound(err)
	}
	if name == sc.PeerName {
		return false, nil
	}
	if sc.Nickname == "" || prefilled(sc.Nickname, sc.PeerName) {
		sc.Nickname = ""
		if name != "" {
			if sc.Nickname, err = freeName(tx, name, sc.ID); err != nil {
				return false, err
			}
		}
	}
	sc.PeerName = name
	if err := tx.UpdateContact(sc); err != nil {
		return false, err
	}
	return true, nil
}

// prefilled reports whether nick is what freeName made of peerName.
func prefilled(nick, peerName string) bool {
	if peerName == "" {
		return false
	}
	if nick == peerName {
		return true
	}
	base, n, ok := strings.Cut(strings.TrimSuffix(nick, ")"), " (")
	return ok && len(n) == 1 && n[0] >= '2' && n[0] <= '9' && strings.HasPrefix(peerName, base)
}

// freeName is name as a nickname: valid and unused by another contact,
// with " (2)" … " (9)" added if need be; "" if there is none.
func freeName(tx *storage.Tx, name string, id int64) (string, error) {
	if _, err := validName(name); err != nil {
		return "", nil // e.g. a name that looks like an address: no nickname
	}
	for i := 1; i <= 9; i++ {
		try := name
		if i > 1 {
			suffix := fmt.Sprintf(" (%d)", i)
			r := []rune(name)
			try = strings.TrimSpace(string(r[:min(len(r), MaxName-len(suffix))])) + suffix
		}
		err := nameTaken(tx, try, id)
		if err == nil {
			return try, nil
		}
		if !errors.Is(err, ErrNameTaken) {
			return "", err
		}
	}
	return "", nil
}

// MaxName is the longest nickname or display name, in characters.
const MaxName = 64

// CleanName makes a display name a peer chose safe to store and show: one
// line without control, bidi or invisible characters (safetext.Line),
// trimmed, at most MaxName characters.
func CleanName(raw string) string {
	s := strings.Join(strings.Fields(safetext.Line(raw)), " ")
	if r := []rune(s); len(r) > MaxName {
		s = strings.TrimSpace(string(r[:MaxName]))
	}
	return s
}

// Rename sets the contact's nickname (unique among contacts, case-insensitively).
func (b *Book) Rename(ctx context.Context, id int64, name string) (Contact, error) {
	name, err := validName(name)
	if err != nil {
		return Contact{}, err
	}
	return b.change(ctx, id, func(tx *storage.Tx, sc *storage.Contact) error {
		if err := nameTaken(tx, name, id); err != nil {
			return err
		}
		sc.Nickname = name
		return nil
	}, nil)
}

// SetNote sets the user's private note about the contact.
func (b *Book) SetNote(ctx context.Context, id int64, note string) (Contact, error) {
	return b.change(ctx, id, func(_ *storage.Tx, sc *storage.Contact) error {
		sc.Note = note
		return nil
	}, nil)
}

// SetVerified records that the user compared safety numbers (or clears it).
func (b *Book) SetVerified(ctx context.Context, id int64, verified bool) (Contact, error) {
	return b.change(ctx, id, func(_ *storage.Tx, sc *storage.Contact) error {
		sc.Verified = verified
		return nil
	}, nil)
}

// SetPeerBundle stores the peer's ratchet bundle.
func (b *Book) SetPeerBundle(ctx context.Context, id int64, bundle []byte) (Contact, error) {
	return b.change(ctx, id, func(_ *storage.Tx, sc *storage.Contact) error {
		sc.PeerBundle = bundle
		return nil
	}, nil)
}

// SetLastSeen records when the contact was last connected.
func (b *Book) SetLastSeen(ctx context.Context, id int64, at time.Time) error {
	return b.db.SetLastSeen(ctx, id, at)
}

// Remove takes the contact out of the book; its session and outbox go.
// With keepHistory the conversation stays stored (hidden; re-adding the
// address brings it back), otherwise it is deleted too.
func (b *Book) Remove(ctx context.Context, id int64, keepHistory bool) error {
	return b.db.Update(ctx, func(tx *storage.Tx) error {
		sc, err := tx.Contact(id)
		if err != nil {
			return notFound(err)
		}
		if sc.Removed && keepHistory {
			return ErrNotFound
		}
		return b.drop(tx, sc, keepHistory)
	})
}

func (b *Book) withSummary(ctx context.Context, c Contact) (Contact, error) {
	conv, err := b.db.Conversation(ctx, c.ID)
	if err != nil {
		return Contact{}, err
	}
	c.Unread, c.LastMessage = conv.Unread, conv.Last
	return c, nil
}

// Get returns the contact with id (not removed), with unread count and last message.
func (b *Book) Get(ctx context.Context, id int64) (Contact, error) {
	sc, err := b.db.Contact(ctx, id)
	if err != nil {
		return Contact{}, notFound(err)
	}
	if sc.Removed {
		return Contact{}, ErrNotFound
	}
	return b.withSummary(ctx, fromStorage(sc))
}

// ByAddress returns the contact with address (not removed). A removed
// contact is ErrNotFound: to the node it is a stranger again.
func (b *Book) ByAddress(ctx context.Context, address onion.Address) (Contact, error) {
	sc, err := b.db.ContactByAddress(ctx, string(address))
	if err != nil {
		return Contact{}, notFound(err)
	}
	if sc.Removed {
		return Contact{}, ErrNotFound
	}
	return b.withSummary(ctx, fromStorage(sc))
}

// Lookup returns the contact with address as stored, without the
// conversation summary: one indexed read, cheap enough for every frame the
// node receives. Unlike ByAddress it returns a removed contact too, with
// Removed set; ErrNotFound means the address was never in the book.
func (b *Book) Lookup(ctx context.Context, address onion.Address) (Contact, error) {
	sc, err := b.db.ContactByAddress(ctx, string(address))
	if err != nil {
		return Contact{}, notFound(err)
	}
	return fromStorage(sc), nil
}

// LookupID is Lookup by id: a removed contact is returned with Removed set
// (its history may still be shown).
func (b *Book) LookupID(ctx context.Context, id int64) (Contact, error) {
	sc, err := b.db.Contact(ctx, id)
	if err != nil {
		return Contact{}, notFound(err)
	}
	return fromStorage(sc), nil
}

// Find resolves what a user typed: an address in any paste form, a
// contact id ("#3" or "3"), a nickname (case-insensitive), or a unique
// nickname prefix. ErrAmbiguous if a prefix matches several.
func (b *Book) Find(ctx context.Context, ref string) (Contact, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return Contact{}, ErrNotFound
	}
	if addr, err := onion.ParseAddress(ref); err == nil {
		return b.ByAddress(ctx, addr)
	}
	if id, err := strconv.ParseInt(strings.TrimPrefix(ref, "#"), 10, 64); err == nil {
		return b.Get(ctx, id)
	}
	cs, err := b.db.Contacts(ctx)
	if err != nil {
		return Contact{}, err
	}
	var prefix []storage.Contact
	for _, sc := range cs {
		if sc.Removed || sc.Nickname == "" {
			continue
		}
		if strings.EqualFold(sc.Nickname, ref) {
			return b.withSummary(ctx, fromStorage(sc))
		}
		if len(sc.Nickname) >= len(ref) && strings.EqualFold(sc.Nickname[:len(ref)], ref) {
			prefix = append(prefix, sc)
		}
	}
	switch len(prefix) {
	case 0:
		return Contact{}, fmt.Errorf("%w: %q", ErrNotFound, ref)
	case 1:
		return b.withSummary(ctx, fromStorage(prefix[0]))
	}
	names := make([]string, len(prefix))
	for i, sc := range prefix {
		names[i] = sc.Nickname
	}
	return Contact{}, fmt.Errorf("%w: %q matches %s", ErrAmbiguous, ref, strings.Join(names, ", "))
}

// List returns every contact in the book (not removed), with unread counts
// and last message, most recent conversation first (contacts without
// messages last, by name).
func (b *Book) List(ctx context.Context) ([]Contact, error) {
	cs, err := b.db.Contacts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(cs))
	for _, sc := range cs {
		if sc.Removed {
			continue
		}
		c, err := b.withSummary(ctx, fromStorage(sc))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		li, lj := out[i].LastMessage, out[j].LastMessage
		switch {
		case li != nil && lj != nil:
			return li.Seq > lj.Seq
		case li != nil:
			return true
		case lj != nil:
			return false
		}
		return strings.ToLower(out[i].Display()) < strings.ToLower(out[j].Display())
	})
	return out, nil
}
