package nodetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chive-im/chive/node"
)

// Conversation features (issue 17): replies, reactions, edits, deletion,
// disappearing timers, search and backups, as the node does them, with the
// same events. Edit histories live in edits, by message id.

// messageLocked finds message id in the contact's conversation.
func (f *Fake) messageLocked(c *node.Contact, id string) (*node.Message, error) {
	ms := f.messages[c.Address]
	for i := range ms {
		if ms[i].ID == id {
			return &ms[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %s", node.ErrNoMessage, id)
}

func (f *Fake) acceptedLocked(ref string) (*node.Contact, error) {
	c, err := f.findLocked(ref)
	if err != nil {
		return nil, err
	}
	if c.State != node.StateAccepted {
		return nil, fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
	}
	return c, nil
}

func (f *Fake) changedLocked(c *node.Contact, m *node.Message, change node.Change) {
	cp := *m
	cp.Reactions = slices.Clone(m.Reactions)
	f.publishLocked(node.MessageChangedEvent{ID: m.ID, Address: c.Address, Change: change, Message: &cp})
}

func (f *Fake) appendLocked(c *node.Contact, m node.Message) node.Message {
	f.seq++
	m.Seq, m.Contact, m.Address = f.seq, c.Name, c.Address
	if m.ID == "" {
		m.ID = newID()
	}
	if m.Time.IsZero() {
		m.Time = f.Now()
	}
	f.messages[c.Address] = append(f.messages[c.Address], m)
	c.LastMessage, c.LastAt = m.Text, m.Time
	return m
}

func quote(text string) string {
	q := strings.Join(strings.Fields(text), " ")
	if r := []rune(q); len(r) > 160 {
		q = string(r[:159]) + "…"
	}
	return q
}

func (f *Fake) Reply(ctx context.Context, ref, to, text string) (node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Reply")
	c, err := f.acceptedLocked(ref)
	if err != nil {
		return node.Message{}, err
	}
	orig, err := f.messageLocked(c, to)
	if err != nil {
		return node.Message{}, err
	}
	if orig.Deleted || orig.Kind != "" {
		return node.Message{}, fmt.Errorf("%w: %s cannot be answered", node.ErrNoMessage, to)
	}
	m := f.appendLocked(c, node.Message{Direction: node.Outgoing, Text: text, State: node.Queued, Timer: c.Timer,
		ReplyTo: &node.ReplyTo{ID: orig.ID, Direction: orig.Direction, Quote: quote(orig.Text)}})
	f.publishLocked(node.MessageEvent{Message: m})
	return m, nil
}

func (f *Fake) React(ctx context.Context, ref, id, emoji string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("React")
	c, err := f.acceptedLocked(ref)
	if err != nil {
		return err
	}
	m, err := f.messageLocked(c, id)
	if err != nil {
		return err
	}
	if m.Deleted || m.Kind != "" {
		return fmt.Errorf("%w: %s takes no reactions", node.ErrNoMessage, id)
	}
	setReaction(m, node.Outgoing, emoji, f.Now())
	f.changedLocked(c, m, node.ChangeReaction)
	return nil
}

func setReaction(m *node.Message, from node.Direction, emoji string, at time.Time) {
	m.Reactions = slices.DeleteFunc(m.Reactions, func(r node.Reaction) bool { return r.From == from })
	if emoji != "" {
		m.Reactions = append(m.Reactions, node.Reaction{Emoji: emoji, From: from, At: at})
	}
}

func (f *Fake) Edit(ctx context.Context, ref, id, text string) (node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Edit")
	c, err := f.acceptedLocked(ref)
	if err != nil {
		return node.Message{}, err
	}
	m, err := f.messageLocked(c, id)
	if err != nil {
		return node.Message{}, err
	}
	switch {
	case m.Direction != node.Outgoing:
		return node.Message{}, fmt.Errorf("%w: %s wrote it", node.ErrNotAuthor, c.Name)
	case f.Now().Sub(m.Time) > node.EditWindow:
		return node.Message{}, fmt.Errorf("edit: %w", node.ErrTooLate)
	case m.Deleted || m.Kind != "":
		return node.Message{}, fmt.Errorf("%w: %s cannot be edited", node.ErrNoMessage, id)
	}
	f.editLocked(c, m, text)
	return *m, nil
}

func (f *Fake) editLocked(c *node.Contact, m *node.Message, text string) {
	if f.edits == nil {
		f.edits = map[string][]node.Version{}
	}
	if len(f.edits[m.ID]) == 0 {
		f.edits[m.ID] = []node.Version{{Text: m.Text, At: m.Time}}
	}
	now := f.Now()
	f.edits[m.ID] = append(f.edits[m.ID], node.Version{Text: text, At: now})
	m.Text, m.Edited = text, now
	f.changedLocked(c, m, node.ChangeEdited)
}

func (f *Fake) Delete(ctx context.Context, ref, id string, forEveryone bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Delete")
	c, err := f.findLocked(ref)
	if err != nil {
		return err
	}
	m, err := f.messageLocked(c, id)
	if err != nil {
		return err
	}
	if !forEveryone {
		f.removeLocked(c, id, node.ChangeRemoved)
		return nil
	}
	switch {
	case c.State != node.StateAccepted:
		return fmt.Errorf("%s: %w", c.Name, node.ErrNotAccepted)
	case m.Direction != node.Outgoing:
		return fmt.Errorf("%w: %s wrote it", node.ErrNotAuthor, c.Name)
	case f.Now().Sub(m.Time) > node.DeleteWindow:
		return fmt.Errorf("delete: %w", node.ErrTooLate)
	}
	f.tombstoneLocked(c, m)
	return nil
}

func (f *Fake) tombstoneLocked(c *node.Contact, m *node.Message) {
	if m.Deleted {
		return
	}
	m.Text, m.Deleted, m.ReplyTo, m.Reactions, m.Edited, m.Disappears = "", true, nil, nil, time.Time{}, time.Time{}
	delete(f.edits, m.ID)
	f.changedLocked(c, m, node.ChangeDeleted)
}

func (f *Fake) removeLocked(c *node.Contact, id string, change node.Change) {
	f.messages[c.Address] = slices.DeleteFunc(f.messages[c.Address], func(m node.Message) bool { return m.ID == id })
	delete(f.edits, id)
	f.publishLocked(node.MessageChangedEvent{ID: id, Address: c.Address, Change: change})
}

func (f *Fake) Edits(ctx context.Context, ref, id string) ([]node.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Edits")
	c, err := f.findLocked(ref)
	if err != nil {
		return nil, err
	}
	m, err := f.messageLocked(c, id)
	if err != nil {
		return nil, err
	}
	if vs := f.edits[id]; len(vs) > 0 {
		return slices.Clone(vs), nil
	}
	return []node.Version{{Text: m.Text, At: m.Time}}, nil
}

func (f *Fake) SetTimer(ctx context.Context, ref string, timer time.Duration) (node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("SetTimer")
	if !slices.Contains(node.Timers, timer) {
		return node.Message{}, fmt.Errorf("set timer: %v is not one of the timers", timer)
	}
	c, err := f.acceptedLocked(ref)
	if err != nil {
		return node.Message{}, err
	}
	m := f.appendLocked(c, node.Message{Direction: node.Outgoing, Kind: node.KindTimer, Timer: node.Seconds(timer), State: node.Queued})
	c.Timer = node.Seconds(timer)
	f.publishLocked(node.MessageEvent{Message: m})
	f.publishLocked(node.ContactEvent{Contact: *c})
	return m, nil
}

func (f *Fake) Search(ctx context.Context, q node.SearchQuery) ([]node.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Search")
	terms := strings.Fields(strings.ToLower(q.Text))
	if len(terms) == 0 {
		return nil, fmt.Errorf("search: nothing to search for")
	}
	var addr string
	if q.Contact != "" {
		c, err := f.findLocked(q.Contact)
		if err != nil {
			return nil, err
		}
		addr = c.Address
	}
	var out []node.Message
	for a, ms := range f.messages {
		if addr != "" && a != addr {
			continue
		}
	msgs:
		for _, m := range ms {
			text := strings.ToLower(m.Text)
			for _, t := range terms {
				if !strings.Contains(text, t) {
					continue msgs
				}
			}
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq > out[j].Seq })
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Backup writes nothing (the fake has no disk) and says what a backup
// would hold.
func (f *Fake) Backup(ctx context.Context, o node.BackupOptions) (node.BackupInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Backup")
	if o.Path == "" {
		return node.BackupInfo{}, fmt.Errorf("backup: no file to write to")
	}
	if err := node.CheckPassphrase([]byte(o.Passphrase), false); err != nil {
		return node.BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	n := 0
	for _, ms := range f.messages {
		n += len(ms)
	}
	return node.BackupInfo{Path: o.Path, Contacts: len(f.contacts), Messages: n, Created: f.Now()}, nil
}

// --- simulating the contact ---

// SimReply simulates the contact answering message to (of either side).
func (f *Fake) SimReply(ref, to, text string) node.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	r := &node.ReplyTo{ID: to}
	if orig, err := f.messageLocked(c, to); err == nil {
		r.Direction, r.Quote = orig.Direction, quote(orig.Text)
	}
	m := f.appendLocked(c, node.Message{Direction: node.Incoming, Text: text, State: node.Received, ReplyTo: r, Timer: c.Timer})
	c.Unread++
	f.publishLocked(node.MessageEvent{Message: m})
	return m
}

// SimReaction simulates the contact setting its reaction ("" removes it).
func (f *Fake) SimReaction(ref, id, emoji string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, m := f.mustMessage(ref, id)
	setReaction(m, node.Incoming, emoji, f.Now())
	f.changedLocked(c, m, node.ChangeReaction)
}

// SimEdit simulates the contact editing one of its messages.
func (f *Fake) SimEdit(ref, id, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, m := f.mustMessage(ref, id)
	f.editLocked(c, m, text)
}

// SimDelete simulates the contact deleting one of its messages for everyone.
func (f *Fake) SimDelete(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, m := f.mustMessage(ref, id)
	f.tombstoneLocked(c, m)
}

// SimTimer simulates the contact changing the conversation's timer.
func (f *Fake) SimTimer(ref string, timer time.Duration) node.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	m := f.appendLocked(c, node.Message{Direction: node.Incoming, Kind: node.KindTimer, Timer: node.Seconds(timer), State: node.Received})
	c.Timer = node.Seconds(timer)
	f.publishLocked(node.MessageEvent{Message: m})
	f.publishLocked(node.ContactEvent{Contact: *c})
	return m
}

// SimExpire simulates a message's disappearing timer running out.
func (f *Fake) SimExpire(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, _ := f.mustMessage(ref, id)
	f.removeLocked(c, id, node.ChangeExpired)
}

func (f *Fake) mustMessage(ref, id string) (*node.Contact, *node.Message) {
	c, err := f.findLocked(ref)
	if err != nil {
		panic(err)
	}
	m, err := f.messageLocked(c, id)
	if err != nil {
		panic(err)
	}
	return c, m
}
