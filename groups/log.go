package groups

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"
)

// Log is a group's membership log: the set of its signed changes. The
// state is a function of the set alone (State), so members that hold the
// same changes agree on the members, whatever order they learned them in;
// merging is a set union, so they converge as soon as they have exchanged
// their changes (Digest says whether they have).
//
// The convergence rule: changes are applied in the order (Number, Signer,
// Hash); each is applied only if it is allowed in the state the earlier
// ones made (an admin signed it, its target is or is not a member, ...),
// otherwise it stays in the set and does nothing. Two admins' concurrent
// changes have the same Number, so the one with the smaller signer key is
// applied first: if it removes the other admin, the other's change is void
// on every member alike.
//
// A Log is not safe for concurrent use.
type Log struct {
	id    ID
	ops   map[[32]byte]*Op
	state *State // cached; nil after a change
}

// NewLogOf is the log of a group whose changes are not known yet (an
// invitation names the group before its members send the log).
func NewLogOf(id ID) *Log { return &Log{id: id, ops: map[[32]byte]*Op{}} }

// ID is the group's id.
func (l *Log) ID() ID { return l.id }

// Len is the number of changes held.
func (l *Log) Len() int { return len(l.ops) }

// Ops returns the changes in the order they apply.
func (l *Log) Ops() []*Op {
	ops := make([]*Op, 0, len(l.ops))
	for _, o := range l.ops {
		ops = append(ops, o)
	}
	slices.SortFunc(ops, compareOps)
	return ops
}

func compareOps(a, b *Op) int {
	switch {
	case a.Number != b.Number:
		if a.Number < b.Number {
			return -1
		}
		return 1
	case a.Signer != b.Signer:
		return bytes.Compare(a.Signer[:], b.Signer[:])
	}
	return bytes.Compare(a.hash[:], b.hash[:])
}

