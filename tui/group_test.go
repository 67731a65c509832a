package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// groupWorld is world with a group: Alice (admin), Bob (a contact) and
// Erin (a member who is not Alice's contact), with messages from both.
func groupWorld(t *testing.T) (*nodetest.Fake, node.Group) {
	f := world(t)
	erin := "erin" + strings.Repeat("e", 48) + "eeed"
	g := f.SimGroup(node.Group{Name: "Book club", Admin: true, Created: testNow.Add(-2 * time.Hour),
		Members: []node.GroupMember{
			{Address: aliceAddr, Name: "alice", Admin: true, Creator: true, Self: true, Session: true},
			{Address: bobAddr, Session: true},
			{Address: erin, Name: "Erin", Session: true, Presence: node.Online},
		}})
	f.SimGroupMessage(g.ID, bobAddr, "who read chapter 3?")
	f.SimGroupMessage(g.ID, erin, "me, twice")
	return f, g
}

func TestGroupInList(t *testing.T) {
	f, g := groupWorld(t)
	m := testModel(t, f, 100, 30)
	out := plain(m)
	if !strings.Contains(out, "# Book club") {
		t.Fatalf("the group is not in the list, marked:\n%s", out)
	}
	// Open it: the authors are named, the header counts members.
	c := m.chat
	drain(t, m, c.open(g.ID))
	out = plain(m)
	for _, want := range []string{"3 members, 2 online", "Bob", "who read chapter 3?", "Erin", "me, twice"} {
		if !strings.Contains(out, want) {
			t.Errorf("group conversation lacks %q:\n%s", want, out)
		}
	}
	contacts, _, _ := c.list.counts()
	if contacts != 3 {
		t.Errorf("the status bar counts %d contacts, want 3 (a group is none)", contacts)
	}

	// Send to the group; receipts show "delivered to 1/2".
	typeText(t, m, "chapter 4 next")
	drive(t, m, press("enter"))
	h, _ := f.History(context.Background(), g.ID, "", 1)
	if len(h) != 1 || h[0].Text != "chapter 4 next" || h[0].Group != g.ID {
		t.Fatalf("sent: %+v", h)
	}
	f.SimGroupReceipt(h[0].ID, 1, 0)
	drain(t, m, nil)
	if out := plain(m); !strings.Contains(out, "delivered to 1/2") {
		t.Errorf("no receipt count:\n%s", out)
	}
	f.SimGroupReceipt(h[0].ID, 2, 2)
	drain(t, m, nil)
	if out := plain(m); !strings.Contains(out, "delivered to 2/2, read by 2") {
		t.Errorf("no read count:\n%s", out)
	}

	// A member types: the rule names them.
	f.SimGroupTyping(g.ID, g.Members[2].Address)
	drain(t, m, nil)
	if out := plain(m); !strings.Contains(out, "Erin is typing") {
		t.Errorf("typing:\n%s", out)
	}
}

func TestGroupCreateDialog(t *testing.T) {
	f := world(t)
	f.SimContact(node.Contact{Address: carolAddr + "x", Name: "Xena", State: node.StateAccepted})
	m := testModel(t, f, 100, 30)
	drive(t, m, press("ctrl+g"))
	if out := plain(m); !strings.Contains(out, "New group") || !strings.Contains(out, "[ ] ● Bob") || strings.Contains(out, "] ○ Dave") {
		t.Fatalf("create dialog (accepted contacts only):\n%s", out)
	}
	typeText(t, m, "Lunch")
	drive(t, m, press("tab"))
	drive(t, m, press("space")) // the first contact
	drive(t, m, press("enter"))
	gs, _ := f.Groups(context.Background())
	if len(gs) != 1 || gs[0].Name != "Lunch" || len(gs[0].Members) != 2 {
		t.Fatalf("created: %+v", gs)
	}
	c := m.chat
	if c.dialog != nil || c.list.selected != gs[0].ID {
		t.Errorf("the new group is not open (dialog %T, selected %q)", c.dialog, c.list.selected)
	}
}

func TestGroupMembersPanel(t *testing.T) {
	f, g := groupWorld(t)
	m := testModel(t, f, 100, 30)
	c := m.chat
	drain(t, m, c.open(g.ID))
	drive(t, m, press("tab")) // to the list: ctrl+d works from anywhere anyway
	drive(t, m, press("ctrl+d"))
	out := plain(m)
	for _, want := range []string{"# Book club", "alice (you)", "creator", "Bob", "Erin", "not a contact", "you are an admin", "invite"} {
		if !strings.Contains(out, want) {
			t.Errorf("members panel lacks %q:\n%s", want, out)
		}
	}
	// Remove Erin: x, then x again.
	drive(t, m, press("down"))
	drive(t, m, press("down"))
	drive(t, m, press("x"))
	if out := plain(m); !strings.Contains(out, "Remove Erin?") {
		t.Fatalf("no confirmation:\n%s", out)
	}
	drive(t, m, press("x"))
	gg, _ := f.Group(context.Background(), g.ID)
	if len(gg.Members) != 2 {
		t.Errorf("after removing erin: %d members", len(gg.Members))
	}
	if out := plain(m); strings.Contains(out, "Erin") && strings.Contains(out, "not a contact") {
		t.Errorf("the panel still shows erin:\n%s", out)
	}
	// Rename.
	drive(t, m, press("r"))
	for range len("Book club") {
		drive(t, m, press("backspace"))
	}
	typeText(t, m, "Readers")
	drive(t, m, press("enter"))
	if gg, _ := f.Group(context.Background(), g.ID); gg.Name != "Readers" {
		t.Errorf("renamed to %q", gg.Name)
	}
	// Leave: l, l.
	drive(t, m, press("l"))
	drive(t, m, press("l"))
	if gg, _ := f.Group(context.Background(), g.ID); gg.State != node.GroupLeft {
		t.Errorf("state after leaving: %s", gg.State)
	}
	if out := plain(m); !strings.Contains(out, "you left this group") {
		t.Errorf("the composer does not say we left:\n%s", out)
	}
}
