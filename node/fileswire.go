package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/files"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// File transfer, the node's side (issue 15): the files.Manager runs the
// transfers; this file wires it to links (frames in, chunk pumps out),
// the outbox (FileEnd is reliable) and events.

// kindFileEnd is the outbox kind of a FileEnd frame.
const kindFileEnd storage.OutboxKind = "file-end"

// fileNode is the node's file transfer state.
type fileNode struct {
	m *files.Manager

	mu    sync.Mutex
	pumps map[*wire.Link]bool
	told  map[wire.ID]bool // files a peer asked for that we do not have: told once per run
	evq   []files.Event    // events waiting to be published (see fileEventLoop)
	evWak chan struct{}
}

func (n *Node) openFiles(ctx context.Context) error {
	fn := &fileNode{pumps: map[*wire.Link]bool{}, told: map[wire.ID]bool{}, evWak: make(chan struct{}, 1)}
	m, err := files.Open(ctx, n.db, files.Options{
		Window: n.tune.fileWindow,
		Retry:  n.tune.fileRetry,
		Event:  fn.queueEvent,
		Poke:   func(id int64) { n.spawn(func() { n.filesPoke(id) }) },
		End:    n.fileEnded,
		Logger: n.log,
	})
	if err != nil {
		return err
	}
	fn.m = m
	n.fl = fn
	n.eraseHooks = append(n.eraseHooks, n.eraseFiles)
	n.spawn(n.fileEventLoop)
	return nil
}

// eraseFiles is the erase hook of files (convo.go's runEraseHooks): the
// file a message carried goes with it, whether the message was deleted
// for everyone, for us, or disappeared. In tx its row goes (with the
// message's row, or here for a tombstone, which keeps its row) and so its
// key; a transfer still running is ended on the peer's side too, by a
// FileEnd "cancelled" queued in tx. After the commit the transfer stops
// and its chunk file is removed.
func (n *Node) eraseFiles(tx *storage.Tx, gone []storage.Erased) error {
	var ids []wire.ID
	var locals []string
	var ends []storage.OutboxItem
	for _, e := range gone {
		local := e.File
		if local == "" {
			var err error
			if local, err = tx.DeleteMessageFile(e.Seq); err != nil {
				return err
			}
			if local == "" {
				continue // no file
			}
		}
		id := wire.ID(e.ID)
		ids, locals = append(ids, id), append(locals, local)
		t, live := n.fl.m.Live(id)
		// As endFile: an offer of ours not asked for yet may have reached
		// an older chive, which ends links on file frames.
		if !live || t.ContactID != e.ContactID || (t.Direction == storage.Outgoing && t.State == files.Offered) {
			continue
		}
		c, err := tx.Contact(e.ContactID)
		if err != nil {
			return err
		}
		if c.Removed || c.State != storage.StateAccepted {
			continue
		}
		it, err := queueFileEnd(tx, e.ContactID, id, wire.EndCancelled)
		if err != nil {
			return err
		}
		ends = append(ends, it)
	}
	if len(ids) == 0 {
		return nil
	}
	tx.AfterCommit(func() {
		n.fl.m.Forget(ids, locals)
		if len(ends) > 0 {
			// The caller may hold the peer's mu: its writer gets the
			// FileEnds from a goroutine.
			n.spawn(func() { n.sendQueued(ends) })
		}
	})
	return nil
}

// sendQueued hands outbox items stored by a transaction that has committed
// to their peers' writers and starts delivery.
func (n *Node) sendQueued(items []storage.OutboxItem) {
	for _, it := range items {
		c, err := n.book.LookupID(n.ctx, it.ContactID)
		if err != nil {
			continue
		}
		p := n.peer(c.Address)
		p.mu.Lock()
		p.enqueueLocked(it)
		p.mu.Unlock()
		n.startDelivery(p, c.ID)
	}
}

// queueEvent takes the manager's events (called under its lock): queued
// in order, a progress event replacing an unpublished one of the same file.
func (fn *fileNode) queueEvent(e files.Event) {
	fn.mu.Lock()
	replaced := false
	if e.Progress {
		for i := len(fn.evq) - 1; i >= 0; i-- {
			if q := fn.evq[i]; q.Transfer.ID == e.Transfer.ID {
				if q.Progress {
					fn.evq[i], replaced = e, true
				}
				break
			}
		}
	}
	if !replaced {
		fn.evq = append(fn.evq, e)
	}
	fn.mu.Unlock()
	select {
	case fn.evWak <- struct{}{}:
	default:
	}
}

