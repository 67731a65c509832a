package groups

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestCreateInviteRemove(t *testing.T) {
	us := users(t, 4)
	a, b, c, d := us[0], us[1], us[2], us[3]
	l, err := NewLog(a.key, "family", t0)
	if err != nil {
		t.Fatal(err)
	}
	s := l.State()
	if s.Name != "family" || s.Creator != a.k() || !s.IsAdmin(a.k()) || len(s.Members) != 1 {
		t.Fatalf("new group: %+v", s)
	}
	mustSign(t, l, a, KindInvite, b.k(), "")
	mustSign(t, l, a, KindInvite, c.k(), "")
	if _, err := l.Sign(b.key, KindInvite, d.k(), "", t0); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("a member invited: %v", err)
	}
	if _, err := l.Sign(a.key, KindInvite, b.k(), "", t0); !errors.Is(err, ErrMember) {
		t.Errorf("invited twice: %v", err)
	}
	mustSign(t, l, a, KindPromote, b.k(), "")
	mustSign(t, l, b, KindInvite, d.k(), "")
	if _, err := l.Sign(b.key, KindRemove, a.k(), "", t0); !errors.Is(err, ErrCreator) {
		t.Errorf("the creator was removed: %v", err)
	}
	mustSign(t, l, b, KindRemove, c.k(), "")
	mustSign(t, l, d, KindLeave, Key{}, "")
	mustSign(t, l, b, KindRename, Key{}, "family ☕")
	s = l.State()
	if got, want := memberKeys(s), []Key{a.k(), b.k()}; !reflect.DeepEqual(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if s.Gone[c.k()] != KindRemove || s.Gone[d.k()] != KindLeave || s.Name != "family ☕" {
		t.Errorf("state %+v", s)
	}
	if m, _ := s.Member(b.k()); !m.Admin || m.InvitedBy != a.k() {
		t.Errorf("bob %+v", m)
	}
	if s.Epoch != uint64(l.Len()-1) || s.Applied != l.Len() {
		t.Errorf("epoch %d applied %d of %d", s.Epoch, s.Applied, l.Len())
	}
	// A second log built from the changes in any order is the same group.
	l2 := NewLogOf(l.ID())
	if _, err := l2.Merge(shuffled(rand.New(rand.NewPCG(1, 2)), rawOps(l))); err != nil {
		t.Fatal(err)
	}
	if l2.Digest() != l.Digest() || !reflect.DeepEqual(l2.State(), l.State()) {
		t.Errorf("rebuilt log differs")
	}
}

func TestLastAdminLeaves(t *testing.T) {
	us := users(t, 3)
	l, _ := NewLog(us[0].key, "g", t0)
	mustSign(t, l, us[0], KindInvite, us[1].k(), "")
	mustSign(t, l, us[0], KindInvite, us[2].k(), "")
	mustSign(t, l, us[0], KindLeave, Key{}, "")
	s := l.State()
	if !s.IsAdmin(us[1].k()) || s.IsAdmin(us[2].k()) {
		t.Errorf("the longest-standing member should be admin: %+v", s.Members)
	}
	mustSign(t, l, us[1], KindInvite, us[0].k(), "") // and can invite the creator back
}

func TestFull(t *testing.T) {
	a := newUser(t, "a", 1)
	l, _ := NewLog(a.key, "big", t0)
	for i := 1; i < MaxMembers; i++ {
		mustSign(t, l, a, KindInvite, newUser(t, "x", byte(i+1)).k(), "")
	}
	if _, err := l.Sign(a.key, KindInvite, newUser(t, "y", 200).k(), "", t0); !errors.Is(err, ErrFull) {
		t.Fatalf("member %d: %v", MaxMembers+1, err)
	}
}

// TestConcurrentConvergence is the convergence property: admins make
// changes concurrently, each knowing only part of the others' (random
// gossip), and members learn them in random orders and batches. Every
// member that ends up holding the same changes has the same state, and
// after a full exchange all do.
func TestConcurrentConvergence(t *testing.T) {
	us := users(t, 8)
	for seed := uint64(0); seed < 60; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			genesis, _ := NewLog(us[0].key, "g", t0)
			// Everyone starts from the creator's log with four members,
			// two of them admins.
			for _, u := range us[1:4] {
				mustSign(t, genesis, us[0], KindInvite, u.k(), "")
			}
			mustSign(t, genesis, us[0], KindPromote, us[1].k(), "")
			replicas := make([]*Log, len(us))
			for i := range replicas {
				replicas[i] = NewLogOf(genesis.ID())
				if _, err := replicas[i].Merge(rawOps(genesis)); err != nil {
					t.Fatal(err)
				}
			}
			// Rounds of concurrent changes by whoever may make them, then
			// partial gossip.
			for round := 0; round < 6; round++ {
				for i, u := range us {
					if r.IntN(2) == 0 {
						continue
					}
					l := replicas[i]
					kind := []Kind{KindInvite, KindRemove, KindPromote, KindRename, KindLeave}[r.IntN(5)]
					target := us[r.IntN(len(us))].k()
					l.Sign(u.key, kind, target, fmt.Sprintf("name %d", r.IntN(100)), t0) // void ones fail; fine
				}
				for range 10 {
					from, to := r.IntN(len(us)), r.IntN(len(us))
					ops := rawOps(replicas[from])
					n := r.IntN(len(ops) + 1)
					if _, err := replicas[to].Merge(shuffled(r, ops)[:n]); err != nil && !errors.Is(err, ErrUnknown) {
						t.Fatal(err)
					}
				}
				// Replicas that happen to hold the same set agree.
				for i := range replicas {
					for j := range replicas {
						if replicas[i].Digest() == replicas[j].Digest() && !reflect.DeepEqual(replicas[i].State(), replicas[j].State()) {
							t.Fatalf("same changes, different states")
						}
					}
				}
			}
			// Full exchange in a random order: everyone converges.
			for _, i := range r.Perm(len(us)) {
				for _, j := range r.Perm(len(us)) {
					if _, err := replicas[j].Merge(shuffled(r, rawOps(replicas[i]))); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := replicas[0].State()
			for i, l := range replicas {
				if l.Digest() != replicas[0].Digest() {
					t.Fatalf("replica %d holds other changes", i)
				}
				if !reflect.DeepEqual(l.State(), want) {
					t.Fatalf("replica %d: %v, want %v", i, memberKeys(l.State()), memberKeys(want))
				}
			}
		})
	}
}

