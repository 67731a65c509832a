package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chive-im/chive/node"
)

// TestGroups: the groups commands against the fake daemon, and a group
// where a contact goes (send, inbox).
func TestGroups(t *testing.T) {
	d := startFake(t)
	d.f.SimContact(node.Contact{Address: carolAddr, Name: "carol", State: node.StateAccepted})

	r := d.run(t, "groups")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "No groups yet") {
		t.Errorf("empty list: %s", r.stdout)
	}
	// Flags after positionals, as everywhere.
	r = d.run(t, "groups", "create", "family", "--member", "bob", "--member", "carol", "--json")
	wantCode(t, r, exitOK)
	var g node.Group
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil || g.Name != "family" || len(g.Members) != 3 || !g.Admin {
		t.Fatalf("create --json: %s %v", r.stdout, err)
	}
	wantCode(t, d.run(t, "groups", "create"), exitUsage)
	wantCode(t, d.run(t, "groups", "create", "x", "--member", "nobody"), exitUnknownPeer)

	r = d.run(t, "groups", "--json")
	var gs []node.Group
	if err := json.Unmarshal([]byte(r.stdout), &gs); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Fatalf("groups --json: %s %v", r.stdout, err)
	}
	r = d.run(t, "groups", "show", "family")
	wantCode(t, r, exitOK)
	for _, want := range []string{"alice (you)", "creator", "bob", "carol", g.ID} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}

	// A group works where a contact does.
	r = d.run(t, "send", "family", "hi", "all")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "for family") {
		t.Errorf("send: %s", r.stdout)
	}
	d.f.SimGroupMessage(g.ID, carolAddr, "hi from carol")
	r = d.run(t, "inbox")
	if !strings.Contains(r.stdout, "[family] carol: hi from carol") {
		t.Errorf("inbox does not show the group message with its author:\n%s", r.stdout)
	}
	r = d.run(t, "inbox", "--json", "--contact", "family")
	var l inboxLine
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || l.Group != g.ID || l.Author != carolAddr || l.AuthorName != "carol" {
		t.Errorf("inbox --json --contact GROUP: %s %v", r.stdout, err)
	}
	r = d.run(t, "inbox", "--contact", "bob")
	if strings.Contains(r.stdout, "family") {
		t.Errorf("bob's inbox shows the group's messages: %s", r.stdout)
	}

	// Changes.
	wantCode(t, d.run(t, "groups", "rename", "family", "fam"), exitOK)
	wantCode(t, d.run(t, "groups", "promote", "fam", "bob"), exitOK)
	wantCode(t, d.run(t, "groups", "rm", "fam", "carol"), exitOK)
	wantCode(t, d.run(t, "groups", "invite", "fam", "carol"), exitOK)
	if g, _ := d.f.Group(t.Context(), "fam"); len(g.Members) != 3 || !g.Members[1].Admin {
		t.Errorf("after the changes: %+v", g)
	}
	wantCode(t, d.run(t, "groups", "show", "nope"), exitUnknownPeer)

	// A name of a group and a contact is refused, with what to use.
	wantCode(t, d.run(t, "groups", "create", "bob"), exitOK)
	r = d.run(t, "send", "bob", "which one?")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "group and a contact") || !strings.Contains(r.stderr, bobAddr) {
		t.Errorf("ambiguous send: %s", r.stderr)
	}
	wantCode(t, d.run(t, "groups", "leave", "fam"), exitOK)
	r = d.run(t, "send", "fam", "still here?")
	wantCode(t, r, exitError)
}