// fileEventLoop publishes the manager's events as node events, naming
// the contact (a lookup the manager's lock must not wait for).
func (n *Node) fileEventLoop() {
	fn := n.fl
	for {
		fn.mu.Lock()
		evs := fn.evq
		fn.evq = nil
		fn.mu.Unlock()
		for _, e := range evs {
			c, err := n.book.LookupID(n.ctx, e.Transfer.ContactID)
			if err != nil {
				continue // the contact was deleted meanwhile
			}
			tr := apiTransfer(e.Transfer, c)
			if e.Progress {
				n.events.publish(FileProgressEvent{ID: tr.ID, Address: tr.Address, Direction: tr.Direction, Bytes: tr.Bytes, Size: tr.Size, Rate: e.Rate})
			} else {
				n.events.publish(FileStateEvent{Transfer: tr})
			}
		}
		select {
		case <-fn.evWak:
		case <-n.ctx.Done():
			return
		}
	}
}

func apiFile(t files.Transfer) *File {
	return &File{
		ID: t.ID.String(), Name: t.Name, Size: t.Size, MediaType: t.MediaType, State: FileState(t.State),
		Bytes: t.Bytes, Error: t.Error, Thumbnail: t.Thumbnail, Width: t.Width, Height: t.Height,
	}
}

func apiTransfer(t files.Transfer, c contacts.Contact) Transfer {
	return Transfer{
		File: *apiFile(t), Contact: c.Display(), Address: string(c.Address), Direction: Direction(t.Direction),
		SHA256: fmt.Sprintf("%x", t.SHA256), SentBytes: t.SentBytes, ReceivedBytes: t.RecvBytes, DuplicateBytes: t.DupBytes,
		Created: t.Created, Updated: t.Updated, Done: t.Done,
	}
}

// messageFile is the file a stored message carries, or nil.
func (n *Node) messageFile(m storage.Message) *File {
	if !files.IsFileMeta(m.Meta) {
		return nil
	}
	t, err := n.fl.m.Get(n.ctx, wire.ID(m.ID))
	if err != nil {
		return nil // an offer that was not valid: the message shows its caption
	}
	return apiFile(t)
}

// filesActive reports whether the contact has a transfer that needs a link.
func (n *Node) filesActive(contactID int64) bool { return n.fl.m.Active(contactID) }

func (n *Node) filesActiveContacts() []int64 { return n.fl.m.ActiveContacts() }

// filesRemoved drops the files of a deleted conversation.
func (n *Node) filesRemoved() {
	if err := n.fl.m.GC(n.ctx); err != nil {
		n.log.Warn("removing the files of a deleted conversation", "err", err)
	}
}

// acceptedContact returns the accepted contact at p, if it is one.
func (n *Node) acceptedContact(p *peer) (contacts.Contact, bool) {
	c, err := n.book.Lookup(n.ctx, p.addr)
	return c, err == nil && !c.Removed && c.State == contacts.Accepted
}

// filesLinkUp asks for the chunks our incoming transfers from p miss: a
// transfer resumes as soon as a link is up.
func (n *Node) filesLinkUp(p *peer, l *wire.Link) {
	c, ok := n.acceptedContact(p)
	if !ok {
		return
	}
	for _, r := range n.fl.m.Requests(c.ID, l) {
		l.Post(r)
	}
}

func (n *Node) filesLinkDown(p *peer, l *wire.Link) {
	c, err := n.book.Lookup(n.ctx, p.addr)
	if err != nil {
		return
	}
	n.fl.m.LinkDown(c.ID, l)
	n.fl.mu.Lock()
	delete(n.fl.pumps, l)
	n.fl.mu.Unlock()
}

// filesPoke sends the requests the manager has for the contact on its
// link, or dials it.
func (n *Node) filesPoke(contactID int64) {
	c, err := n.book.LookupID(n.ctx, contactID)
	if err != nil || c.Removed || c.State != contacts.Accepted {
		return
	}
	p := n.peer(c.Address)
	l := n.currentLink(p)
	if l == nil {
		if n.fl.m.Active(c.ID) {
			n.startDelivery(p, c.ID)
		}
		return
	}
	for _, r := range n.fl.m.Requests(c.ID, l) {
		l.Post(r)
	}
}

