package mailbox

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chive-im/chive/wire"
)

// RefusedError is a mailbox's "no": to an open, a put or a slot change.
type RefusedError struct{ Code wire.MailboxCode }

func (e *RefusedError) Error() string { return "mailbox: refused: " + e.Code.String() }

// Refused reports whether err is a mailbox's refusal with that code.
func Refused(err error, code wire.MailboxCode) bool {
	var r *RefusedError
	return errors.As(err, &r) && r.Code == code
}

// Session is a client's open session with a mailbox, over a link the
// client dialed: the owner's (Slot fields name contacts) or a contact's.
// Items and Notices deliver what the mailbox sends; the caller processes
// each item and reports it with Taken, and acknowledges each notice with
// AckNotice once applied. Session's methods are safe for concurrent use.
type Session struct {
	l     *wire.Link
	owner bool

	items   chan ReceivedItem
	notices chan ReceivedNotice
	done    chan struct{}

	mu    sync.Mutex
	waits map[wire.ID]chan error
	err   error
}

// ReceivedItem is an item the mailbox holds for the client: a frame the
// other side would have sent on a direct link.
type ReceivedItem struct {
	Slot  []byte  // the contact it came from (owner sessions)
	ID    wire.ID // the frame's id
	Frame []byte  // one whole frame, padding removed
	Msg   wire.Msg
}

// ReceivedNotice says what became of items the client put.
type ReceivedNotice struct {
	Slot      []byte // the contact's slot (owner sessions)
	Delivered []wire.ID
	Expired   []wire.ID
	id        wire.ID
}

// OpenOwner opens the owner's session on l, a link to the mailbox dialed
// with the owner's key.
func OpenOwner(ctx context.Context, l *wire.Link) (*Session, error) {
	return open(ctx, l, &wire.MailboxOpen{}, true)
}

// Pair pairs an unpaired mailbox with secret (from its pairing link) and
// opens the owner's session on l, dialed with the owner's key.
func Pair(ctx context.Context, l *wire.Link, secret []byte) (*Session, error) {
	return open(ctx, l, &wire.MailboxOpen{Pair: secret}, true)
}

// OpenContact opens a contact's session with token on l. Dial l with a
// fresh key (wire.Client with ed25519.GenerateKey), not the contact's onion
// key, so that the mailbox does not learn who the contact is.
func OpenContact(ctx context.Context, l *wire.Link, token []byte) (*Session, error) {
	return open(ctx, l, &wire.MailboxOpen{Token: token}, false)
}

func open(ctx context.Context, l *wire.Link, m *wire.MailboxOpen, owner bool) (*Session, error) {
	// A refusal is often followed at once by the mailbox closing the link,
	// which can make Send report the close although the frame went out:
	// the answer, if any, is waiting in Recv.
	sendErr := l.Send(m)
	r, err := l.Recv(ctx)
	if err != nil {
		l.Close()
		if sendErr != nil {
			err = sendErr
		}
		return nil, fmt.Errorf("mailbox: open: %w", err)
	}
	op, ok := r.(*wire.MailboxOpened)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("mailbox: open: got %s: %w", r.Type(), wire.ErrUnexpected)
	}
	if op.Code != wire.MailboxOK {
		l.Close()
		return nil, &RefusedError{op.Code}
	}
	s := &Session{
		l:       l,
		owner:   owner,
		items:   make(chan ReceivedItem, 16),
		notices: make(chan ReceivedNotice, 4),
		done:    make(chan struct{}),
		waits:   map[wire.ID]chan error{},
	}
	go s.readLoop()
	return s, nil
}

// Items delivers the mailbox's items, in the order they were put (per
// slot); it is closed when the session ends.
func (s *Session) Items() <-chan ReceivedItem { return s.items }

// Notices delivers what became of our items; closed when the session ends.
func (s *Session) Notices() <-chan ReceivedNotice { return s.notices }

// Done is closed when the session has ended; Err says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended (nil while it runs).
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the session.
func (s *Session) Close() error { return s.l.Close() }

func (s *Session) readLoop() {
	err := s.read()
	s.l.Close()
	s.mu.Lock()
	s.err = err
	for id, ch := range s.waits {
		ch <- fmt.Errorf("mailbox: session ended: %w", err)
		delete(s.waits, id)
	}
	s.mu.Unlock()
	close(s.done)
	close(s.items)
	close(s.notices)
}

