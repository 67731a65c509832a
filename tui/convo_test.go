package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// The conversation features (issue 17) in the UI: golden views of replies,
// reactions, edits, tombstones and timer changes, and flows through the
// fake node (what each key calls, and what the node's events change).

var altUp = tea.KeyPressMsg{Code: tea.KeyUp, Mod: tea.ModAlt}

// convoWorld is Alice's view with a conversation with Bob that has a bit
// of everything: a reply to a message in view and one to a message gone,
// reactions from both, an edited message, a tombstone, timer changes.
func convoWorld(t testing.TB) (*nodetest.Fake, map[string]node.Message) {
	f := nodetest.New("alice", aliceAddr)
	f.Now = fixedNow
	f.SimTor(node.TorStatus{State: node.TorReady, Percent: 100, Summary: "Done"})
	f.SimContact(node.Contact{Address: bobAddr, Name: "Bob", State: node.StateAccepted, Presence: node.Online, Created: testNow.Add(-72 * time.Hour)})
	at := func(min int) time.Time { return testNow.Add(time.Duration(min-60) * time.Minute) }
	ms := map[string]node.Message{}
	add := func(name string, m node.Message) node.Message {
		if m.State == "" && m.Direction == node.Incoming {
			m.State = node.Read
		}
		m = f.SimMessage("Bob", m)
		ms[name] = m
		return m
	}
	lunch := add("lunch", node.Message{Direction: node.Incoming, Text: "Lunch tomorrow at the noodle place?", Time: at(0),
		Reactions: []node.Reaction{{Emoji: "👍", From: node.Outgoing, At: at(1)}, {Emoji: "👍", From: node.Incoming, At: at(2)}, {Emoji: "🎉", From: node.Incoming, At: at(3)}}})
	add("reply", node.Message{Direction: node.Outgoing, Text: "Yes! 12:30?", Time: at(2), State: node.Read,
		ReplyTo: &node.ReplyTo{ID: lunch.ID, Direction: node.Incoming, Quote: lunch.Text}})
	add("gone", node.Message{Direction: node.Incoming, Text: "about that thing you said last week", Time: at(5),
		ReplyTo: &node.ReplyTo{ID: strings.Repeat("f", 32), Direction: node.Outgoing, Quote: "I might move to Lisbon next spring"}})
	edited := add("edited", node.Message{Direction: node.Incoming, Text: "See you at 12:45 instead", Time: at(8)})
	f.SimEdit("Bob", edited.ID, "See you at 12:45 instead, the table is booked")
	add("deleted", node.Message{Direction: node.Outgoing, Text: "", Time: at(10), Deleted: true, State: node.Delivered})
	add("timer", node.Message{Direction: node.Incoming, Kind: node.KindTimer, Timer: node.Seconds(time.Hour), Time: at(12)})
	add("vanishing", node.Message{Direction: node.Outgoing, Text: "this one disappears", Time: at(13), State: node.Delivered,
		Timer: node.Seconds(time.Hour), Disappears: at(73)})
	f.SimContact(node.Contact{Address: bobAddr, Name: "Bob", State: node.StateAccepted, Presence: node.Online, Created: testNow.Add(-72 * time.Hour), Timer: node.Seconds(time.Hour), ID: 1})
	return f, ms
}

func convoModel(t *testing.T) *Model {
	f, _ := convoWorld(t)
	return testModel(t, f, 80, 24)
}

func TestGoldenConvo(t *testing.T) {
	type step func(t *testing.T, m *Model)
	keys := func(ks ...string) step {
		return func(t *testing.T, m *Model) {
			for _, k := range ks {
				drive(t, m, press(k))
			}
		}
	}
	pick := func(t *testing.T, m *Model) { drive(t, m, altUp) }
	for _, tc := range []struct {
		name  string
		w, h  int
		steps []step
	}{
		{"convo_view", 80, 24, nil},
		{"convo_view_wide", 120, 30, nil},
		{"convo_view_narrow", 50, 20, nil},
		{"convo_picked", 80, 24, []step{pick, keys("up", "up", "up", "up", "up")}},
		{"convo_reply", 80, 24, []step{pick, keys("up", "up", "up", "up", "up", "up", "r")}},
		{"convo_edit", 80, 24, []step{pick, keys("e"), func(t *testing.T, m *Model) {}, keys("esc", "i")}},
		{"dialog_react", 80, 24, []step{pick, keys("up", "up", "up", "up", "up", "up", "e", "down")}},
		{"dialog_msgdelete", 80, 24, []step{pick, keys("x", "down")}},
		{"dialog_edits", 80, 24, []step{pick, keys("up", "up", "up", "h")}},
		{"dialog_timer", 80, 24, []step{keys("ctrl+t")}},
		{"dialog_search", 80, 24, []step{keys("alt+/"), func(t *testing.T, m *Model) { typeText(t, m, "the") }}},
		{"dialog_search_here", 80, 24, []step{keys("ctrl+f"), func(t *testing.T, m *Model) { typeText(t, m, "12") }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := convoModel(t)
			drive(t, m, tea.WindowSizeMsg{Width: tc.w, Height: tc.h})
			for _, s := range tc.steps {
				s(t, m)
			}
			golden.RequireEqual(t, []byte(plain(m)))
		})
	}
}

