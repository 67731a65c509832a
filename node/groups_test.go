package node

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
)

// Group tests on the in-memory network: the same engine as on Tor (the
// Tor tests are in groups_tor_test.go and cmd/chive), fast.

const groupWait = 30 * time.Second

// groupMsgs returns the texts of group messages of gid received by n, in
// arrival order.
func (n *tnode) groupMsgs(gid string) []Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Message
	for _, e := range n.events {
		if m, ok := e.(MessageEvent); ok && m.Message.Group == gid && m.Message.Direction == Incoming {
			out = append(out, m.Message)
		}
	}
	return out
}

func (n *tnode) waitGroupMsgs(t testing.TB, gid string, count int) []Message {
	t.Helper()
	deadline := time.Now().Add(groupWait)
	for {
		got := n.groupMsgs(gid)
		if len(got) >= count {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %d of %d group messages", n.addr.Short(), len(got), count)
		}
		select {
		case <-n.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitGroup waits until n's view of the group satisfies ok.
func (n *tnode) waitGroup(t testing.TB, ref, what string, ok func(Group) bool) Group {
	t.Helper()
	var g Group
	waitUntil(t, groupWait, n.addr.Short()+": "+what, func() bool {
		var err error
		g, err = n.Group(t.Context(), ref)
		return err == nil && ok(g)
	})
	return g
}

// ready: we are an active member with a session with every other member.
func ready(members int) func(Group) bool {
	return func(g Group) bool {
		if g.State != GroupActive || len(g.Members) != members {
			return false
		}
		for _, m := range g.Members {
			if !m.Session {
				return false
			}
		}
		return true
	}
}

func memberAddrs(g Group) []string {
	var out []string
	for _, m := range g.Members {
		out = append(out, m.Address)
	}
	slices.Sort(out)
	return out
}

// historyIDs is the group's history on n, oldest first.
func historyIDs(t testing.TB, n *tnode, gid string) []string {
	t.Helper()
	h, err := n.History(t.Context(), gid, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(h) - 1; i >= 0; i-- {
		out = append(out, h[i].ID)
	}
	return out
}

// hubGroup starts n nodes, befriends the first with every other (the
// others are not each other's contacts), and makes a group of all of
// them, ready: every member has a session with every other.
func hubGroup(t *testing.T, mem *memnet.Network, names ...string) ([]*tnode, Group) {
	t.Helper()
	nodes := make([]*tnode, len(names))
	for i, name := range names {
		nodes[i] = startMem(t, mem, newProfile(t, name))
	}
	var refs []string
	for i, b := range nodes[1:] {
		befriendAs(t, nodes[0], b, names[i+1])
		refs = append(refs, b.Address())
	}
	g, err := nodes[0].CreateGroup(t.Context(), "team", refs)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.waitGroup(t, g.ID, "group ready", ready(len(nodes)))
	}
	return nodes, g
}

// befriendAs is befriend with a's nickname for b.
func befriendAs(t testing.TB, a, b *tnode, name string) {
	t.Helper()
	if _, err := a.AddContact(t.Context(), b.Address(), name, "hi"); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, groupWait, "contact request", isState(a.Address(), StatePendingIncoming))
	if _, err := b.AcceptContact(t.Context(), a.Address()); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, groupWait, "acceptance", isState(b.Address(), StateAccepted))
}

// TestGroupChat: four members, only Alice a contact of the others: create,
// everyone writes, everyone reads everyone's, verified as the author's, in
// the same order on every screen.
func TestGroupChat(t *testing.T) {
	mem := memnet.New()
	nodes, g := hubGroup(t, mem, "alice", "bob", "carol", "dave")
	ctx := t.Context()
	for round := range 3 {
		for i, n := range nodes {
			if _, err := n.Send(ctx, g.ID, fmt.Sprintf("%s-%d", names[i], round)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, n := range nodes {
		got := n.waitGroupMsgs(t, g.ID, 9)
		perAuthor := map[string][]string{}
		for _, m := range got {
			perAuthor[m.Author] = append(perAuthor[m.Author], m.Text)
			if m.Group != g.ID || m.Contact != "team" || m.Address != m.Author {
				t.Errorf("%s: message %+v", names[i], m)
			}
		}
		for j, o := range nodes {
			if i == j {
				continue
			}
			want := []string{names[j] + "-0", names[j] + "-1", names[j] + "-2"}
			if !reflect.DeepEqual(perAuthor[o.Address()], want) {
				t.Errorf("%s got from %s %v, want %v", names[i], names[j], perAuthor[o.Address()], want)
			}
		}
	}
	// One causal order, the same everywhere.
	want := historyIDs(t, nodes[0], g.ID)
	if len(want) != 12 {
		t.Fatalf("alice's history has %d messages", len(want))
	}
	for i, n := range nodes[1:] {
		if got := historyIDs(t, n, g.ID); !reflect.DeepEqual(got, want) {
			t.Errorf("%s's history differs from alice's:\n%v\n%v", names[i+1], got, want)
		}
	}
	// Non-contacts stay non-contacts.
	if cs, _ := nodes[1].Contacts(ctx); len(cs) != 1 {
		t.Errorf("bob has %d contacts, want 1 (alice)", len(cs))
	}
	// Receipts: everyone reads; alice's messages end up read by 3.
	for _, n := range nodes[1:] {
		if err := n.MarkRead(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := nodes[0].History(ctx, g.ID, "", 100)
	for _, m := range h {
		if m.Direction != Outgoing {
			continue
		}
		nodes[0].waitFor(t, groupWait, "read by 3", func(e Event) bool {
			r, ok := e.(GroupReceiptEvent)
			return ok && r.ID == m.ID && r.ReadBy == 3 && r.DeliveredTo == 3 && r.Recipients == 3 && r.State == Read
		})
	}
}

var names = []string{"alice", "bob", "carol", "dave", "eve"}

// TestGroupOfflineForward: Carol is offline while Alice sends 20 messages;
// then Alice goes offline and Carol comes back: she gets all 20 from Bob
// or Dave, verified as Alice's, in Alice's order, once each.
func TestGroupOfflineForward(t *testing.T) {
	mem := memnet.New()
	nodes, g := hubGroup(t, mem, "alice", "bob", "carol", "dave")
	alice, bob, carol, dave := nodes[0], nodes[1], nodes[2], nodes[3]
	ctx := t.Context()
	carolDir := carol.o.Dir
	carol.Close()
	want := texts("a", 20)
	for _, s := range want {
		if _, err := alice.Send(ctx, g.ID, s); err != nil {
			t.Fatal(err)
		}
	}
	bob.waitGroupMsgs(t, g.ID, 20)
	dave.waitGroupMsgs(t, g.ID, 20)
	alice.Close()
	carol = startMem(t, mem, carolDir)
	got := carol.waitGroupMsgs(t, g.ID, 20)
	var gotTexts []string
	for _, m := range got {
		if m.Author != alice.Address() {
			t.Fatalf("message by %s, want alice's", m.Author)
		}
		if m.Via != bob.Address() && m.Via != dave.Address() {
			t.Fatalf("message came via %q, not bob or dave", m.Via)
		}
		gotTexts = append(gotTexts, m.Text)
	}
	slices.Sort(gotTexts) // arrival order may interleave two forwarders
	checkInOrder(t, gotTexts, want)
	h, _ := carol.History(ctx, g.ID, "", 100)
	var order []string
	for i := len(h) - 1; i >= 0; i-- {
		order = append(order, h[i].Text)
	}
	checkInOrder(t, order, want)
	time.Sleep(300 * time.Millisecond) // let any duplicate land
	if n := len(carol.groupMsgs(g.ID)); n != 20 {
		t.Errorf("carol shows %d messages, want 20 (no duplicates)", n)
	}
}

// TestGroupRemove: Alice removes Dave; Dave learns it; what is sent after
// never reaches him; the others agree on the members.
func TestGroupRemove(t *testing.T) {
	mem := memnet.New()
	nodes, g := hubGroup(t, mem, "alice", "bob", "carol", "dave")
	alice, dave := nodes[0], nodes[3]
	ctx := t.Context()
	if _, err := dave.RemoveFromGroup(ctx, g.ID, alice.Address()); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("a member removed the creator: %v", err)
	}
	ag, err := alice.RemoveFromGroup(ctx, g.ID, dave.Address())
	if err != nil {
		t.Fatal(err)
	}
	if len(ag.Members) != 3 {
		t.Fatalf("alice sees %d members", len(ag.Members))
	}
	dave.waitGroup(t, g.ID, "removed", func(g Group) bool { return g.State == GroupRemoved })
	for _, n := range nodes[1:3] {
		n.waitGroup(t, g.ID, "3 members", func(gg Group) bool { return reflect.DeepEqual(memberAddrs(gg), memberAddrs(ag)) })
	}
	for i, n := range nodes[:3] {
		if _, err := n.Send(ctx, g.ID, "after "+names[i]); err != nil {
			t.Fatal(err)
		}
	}
	nodes[1].waitGroupMsgs(t, g.ID, 2)
	nodes[2].waitGroupMsgs(t, g.ID, 2)
	if _, err := dave.Send(ctx, g.ID, "still here?"); !errors.Is(err, ErrNotMember) {
		t.Errorf("removed dave sent: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := dave.groupMsgs(g.ID); len(got) != 0 {
		t.Errorf("removed dave received %d messages", len(got))
	}
	for _, n := range nodes[1:3] {
		for _, m := range n.groupMsgs(g.ID) {
			if m.Author == dave.Address() {
				t.Errorf("a message from removed dave arrived")
			}
		}
	}
}

// TestGroupConcurrentAdmins: Alice and Bob (promoted) change the group at
// the same moment without seeing each other's change; all members end up
// with the same members and admins.
func TestGroupConcurrentAdmins(t *testing.T) {
	mem := memnet.New()
	nodes, g := hubGroup(t, mem, "alice", "bob", "carol", "dave", "eve")
	alice, bob := nodes[0], nodes[1]
	ctx := t.Context()
	if _, err := alice.PromoteInGroup(ctx, g.ID, bob.Address()); err != nil {
		t.Fatal(err)
	}
	bob.waitGroup(t, g.ID, "admin", func(g Group) bool { return g.Admin })
	// Concurrent: each removes someone, and bob renames.
	errs := make(chan error, 3)
	go func() { _, err := alice.RemoveFromGroup(ctx, g.ID, nodes[3].Address()); errs <- err }()
	go func() { _, err := bob.RemoveFromGroup(ctx, g.ID, nodes[4].Address()); errs <- err }()
	go func() { errs <- bob.RenameGroup(ctx, g.ID, "team ☕") }()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	type view struct {
		Name    string
		Members []string
		Admins  []string
	}
	viewOf := func(g Group) view {
		v := view{Name: g.Name, Members: memberAddrs(g)}
		for _, m := range g.Members {
			if m.Admin {
				v.Admins = append(v.Admins, m.Address)
			}
		}
		slices.Sort(v.Admins)
		return v
	}
	want := view{Name: "team ☕", Members: []string{alice.Address(), bob.Address(), nodes[2].Address()}}
	slices.Sort(want.Members)
	want.Admins = []string{alice.Address(), bob.Address()}
	slices.Sort(want.Admins)
	for _, n := range nodes[:3] {
		n.waitGroup(t, g.ID, "converged", func(g Group) bool { return reflect.DeepEqual(viewOf(g), want) })
	}
	for _, n := range nodes[3:] {
		n.waitGroup(t, g.ID, "removed", func(g Group) bool { return g.State == GroupRemoved })
	}
}

// TestGroupRefs: a group's name works as a ref; a name shared with a
// contact is ambiguous, and says what to use instead.
func TestGroupRefs(t *testing.T) {
	mem := memnet.New()
	a := startMem(t, mem, newProfile(t, "alice"))
	b := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, a, b, groupWait)
	ctx := t.Context()
	if _, err := a.CreateGroup(ctx, "b", []string{"b"}); err != nil {
		t.Fatal(err)
	}
	_, err := a.Send(ctx, "b", "hi")
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), b.Address()) {
		t.Errorf("send to a name of both: %v", err)
	}
	g2, err := a.CreateGroup(ctx, "Family", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := a.Send(ctx, "family", "to myself"); err != nil || m.Group != g2.ID {
		t.Errorf("send by group name: %+v %v", m, err)
	}
	if _, err := a.CreateGroup(ctx, "family", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "family", "which?"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("two groups of one name: %v", err)
	}
	if _, err := a.Group(ctx, "nope"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := a.CreateGroup(ctx, "x", []string{"nobody"}); !errors.Is(err, ErrUnknownContact) {
		t.Errorf("unknown member: %v", err)
	}
}
