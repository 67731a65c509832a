package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/files"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Errors of the file API, tested with errors.Is (the JSON-RPC client maps
// them back too).
var (
	ErrUnknownFile  = files.ErrNotFound // no file with that id
	ErrFileTooLarge = files.ErrTooLarge // over the size limit (or the contact's quota: ErrQuota)
	ErrQuota        = files.ErrQuota
	ErrFileState    = files.ErrState    // not possible in the transfer's state
	ErrFileNotReady = files.ErrNotReady // not complete: nothing to save or open yet
	ErrNoSpace      = files.ErrNoSpace  // the profile's disk is full
	ErrFileExists   = files.ErrExists   // SaveFile never replaces a file
)

func parseFileID(id string) (wire.ID, error) {
	fid, err := wire.ParseID(id)
	if err != nil {
		return wire.ID{}, fmt.Errorf("%w: %q", ErrUnknownFile, id)
	}
	return fid, nil
}

// SendFile implements API: the file is imported (sealed into the profile)
// first, then one transaction stores the ratchet step, the message with
// its offer, the outbox frame and the transfer.
func (n *Node) SendFile(ctx context.Context, ref, path, caption string) (Message, error) {
	c, err := n.find(ctx, ref)
	if err != nil {
		return Message{}, err
	}
	switch c.State {
	case contacts.Accepted:
	case contacts.Blocked:
		return Message{}, fmt.Errorf("node: send file to %s: %w", c.Display(), ErrBlocked)
	default:
		return Message{}, fmt.Errorf("node: send file to %s: %w", c.Display(), ErrNotAccepted)
	}
	if len(caption) > MaxText {
		return Message{}, fmt.Errorf("node: send file: caption: %w (%d bytes, at most %d)", ErrTooLong, len(caption), MaxText)
	}
	if !utf8.ValidString(caption) {
		return Message{}, errors.New("node: send file: caption is not UTF-8")
	}
	if !filepath.IsAbs(path) {
		return Message{}, fmt.Errorf("node: send file: %q: the path must be absolute (the node may run elsewhere than the caller)", path)
	}
	pol, err := n.filePolicy(ctx)
	if err != nil {
		return Message{}, err
	}
	id := wire.NewID()
	imp, err := n.fl.m.Import(ctx, id, path, pol.MaxSize)
	if err != nil {
		return Message{}, fmt.Errorf("node: send file: %w", err)
	}
	p := n.peer(c.Address)
	p.mu.Lock()
	m, it, err := n.queueFileLocked(ctx, c, caption, imp)
	var t files.Transfer
	if err == nil {
		// Live before the peer can ask for it.
		if t, err = n.fl.m.Activate(ctx, id); err == nil {
			p.enqueueLocked(it)
		}
	}
	p.mu.Unlock()
	if err != nil {
		if m.Seq == 0 {
			n.fl.m.Discard(imp)
		}
		return Message{}, fmt.Errorf("node: send file to %s: %w", c.Display(), err)
	}
	n.startDelivery(p, c.ID)
	n.wakeVanish()
	am := n.fullMessage(m, c) // with its timer
	n.events.publish(MessageEvent{Message: am})
	n.events.publish(FileStateEvent{Transfer: apiTransfer(t, c)})
	n.indexMessage(am, c.ID) // its caption, as a chat message's text
	return am, nil
}

