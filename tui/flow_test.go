package tui

import (
	"bytes"
	"context"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// Flows through a real Bubble Tea program (teatest/v2): real commands, the
// real event subscription and timers, output read from the renderer.

func waitOut(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
		teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

func newFlow(t *testing.T, opts Options) *teatest.TestModel {
	dark := true
	opts.Now, opts.Location, opts.Dark, opts.NoBell = fixedNow, time.UTC, &dark, true
	if opts.Getenv == nil {
		opts.Getenv = noEnv
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return teatest.NewTestModel(t, New(ctx, opts),
		teatest.WithInitialTermSize(100, 30),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
}

func TestFlowChatWithEvents(t *testing.T) {
	f := world(t)
	tm := newFlow(t, Options{API: f})
	waitOut(t, tm, "Carol wants to chat with you")
	tm.Send(press("down")) // Bob
	waitOut(t, tm, "Lunch tomorrow?")
	tm.Type("on my way")
	tm.Send(press("enter"))

	// The node stores it and publishes a MessageEvent, which alone puts it
	// on screen.
	waitOut(t, tm, "on my way")
	ms, err := f.History(context.Background(), "Bob", "", 1)
	if err != nil || len(ms) != 1 || ms[0].Text != "on my way" {
		t.Fatalf("the node's newest message to Bob: %v %v", ms, err)
	}
	sent := ms[0]

	// The network answers: delivered, a reply, typing, presence.
	f.SimState(sent.ID, node.Delivered, "")
	f.SimTyping("Bob")
	waitOut(t, tm, "Bob is typing")
	f.SimReceive("Bob", "see you soon")
	waitOut(t, tm, "see you soon")
	f.SimReceive("Carol", "are you there?")
	waitOut(t, tm, "(1) chive") // out of view: the window title counts it

	tm.Send(press("ctrl+q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	c := fm.chat
	var gotSent, gotReply bool
	for _, m := range c.conv.msgs {
		if m.ID == sent.ID && m.State == node.Delivered {
			gotSent = true
		}
		if m.Text == "see you soon" {
			gotReply = true
		}
	}
	if !gotSent || !gotReply {
		t.Errorf("final window: delivered %v, reply %v", gotSent, gotReply)
	}
	if u := c.list.items[c.list.index(carolAddr)].Unread; u != 1 {
		t.Errorf("Carol unread = %d, want 1", u)
	}
	if c.list.current().Unread != 0 {
		t.Errorf("Bob unread = %d with his conversation open", c.list.current().Unread)
	}
}

func TestFlowFirstRun(t *testing.T) {
	f := nodetest.New("alice", aliceAddr)
	f.Now = fixedNow
	p := &fakeProfile{api: f}
	tm := newFlow(t, Options{Profile: p})
	waitOut(t, tm, "Create your profile")
	tm.Type("alice")
	tm.Send(press("enter"))
	tm.Type("a long and winding passphrase")
	tm.Send(press("enter"))
	tm.Type("a long and winding passphrase")
	tm.Send(press("enter"))
	waitOut(t, tm, "No contacts yet")
	f.SimTor(node.TorStatus{State: node.TorBootstrapping, Percent: 50, Summary: "Loading relay descriptors"})
	waitOut(t, tm, "Tor 50% Loading relay descriptors")
	f.SimRequest(bobAddr, "Bob", "hi, it's bob")
	waitOut(t, tm, "contact request from Bob")
	tm.Send(press("enter"))
	waitOut(t, tm, "Contact request")
	tm.Send(press("a"))
	waitOut(t, tm, "accepted Bob")
	tm.Send(press("ctrl+q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if !p.created || p.createdPass != "a long and winding passphrase" || p.unlocks != 1 {
		t.Errorf("profile: created %v pass %q unlocks %d", p.created, p.createdPass, p.unlocks)
	}
	if c, _ := f.Contact(context.Background(), "Bob"); c.State != node.StateAccepted {
		t.Errorf("Bob is %s", c.State)
	}
}