func (s *Session) read() error {
	for {
		m, err := s.l.Recv(context.Background())
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *wire.Ack:
			s.resolve(m.ID, nil)
		case *wire.MailboxRefused:
			s.resolve(m.ID, &RefusedError{m.Code})
		case *wire.MailboxItem:
			if s.owner != (m.Slot != nil) {
				return fmt.Errorf("mailbox: item: %w", wire.ErrUnexpected)
			}
			frame, msg, err := Unpad(m.Item, m.ID)
			if err != nil {
				// A mailbox that hands out what it should have refused is
				// broken; so is this session.
				return err
			}
			select {
			case s.items <- ReceivedItem{Slot: m.Slot, ID: m.ID, Frame: frame, Msg: msg}:
			case <-s.l.Done():
				return s.l.Err()
			}
		case *wire.MailboxNotice:
			if s.owner != (m.Slot != nil) {
				return fmt.Errorf("mailbox: notice: %w", wire.ErrUnexpected)
			}
			select {
			case s.notices <- ReceivedNotice{Slot: m.Slot, Delivered: m.Delivered, Expired: m.Expired, id: m.ID}:
			case <-s.l.Done():
				return s.l.Err()
			}
		default:
			return fmt.Errorf("mailbox: %s: %w", m.Type(), wire.ErrUnexpected)
		}
	}
}

func (s *Session) resolve(id wire.ID, err error) {
	s.mu.Lock()
	ch := s.waits[id]
	delete(s.waits, id)
	s.mu.Unlock()
	if ch != nil {
		ch <- err
	}
}

// request sends m and returns where its answer (nil for an Ack, or a
// *RefusedError) arrives.
func (s *Session) request(id wire.ID, m wire.Msg) (<-chan error, error) {
	ch := make(chan error, 1)
	s.mu.Lock()
	if s.err != nil || s.isDone() {
		s.mu.Unlock()
		return nil, fmt.Errorf("mailbox: session ended: %w", s.l.Err())
	}
	if _, dup := s.waits[id]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("mailbox: request %s already waiting", id)
	}
	s.waits[id] = ch
	s.mu.Unlock()
	if err := s.l.Send(m); err != nil {
		s.mu.Lock()
		delete(s.waits, id)
		s.mu.Unlock()
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	return ch, nil
}

func (s *Session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Put asks the mailbox to keep frame (one whole Message or Receipt frame
// with id) for the other side: the contact of slot when we are the owner,
// the owner when we are a contact (slot nil). It returns once the put is
// written; the channel then yields nil when the mailbox has stored it
// durably, or why not (a *RefusedError, or the session ending).
func (s *Session) Put(slot []byte, id wire.ID, frame []byte) (<-chan error, error) {
	item, err := Pad(frame)
	if err != nil {
		return nil, err
	}
	if _, _, err := Unpad(item, id); err != nil {
		return nil, err
	}
	return s.request(id, &wire.MailboxPut{ID: id, Slot: slot, Item: item})
}

// Taken tells the mailbox these items are durably processed, so it deletes
// them (and tells their sender they were delivered).
func (s *Session) Taken(slot []byte, ids []wire.ID) error {
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxMailboxIDs)
		if err := s.l.Post(&wire.MailboxTaken{Slot: slot, IDs: ids[:n]}); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Flush returns once the mailbox has received everything sent so far
// (Taken, notice acks): a ping after them, answered. Call it before
// closing a session on purpose, so that nothing queued is lost.
func (s *Session) Flush(ctx context.Context) error {
	_, err := s.l.Ping(ctx)
	return err
}

// AckNotice tells the mailbox the notice is applied, so it is not sent again.
func (s *Session) AckNotice(n ReceivedNotice) error { return s.l.Post(&wire.Ack{ID: n.id}) }

func wait(ctx context.Context, ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AddSlot adds a contact's slot (the owner only) and waits for the mailbox.
func (s *Session) AddSlot(ctx context.Context, slot []byte) error {
	id := wire.NewID()
	ch, err := s.request(id, &wire.MailboxSlot{ID: id, Slot: slot})
	if err != nil {
		return err
	}
	return wait(ctx, ch)
}

// RemoveSlot removes a contact's slot and what it holds (the owner only).
func (s *Session) RemoveSlot(ctx context.Context, slot []byte) error {
	id := wire.NewID()
	ch, err := s.request(id, &wire.MailboxSlot{ID: id, Slot: slot, Remove: true})
	if err != nil {
		return err
	}
	return wait(ctx, ch)
}

// Unlink makes the mailbox forget its owner and everything it holds.
func (s *Session) Unlink(ctx context.Context) error {
	id := wire.NewID()
	ch, err := s.request(id, &wire.MailboxUnlink{ID: id})
	if err != nil {
		return err
	}
	return wait(ctx, ch)
}
