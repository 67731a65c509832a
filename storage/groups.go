package storage

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Groups (issue 18). Storage keeps what node needs of a group and
// interprets none of it: the membership log's changes are opaque bytes,
// messages are the authors' signed envelopes plus their text for display,
// sessions are opaque ratchet states. Addresses are sealed and looked up
// by their MAC, as contacts' are.

// GroupStatus is our standing in a group.
type GroupStatus string

const (
	GroupActive  GroupStatus = "active"  // we are a member
	GroupInvited GroupStatus = "invited" // a contact invited us; their log has not arrived yet
	GroupRemoved GroupStatus = "removed" // an admin removed us
	GroupLeft    GroupStatus = "left"    // we left
)

// Group is one row of chat_groups.
type Group struct {
	ID      int64 // local row id
	GID     [16]byte
	Name    string
	Status  GroupStatus
	Inviter string // the contact who invited us; "" if we created it
	Lamport uint64 // the highest clock seen or sent
	NextSeq uint64 // our next message's number
	Draft   string
	Created time.Time
	Updated time.Time
}

const groupCols = `id, gid, name_sealed, status, inviter_sealed, lamport, next_seq, draft_sealed, created, updated`

func (db *DB) scanGroup(sc interface{ Scan(...any) error }) (Group, error) {
	var g Group
	var gid, name, inviter, draft []byte
	var created, updated int64
	if err := sc.Scan(&g.ID, &gid, &name, &g.Status, &inviter, &g.Lamport, &g.NextSeq, &draft, &created, &updated); err != nil {
		return Group{}, err
	}
	copy(g.GID[:], gid)
	k := int64Key(g.ID)
	b, err := db.seal.open("chat_groups", "name", k, name)
	if err != nil {
		return Group{}, err
	}
	g.Name = string(b)
	if b, err = db.seal.openOpt("chat_groups", "inviter", k, inviter); err != nil {
		return Group{}, err
	}
	g.Inviter = string(b)
	if b, err = db.seal.openOpt("chat_groups", "draft", k, draft); err != nil {
		return Group{}, err
	}
	g.Draft = string(b)
	g.Created, g.Updated = time.Unix(0, created), time.Unix(0, updated)
	return g, nil
}

// InsertGroup stores a new group (g.ID is assigned). ErrExists if a group
// with that id is stored.
func (tx *Tx) InsertGroup(g Group) (Group, error) {
	if g.Created.IsZero() {
		g.Created = time.Now()
	}
	if g.Updated.IsZero() {
		g.Updated = g.Created
	}
	if g.NextSeq == 0 {
		g.NextSeq = 1
	}
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM chat_groups WHERE gid = ?`, g.GID[:]).Scan(&n); err != nil {
		return Group{}, fmt.Errorf("storage: insert group: %w", err)
	}
	if n > 0 {
		return Group{}, fmt.Errorf("storage: insert group: %w", ErrExists)
	}
	// The row id is the seal's row key: take it first, seal after.
	err := tx.tx.QueryRowContext(tx.ctx, `INSERT INTO chat_groups (gid, name_sealed, status, lamport, next_seq, created, updated)
		VALUES (?, x'', ?, ?, ?, ?, ?) RETURNING id`, g.GID[:], string(g.Status), g.Lamport, g.NextSeq, ns(g.Created), ns(g.Updated)).Scan(&g.ID)
	if err != nil {
		return Group{}, fmt.Errorf("storage: insert group: %w", err)
	}
	if err := tx.UpdateGroup(g); err != nil {
		return Group{}, err
	}
	return g, nil
}

// UpdateGroup writes g's name, status, inviter, clock, next number and
// draft.
func (tx *Tx) UpdateGroup(g Group) error {
	k := int64Key(g.ID)
	s := tx.db.seal
	if g.Updated.IsZero() {
		g.Updated = time.Now()
	}
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE chat_groups SET name_sealed = ?, status = ?, inviter_sealed = ?, lamport = ?, next_seq = ?,
		draft_sealed = ?, updated = ? WHERE id = ?`,
		s.seal("chat_groups", "name", k, []byte(g.Name)), string(g.Status), s.sealOpt("chat_groups", "inviter", k, optString(g.Inviter)),
		g.Lamport, g.NextSeq, s.sealOpt("chat_groups", "draft", k, optString(g.Draft)), ns(g.Updated), g.ID)
	if err != nil {
		return fmt.Errorf("storage: update group: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: update group %d: %w", g.ID, ErrNotFound)
	}
	return nil
}

// Group returns the group with row id id.
func (tx *Tx) Group(id int64) (Group, error) { return tx.db.group(tx.ctx, tx.tx, "id = ?", id) }

// GroupByGID returns the group with that group id, or ErrNotFound.
func (tx *Tx) GroupByGID(gid [16]byte) (Group, error) {
	return tx.db.group(tx.ctx, tx.tx, "gid = ?", gid[:])
}

// Group returns the group with row id id.
func (db *DB) Group(ctx context.Context, id int64) (Group, error) {
	if err := db.check(); err != nil {
		return Group{}, err
	}
	return db.group(ctx, db.sql, "id = ?", id)
}