// onFileFrame handles the file transfer frames of an accepted contact.
func (n *Node) onFileFrame(p *peer, l *wire.Link, c contacts.Contact, m wire.Msg) error {
	switch m := m.(type) {
	case *wire.FileChunk:
		resp, err := n.fl.m.OnChunk(c.ID, l, m)
		if err != nil {
			n.log.Warn("rejected a file chunk", "peer", p.addr.Short(), "err", err)
		}
		if resp != nil {
			return l.Post(resp)
		}
	case *wire.FileRequest:
		if r := n.fl.m.OnRequest(c.ID, l, m); r != nil {
			t, err := n.fl.m.Get(n.ctx, m.File)
			if err != nil || t.ContactID != c.ID || t.Direction != storage.Outgoing {
				return nil // not a file we sent them: made up, say nothing
			}
			reason := *r
			if t.State == files.Cancelled {
				reason = wire.EndCancelled // cancelled before they asked
			}
			n.tellEnded(p, c, m.File, reason)
			return nil
		}
		n.ensurePump(p, c.ID, l)
	case *wire.FileStop:
		n.fl.m.OnStop(c.ID, l, m)
	case *wire.FileEnd:
		return n.onFileEnd(l, c, m)
	}
	return nil
}

// ensurePump runs the goroutine that sends the chunks the contact asks for
// on l. It writes one chunk at a time with Send, so chat frames queued by
// the delivery writer take turns with chunks (the link's writer serves
// waiting senders in order), and stops with the link.
func (n *Node) ensurePump(p *peer, contactID int64, l *wire.Link) {
	n.fl.mu.Lock()
	if n.fl.pumps[l] {
		n.fl.mu.Unlock()
		return
	}
	n.fl.pumps[l] = true
	n.fl.mu.Unlock()
	ok := n.spawn(func() {
		defer func() {
			n.fl.mu.Lock()
			delete(n.fl.pumps, l)
			n.fl.mu.Unlock()
		}()
		buf := make([]byte, wire.MaxChunkData)
		for {
			wake := n.fl.m.Wake(contactID)
			ch, ok := n.fl.m.NextChunk(contactID, l, buf)
			if !ok {
				select {
				case <-wake:
					continue
				case <-l.Done():
					return
				case <-n.ctx.Done():
					return
				}
			}
			if err := l.Send(ch); err != nil {
				return
			}
			if n.tune.filePace > 0 {
				time.Sleep(n.tune.filePace) // tests: a transfer slow enough to interrupt
			}
		}
	})
	if !ok {
		n.fl.mu.Lock()
		delete(n.fl.pumps, l)
		n.fl.mu.Unlock()
	}
}

// tellEnded tells the peer (reliably) that a file it asks for has ended
// on our side, once per file per run.
func (n *Node) tellEnded(p *peer, c contacts.Contact, file wire.ID, reason wire.EndReason) {
	n.fl.mu.Lock()
	if n.fl.told[file] {
		n.fl.mu.Unlock()
		return
	}
	n.fl.told[file] = true
	n.fl.mu.Unlock()
	p.mu.Lock()
	var it storage.OutboxItem
	err := n.db.Update(n.ctx, func(tx *storage.Tx) error {
		var err error
		it, err = queueFileEnd(tx, c.ID, file, reason)
		return err
	})
	if err == nil {
		p.enqueueLocked(it)
	}
	p.mu.Unlock()
	if err != nil {
		n.log.Warn("queueing a file end", "err", err)
		return
	}
	n.startDelivery(p, c.ID)
}

func queueFileEnd(tx *storage.Tx, contactID int64, file wire.ID, reason wire.EndReason) (storage.OutboxItem, error) {
	id := wire.NewID()
	frame, err := wire.Marshal(&wire.FileEnd{ID: id, File: file, Reason: reason})
	if err != nil {
		return storage.OutboxItem{}, err
	}
	return tx.QueueFrame(storage.OutboxItem{ID: storage.MessageID(id), ContactID: contactID, Kind: kindFileEnd, Frame: frame, Created: time.Now()})
}