// queueFileLocked is queueChatLocked for a message carrying a file: the
// transfer is stored in the same transaction, and the message carries the
// conversation's timer (disappearing at once on our side; its file goes
// with it, eraseFiles). p.mu must be held.
func (n *Node) queueFileLocked(ctx context.Context, c contacts.Contact, caption string, imp *files.Imported) (storage.Message, storage.OutboxItem, error) {
	now := msNow()
	content := wire.Content{Text: caption, Time: now.UnixMilli(), File: imp.Offer()}
	timer, err := n.db.ConversationTimer(ctx, c.ID)
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	var f storage.ConvoFields
	if timer > 0 {
		content.Disappear = uint32(timer / time.Second)
		f.Timer, f.Vanish = timer, now.Add(timer)
	}
	sess, frame, err := n.encryptAsLocked(ctx, c, imp.ID, content, now)
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	var m storage.Message
	err = n.db.Update(ctx, func(tx *storage.Tx) error {
		var err error
		m, err = tx.QueueMessage(storage.OutgoingMessage{
			ContactID: c.ID, ID: storage.MessageID(imp.ID), Body: caption, Meta: files.MetaFile,
			Created: now, Session: sess, Frame: frame,
		})
		if err != nil {
			return err
		}
		if f.Timer != 0 {
			if err := tx.SetConvo(m, f); err != nil {
				return err
			}
		}
		return n.fl.m.InsertOutgoing(tx, c.ID, m.Seq, imp)
	})
	if err != nil {
		return storage.Message{}, storage.OutboxItem{}, err
	}
	it := storage.OutboxItem{ID: m.ID, ContactID: c.ID, Kind: storage.KindMessage, Message: &m.ID, Frame: frame, NextAttempt: now, Created: now}
	return m, it, nil
}

// fileContact returns a transfer and its contact.
func (n *Node) fileContact(ctx context.Context, id string) (files.Transfer, contacts.Contact, error) {
	if err := n.checkOpen(); err != nil {
		return files.Transfer{}, contacts.Contact{}, err
	}
	fid, err := parseFileID(id)
	if err != nil {
		return files.Transfer{}, contacts.Contact{}, err
	}
	t, err := n.fl.m.Get(ctx, fid)
	if err != nil {
		return files.Transfer{}, contacts.Contact{}, fmt.Errorf("node: file %s: %w", id, err)
	}
	c, err := n.book.LookupID(ctx, t.ContactID)
	if err != nil {
		return files.Transfer{}, contacts.Contact{}, err
	}
	return t, c, nil
}

// Files implements API.
func (n *Node) Files(ctx context.Context, q FileQuery) ([]Transfer, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	sq := storage.FileQuery{Direction: storage.Direction(q.Direction), Limit: q.Limit}
	switch q.Direction {
	case "", Incoming, Outgoing:
	default:
		return nil, fmt.Errorf("node: files: direction %q: want %q or %q", q.Direction, Incoming, Outgoing)
	}
	if q.Contact != "" {
		c, err := n.find(ctx, q.Contact)
		if err != nil {
			return nil, err
		}
		sq.ContactID = c.ID
	}
	if q.Active {
		sq.States = []string{string(files.Offered), string(files.Accepted), string(files.Paused)}
	}
	ts, err := n.fl.m.List(ctx, sq)
	if err != nil {
		return nil, err
	}
	byID := map[int64]contacts.Contact{}
	out := make([]Transfer, 0, len(ts))
	for _, t := range ts {
		c, ok := byID[t.ContactID]
		if !ok {
			if c, err = n.book.LookupID(ctx, t.ContactID); err != nil {
				return nil, err
			}
			byID[t.ContactID] = c
		}
		out = append(out, apiTransfer(t, c))
	}
	return out, nil
}

// File implements API.
func (n *Node) File(ctx context.Context, id string) (Transfer, error) {
	t, c, err := n.fileContact(ctx, id)
	if err != nil {
		return Transfer{}, err
	}
	return apiTransfer(t, c), nil
}

// AcceptFile implements API.
func (n *Node) AcceptFile(ctx context.Context, id string) (Transfer, error) {
	t, c, err := n.fileContact(ctx, id)
	if err != nil {
		return Transfer{}, err
	}
	if c.State != contacts.Accepted || c.Removed {
		return Transfer{}, fmt.Errorf("node: accept file from %s: %w", c.Display(), ErrNotAccepted)
	}
	pol, err := n.filePolicy(ctx)
	if err != nil {
		return Transfer{}, err
	}
	t, err = n.fl.m.Accept(ctx, t.ID, pol)
	if err != nil {
		return Transfer{}, fmt.Errorf("node: accept file %s: %w", t.Name, err)
	}
	return apiTransfer(t, c), nil
}