// TestAdminsRemoveEachOther: two admins remove each other at once. The
// smaller key's change applies first and voids the other, on both sides.
func TestAdminsRemoveEachOther(t *testing.T) {
	us := users(t, 3)
	a, b, c := us[0], us[1], us[2]
	base, _ := NewLog(a.key, "g", t0)
	mustSign(t, base, a, KindInvite, b.k(), "")
	mustSign(t, base, a, KindInvite, c.k(), "")
	mustSign(t, base, a, KindPromote, b.k(), "")
	mustSign(t, base, a, KindPromote, c.k(), "")
	lb, lc := NewLogOf(base.ID()), NewLogOf(base.ID())
	lb.Merge(rawOps(base))
	lc.Merge(rawOps(base))
	ob := mustSign(t, lb, b, KindRemove, c.k(), "")
	oc := mustSign(t, lc, c, KindRemove, b.k(), "")
	if ob.Number != oc.Number {
		t.Fatalf("not concurrent: %d %d", ob.Number, oc.Number)
	}
	lb.Merge(rawOps(lc))
	lc.Merge(rawOps(lb))
	sb, sc := lb.State(), lc.State()
	if !reflect.DeepEqual(sb, sc) {
		t.Fatalf("diverged: %v vs %v", memberKeys(sb), memberKeys(sc))
	}
	winner, loser := b, c
	if ck, bk := c.k(), b.k(); string(ck[:]) < string(bk[:]) {
		winner, loser = c, b
	}
	if !sb.IsMember(winner.k()) || sb.IsMember(loser.k()) {
		t.Errorf("%s should have removed %s: %v", winner.name, loser.name, memberKeys(sb))
	}
}

func TestMergeRejects(t *testing.T) {
	us := users(t, 3)
	a, b, x := us[0], us[1], us[2]
	l, _ := NewLog(a.key, "g", t0)
	mustSign(t, l, a, KindInvite, b.k(), "")
	// An outsider's log for the same id: its changes are signed by nobody
	// the group knows.
	other := NewLogOf(l.ID())
	other.Merge(rawOps(l))
	o, err := newOp(x.key, opBody{Group: l.id[:], Number: 9, Kind: uint8(KindInvite), Signer: x.k().Public(), Target: x.k().Public()})
	if err != nil {
		t.Fatal(err)
	}
	added, err := l.Merge([][]byte{o.Bytes()})
	if !errors.Is(err, ErrUnknown) || len(added) != 0 {
		t.Errorf("outsider's change: added %d, %v", len(added), err)
	}
	// Another group's change.
	l2, _ := NewLog(a.key, "other", t0)
	o2 := mustSign(t, l2, a, KindInvite, b.k(), "")
	if _, err := l.Merge([][]byte{o2.Bytes()}); !errors.Is(err, ErrNotGroup) {
		t.Errorf("another group's change: %v", err)
	}
	// A flipped bit.
	bad := append([]byte(nil), rawOps(l)[1]...)
	bad[len(bad)-1] ^= 1
	if _, err := ParseOp(bad, l.ID()); !errors.Is(err, ErrSignature) {
		t.Errorf("tampered change: %v", err)
	}
	// A member's (not admin's) change is kept but void.
	o3, _ := newOp(b.key, opBody{Group: l.id[:], Number: 5, Kind: uint8(KindRemove), Signer: b.k().Public(), Target: a.k().Public()})
	if added, err := l.Merge([][]byte{o3.Bytes()}); err != nil || len(added) != 1 {
		t.Fatalf("member's change: %d %v", len(added), err)
	}
	if !l.State().IsMember(a.k()) || l.State().Applied != 2 {
		t.Errorf("a void change took effect: %+v", l.State())
	}
}

func TestLogFull(t *testing.T) {
	us := users(t, 2)
	l, _ := NewLog(us[0].key, "g", t0)
	mustSign(t, l, us[0], KindInvite, us[1].k(), "")
	for l.Len() < MaxOps {
		mustSign(t, l, us[0], KindRename, Key{}, fmt.Sprint(l.Len()))
	}
	if _, err := l.Sign(us[0].key, KindRename, Key{}, "more", t0); !errors.Is(err, ErrLogFull) {
		t.Errorf("change %d: %v", MaxOps+1, err)
	}
}
