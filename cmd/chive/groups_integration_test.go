package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/rpc"
)

// TestGroupDaemons: four real daemons (chive daemon, each with its own tor)
// on the private Tor network, driven through the CLI: a group is created
// and joined by members who are not each other's contacts; everyone
// chats; Carol, offline while Alice writes 20 messages, gets them from Bob
// or Dave once Alice is gone too; two admins change the group at the same
// time and everyone converges; the removed member reads nothing after;
// kill -9 of a member in the middle of an exchange loses and duplicates
// nothing.
func TestGroupDaemons(t *testing.T) {
	setup(t)
	start := time.Now()
	names := []string{"alice", "bob", "carol", "dave"}
	profiles := make([]string, len(names))
	addrs := make([]string, len(names))
	for i, n := range names {
		profiles[i] = profileDir(t, n)
		r := cli(t, profiles[i], "", "init", "--name", n, "--no-passphrase")
		wantCode(t, r, exitOK)
		addrs[i] = strings.TrimSpace(r.stdout)
	}
	daemons := make([]*daemonProc, len(names))
	parallel(len(names), func(i int) { daemons[i] = startDaemon(t, profiles[i]) })
	parallel(len(names), func(i int) { waitReachable(t, profiles[i]) })
	t.Logf("4 daemons reachable in %s", time.Since(start).Round(time.Second))
	alice, bob, carol, dave := profiles[0], profiles[1], profiles[2], profiles[3]
	ctx := context.Background()
	client := func(p string) *rpc.Client {
		c, err := rpc.Dial(ctx, rpc.SocketPath(p))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// groupOf is p's view of the group, through its daemon.
	groupOf := func(p, ref string) (node.Group, bool) {
		r := cli(t, p, "", "groups", "show", ref, "--json")
		var g node.Group
		return g, r.code == exitOK && json.Unmarshal([]byte(r.stdout), &g) == nil
	}
	// inboxOf is p's received messages of the group.
	inboxOf := func(p, ref string) []inboxLine {
		r := cli(t, p, "", "inbox", "--json", "--contact", ref)
		var out []inboxLine
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var m inboxLine
			if json.Unmarshal([]byte(l), &m) == nil && m.ID != "" {
				out = append(out, m)
			}
		}
		return out
	}
	fromAuthor := func(ls []inboxLine, author string) []string {
		var out []string
		for _, l := range ls {
			if l.Author == author {
				out = append(out, l.Text)
			}
		}
		return out
	}

	// Alice is everyone's contact; the others know only her.
	step := time.Now()
	for i := 1; i < len(names); i++ {
		wantCode(t, cli(t, alice, "", "contacts", "add", addrs[i], "--name", names[i]), exitOK)
	}
	parallel(3, func(j int) {
		i := j + 1
		until(t, 4*time.Minute, names[i]+" to see alice's request", func() bool {
			return cli(t, profiles[i], "", "contacts", "accept", addrs[0]).code == exitOK
		})
	})
	until(t, 4*time.Minute, "alice to see the acceptances", func() bool {
		r := cli(t, alice, "", "contacts", "--json")
		var cs []node.Contact
		json.Unmarshal([]byte(r.stdout), &cs)
		return len(cs) == 3 && cs[0].State == node.StateAccepted && cs[1].State == node.StateAccepted && cs[2].State == node.StateAccepted
	})
	t.Logf("contacts in %s", time.Since(step).Round(time.Second))

	// Create: every member ends up with a session with every other.
	step = time.Now()
	r := cli(t, alice, "", "groups", "create", "team", "--member", "bob", "--member", "carol", "--member", "dave", "--json")
	wantCode(t, r, exitOK)
	var g node.Group
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil {
		t.Fatal(err)
	}
	gid := g.ID
	ready := func(p string, members int) bool {
		g, ok := groupOf(p, gid)
		if !ok || g.State != node.GroupActive || len(g.Members) != members {
			return false
		}
		for _, m := range g.Members {
			if !m.Session {
				return false
			}
		}
		return true
	}
	parallel(4, func(i int) {
		until(t, 6*time.Minute, names[i]+" to join with sessions to all", func() bool { return ready(profiles[i], 4) })
	})
	t.Logf("group of 4 ready (every pairwise session) in %s", time.Since(step).Round(time.Second))
	if cs := cli(t, bob, "", "contacts", "--json"); strings.Count(cs.stdout, `"address"`) != 1 {
		t.Errorf("bob has contacts besides alice: %s", cs.stdout)
	}

	// Chat from every member; each waits for delivery to all.
	step = time.Now()
	parallel(4, func(i int) {
		r := cli(t, profiles[i], "", "send", "team", "hello from "+names[i], "--wait", "delivered", "--timeout", "4m")
		wantCode(t, r, exitOK)
		if m := latencyRE.FindStringSubmatch(r.stdout); m != nil {
			t.Logf("%s → team (3 members) send→delivered to all: %s", names[i], m[1])
		}
	})
	for i, p := range profiles {
		until(t, 2*time.Minute, names[i]+" to read the other three", func() bool { return len(inboxOf(p, "team")) == 3 })
		for j := range names {
			if got := fromAuthor(inboxOf(p, "team"), addrs[j]); i != j && !reflect.DeepEqual(got, []string{"hello from " + names[j]}) {
				t.Errorf("%s got from %s: %q", names[i], names[j], got)
			}
		}
	}
	// One order on every screen.
	var orders [][]string
	for _, p := range profiles {
		h, err := client(p).History(ctx, gid, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range h {
			ids = append(ids, m.ID)
		}
		orders = append(orders, ids)
	}
	for i := range orders[1:] {
		if !reflect.DeepEqual(orders[i+1], orders[0]) {
			t.Errorf("%s's order differs from alice's", names[i+1])
		}
	}
	t.Logf("chat from every member in %s", time.Since(step).Round(time.Second))

	// Carol is offline while Alice writes 20; Alice leaves before Carol
	// is back: Carol gets them from Bob or Dave, as Alice's.
	step = time.Now()
	if err := daemons[2].stop(syscall.SIGTERM); err != nil {
		t.Errorf("carol: %v", err)
	}
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("while carol is away %02d", i))
	}
	for _, s := range want {
		wantCode(t, cli(t, alice, "", "send", "team", s), exitOK)
	}
	for _, p := range []string{bob, dave} {
		until(t, 4*time.Minute, filepath.Base(p)+" to have alice's 20", func() bool { return len(fromAuthor(inboxOf(p, "team"), addrs[0])) == 21 })
	}
	if err := daemons[0].stop(syscall.SIGTERM); err != nil {
		t.Errorf("alice: %v", err)
	}
	daemons[2] = startDaemon(t, carol)
	until(t, 6*time.Minute, "carol to get alice's 20 from another member", func() bool {
		return len(fromAuthor(inboxOf(carol, "team"), addrs[0])) == 21
	})
	var viaOthers int
	var got []string
	for _, l := range inboxOf(carol, "team") {
		if l.Author != addrs[0] || !strings.HasPrefix(l.Text, "while carol") {
			continue
		}
		got = append(got, l.Text)
		if l.Via == addrs[1] || l.Via == addrs[3] {
			viaOthers++
		}
	}
	if viaOthers != 20 || !reflect.DeepEqual(got, want) {
		t.Errorf("carol: %d of 20 via bob or dave; got %q", viaOthers, got)
	}
	t.Logf("carol, back, got alice's 20 from bob/dave in %s", time.Since(step).Round(time.Second))
	daemons[0] = startDaemon(t, alice)

	// Two admins change the group at once: Alice promotes Bob; then Alice
	// renames while Bob removes Dave. All converge.
	step = time.Now()
	wantCode(t, cli(t, alice, "", "groups", "promote", "team", "bob"), exitOK)
	until(t, 4*time.Minute, "bob to be an admin", func() bool { g, ok := groupOf(bob, gid); return ok && g.Admin })
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); wantCode(t, cli(t, alice, "", "groups", "rename", gid, "crew"), exitOK) }()
	go func() { defer wg.Done(); wantCode(t, cli(t, bob, "", "groups", "remove", gid, addrs[3]), exitOK) }()
	wg.Wait()
	type view struct {
		Name           string
		Members, Admin []string
	}
	viewOf := func(p string) view {
		g, _ := groupOf(p, gid)
		v := view{Name: g.Name}
		for _, m := range g.Members {
			v.Members = append(v.Members, m.Address)
			if m.Admin {
				v.Admin = append(v.Admin, m.Address)
			}
		}
		slices.Sort(v.Members)
		slices.Sort(v.Admin)
		return v
	}
	wantView := view{Name: "crew", Members: []string{addrs[0], addrs[1], addrs[2]}, Admin: []string{addrs[0], addrs[1]}}
	slices.Sort(wantView.Members)
	slices.Sort(wantView.Admin)
	for _, p := range profiles[:3] {
		until(t, 4*time.Minute, filepath.Base(p)+" to converge", func() bool { return reflect.DeepEqual(viewOf(p), wantView) })
	}
	until(t, 4*time.Minute, "dave to learn of his removal", func() bool {
		g, ok := groupOf(dave, gid)
		return ok && g.State == node.GroupRemoved
	})
	t.Logf("concurrent changes converged in %s", time.Since(step).Round(time.Second))

	// Removed: nothing sent after reaches Dave.
	for i, p := range profiles[:3] {
		wantCode(t, cli(t, p, "", "send", gid, "after dave left, from "+names[i], "--wait", "delivered", "--timeout", "4m"), exitOK)
	}
	if r := cli(t, dave, "", "send", gid, "am I still in?"); r.code == exitOK {
		t.Errorf("removed dave could send: %d %s", r.code, r.stdout)
	}
	for _, l := range inboxOf(dave, gid) {
		if strings.HasPrefix(l.Text, "after dave left") {
			t.Errorf("dave read %q after his removal", l.Text)
		}
	}

	// kill -9 mid-exchange: Bob and Carol write 10 each, Carol is killed
	// halfway through hers and restarted; every message that was queued
	// arrives exactly once, everywhere.
	step = time.Now()
	var mu sync.Mutex
	queued := map[string][]string{}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 10 {
			s := fmt.Sprintf("bob mid-exchange %02d", i)
			if r := cli(t, bob, "", "send", gid, s); r.code == exitOK {
				mu.Lock()
				queued[addrs[1]] = append(queued[addrs[1]], s)
				mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 10 {
			if i == 5 {
				daemons[2].stop(syscall.SIGKILL)
				daemons[2] = startDaemon(t, carol)
			}
			s := fmt.Sprintf("carol mid-exchange %02d", i)
			if r := cli(t, carol, "", "send", gid, s); r.code == exitOK {
				mu.Lock()
				queued[addrs[2]] = append(queued[addrs[2]], s)
				mu.Unlock()
			}
		}
	}()
	wg.Wait()
	if len(queued[addrs[1]]) != 10 || len(queued[addrs[2]]) != 10 {
		t.Errorf("queued: bob %d, carol %d (each send should queue)", len(queued[addrs[1]]), len(queued[addrs[2]]))
	}
	check := func(p string, author int) bool {
		got := fromAuthor(inboxOf(p, gid), addrs[author])
		var mid []string
		for _, s := range got {
			if strings.Contains(s, "mid-exchange") {
				mid = append(mid, s)
			}
		}
		return reflect.DeepEqual(mid, queued[addrs[author]])
	}
	until(t, 6*time.Minute, "every mid-exchange message, once, in order", func() bool {
		return check(alice, 1) && check(alice, 2) && check(bob, 2) && check(carol, 1)
	})
	// Let any duplicate land, then check again.
	until(t, 4*time.Minute, "outboxes to drain", func() bool {
		return statusOf(t, bob).Outbox == 0 && statusOf(t, carol).Outbox == 0
	})
	if !(check(alice, 1) && check(alice, 2) && check(bob, 2) && check(carol, 1)) {
		t.Errorf("a mid-exchange message was lost or duplicated")
	}
	t.Logf("kill -9 mid-exchange: nothing lost or duplicated, in %s", time.Since(step).Round(time.Second))

	// Logs never hold message text.
	for _, d := range daemons {
		if strings.Contains(d.log.String(), "mid-exchange") || strings.Contains(d.log.String(), "hello from") {
			t.Errorf("daemon log of %s holds message text", filepath.Base(d.profile))
		}
	}
	t.Logf("TestGroupDaemons took %s", time.Since(start).Round(time.Second))
}

// parallel runs f(0..n-1) at once and waits for all.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
}