// CancelFile implements API.
func (n *Node) CancelFile(ctx context.Context, id string) (Transfer, error) {
	t, c, err := n.fileContact(ctx, id)
	if err != nil {
		return Transfer{}, err
	}
	if t.State.Ended() {
		return Transfer{}, fmt.Errorf("node: cancel %s: %w (%s)", t.Name, ErrFileState, t.State)
	}
	t, err = n.endFile(ctx, t.ID, files.Cancelled, wire.EndCancelled, "", true)
	if err != nil {
		return Transfer{}, fmt.Errorf("node: cancel %s: %w", id, err)
	}
	return apiTransfer(t, c), nil
}

// PauseFile implements API: the sender is told to stop sending (an
// incoming file) at once, if a link is up.
func (n *Node) PauseFile(ctx context.Context, id string) (Transfer, error) {
	t, c, err := n.fileContact(ctx, id)
	if err != nil {
		return Transfer{}, err
	}
	stop, t, err := n.fl.m.Pause(ctx, t.ID)
	if err != nil {
		return Transfer{}, fmt.Errorf("node: pause %s: %w", id, err)
	}
	if stop != nil {
		if l := n.currentLink(n.peer(c.Address)); l != nil {
			l.Post(stop)
		}
	}
	return apiTransfer(t, c), nil
}

// ResumeFile implements API.
func (n *Node) ResumeFile(ctx context.Context, id string) (Transfer, error) {
	t, c, err := n.fileContact(ctx, id)
	if err != nil {
		return Transfer{}, err
	}
	t, err = n.fl.m.Resume(ctx, t.ID)
	if err != nil {
		return Transfer{}, fmt.Errorf("node: resume %s: %w", id, err)
	}
	if t.Direction == storage.Outgoing {
		n.startDelivery(n.peer(c.Address), c.ID)
	}
	return apiTransfer(t, c), nil
}

// SaveFile implements API.
func (n *Node) SaveFile(ctx context.Context, id, path string) (string, error) {
	if err := n.checkOpen(); err != nil {
		return "", err
	}
	fid, err := parseFileID(id)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("node: save file: %q: the path must be absolute", path)
	}
	p, err := n.fl.m.Save(ctx, fid, path)
	if err != nil {
		return "", fmt.Errorf("node: save file: %w", err)
	}
	return p, nil
}

// OpenFile implements API.
func (n *Node) OpenFile(ctx context.Context, id string) (string, error) {
	if err := n.checkOpen(); err != nil {
		return "", err
	}
	fid, err := parseFileID(id)
	if err != nil {
		return "", err
	}
	p, err := n.fl.m.OpenCopy(ctx, fid)
	if err != nil {
		return "", fmt.Errorf("node: open file: %w", err)
	}
	return p, nil
}

// Thumbnail implements API.
func (n *Node) Thumbnail(ctx context.Context, id string) (Thumbnail, error) {
	if err := n.checkOpen(); err != nil {
		return Thumbnail{}, err
	}
	fid, err := parseFileID(id)
	if err != nil {
		return Thumbnail{}, err
	}
	b, err := n.fl.m.Thumbnail(ctx, fid)
	if err != nil {
		return Thumbnail{}, fmt.Errorf("node: thumbnail: %w", err)
	}
	if b == nil {
		return Thumbnail{}, nil
	}
	return Thumbnail{MediaType: thumbType(b), Data: b}, nil
}

func thumbType(b []byte) string {
	switch {
	case len(b) > 3 && b[0] == 0xff && b[1] == 0xd8:
		return "image/jpeg"
	case len(b) > 8 && string(b[1:4]) == "PNG":
		return "image/png"
	case len(b) > 6 && string(b[:3]) == "GIF":
		return "image/gif"
	}
	return "application/octet-stream"
}
