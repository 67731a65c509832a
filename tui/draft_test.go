package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

var erinAddr = "erin" + strings.Repeat("e", 48) + "eeed"

// draftWorld is world() with Erin, a second accepted contact.
func draftWorld(t testing.TB) *nodetest.Fake {
	f := world(t)
	f.SimContact(node.Contact{Address: erinAddr, Name: "Erin", State: node.StateAccepted, Presence: node.Online, Created: testNow.Add(-50 * time.Hour)})
	return f
}

// TestDraftStaysWithItsConversation is the scenario: type in Bob's
// conversation, Ctrl+K to Erin, Enter. Nothing may reach Erin; Bob's text
// waits in Bob's conversation.
func TestDraftStaysWithItsConversation(t *testing.T) {
	f := draftWorld(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "bob")
	drive(t, m, press("enter"))
	if m.chat.list.selected != bobAddr || m.chat.focus != focusComposer {
		t.Fatalf("Bob not open: %q focus %v", m.chat.list.selected, m.chat.focus)
	}
	typeText(t, m, "meant for Bob")
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "erin")
	drive(t, m, press("enter"))
	if m.chat.list.selected != erinAddr {
		t.Fatalf("Erin not open: %q", m.chat.list.selected)
	}
	if got := m.chat.composer.Value(); got != "" {
		t.Errorf("Erin's composer holds %q", got)
	}
	drive(t, m, press("enter"))
	if ms, _ := f.History(context.Background(), "Erin", "", 10); len(ms) != 0 {
		t.Fatalf("Erin received %q", ms[0].Text)
	}
	if n := calls(f, "Send"); n != 0 {
		t.Fatalf("Send called %d times", n)
	}
	typeText(t, m, "hi Erin")
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "bob")
	drive(t, m, press("enter"))
	if got := m.chat.composer.Value(); got != "meant for Bob" {
		t.Fatalf("Bob's draft = %q, want it restored", got)
	}
	drive(t, m, press("enter"))
	if ms, _ := f.History(context.Background(), "Bob", "", 1); len(ms) != 1 || ms[0].Text != "meant for Bob" {
		t.Fatalf("Bob's newest message: %+v", ms)
	}
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "erin")
	drive(t, m, press("enter"))
	if got := m.chat.composer.Value(); got != "hi Erin" {
		t.Errorf("Erin's draft = %q", got)
	}
}

// TestDraftFollowsListMoves: moving through the list with the keys keeps
// each conversation's draft too.
func TestDraftFollowsListMoves(t *testing.T) {
	f := draftWorld(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down")) // Bob (top after Carol's request)
	typeText(t, m, "draft one")
	drive(t, m, press("tab"))  // list
	drive(t, m, press("down")) // the next contact
	if m.chat.list.selected == bobAddr {
		t.Fatal("selection did not move")
	}
	if got := m.chat.composer.Value(); got != "" {
		t.Errorf("composer after moving = %q", got)
	}
	drive(t, m, press("up"))
	if got := m.chat.composer.Value(); got != "draft one" {
		t.Errorf("Bob's draft = %q", got)
	}
}

// TestDraftsKeptAcrossRestarts: drafts are saved in the node when leaving a
// conversation, when typing pauses and when quitting, and come back from
// the node's contacts in a new session.
func TestDraftsKeptAcrossRestarts(t *testing.T) {
	f := draftWorld(t)
	ctx := context.Background()
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down")) // Bob
	typeText(t, m, "for Bob")
	if calls(f, "SetDraft") != 0 {
		t.Fatal("saved on every key")
	}
	// Typing paused long enough: the timer saves.
	m.chat.drafts.editedAt = time.Now().Add(-time.Minute)
	drive(t, m, draftSaveMsg{})
	if ct, _ := f.Contact(ctx, "Bob"); ct.Draft != "for Bob" {
		t.Fatalf("after the pause, Bob's draft in the node = %q", ct.Draft)
	}
	typeText(t, m, "!")
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "erin")
	drive(t, m, press("enter"))
	if ct, _ := f.Contact(ctx, "Bob"); ct.Draft != "for Bob!" {
		t.Fatalf("after leaving, Bob's draft in the node = %q", ct.Draft)
	}
	typeText(t, m, "for Erin")
	drive(t, m, press("ctrl+q"))
	if ct, _ := f.Contact(ctx, "Erin"); ct.Draft != "for Erin" {
		t.Fatalf("after quitting, Erin's draft in the node = %q", ct.Draft)
	}

	// A new session on the same node: both drafts are back.
	m = testModel(t, f, 80, 24)
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "erin")
	drive(t, m, press("enter"))
	if got := m.chat.composer.Value(); got != "for Erin" {
		t.Errorf("Erin's draft after a restart = %q", got)
	}
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "bob")
	drive(t, m, press("enter"))
	if got := m.chat.composer.Value(); got != "for Bob!" {
		t.Errorf("Bob's draft after a restart = %q", got)
	}
	// Sending clears it in the node too.
	drive(t, m, press("enter"))
	if ct, _ := f.Contact(ctx, "Bob"); ct.Draft != "" {
		t.Errorf("after sending, Bob's draft in the node = %q", ct.Draft)
	}
}