// called reports whether the fake got a call of method.
func called(f *nodetest.Fake, method string) bool {
	f.Settings(context.Background()) // orders the fake's calls before the read
	return slices.Contains(f.Calls, method)
}

func historyOf(t *testing.T, f *nodetest.Fake) []node.Message {
	ms, err := f.History(t.Context(), "Bob", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestConvoReplyFlow(t *testing.T) {
	f, ms := convoWorld(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, altUp)
	if m.chat.focus != focusMessages || m.chat.cv.picked != ms["vanishing"].ID {
		t.Fatalf("alt+up: focus %v picked %q", m.chat.focus, m.chat.cv.picked)
	}
	for range 6 {
		drive(t, m, press("up"))
	}
	if m.chat.cv.picked != ms["lunch"].ID {
		t.Fatalf("picked %q, want the lunch message", m.chat.cv.picked)
	}
	drive(t, m, press("r"))
	if v := plain(m); !strings.Contains(v, "↳ replying to Bob: Lunch tomorrow") {
		t.Fatalf("no reply line:\n%s", v)
	}
	typeText(t, m, "noodles it is")
	drive(t, m, press("enter"))
	h := historyOf(t, f)
	if got := h[0]; got.Text != "noodles it is" || got.ReplyTo == nil || got.ReplyTo.ID != ms["lunch"].ID {
		t.Fatalf("sent %+v", got)
	}
	v := plain(m)
	if !strings.Contains(v, "┃ Bob: Lunch tomorrow at the noodle place?") || !strings.Contains(v, "noodles it is") || strings.Contains(v, "replying to") {
		t.Fatalf("after the reply:\n%s", v)
	}

	// esc leaves reply mode without sending.
	drive(t, m, altUp)
	drive(t, m, press("r"))
	drive(t, m, press("esc"))
	if m.chat.cv.compose != nil || strings.Contains(plain(m), "replying to") {
		t.Fatal("esc did not cancel the reply")
	}
}

func TestConvoJumpToOriginal(t *testing.T) {
	f := nodetest.New("alice", aliceAddr)
	f.Now = fixedNow
	f.SimContact(node.Contact{Address: bobAddr, Name: "Bob", State: node.StateAccepted, Presence: node.Online})
	first := f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: "the very first message", Time: testNow.Add(-10 * time.Hour), State: node.Read})
	for i := range 450 {
		f.SimMessage("Bob", node.Message{Direction: node.Outgoing, Text: fmt.Sprintf("filler %d", i), Time: testNow.Add(-9 * time.Hour), State: node.Read})
	}
	f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: "remember this?", Time: testNow, State: node.Read,
		ReplyTo: &node.ReplyTo{ID: first.ID, Direction: node.Incoming, Quote: first.Text}})
	m := testModel(t, f, 80, 24)
	if m.chat.conv.index(first.ID) >= 0 {
		t.Fatal("the original is in the first page: the test would not test paging")
	}
	drive(t, m, altUp)
	drive(t, m, press("enter"))
	if m.chat.cv.picked != first.ID || m.chat.conv.index(first.ID) < 0 {
		t.Fatalf("jumped to %q, want the first message", m.chat.cv.picked)
	}
	if v := plain(m); !strings.Contains(v, "the very first message") {
		t.Fatalf("the original is not on screen:\n%s", v)
	}
	if len(m.chat.conv.msgs) > maxWindow {
		t.Fatalf("window of %d messages", len(m.chat.conv.msgs))
	}
}