// GroupByGID returns the group with that group id, or ErrNotFound.
func (db *DB) GroupByGID(ctx context.Context, gid [16]byte) (Group, error) {
	if err := db.check(); err != nil {
		return Group{}, err
	}
	return db.group(ctx, db.sql, "gid = ?", gid[:])
}

func (db *DB) group(ctx context.Context, q querier, where string, arg any) (Group, error) {
	g, err := db.scanGroup(q.QueryRowContext(ctx, `SELECT `+groupCols+` FROM chat_groups WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Group{}, fmt.Errorf("storage: group: %w", ErrNotFound)
	}
	if err != nil {
		return Group{}, fmt.Errorf("storage: group: %w", err)
	}
	return g, nil
}

// Groups returns every group, oldest first.
func (db *DB) Groups(ctx context.Context) ([]Group, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+groupCols+` FROM chat_groups ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("storage: groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := db.scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// DeleteGroup forgets a group with its log, sessions, messages and outbox.
func (tx *Tx) DeleteGroup(id int64) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM chat_groups WHERE id = ?`, id); err != nil {
		return fmt.Errorf("storage: delete group: %w", err)
	}
	return nil
}

func groupRowKey(groupID int64, b []byte) []byte { return append(int64Key(groupID), b...) }

// AddGroupOp stores one change of the group's log (its hash and signed
// bytes); a change already stored is left alone.
func (tx *Tx) AddGroupOp(groupID int64, hash [32]byte, op []byte) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO group_ops (group_id, hash, op_sealed) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		groupID, hash[:], tx.db.seal.seal("group_ops", "op", groupRowKey(groupID, hash[:]), op))
	if err != nil {
		return fmt.Errorf("storage: add group change: %w", err)
	}
	return nil
}

// GroupOps returns the group's stored changes, in no particular order.
func (tx *Tx) GroupOps(groupID int64) ([][]byte, error) {
	return tx.db.groupOps(tx.ctx, tx.tx, groupID)
}

// GroupOps returns the group's stored changes, in no particular order.
func (db *DB) GroupOps(ctx context.Context, groupID int64) ([][]byte, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	return db.groupOps(ctx, db.sql, groupID)
}

func (db *DB) groupOps(ctx context.Context, q querier, groupID int64) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT hash, op_sealed FROM group_ops WHERE group_id = ?`, groupID)
	if err != nil {
		return nil, fmt.Errorf("storage: group changes: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var hash, sealed []byte
		if err := rows.Scan(&hash, &sealed); err != nil {
			return nil, fmt.Errorf("storage: group changes: %w", err)
		}
		op, err := db.seal.open("group_ops", "op", groupRowKey(groupID, hash), sealed)
		if err != nil {
			return nil, fmt.Errorf("storage: group changes: %w", err)
		}
		out = append(out, op)
	}
	return out, rows.Err()
}

// GroupPeer is what we keep about another member of a group.
type GroupPeer struct {
	GroupID    int64
	Address    string
	Name       string     // the display name they gave us
	Session    []byte     // the group-scoped ratchet state; nil: none yet
	RequestID  *MessageID // our session request they have not answered
	AcceptedID *MessageID // their last session request we accepted
	// First and Have: we hold every message of theirs numbered First to
	// Have (0, 0: none).
	First, Have uint64
	Updated     time.Time
}

const groupPeerCols = `group_id, addr_mac, addr_sealed, name_sealed, session_sealed, request_id, accepted_id, first, have, updated`

func (db *DB) scanGroupPeer(sc interface{ Scan(...any) error }) (GroupPeer, error) {
	var p GroupPeer
	var mac, addr, name, sess, req, inv []byte
	var updated int64
	if err := sc.Scan(&p.GroupID, &mac, &addr, &name, &sess, &req, &inv, &p.First, &p.Have, &updated); err != nil {
		return GroupPeer{}, err
	}
	k := groupRowKey(p.GroupID, mac)
	b, err := db.seal.open("group_peers", "addr", k, addr)
	if err != nil {
		return GroupPeer{}, err
	}
	p.Address = string(b)
	if subtle.ConstantTimeCompare(db.seal.addressMAC(p.Address), mac) != 1 {
		return GroupPeer{}, ErrTampered
	}
	if b, err = db.seal.openOpt("group_peers", "name", k, name); err != nil {
		return GroupPeer{}, err
	}
	p.Name = string(b)
	if p.Session, err = db.seal.openOpt("group_peers", "session", k, sess); err != nil {
		return GroupPeer{}, err
	}
	p.RequestID, p.AcceptedID = optID(req), optID(inv)
	p.Updated = time.Unix(0, updated)
	return p, nil
}

func optID(b []byte) *MessageID {
	if len(b) != 16 {
		return nil
	}
	var id MessageID
	copy(id[:], b)
	return &id
}

func idArg(id *MessageID) any {
	if id == nil {
		return nil
	}
	return id[:]
}

// PutGroupPeer inserts or replaces what we keep about a member.
func (tx *Tx) PutGroupPeer(p GroupPeer) error {
	mac := tx.db.seal.addressMAC(p.Address)
	k := groupRowKey(p.GroupID, mac)
	s := tx.db.seal
	if p.Updated.IsZero() {
		p.Updated = time.Now()
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO group_peers (`+groupPeerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (group_id, addr_mac) DO UPDATE SET addr_sealed = excluded.addr_sealed, name_sealed = excluded.name_sealed,
		session_sealed = excluded.session_sealed, request_id = excluded.request_id, accepted_id = excluded.accepted_id,
		first = excluded.first, have = excluded.have, updated = excluded.updated`,
		p.GroupID, mac, s.seal("group_peers", "addr", k, []byte(p.Address)), s.sealOpt("group_peers", "name", k, optString(p.Name)),
		s.sealOpt("group_peers", "session", k, p.Session), idArg(p.RequestID), idArg(p.AcceptedID), p.First, p.Have, ns(p.Updated))
	if err != nil {
		return fmt.Errorf("storage: put group peer: %w", err)
	}
	return nil
}

// PutGroupSession replaces the session with a member (whose row exists).
func (tx *Tx) PutGroupSession(groupID int64, address string, state []byte, at time.Time) error {
	mac := tx.db.seal.addressMAC(address)
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE group_peers SET session_sealed = ?, updated = ? WHERE group_id = ? AND addr_mac = ?`,
		tx.db.seal.sealOpt("group_peers", "session", groupRowKey(groupID, mac), state), ns(at), groupID, mac)
	if err != nil {
		return fmt.Errorf("storage: put group session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("storage: put group session: %w", ErrNotFound)
	}
	return nil
}

// GroupPeer returns what we keep about a member, or ErrNotFound.
func (tx *Tx) GroupPeer(groupID int64, address string) (GroupPeer, error) {
	return tx.db.groupPeer(tx.ctx, tx.tx, groupID, address)
}

// GroupPeer returns what we keep about a member, or ErrNotFound.
func (db *DB) GroupPeer(ctx context.Context, groupID int64, address string) (GroupPeer, error) {
	if err := db.check(); err != nil {
		return GroupPeer{}, err
	}
	return db.groupPeer(ctx, db.sql, groupID, address)
}

func (db *DB) groupPeer(ctx context.Context, q querier, groupID int64, address string) (GroupPeer, error) {
	p, err := db.scanGroupPeer(q.QueryRowContext(ctx, `SELECT `+groupPeerCols+` FROM group_peers WHERE group_id = ? AND addr_mac = ?`,
		groupID, db.seal.addressMAC(address)))
	if errors.Is(err, sql.ErrNoRows) {
		return GroupPeer{}, fmt.Errorf("storage: group peer: %w", ErrNotFound)
	}
	if err != nil {
		return GroupPeer{}, fmt.Errorf("storage: group peer: %w", err)
	}
	return p, nil
}

// GroupPeers returns every member row of a group.
func (tx *Tx) GroupPeers(groupID int64) ([]GroupPeer, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+groupPeerCols+` FROM group_peers WHERE group_id = ?`, groupID)
	if err != nil {
		return nil, fmt.Errorf("storage: group peers: %w", err)
	}
	defer rows.Close()
	var out []GroupPeer
	for rows.Next() {
		p, err := tx.db.scanGroupPeer(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: group peers: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GroupPeers returns every member row of a group (0: of every group).
func (db *DB) GroupPeers(ctx context.Context, groupID int64) ([]GroupPeer, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	q, args := `SELECT `+groupPeerCols+` FROM group_peers ORDER BY group_id`, []any{}
	if groupID != 0 {
		q, args = `SELECT `+groupPeerCols+` FROM group_peers WHERE group_id = ?`, []any{groupID}
	}
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: group peers: %w", err)
	}
	defer rows.Close()
	var out []GroupPeer
	for rows.Next() {
		p, err := db.scanGroupPeer(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: group peers: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GroupMessage is one stored group message.
type GroupMessage struct {
	Seq       int64 // shares the sequence of Message.Seq: one inbox cursor
	GroupID   int64
	ID        MessageID
	Author    string
	AuthorSeq uint64
	Lamport   uint64
	Epoch     uint64
	Direction Direction
	Envelope  []byte // the author's signed message, as received
	Body      string
	Via       string    // the member it came from, when not the author
	Created   time.Time // the author's clock
	Received  time.Time
	Sent      time.Time // ours: first written to a member
	Read      time.Time // theirs: when we read it
}

const groupMessageCols = `seq, group_id, id, author_sealed, author_seq, lamport, epoch, direction, envelope_sealed, body_sealed, via_sealed, created, received, sent, read`

func (db *DB) scanGroupMessage(sc interface{ Scan(...any) error }) (GroupMessage, error) {
	var m GroupMessage
	var id, author, env, body, via []byte
	var created, received int64
	var sent, read sql.NullInt64
	if err := sc.Scan(&m.Seq, &m.GroupID, &id, &author, &m.AuthorSeq, &m.Lamport, &m.Epoch, &m.Direction, &env, &body, &via, &created, &received, &sent, &read); err != nil {
		return GroupMessage{}, err
	}
	copy(m.ID[:], id)
	k := groupRowKey(m.GroupID, id)
	s := db.seal
	b, err := s.open("group_messages", "author", k, author)
	if err != nil {
		return GroupMessage{}, err
	}
	m.Author = string(b)
	if m.Envelope, err = s.open("group_messages", "envelope", k, env); err != nil {
		return GroupMessage{}, err
	}
	if b, err = s.open("group_messages", "body", k, body); err != nil {
		return GroupMessage{}, err
	}
	m.Body = string(b)
	if b, err = s.openOpt("group_messages", "via", k, via); err != nil {
		return GroupMessage{}, err
	}
	m.Via = string(b)
	m.Created, m.Received, m.Sent, m.Read = time.Unix(0, created), time.Unix(0, received), fromNull(sent), fromNull(read)
	return m, nil
}

// nextMessageSeq takes the next number of the messages table's sequence,
// so group and 1:1 messages share one order: Inbox's cursor pages through
// both. (SQLite lets the sequence be written: AUTOINCREMENT takes the
// larger of it and the table's largest seq.)
func (tx *Tx) nextMessageSeq() (int64, error) {
	var cur int64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(
		coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
		coalesce((SELECT max(seq) FROM messages), 0),
		coalesce((SELECT max(seq) FROM group_messages), 0))`).Scan(&cur)
	if err != nil {
		return 0, fmt.Errorf("storage: next seq: %w", err)
	}
	next := cur + 1
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages'`, next)
	if err != nil {
		return 0, fmt.Errorf("storage: next seq: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)`, next); err != nil {
			return 0, fmt.Errorf("storage: next seq: %w", err)
		}
	}
	return next, nil
}

// InsertGroupMessage stores a group message (m.Seq is assigned) and, for
// another member's, notes that we hold that number of theirs. A message
// already stored (same id, or same author and number) is ErrDuplicate and
// changes nothing.
func (tx *Tx) InsertGroupMessage(m GroupMessage) (GroupMessage, error) {
	mac := tx.db.seal.addressMAC(m.Author)
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM group_messages WHERE group_id = ? AND (id = ? OR (author_mac = ? AND author_seq = ?))`,
		m.GroupID, m.ID[:], mac, m.AuthorSeq).Scan(&n); err != nil {
		return GroupMessage{}, fmt.Errorf("storage: insert group message: %w", err)
	}
	if n > 0 {
		return GroupMessage{}, ErrDuplicate
	}
	seq, err := tx.nextMessageSeq()
	if err != nil {
		return GroupMessage{}, err
	}
	m.Seq = seq
	if m.Received.IsZero() {
		m.Received = time.Now()
	}
	k := groupRowKey(m.GroupID, m.ID[:])
	s := tx.db.seal
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO group_messages (`+groupMessageCols+`, author_mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Seq, m.GroupID, m.ID[:], s.seal("group_messages", "author", k, []byte(m.Author)), m.AuthorSeq, m.Lamport, m.Epoch, string(m.Direction),
		s.seal("group_messages", "envelope", k, m.Envelope), s.seal("group_messages", "body", k, []byte(m.Body)),
		s.sealOpt("group_messages", "via", k, optString(m.Via)), ns(m.Created), ns(m.Received), nullTime(m.Sent), nullTime(m.Read), mac)
	if err != nil {
		return GroupMessage{}, fmt.Errorf("storage: insert group message: %w", err)
	}
	if m.Direction == Incoming {
		if err := tx.noteHeld(m.GroupID, m.Author, mac, m.AuthorSeq); err != nil {
			return GroupMessage{}, err
		}
	}
	return m, nil
}

// noteHeld extends the run of the author's numbers we hold (group_peers
// first..have) with seq, when it touches the run.
func (tx *Tx) noteHeld(groupID int64, author string, mac []byte, seq uint64) error {
	p, err := tx.GroupPeer(groupID, author)
	if errors.Is(err, ErrNotFound) {
		p = GroupPeer{GroupID: groupID, Address: author}
	} else if err != nil {
		return err
	}
	exists := func(n uint64) (bool, error) {
		var c int
		err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM group_messages WHERE group_id = ? AND author_mac = ? AND author_seq = ?`,
			groupID, mac, n).Scan(&c)
		return c > 0, err
	}
	switch {
	case p.First == 0:
		p.First, p.Have = seq, seq
	case seq+1 == p.First:
		p.First = seq
		for p.First > 1 {
			ok, err := exists(p.First - 1)
			if err != nil {
				return fmt.Errorf("storage: note held: %w", err)
			}
			if !ok {
				break
			}
			p.First--
		}
	case seq == p.Have+1:
	default:
		return nil // not touching the run: a later sync fills the gap
	}
	for {
		ok, err := exists(p.Have + 1)
		if err != nil {
			return fmt.Errorf("storage: note held: %w", err)
		}
		if !ok {
			break
		}
		p.Have++
	}
	return tx.PutGroupPeer(p)
}

// GroupMessage returns one group message by id, or ErrNotFound.
func (db *DB) GroupMessage(ctx context.Context, groupID int64, id MessageID) (GroupMessage, error) {
	if err := db.check(); err != nil {
		return GroupMessage{}, err
	}
	m, err := db.scanGroupMessage(db.sql.QueryRowContext(ctx, `SELECT `+groupMessageCols+` FROM group_messages WHERE group_id = ? AND id = ?`, groupID, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return GroupMessage{}, fmt.Errorf("storage: group message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return GroupMessage{}, fmt.Errorf("storage: group message: %w", err)
	}
	return m, nil
}

// GroupMessageBySeq returns one group message by seq, or ErrNotFound.
func (tx *Tx) GroupMessageBySeq(seq int64) (GroupMessage, error) {
	return tx.db.groupMessageBySeq(tx.ctx, tx.tx, seq)
}

// GroupMessageBySeq returns one group message by seq, or ErrNotFound.
func (db *DB) GroupMessageBySeq(ctx context.Context, seq int64) (GroupMessage, error) {
	if err := db.check(); err != nil {
		return GroupMessage{}, err
	}
	return db.groupMessageBySeq(ctx, db.sql, seq)
}

func (db *DB) groupMessageBySeq(ctx context.Context, q querier, seq int64) (GroupMessage, error) {
	m, err := db.scanGroupMessage(q.QueryRowContext(ctx, `SELECT `+groupMessageCols+` FROM group_messages WHERE seq = ?`, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return GroupMessage{}, fmt.Errorf("storage: group message %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return GroupMessage{}, fmt.Errorf("storage: group message: %w", err)
	}
	return m, nil
}

func (db *DB) queryGroupMessages(ctx context.Context, q querier, query string, args ...any) ([]GroupMessage, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []GroupMessage
	for rows.Next() {
		m, err := db.scanGroupMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// GroupHistory returns up to limit messages of the group in display order
// (Lamport clock, then id), newest first, before the message before (nil:
// from the newest).
func (db *DB) GroupHistory(ctx context.Context, groupID int64, before *MessageID, limit int) ([]GroupMessage, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	if before == nil {
		ms, err := db.queryGroupMessages(ctx, db.sql, `SELECT `+groupMessageCols+` FROM group_messages WHERE group_id = ?
			ORDER BY lamport DESC, id DESC LIMIT ?`, groupID, limit)
		if err != nil {
			return nil, fmt.Errorf("storage: group history: %w", err)
		}
		return ms, nil
	}
	var lamport int64
	if err := db.sql.QueryRowContext(ctx, `SELECT lamport FROM group_messages WHERE group_id = ? AND id = ?`, groupID, before[:]).Scan(&lamport); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("storage: group history: message %s: %w", before, ErrNotFound)
		}
		return nil, fmt.Errorf("storage: group history: %w", err)
	}
	ms, err := db.queryGroupMessages(ctx, db.sql, `SELECT `+groupMessageCols+` FROM group_messages WHERE group_id = ?
		AND (lamport < ? OR (lamport = ? AND id < ?)) ORDER BY lamport DESC, id DESC LIMIT ?`, groupID, lamport, lamport, before[:], limit)
	if err != nil {
		return nil, fmt.Errorf("storage: group history: %w", err)
	}
	return ms, nil
}

// GroupInboxQuery selects group messages for GroupInbox.
type GroupInboxQuery struct {
	After           int64 // only Seq > After
	GroupID         int64 // 0: every group
	IncludeOutgoing bool
	Limit           int // 0: 100
}

// GroupInbox returns group messages by arrival (Seq), oldest first.
func (db *DB) GroupInbox(ctx context.Context, q GroupInboxQuery) ([]GroupMessage, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	where, args := []string{"seq > ?"}, []any{q.After}
	if q.GroupID != 0 {
		where, args = append(where, "group_id = ?"), append(args, q.GroupID)
	}
	if !q.IncludeOutgoing {
		where = append(where, "direction = 'in'")
	}
	args = append(args, q.Limit)
	ms, err := db.queryGroupMessages(ctx, db.sql, `SELECT `+groupMessageCols+` FROM group_messages WHERE `+strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: group inbox: %w", err)
	}
	return ms, nil
}

// GroupMessagesFrom returns the author's messages in the group numbered
// above after (and below before, if not 0), by number, at most limit: what
// a member lacks, to forward.
func (db *DB) GroupMessagesFrom(ctx context.Context, groupID int64, author string, after, before uint64, limit int) ([]GroupMessage, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	if before == 0 {
		before = 1<<63 - 1
	}
	ms, err := db.queryGroupMessages(ctx, db.sql, `SELECT `+groupMessageCols+` FROM group_messages WHERE group_id = ? AND author_mac = ?
		AND author_seq > ? AND author_seq < ? ORDER BY author_seq LIMIT ?`, groupID, db.seal.addressMAC(author), after, before, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: group messages from: %w", err)
	}
	return ms, nil
}

// GroupAuthors returns the address of everyone with messages in the group.
func (db *DB) GroupAuthors(ctx context.Context, groupID int64) ([]string, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT seq, id, author_sealed FROM group_messages WHERE seq IN
		(SELECT max(seq) FROM group_messages WHERE group_id = ? GROUP BY author_mac)`, groupID)
	if err != nil {
		return nil, fmt.Errorf("storage: group authors: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var seq int64
		var id, author []byte
		if err := rows.Scan(&seq, &id, &author); err != nil {
			return nil, fmt.Errorf("storage: group authors: %w", err)
		}
		b, err := db.seal.open("group_messages", "author", groupRowKey(groupID, id), author)
		if err != nil {
			return nil, fmt.Errorf("storage: group authors: %w", err)
		}
		out = append(out, string(b))
	}
	return out, rows.Err()
}

// MarkGroupRead marks every unread message of the group read at at and
// returns them (for receipts to their authors), oldest first.
func (tx *Tx) MarkGroupRead(groupID int64, at time.Time) ([]GroupMessage, error) {
	ms, err := tx.db.queryGroupMessages(tx.ctx, tx.tx, `SELECT `+groupMessageCols+` FROM group_messages
		WHERE group_id = ? AND direction = 'in' AND read IS NULL ORDER BY seq`, groupID)
	if err != nil {
		return nil, fmt.Errorf("storage: mark group read: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE group_messages SET read = ? WHERE group_id = ? AND direction = 'in' AND read IS NULL`, ns(at), groupID); err != nil {
		return nil, fmt.Errorf("storage: mark group read: %w", err)
	}
	return ms, nil
}

// GroupSummary is a group's unread count and newest message (in display
// order), for the list.
type GroupSummary struct {
	Unread int
	Last   *GroupMessage
}

// GroupSummary summarizes one group.
func (db *DB) GroupSummary(ctx context.Context, groupID int64) (GroupSummary, error) {
	if err := db.check(); err != nil {
		return GroupSummary{}, err
	}
	var s GroupSummary
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM group_messages WHERE group_id = ? AND direction = 'in' AND read IS NULL`,
		groupID).Scan(&s.Unread); err != nil {
		return GroupSummary{}, fmt.Errorf("storage: group summary: %w", err)
	}
	ms, err := db.GroupHistory(ctx, groupID, nil, 1)
	if err != nil {
		return GroupSummary{}, err
	}
	if len(ms) == 1 {
		s.Last = &ms[0]
	}
	return s, nil
}

// GroupUnreadFrom counts the author's unread messages in the group and
// their size at rest: the quota a member may fill.
func (tx *Tx) GroupUnreadFrom(groupID int64, author string) (count int, size int64, err error) {
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT count(*), coalesce(sum(length(envelope_sealed) + length(body_sealed)), 0) FROM group_messages
		WHERE group_id = ? AND author_mac = ? AND direction = 'in' AND read IS NULL`, groupID, tx.db.seal.addressMAC(author)).Scan(&count, &size)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: group unread: %w", err)
	}
	return count, size, nil
}

// AddGroupReceipts records that our message is for these members.
func (tx *Tx) AddGroupReceipts(messageSeq int64, addresses []string) error {
	for _, a := range addresses {
		if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO group_receipts (message_seq, addr_mac) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			messageSeq, tx.db.seal.addressMAC(a)); err != nil {
			return fmt.Errorf("storage: add group receipts: %w", err)
		}
	}
	return nil
}

// MarkGroupDelivered records that the member has our message (read: and
// read it). It reports whether anything changed.
func (tx *Tx) MarkGroupDelivered(messageSeq int64, address string, read bool, at time.Time) (bool, error) {
	q := `UPDATE group_receipts SET delivered = ?1 WHERE message_seq = ?2 AND addr_mac = ?3 AND delivered IS NULL`
	if read {
		q = `UPDATE group_receipts SET delivered = coalesce(delivered, ?1), read = ?1 WHERE message_seq = ?2 AND addr_mac = ?3 AND read IS NULL`
	}
	res, err := tx.tx.ExecContext(tx.ctx, q, ns(at), messageSeq, tx.db.seal.addressMAC(address))
	if err != nil {
		return false, fmt.Errorf("storage: group receipt: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// GroupReceiptCounts says for how many members our message is, how many
// have it and how many read it.
func (tx *Tx) GroupReceiptCounts(messageSeq int64) (recipients, delivered, read int, err error) {
	return tx.db.groupReceiptCounts(tx.ctx, tx.tx, messageSeq)
}

// GroupReceiptCounts is Tx.GroupReceiptCounts outside a transaction.
func (db *DB) GroupReceiptCounts(ctx context.Context, messageSeq int64) (recipients, delivered, read int, err error) {
	if err := db.check(); err != nil {
		return 0, 0, 0, err
	}
	return db.groupReceiptCounts(ctx, db.sql, messageSeq)
}

func (db *DB) groupReceiptCounts(ctx context.Context, q querier, messageSeq int64) (recipients, delivered, read int, err error) {
	err = q.QueryRowContext(ctx, `SELECT count(*), count(delivered), count(read) FROM group_receipts WHERE message_seq = ?`, messageSeq).
		Scan(&recipients, &delivered, &read)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("storage: group receipts: %w", err)
	}
	return recipients, delivered, read, nil
}

// GroupMessageSeqs maps our messages' ids in the group to their seqs.
func (tx *Tx) GroupMessageSeqs(groupID int64, ids []MessageID, outgoing bool) (map[MessageID]int64, error) {
	dir := "in"
	if outgoing {
		dir = "out"
	}
	out := make(map[MessageID]int64, len(ids))
	for _, id := range ids {
		var seq int64
		err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq FROM group_messages WHERE group_id = ? AND id = ? AND direction = ?`, groupID, id[:], dir).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("storage: group message seqs: %w", err)
		}
		out[id] = seq
	}
	return out, nil
}

// GroupOutboxKind says what a group outbox item carries.
type GroupOutboxKind string

const (
	GroupKindRequest GroupOutboxKind = "request" // a ready GroupRequest frame
	GroupKindAccept  GroupOutboxKind = "accept"  // a ready GroupAccept frame
	GroupKindMessage GroupOutboxKind = "message" // a stored group message (MessageSeq), ours or forwarded
	GroupKindOps     GroupOutboxKind = "ops"     // our whole log, made when it leaves
	GroupKindReceipt GroupOutboxKind = "receipt" // a payload: receipts to an author
	GroupKindInvite  GroupOutboxKind = "invite"  // to a contact: the invitation, sealed under the 1:1 session when it leaves
)

// GroupOutboxItem is one thing a member is still to get from us.
type GroupOutboxItem struct {
	Seq        int64
	ID         MessageID // the frame's id for requests and acceptances
	GroupID    int64
	Address    string
	Kind       GroupOutboxKind
	MessageSeq int64  // GroupKindMessage
	Data       []byte // the frame (request, accept) or payload (receipt)
	Created    time.Time
	Sent       time.Time
}

// QueueGroup adds an item to a member's group outbox and returns it stored.
// A message already queued for that member, or our log while an unsent
// 'ops' item of the group waits for them, is not queued twice
// (ErrDuplicate).
func (tx *Tx) QueueGroup(it GroupOutboxItem) (GroupOutboxItem, error) {
	if it.ID.IsZero() {
		it.ID = NewMessageID()
	}
	if it.Created.IsZero() {
		it.Created = time.Now()
	}
	mac := tx.db.seal.addressMAC(it.Address)
	var dup int
	var err error
	switch it.Kind {
	case GroupKindMessage:
		err = tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM group_outbox WHERE addr_mac = ? AND message_seq = ?`, mac, it.MessageSeq).Scan(&dup)
	case GroupKindOps:
		err = tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM group_outbox WHERE addr_mac = ? AND group_id = ? AND kind = 'ops' AND sent IS NULL`,
			mac, it.GroupID).Scan(&dup)
	}
	if err != nil {
		return GroupOutboxItem{}, fmt.Errorf("storage: queue group: %w", err)
	}
	if dup > 0 {
		return GroupOutboxItem{}, ErrDuplicate
	}
	var mseq any
	if it.MessageSeq != 0 {
		mseq = it.MessageSeq
	}
	err = tx.tx.QueryRowContext(tx.ctx, `INSERT INTO group_outbox (id, group_id, addr_mac, kind, message_seq, data_sealed, created)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`, it.ID[:], it.GroupID, mac, string(it.Kind), mseq,
		tx.db.seal.sealOpt("group_outbox", "data", groupRowKey(it.GroupID, append(mac, it.ID[:]...)), it.Data), ns(it.Created)).Scan(&it.Seq)
	if err != nil {
		return GroupOutboxItem{}, fmt.Errorf("storage: queue group: %w", err)
	}
	return it, nil
}

// GroupOutbox returns up to limit of the member's items (every group's)
// after seq after, in order.
func (db *DB) GroupOutbox(ctx context.Context, address string, after int64, limit int) ([]GroupOutboxItem, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	mac := db.seal.addressMAC(address)
	rows, err := db.sql.QueryContext(ctx, `SELECT seq, id, group_id, kind, message_seq, data_sealed, created, sent FROM group_outbox
		WHERE addr_mac = ? AND seq > ? ORDER BY seq LIMIT ?`, mac, after, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: group outbox: %w", err)
	}
	defer rows.Close()
	var out []GroupOutboxItem
	for rows.Next() {
		it := GroupOutboxItem{Address: address}
		var id, data []byte
		var mseq sql.NullInt64
		var created int64
		var sent sql.NullInt64
		if err := rows.Scan(&it.Seq, &id, &it.GroupID, &it.Kind, &mseq, &data, &created, &sent); err != nil {
			return nil, fmt.Errorf("storage: group outbox: %w", err)
		}
		copy(it.ID[:], id)
		it.MessageSeq = mseq.Int64
		if it.Data, err = db.seal.openOpt("group_outbox", "data", groupRowKey(it.GroupID, append(append([]byte(nil), mac...), id...)), data); err != nil {
			return nil, fmt.Errorf("storage: group outbox: %w", err)
		}
		it.Created, it.Sent = time.Unix(0, created), fromNull(sent)
		out = append(out, it)
	}
	return out, rows.Err()
}

// GroupOutboxPeers returns the addresses with items in a group outbox.
func (db *DB) GroupOutboxPeers(ctx context.Context) ([]string, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	// One sealed address per MAC: any peer row of that address will do.
	rows, err := db.sql.QueryContext(ctx, `SELECT p.group_id, p.addr_mac, p.addr_sealed FROM group_peers p
		WHERE p.addr_mac IN (SELECT DISTINCT addr_mac FROM group_outbox) GROUP BY p.addr_mac`)
	if err != nil {
		return nil, fmt.Errorf("storage: group outbox peers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var gid int64
		var mac, addr []byte
		if err := rows.Scan(&gid, &mac, &addr); err != nil {
			return nil, fmt.Errorf("storage: group outbox peers: %w", err)
		}
		b, err := db.seal.open("group_peers", "addr", groupRowKey(gid, mac), addr)
		if err != nil {
			return nil, fmt.Errorf("storage: group outbox peers: %w", err)
		}
		out = append(out, string(b))
	}
	return out, rows.Err()
}

// HasGroupOutbox reports whether the member has items in a group outbox.
func (db *DB) HasGroupOutbox(ctx context.Context, address string) (bool, error) {
	if err := db.check(); err != nil {
		return false, err
	}
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM group_outbox WHERE addr_mac = ? LIMIT 1)`, db.seal.addressMAC(address)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("storage: group outbox: %w", err)
	}
	return n > 0, nil
}

// CountGroupOutbox counts every group outbox item (Status's outbox).
func (db *DB) CountGroupOutbox(ctx context.Context) (int, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM group_outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: group outbox: %w", err)
	}
	return n, nil
}

// MarkGroupSent records items as written to a link; a message of ours
// written for the first time gets its sent time. It returns the seqs of
// our messages that were not sent before.
func (tx *Tx) MarkGroupSent(seqs []int64, at time.Time) ([]int64, error) {
	var first []int64
	for _, s := range seqs {
		var mseq sql.NullInt64
		err := tx.tx.QueryRowContext(tx.ctx, `UPDATE group_outbox SET sent = coalesce(sent, ?) WHERE seq = ? RETURNING message_seq`, ns(at), s).Scan(&mseq)
		if errors.Is(err, sql.ErrNoRows) {
			continue // acknowledged meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("storage: mark group sent: %w", err)
		}
		if !mseq.Valid {
			continue
		}
		res, err := tx.tx.ExecContext(tx.ctx, `UPDATE group_messages SET sent = ? WHERE seq = ? AND direction = 'out' AND sent IS NULL`, ns(at), mseq.Int64)
		if err != nil {
			return nil, fmt.Errorf("storage: mark group sent: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			first = append(first, mseq.Int64)
		}
	}
	return first, nil
}

// DeleteGroupOutbox removes items (acknowledged, or obsolete) and returns
// those it removed.
func (tx *Tx) DeleteGroupOutbox(seqs []int64) ([]GroupOutboxItem, error) {
	var out []GroupOutboxItem
	for _, s := range seqs {
		var it GroupOutboxItem
		var id []byte
		var mseq sql.NullInt64
		err := tx.tx.QueryRowContext(tx.ctx, `DELETE FROM group_outbox WHERE seq = ? RETURNING seq, id, group_id, kind, message_seq`, s).
			Scan(&it.Seq, &id, &it.GroupID, &it.Kind, &mseq)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("storage: delete group outbox: %w", err)
		}
		copy(it.ID[:], id)
		it.MessageSeq = mseq.Int64
		out = append(out, it)
	}
	return out, nil
}

// GroupOutboxByID returns the member's item with frame id id, or
// ErrNotFound.
func (tx *Tx) GroupOutboxByID(address string, id MessageID) (GroupOutboxItem, error) {
	it := GroupOutboxItem{Address: address}
	var mseq sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, group_id, kind, message_seq FROM group_outbox WHERE addr_mac = ? AND id = ?`,
		tx.db.seal.addressMAC(address), id[:]).Scan(&it.Seq, &it.GroupID, &it.Kind, &mseq)
	if errors.Is(err, sql.ErrNoRows) {
		return GroupOutboxItem{}, fmt.Errorf("storage: group outbox item: %w", ErrNotFound)
	}
	if err != nil {
		return GroupOutboxItem{}, fmt.Errorf("storage: group outbox item: %w", err)
	}
	it.ID, it.MessageSeq = id, mseq.Int64
	return it, nil
}

// DropGroupOutbox removes the member's items of the group of the given
// kinds (none: all), e.g. when they are no longer a member. It returns
// how many it removed.
func (tx *Tx) DropGroupOutbox(groupID int64, address string, kinds ...GroupOutboxKind) (int64, error) {
	q := `DELETE FROM group_outbox WHERE group_id = ? AND addr_mac = ?`
	args := []any{groupID, tx.db.seal.addressMAC(address)}
	if len(kinds) > 0 {
		q += ` AND kind IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ") + `)`
		for _, k := range kinds {
			args = append(args, string(k))
		}
	}
	res, err := tx.tx.ExecContext(tx.ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("storage: drop group outbox: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// DropGroupMessagesHeld removes the member's queued messages of the group
// that they hold already: those of author numbered first to last.
func (tx *Tx) DropGroupMessagesHeld(groupID int64, address, author string, first, last uint64) ([]int64, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `DELETE FROM group_outbox WHERE addr_mac = ? AND group_id = ? AND kind = 'message' AND message_seq IN
		(SELECT seq FROM group_messages WHERE group_id = ? AND author_mac = ? AND author_seq BETWEEN ? AND ?) RETURNING message_seq`,
		tx.db.seal.addressMAC(address), groupID, groupID, tx.db.seal.addressMAC(author), first, last)
	if err != nil {
		return nil, fmt.Errorf("storage: drop held: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("storage: drop held: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// OurGroupMessagesIn returns the seqs of our messages in the group numbered
// first to last.
func (tx *Tx) OurGroupMessagesIn(groupID int64, first, last uint64) ([]int64, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT seq FROM group_messages WHERE group_id = ? AND direction = 'out' AND author_seq BETWEEN ? AND ?`,
		groupID, first, last)
	if err != nil {
		return nil, fmt.Errorf("storage: our group messages: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