// Digest summarizes the set of changes: equal digests, equal sets.
func (l *Log) Digest() [32]byte {
	h := sha256.New()
	for _, o := range l.Ops() {
		h.Write(o.hash[:])
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// Merge adds the signed changes in raw that the log lacks, and returns
// those it added. Each must verify (ParseOp) and be signed by someone the
// log and raw together show as the creator or invited by a member who was
// (so a stranger cannot fill the log); others are skipped and the first
// such problem returned with whatever was added. The log never grows
// beyond MaxOps (ErrLogFull).
func (l *Log) Merge(raw [][]byte) ([]*Op, error) {
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	var batch []*Op
	for _, b := range raw {
		o, err := ParseOp(b, l.id)
		if err != nil {
			keep(err)
			continue
		}
		if _, dup := l.ops[o.hash]; dup {
			continue
		}
		batch = append(batch, o)
	}
	if len(batch) == 0 {
		return nil, firstErr
	}
	known := l.known(batch)
	var added []*Op
	for _, o := range batch {
		if _, dup := l.ops[o.hash]; dup {
			continue // twice in raw
		}
		if !known[o.Signer] {
			keep(fmt.Errorf("%w: change %s by %s", ErrUnknown, o.Kind, o.Signer))
			continue
		}
		if len(l.ops) >= MaxOps {
			keep(ErrLogFull)
			break
		}
		l.ops[o.hash] = o
		added = append(added, o)
	}
	if len(added) > 0 {
		l.state = nil
	}
	return added, firstErr
}

// known is who may sign a change: the creator, and anyone invited by a
// change signed by someone known, over the log and batch together.
func (l *Log) known(batch []*Op) map[Key]bool {
	all := make([]*Op, 0, len(l.ops)+len(batch))
	for _, o := range l.ops {
		all = append(all, o)
	}
	all = append(all, batch...)
	known := map[Key]bool{}
	for _, o := range all {
		if o.Kind == KindCreate && o.Group == l.id {
			known[o.Signer] = true
		}
	}
	for grew := true; grew; {
		grew = false
		for _, o := range all {
			if o.Kind == KindInvite && known[o.Signer] && !known[o.Target] {
				known[o.Target] = true
				grew = true
			}
		}
	}
	return known
}

// Sign makes a change signed by key's owner, numbered after every change
// the log holds, and adds it. It fails, adding nothing, if the change
// would be void (ErrNotAdmin, ErrNotMember, ErrMember, ErrFull, ErrCreator)
// or the log is full.
func (l *Log) Sign(key ed25519.PrivateKey, kind Kind, target Key, name string, now time.Time) (*Op, error) {
	if len(l.ops) >= MaxOps {
		return nil, ErrLogFull
	}
	s := l.State()
	b := opBody{
		Group: l.id[:], Number: s.Epoch + 1, Kind: uint8(kind),
		Signer: key.Public().(ed25519.PublicKey), Time: now.UnixMilli(),
	}
	switch kind {
	case KindInvite, KindRemove, KindPromote:
		b.Target = target[:]
	case KindRename:
		if err := checkName(name); err != nil {
			return nil, err
		}
		b.Name = name
	case KindLeave:
	default:
		return nil, fmt.Errorf("groups: sign: cannot make a %s change", kind)
	}
	o, err := newOp(key, b)
	if err != nil {
		return nil, err
	}
	// Numbered above every change held, it applies last: the current state
	// says whether it is allowed.
	if err := s.check(o); err != nil {
		return nil, err
	}
	l.ops[o.hash] = o
	l.state = nil
	return o, nil
}

// Member is one member of a group.
type Member struct {
	Key       Key
	Admin     bool
	Since     uint64 // Number of the change that made them a member (last time)
	InvitedBy Key    // its signer (the creator for the creator)
}

// State is a group as its log makes it.
type State struct {
	Name    string
	Creator Key
	// Members in the order they joined.
	Members []Member
	// Epoch is the highest change Number held: a new change gets Epoch+1,
	// and a message sent now is for the members of this state.
	Epoch uint64
	// Gone says how former members left: KindRemove or KindLeave.
	Gone map[Key]Kind
	// Applied counts the changes that took effect (the others are void).
	Applied int
}

// State applies the log's changes in order; the result is cached until
// the log changes. An empty log (or one without its creating change) has
// no members.
func (l *Log) State() *State {
	if l.state != nil {
		return l.state
	}
	s := &State{Gone: map[Key]Kind{}}
	for _, o := range l.Ops() {
		s.Epoch = max(s.Epoch, o.Number)
		if s.check(o) == nil {
			s.apply(o)
			s.Applied++
		}
	}
	l.state = s
	return s
}

func (s *State) index(k Key) int {
	for i, m := range s.Members {
		if m.Key == k {
			return i
		}
	}
	return -1
}

// IsMember reports whether k is a member.
func (s *State) IsMember(k Key) bool { return s.index(k) >= 0 }

// IsAdmin reports whether k is an admin.
func (s *State) IsAdmin(k Key) bool {
	i := s.index(k)
	return i >= 0 && s.Members[i].Admin
}

// Member returns k's membership.
func (s *State) Member(k Key) (Member, bool) {
	i := s.index(k)
	if i < 0 {
		return Member{}, false
	}
	return s.Members[i], true
}

// Recipients are the members a message from self goes to: every member
// but self, or none if self is not a member.
func (s *State) Recipients(self Key) []Key {
	if !s.IsMember(self) {
		return nil
	}
	out := make([]Key, 0, len(s.Members)-1)
	for _, m := range s.Members {
		if m.Key != self {
			out = append(out, m.Key)
		}
	}
	return out
}

// Initiator says which of two members opens their pairwise session: the
// one who invited the other (the invitee knows nobody else yet), otherwise
// the one with the smaller key. Both compute the same from the same log.
func (s *State) Initiator(a, b Key) Key {
	if ma, ok := s.Member(a); ok && ma.InvitedBy == b && a != s.Creator {
		return b
	}
	if mb, ok := s.Member(b); ok && mb.InvitedBy == a && b != s.Creator {
		return a
	}
	if bytes.Compare(a[:], b[:]) < 0 {
		return a
	}
	return b
}

// check says why o would be void in s, or nil.
func (s *State) check(o *Op) error {
	if o.Kind == KindCreate {
		if s.Creator != (Key{}) {
			return fmt.Errorf("%w: created twice", ErrMalformed)
		}
		return nil
	}
	if s.Creator == (Key{}) {
		return fmt.Errorf("%w: not created yet", ErrNotMember)
	}
	admin := s.IsAdmin(o.Signer)
	switch o.Kind {
	case KindInvite:
		switch {
		case !admin:
			return ErrNotAdmin
		case s.IsMember(o.Target):
			return ErrMember
		case len(s.Members) >= MaxMembers:
			return ErrFull
		}
	case KindRemove:
		switch {
		case !admin:
			return ErrNotAdmin
		case !s.IsMember(o.Target):
			return ErrNotMember
		case o.Target == s.Creator:
			return ErrCreator
		case o.Target == o.Signer:
			return fmt.Errorf("%w: leave instead of removing yourself", ErrNotMember)
		}
	case KindLeave:
		if !s.IsMember(o.Signer) {
			return ErrNotMember
		}
	case KindPromote:
		switch {
		case !admin:
			return ErrNotAdmin
		case !s.IsMember(o.Target):
			return ErrNotMember
		case s.IsAdmin(o.Target):
			return fmt.Errorf("%w: already an admin", ErrMember)
		}
	case KindRename:
		if !admin {
			return ErrNotAdmin
		}
	default:
		return fmt.Errorf("%w: unknown change %s", ErrMalformed, o.Kind)
	}
	return nil
}

func (s *State) apply(o *Op) {
	switch o.Kind {
	case KindCreate:
		s.Name, s.Creator = o.Name, o.Signer
		s.Members = []Member{{Key: o.Signer, Admin: true, InvitedBy: o.Signer}}
	case KindInvite:
		s.Members = append(s.Members, Member{Key: o.Target, Since: o.Number, InvitedBy: o.Signer})
		delete(s.Gone, o.Target)
	case KindRemove:
		s.drop(o.Target, KindRemove)
	case KindLeave:
		s.drop(o.Signer, KindLeave)
	case KindPromote:
		s.Members[s.index(o.Target)].Admin = true
	case KindRename:
		s.Name = o.Name
	}
}

func (s *State) drop(k Key, how Kind) {
	i := s.index(k)
	s.Members = slices.Delete(s.Members, i, i+1)
	s.Gone[k] = how
	// A group whose last admin left is not stuck: its longest-standing
	// member becomes admin, on every member alike.
	for _, m := range s.Members {
		if m.Admin {
			return
		}
	}
	if len(s.Members) > 0 {
		s.Members[0].Admin = true
	}
}