func TestConvoEditReactDeleteFlow(t *testing.T) {
	f, ms := convoWorld(t)
	m := testModel(t, f, 80, 24)
	typeText(t, m, "half a draft")

	// Edit our last message: the composer takes its text; the draft comes back.
	drive(t, m, altUp)
	drive(t, m, press("i"))
	if got := m.chat.composer.Value(); got != "this one disappears" {
		t.Fatalf("composer %q when editing", got)
	}
	typeText(t, m, " for good")
	drive(t, m, press("enter"))
	if !called(f, "Edit") {
		t.Fatal("Edit not called")
	}
	if got := m.chat.composer.Value(); got != "half a draft" {
		t.Fatalf("the draft after the edit: %q", got)
	}
	if v := plain(m); !strings.Contains(v, "this one disappears for good") || !strings.Contains(v, "edited") {
		t.Fatalf("after the edit:\n%s", v)
	}

	// React to the lunch message with the second quick emoji.
	drive(t, m, altUp)
	pickUntil(t, m, ms["lunch"].ID, "up")
	drive(t, m, press("e"))
	drive(t, m, press("down"))
	drive(t, m, press("enter"))
	if v := plain(m); !strings.Contains(v, "👍 1  🎉 1  ❤️ 1") {
		t.Fatalf("reactions after reacting ❤️ (ours replaces our 👍):\n%s", v)
	}

	// Delete our reply for everyone: a tombstone.
	pickUntil(t, m, ms["reply"].ID, "down")
	drive(t, m, press("x"))
	drive(t, m, press("down"))
	drive(t, m, press("enter"))
	if h := historyOf(t, f); !slices.ContainsFunc(h, func(x node.Message) bool { return x.ID == ms["reply"].ID && x.Deleted }) {
		t.Fatal("the reply was not deleted for everyone")
	}
	if v := plain(m); strings.Contains(v, "Yes! 12:30?") || strings.Count(v, "⊘ message deleted") != 2 {
		t.Fatalf("after deleting for everyone:\n%s", v)
	}
	// Delete Bob's first message for us: gone.
	drive(t, m, altUp)
	pickUntil(t, m, ms["lunch"].ID, "up")
	drive(t, m, press("x"))
	drive(t, m, press("enter"))
	if v := plain(m); strings.Contains(v, "Lunch tomorrow at the noodle place?") {
		t.Fatalf("a message deleted for us is on screen:\n%s", v)
	}
	// The peer's reply to it still shows what it quoted.
	if v := plain(m); !strings.Contains(v, "┃ you: I might move to Lisbon") {
		t.Fatalf("a reply to a message we do not have lost its quote:\n%s", v)
	}
}

func TestConvoPeerChanges(t *testing.T) {
	f, ms := convoWorld(t)
	m := testModel(t, f, 80, 24)
	f.SimEdit("Bob", ms["gone"].ID, "about Lisbon: go!")
	drain(t, m, nil)
	if v := plain(m); !strings.Contains(v, "about Lisbon: go!") {
		t.Fatalf("the peer's edit:\n%s", v)
	}
	f.SimReaction("Bob", ms["vanishing"].ID, "😮")
	drain(t, m, nil)
	if v := plain(m); !strings.Contains(v, "😮 1") {
		t.Fatalf("the peer's reaction:\n%s", v)
	}
	f.SimDelete("Bob", ms["gone"].ID)
	drain(t, m, nil)
	if v := plain(m); strings.Contains(v, "about Lisbon") {
		t.Fatalf("the peer's deletion:\n%s", v)
	}
	f.SimExpire("Bob", ms["vanishing"].ID)
	drain(t, m, nil)
	if v := plain(m); strings.Contains(v, "this one disappears") {
		t.Fatalf("an expired message is on screen:\n%s", v)
	}
	f.SimTimer("Bob", 0)
	drain(t, m, nil)
	if v := plain(m); !strings.Contains(v, "Bob turned disappearing messages off") || strings.Contains(v, "⏱ 1h") {
		t.Fatalf("the peer turned the timer off:\n%s", v)
	}
}

func TestConvoTimerAndSearch(t *testing.T) {
	f, ms := convoWorld(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("ctrl+t"))
	drive(t, m, press("down")) // from 1 hour to 1 day
	drive(t, m, press("enter"))
	if v := plain(m); !strings.Contains(v, "You set disappearing messages to 1 day") || !strings.Contains(v, "⏱ 1d") {
		t.Fatalf("after setting the timer:\n%s", v)
	}

	drive(t, m, press("alt+/"))
	typeText(t, m, "NOODLE")
	if v := plain(m); !strings.Contains(v, "Lunch tomorrow at the noodle place?") {
		t.Fatalf("search results:\n%s", v)
	}
	drive(t, m, press("enter"))
	if m.chat.dialog != nil || m.chat.cv.picked != ms["lunch"].ID {
		t.Fatalf("enter on a result: dialog %T, picked %q", m.chat.dialog, m.chat.cv.picked)
	}
	if !called(f, "Search") {
		t.Fatal("Search not called")
	}
}

// pickUntil presses key until message id is chosen.
func pickUntil(t *testing.T, m *Model, id, key string) {
	t.Helper()
	for range 50 {
		if m.chat.cv.picked == id {
			return
		}
		drive(t, m, press(key))
	}
	t.Fatalf("message %s never chosen (focus %v, chosen %q)", id[:8], m.chat.focus, m.chat.cv.picked)
}