// onFileEnd: the peer ended a transfer of ours with it. Acknowledged once
// the new state is stored.
func (n *Node) onFileEnd(l *wire.Link, c contacts.Contact, m *wire.FileEnd) error {
	fid := storage.MessageID(m.ID)
	if seen, err := n.db.Seen(n.ctx, c.ID, fid); err == nil && seen {
		return ack(l, m.ID)
	}
	markSeen := func(tx *storage.Tx) error {
		_, err := tx.MarkSeen(c.ID, fid, time.Now())
		return err
	}
	tr, err := n.fl.m.Get(n.ctx, m.File)
	state, text := fileEndState(tr, m.Reason, c.Display())
	if err != nil || tr.ContactID != c.ID || state == "" {
		// Not a file of this conversation (or nothing to change): remember
		// the id so a resend is acknowledged at once.
		if err := n.db.Update(n.ctx, markSeen); err != nil {
			return err
		}
		return ack(l, m.ID)
	}
	_, changed, err := n.fl.m.Finish(n.ctx, m.File, state, text, func(tx *storage.Tx, _ files.Transfer) error { return markSeen(tx) })
	if errors.Is(err, files.ErrState) {
		return nil // ending meanwhile; the peer sends it again
	}
	if err != nil {
		return err
	}
	if !changed {
		if err := n.db.Update(n.ctx, markSeen); err != nil {
			return err
		}
	}
	return ack(l, m.ID)
}

// fileEndState is what a peer's FileEnd makes of our transfer t ("" for
// nothing: an incoming file the sender says is completed).
func fileEndState(t files.Transfer, r wire.EndReason, who string) (files.State, string) {
	switch r {
	case wire.EndCompleted:
		if t.Direction == storage.Outgoing {
			return files.Completed, ""
		}
		return "", ""
	case wire.EndCancelled:
		return files.Cancelled, "cancelled by " + who
	case wire.EndTooLarge:
		return files.Failed, "refused by " + who + ": larger than their limit"
	case wire.EndQuota:
		return files.Failed, "refused by " + who + ": over their quota for files from you"
	case wire.EndUnavailable:
		return files.Failed, who + " no longer has the file"
	case wire.EndCorrupt:
		return files.Failed, who + " received it damaged"
	}
	return files.Failed, who + " ended the transfer"
}

// endFile ends a transfer of ours and, when tell, queues the FileEnd that
// tells the peer, in the same transaction.
func (n *Node) endFile(ctx context.Context, id wire.ID, state files.State, reason wire.EndReason, errText string, tell bool) (files.Transfer, error) {
	t, err := n.fl.m.Get(ctx, id)
	if err != nil {
		return files.Transfer{}, err
	}
	c, err := n.book.LookupID(ctx, t.ContactID)
	if err != nil {
		return files.Transfer{}, err
	}
	// A peer that never asked for an outgoing file may be an older chive
	// that ends links on file frames: it is told nothing (a newer one
	// that asks later learns it ended from our answer to its request).
	tell = tell && !c.Removed && c.State == contacts.Accepted && !(t.Direction == storage.Outgoing && t.State == files.Offered)
	p := n.peer(c.Address)
	p.mu.Lock()
	var it *storage.OutboxItem
	out, _, err := n.fl.m.Finish(ctx, id, state, errText, func(tx *storage.Tx, _ files.Transfer) error {
		if !tell {
			return nil
		}
		q, err := queueFileEnd(tx, c.ID, id, reason)
		it = &q
		return err
	})
	if err == nil && it != nil {
		p.enqueueLocked(*it)
	}
	p.mu.Unlock()
	if err != nil {
		return files.Transfer{}, err
	}
	if it != nil {
		n.startDelivery(p, c.ID)
	}
	return out, nil
}

// fileEnded is the manager's End hook: a transfer completed its check, is
// damaged, or cannot be served. It retries until stored (a full disk may
// refuse the first tries) or the node closes.
func (n *Node) fileEnded(id wire.ID, state files.State, reason wire.EndReason, errText string) {
	delay := time.Second
	for {
		_, err := n.endFile(n.ctx, id, state, reason, errText, true)
		if err == nil || errors.Is(err, files.ErrNotFound) || n.ctx.Err() != nil {
			return
		}
		n.log.Warn("ending a file transfer; retrying", "err", err, "retry_in", delay)
		select {
		case <-time.After(delay):
		case <-n.ctx.Done():
			return
		}
		delay = min(2*delay, time.Minute)
	}
}

// receivedFile is what storing a file offer leaves for after the commit.
type receivedFile struct {
	id  wire.ID
	end *storage.OutboxItem // the refusal's FileEnd, queued
}

// storeContent stores a received message in tx with store (tx's
// ReceiveMessage, or StoreIncoming in a batch) and, when it carries a
// file, the offer with the policy's decision; a refusal's FileEnd is
// queued in tx too. After the commit, fileReceivedLocked(rf).
func (n *Node) storeContent(tx *storage.Tx, c contacts.Contact, im storage.IncomingMessage, content wire.Content,
	store func(storage.IncomingMessage) (storage.Message, error)) (storage.Message, *receivedFile, error) {
	o := content.File
	if o == nil {
		m, err := store(im)
		return m, nil, err
	}
	im.Meta = files.MetaFile
	pol, err := n.filePolicy(n.ctx)
	if err != nil {
		return storage.Message{}, nil, err
	}
	usage, err := n.fl.m.Usage(n.ctx, c.ID)
	if err != nil {
		return storage.Message{}, nil, err
	}
	stored, err := store(im)
	if err != nil {
		return storage.Message{}, nil, err
	}
	if o.ID != wire.ID(im.ID) {
		n.log.Warn("a file offer whose id is not its message's; showing the message without the file", "peer", c.Address.Short())
		return stored, nil, nil
	}
	d, err := n.fl.m.InsertIncoming(tx, c.ID, stored.Seq, o, pol, usage)
	if errors.Is(err, storage.ErrExists) {
		n.log.Warn("a file offer reusing a known file id; showing the message without the file", "peer", c.Address.Short())
		return stored, nil, nil
	}
	if err != nil {
		return storage.Message{}, nil, err
	}
	rf := &receivedFile{id: o.ID}
	if d.Refused() {
		q, err := queueFileEnd(tx, c.ID, o.ID, d.Reason)
		if err != nil {
			return storage.Message{}, nil, err
		}
		rf.end = &q
	}
	return stored, rf, nil
}

// fileReceivedLocked finishes a stored offer after its commit: a refusal
// goes out, and the transfer is live before anyone hears of it (so
// AcceptFile finds it). The peer's mu is held.
func (n *Node) fileReceivedLocked(c contacts.Contact, rf *receivedFile) {
	if rf == nil {
		return
	}
	if rf.end != nil {
		p := n.peer(c.Address)
		p.enqueueLocked(*rf.end)
		n.startDelivery(p, c.ID)
	}
	if _, err := n.fl.m.Activate(n.ctx, rf.id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		n.log.Warn("taking a file offer into service", "err", err)
	}
}

// afterReceive publishes a received file's first state, after its message;
// an automatic download starts at once.
func (n *Node) afterReceive(c contacts.Contact, m *storage.Message) {
	if !files.IsFileMeta(m.Meta) {
		return
	}
	t, err := n.fl.m.Get(n.ctx, wire.ID(m.ID))
	if err != nil {
		return // the offer was not stored (see receiveContent)
	}
	n.events.publish(FileStateEvent{Transfer: apiTransfer(t, c)})
	if t.State == files.Accepted {
		n.spawn(func() { n.filesPoke(c.ID) })
	}
}

// Settings keys of the file policy (bytes, decimal).
const (
	settingMaxFileSize  = "file_max_size"
	settingAutoDownload = "file_auto_download"
	settingFileQuota    = "file_quota"
)

// filePolicy is the user's file policy.
func (n *Node) filePolicy(ctx context.Context) (files.Policy, error) {
	var s Settings
	if err := n.fileSettings(ctx, &s); err != nil {
		return files.Policy{}, err
	}
	return files.Policy{MaxSize: s.MaxFileSize, AutoDownload: s.AutoDownload, Quota: s.FileQuota}, nil
}

// fileSettings fills the file fields of s with the values in force.
func (n *Node) fileSettings(ctx context.Context, s *Settings) error {
	var p files.Policy
	for key, dst := range map[string]*int64{settingMaxFileSize: &p.MaxSize, settingAutoDownload: &p.AutoDownload, settingFileQuota: &p.Quota} {
		v, ok, err := n.db.Setting(ctx, key)
		if err != nil {
			return err
		}
		if ok {
			fmt.Sscan(v, dst)
		}
	}
	p = p.WithDefaults()
	s.MaxFileSize, s.AutoDownload, s.FileQuota = p.MaxSize, p.AutoDownload, p.Quota
	return nil
}

func (n *Node) setFileSettings(ctx context.Context, s Settings) error {
	for key, v := range map[string]int64{settingMaxFileSize: s.MaxFileSize, settingAutoDownload: s.AutoDownload, settingFileQuota: s.FileQuota} {
		var err error
		if v == 0 {
			err = n.db.DeleteSetting(ctx, key) // back to the default
		} else {
			err = n.db.SetSetting(ctx, key, fmt.Sprint(v))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
