package tui

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

func calls(f *nodetest.Fake, name string) int {
	n := 0
	for _, c := range f.Calls {
		if c == name {
			n++
		}
	}
	return n
}

// ev delivers a node event as the wait-for-next-event command would.
func ev(t *testing.T, m *Model, e node.Event) {
	t.Helper()
	drive(t, m, eventMsg{ev: e})
}

func TestWelcomeUpdate(t *testing.T) {
	cases := []struct {
		name     string
		input    func(t *testing.T, m *Model)
		wantErr  string
		wantPass string
		wantNone bool
		created  bool
	}{
		{"no nickname", func(t *testing.T, m *Model) { drive(t, m, press("enter")) }, "choose a nickname", "", false, false},
		{"no passphrase and box unticked", func(t *testing.T, m *Model) {
			typeText(t, m, "alice")
			drive(t, m, press("tab"))
			drive(t, m, press("tab"))
			drive(t, m, press("enter"))
		}, "enter a passphrase, or tick", "", false, false},
		{"passphrases differ", func(t *testing.T, m *Model) {
			typeText(t, m, "alice")
			drive(t, m, press("enter"))
			typeText(t, m, "one two three four")
			drive(t, m, press("enter"))
			typeText(t, m, "one two three five")
			drive(t, m, press("enter"))
		}, "the two passphrases differ", "", false, false},
		{"with passphrase", func(t *testing.T, m *Model) {
			typeText(t, m, "alice")
			drive(t, m, press("enter"))
			typeText(t, m, "one two three four")
			drive(t, m, press("enter"))
			typeText(t, m, "one two three four")
			drive(t, m, press("enter"))
		}, "", "one two three four", false, true},
		{"explicitly no passphrase", func(t *testing.T, m *Model) {
			typeText(t, m, "alice")
			drive(t, m, press("shift+tab"))
			drive(t, m, press("space"))
			drive(t, m, press("enter"))
		}, "", "", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			p := &fakeProfile{api: f}
			m := profileModel(t, p, 80, 24)
			if m.screen != screenWelcome {
				t.Fatalf("screen = %v, want welcome", m.screen)
			}
			tc.input(t, m)
			if got := plain(m); tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
				t.Errorf("view lacks %q:\n%s", tc.wantErr, got)
			}
			if p.created != tc.created {
				t.Fatalf("created = %v, want %v", p.created, tc.created)
			}
			if !tc.created {
				return
			}
			if p.createdName != "alice" || p.createdPass != tc.wantPass || p.createdNone != tc.wantNone {
				t.Errorf("Create(%q, %q, none=%v), want (alice, %q, %v)", p.createdName, p.createdPass, p.createdNone, tc.wantPass, tc.wantNone)
			}
			if m.screen != screenMain {
				t.Errorf("after creating, screen = %v, want main", m.screen)
			}
			if m.welcome.pass.Value() != "" || m.welcome.pass2.Value() != "" {
				t.Error("passphrase fields not cleared after use")
			}
		})
	}
}

func TestUnlockRetry(t *testing.T) {
	p := &fakeProfile{exists: true, passphrase: "right", api: world(t)}
	m := profileModel(t, p, 80, 24)
	if m.screen != screenUnlock {
		t.Fatalf("screen = %v, want unlock", m.screen)
	}
	typeText(t, m, "wrong")
	drive(t, m, press("enter"))
	if m.screen != screenUnlock || !strings.Contains(plain(m), "Wrong passphrase. Try again.") {
		t.Fatalf("after a wrong passphrase:\n%s", plain(m))
	}
	if m.unlock.pass.Value() != "" {
		t.Error("wrong passphrase left in the field")
	}
	typeText(t, m, "right")
	drive(t, m, press("enter"))
	if m.screen != screenMain {
		t.Fatalf("after the right passphrase, screen = %v\n%s", m.screen, plain(m))
	}
	if p.unlocks != 2 {
		t.Errorf("unlocks = %d, want 2", p.unlocks)
	}
}

func TestNoPassphraseProfileOpensAtOnce(t *testing.T) {
	p := &fakeProfile{exists: true, api: world(t)}
	m := profileModel(t, p, 80, 24)
	if m.screen != screenMain {
		t.Fatalf("screen = %v, want main\n%s", m.screen, plain(m))
	}
}

func TestMainUpdate(t *testing.T) {
	type check func(t *testing.T, m *Model, f *nodetest.Fake)
	cases := []struct {
		name  string
		steps func(t *testing.T, m *Model, f *nodetest.Fake)
		check check
	}{
		{"send a message", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down")) // Bob
			typeText(t, m, "hello bob")
			drive(t, m, press("enter"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "Send") != 1 {
				t.Fatalf("Send calls = %d", calls(f, "Send"))
			}
			last := m.chat.conv.msgs[len(m.chat.conv.msgs)-1]
			if last.Text != "hello bob" || last.State != node.Queued {
				t.Errorf("last message = %+v", last)
			}
			if m.chat.composer.Value() != "" {
				t.Errorf("composer = %q, want empty", m.chat.composer.Value())
			}
			if !regexp.MustCompile(`hello bob +[0-9:]+ ◷`).MatchString(plain(m)) {
				t.Errorf("view lacks the queued message:\n%s", plain(m))
			}
		}},
		{"alt+enter and ctrl+j add lines, enter sends all", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			typeText(t, m, "one")
			drive(t, m, press("alt+enter"))
			typeText(t, m, "two")
			drive(t, m, tea.KeyPressMsg{Code: 'j', Mod: tea.ModCtrl})
			typeText(t, m, "three")
			drive(t, m, press("enter"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			last := m.chat.conv.msgs[len(m.chat.conv.msgs)-1]
			if last.Text != "one\ntwo\nthree" {
				t.Errorf("sent %q", last.Text)
			}
		}},
		{"paste goes to the composer", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			drive(t, m, tea.PasteMsg{Content: "pasted\ntext"})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if got := m.chat.composer.Value(); got != "pasted\ntext" {
				t.Errorf("composer = %q", got)
			}
		}},
		{"empty composer sends nothing", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			typeText(t, m, "   ")
			drive(t, m, press("enter"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "Send") != 0 {
				t.Error("sent a blank message")
			}
		}},
		{"cannot write to a contact who has not accepted", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			drive(t, m, press("tab")) // to the list
			drive(t, m, press("down"))
			drive(t, m, press("tab")) // Dave has not accepted: focus stays
			typeText(t, m, "x")
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if m.chat.focus != focusList || m.chat.list.selected != daveAddr {
				t.Errorf("focus %v selected %q", m.chat.focus, m.chat.list.selected)
			}
			if !strings.Contains(plain(m), "you can write once they accept") {
				t.Errorf("no note:\n%s", plain(m))
			}
		}},
		{"message out of view: unread, bell, title", func(t *testing.T, m *Model, f *nodetest.Fake) {
			m.e.noBell = false
			drive(t, m, press("down")) // Bob open
			ev(t, m, node.MessageEvent{Message: node.Message{ID: "c1", Seq: 99, Address: carolAddr, Direction: node.Incoming, Text: "ping", Time: testNow, State: node.Received}})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			i := m.chat.list.index(carolAddr)
			if m.chat.list.items[i].Unread != 1 {
				t.Errorf("Carol unread = %d", m.chat.list.items[i].Unread)
			}
			if got := m.View().WindowTitle; got != "(1) chive" {
				t.Errorf("title = %q", got)
			}
		}},
		{"message in view is marked read, no unread", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			f.Calls = nil
			ev(t, m, node.MessageEvent{Message: node.Message{ID: "b9", Seq: 99, Address: bobAddr, Direction: node.Incoming, Text: "you there?", Time: testNow, State: node.Received}})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "MarkRead") != 1 {
				t.Errorf("MarkRead calls = %v", f.Calls)
			}
			if m.chat.list.current().Unread != 0 || m.View().WindowTitle != "chive" {
				t.Errorf("unread %d title %q", m.chat.list.current().Unread, m.View().WindowTitle)
			}
			if !strings.Contains(plain(m), "you there?") {
				t.Errorf("message not shown:\n%s", plain(m))
			}
		}},
		{"message while the terminal is unfocused counts as unread", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			drive(t, m, tea.BlurMsg{})
			f.Calls = nil
			ev(t, m, node.MessageEvent{Message: node.Message{ID: "b9", Seq: 99, Address: bobAddr, Direction: node.Incoming, Text: "hello?", Time: testNow, State: node.Received}})
			if m.View().WindowTitle != "(1) chive" {
				t.Errorf("title = %q", m.View().WindowTitle)
			}
			drive(t, m, tea.FocusMsg{})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "MarkRead") != 1 || m.View().WindowTitle != "chive" {
				t.Errorf("after focus: calls %v title %q", f.Calls, m.View().WindowTitle)
			}
		}},
		{"state changes update marks", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			last := m.chat.conv.msgs[len(m.chat.conv.msgs)-1]
			ev(t, m, node.MessageStateEvent{ID: last.ID, Address: bobAddr, State: node.Delivered, At: testNow})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if !regexp.MustCompile(`see you +[0-9:]+ ✓✓`).MatchString(plain(m)) {
				t.Errorf("no delivered mark:\n%s", plain(m))
			}
		}},
		{"retry failed messages", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			drive(t, m, press("ctrl+r"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "Retry") != 1 {
				t.Errorf("Retry calls = %d", calls(f, "Retry"))
			}
		}},
		{"typing indicator shows and expires", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			ev(t, m, node.TypingEvent{Address: bobAddr})
			if !strings.Contains(plain(m), "Bob is typing…") {
				t.Errorf("no typing indicator:\n%s", plain(m))
			}
			m.chat.now = func() time.Time { return testNow.Add(typingFor + time.Second) }
			drive(t, m, typingExpiredMsg{bobAddr})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if strings.Contains(plain(m), "is typing") {
				t.Error("typing indicator stayed")
			}
		}},
		{"typing is sent at most every few seconds", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			typeText(t, m, "abc")
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "Typing") != 1 {
				t.Errorf("Typing calls = %d, want 1", calls(f, "Typing"))
			}
		}},
		{"accept a request", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("enter")) // Carol's request is on top
			if !strings.Contains(plain(m), "Contact request") {
				t.Fatalf("no request dialog:\n%s", plain(m))
			}
			drive(t, m, press("a"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "AcceptContact") != 1 {
				t.Fatalf("calls %v", f.Calls)
			}
			ct := m.chat.list.items[m.chat.list.index(carolAddr)]
			if ct.State != node.StateAccepted || m.chat.focus != focusComposer {
				t.Errorf("Carol %s, focus %v", ct.State, m.chat.focus)
			}
		}},
		{"decline and block", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("enter"))
			drive(t, m, press("b"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "BlockContact") != 1 {
				t.Fatalf("calls %v", f.Calls)
			}
		}},
		{"incoming request appears on top", func(t *testing.T, m *Model, f *nodetest.Fake) {
			ev(t, m, node.ContactRequestEvent{Contact: node.Contact{Address: strings.Repeat("e", 56), Name: "Erin", State: node.StatePendingIncoming, Greeting: "hey", Created: testNow}})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if m.chat.list.items[0].Name != "Erin" && m.chat.list.items[1].Name != "Erin" {
				t.Errorf("contacts %v", m.chat.list.items)
			}
			if !strings.Contains(plain(m), "contact request from Erin") {
				t.Errorf("no flash:\n%s", plain(m))
			}
		}},
		{"a contact's new session is announced", func(t *testing.T, m *Model, f *nodetest.Fake) {
			ev(t, m, node.SessionEvent{Contact: node.Contact{Address: bobAddr, Name: "Bob", State: node.StateAccepted, Created: testNow},
				ByPeer: true, Notice: "Bob started a new session: the safety number is unchanged"})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if !strings.Contains(plain(m), "Bob started a new session: the safety") { // cut to the width
				t.Errorf("no notice:\n%s", plain(m))
			}
			if ct := m.chat.list.items[m.chat.list.index(bobAddr)]; ct.State != node.StateAccepted {
				t.Errorf("Bob %s after a new session", ct.State)
			}
		}},
		{"quick switcher opens by name", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("ctrl+k"))
			typeText(t, m, "bo")
			drive(t, m, press("enter"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if m.chat.list.selected != bobAddr || m.chat.dialog != nil || m.chat.focus != focusComposer {
				t.Errorf("selected %q dialog %T focus %v", m.chat.list.selected, m.chat.dialog, m.chat.focus)
			}
		}},
		{"add contact validates and sends", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("ctrl+n"))
			drive(t, m, press("tab"))
			drive(t, m, press("tab"))
			drive(t, m, press("enter")) // nothing pasted yet
			if !strings.Contains(plain(m), "paste their address first") {
				t.Fatalf("no error:\n%s", plain(m))
			}
			drive(t, m, tea.PasteMsg{Content: "chive:pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"})
			drive(t, m, press("enter"))
			typeText(t, m, "Pat")
			drive(t, m, press("enter")) // from the nickname: send
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if calls(f, "AddContact") != 1 {
				t.Fatalf("calls %v\n%s", f.Calls, plain(m))
			}
			ct, err := f.Contact(context.Background(), "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd")
			if err != nil || ct.Name != "Pat" {
				t.Errorf("contact %+v %v", ct, err)
			}
			if m.chat.dialog != nil || m.chat.list.selected != ct.Address {
				t.Errorf("dialog %T selected %q", m.chat.dialog, m.chat.list.selected)
			}
		}},
		{"details: rename, verify, delete keeping history", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("down"))
			drive(t, m, press("ctrl+d"))
			drive(t, m, press("r"))
			for range 3 {
				drive(t, m, press("backspace"))
			}
			typeText(t, m, "Bobby")
			drive(t, m, press("enter"))
			drive(t, m, press("v"))
			drive(t, m, press("x"))
			drive(t, m, press("k"))
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			for _, c := range []string{"SafetyNumber", "RenameContact", "SetVerified", "RemoveContact"} {
				if calls(f, c) != 1 {
					t.Errorf("%s calls = %d (%v)", c, calls(f, c), f.Calls)
				}
			}
		}},
		{"my address copies the link", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("ctrl+o"))
			_, cmd := m.Update(press("c"))
			if cmd == nil {
				t.Fatal("no clipboard command")
			}
			msg := cmd()
			if reflect.TypeOf(msg).Name() != "setClipboardMsg" || reflect.ValueOf(msg).String() != "chive:"+aliceAddr {
				t.Errorf("copy sent %T %v", msg, msg)
			}
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {}},
		{"my address makes an invite link and copies it", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("ctrl+o"))
			drive(t, m, press("i"))
			drive(t, m, press("i")) // one invite per dialog
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			ivs, _ := f.Invites(context.Background())
			if calls(f, "CreateInvite") != 1 || len(ivs) != 1 {
				t.Fatalf("calls %v, invites %+v", f.Calls, ivs)
			}
			if !strings.Contains(plain(m), "?invite=") {
				t.Errorf("the invite link is not shown:\n%s", plain(m))
			}
			_, cmd := m.Update(press("c"))
			if msg := cmd(); reflect.ValueOf(msg).String() != ivs[0].Link {
				t.Errorf("copy sent %v, want the invite link %s", msg, ivs[0].Link)
			}
		}},
		{"add contact takes an invite link", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("ctrl+n"))
			drive(t, m, tea.PasteMsg{Content: "chive:pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd?invite=" + strings.Repeat("b", 26)})
			if strings.Contains(plain(m), "not valid") {
				t.Fatalf("an invite link refused:\n%s", plain(m))
			}
			drive(t, m, press("enter"))
			typeText(t, m, "Pat")
			drive(t, m, press("enter")) // from the nickname, enter sends
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if ct, err := f.Contact(context.Background(), "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"); err != nil || ct.Name != "Pat" {
				t.Errorf("contact %+v %v (calls %v)", ct, err, f.Calls)
			}
		}},
		{"tor progress reaches the status line", func(t *testing.T, m *Model, f *nodetest.Fake) {
			ev(t, m, node.TorProgressEvent{Tor: node.TorStatus{State: node.TorBootstrapping, Percent: 75, Summary: "Loading relay descriptors"}})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if !strings.Contains(plain(m), "Tor 75% Loading relay descriptors") {
				t.Errorf("status:\n%s", plain(m))
			}
		}},
		{"presence updates the list and the counter", func(t *testing.T, m *Model, f *nodetest.Fake) {
			ev(t, m, node.PresenceEvent{Address: bobAddr, Presence: node.Offline, LastSeen: testNow.Add(-5 * time.Minute)})
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			if !strings.Contains(plain(m), "1/3 online") || !strings.Contains(plain(m), "○ Bob") {
				t.Errorf("view:\n%s", plain(m))
			}
		}},
		{"esc closes dialogs, ctrl+q quits", func(t *testing.T, m *Model, f *nodetest.Fake) {
			drive(t, m, press("ctrl+n"))
			drive(t, m, press("esc"))
			if m.chat.dialog != nil {
				t.Fatal("dialog still open")
			}
		}, func(t *testing.T, m *Model, f *nodetest.Fake) {
			_, cmd := m.Update(press("ctrl+q"))
			if !containsMsg(cmd, tea.QuitMsg{}) {
				t.Error("ctrl+q does not quit")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			m := testModel(t, f, 80, 24)
			tc.steps(t, m, f)
			tc.check(t, m, f)
		})
	}
}

func TestBellRings(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	m.e.noBell = false
	drive(t, m, press("down")) // Bob open, Carol out of view
	_, cmd := m.Update(eventMsg{ev: node.MessageEvent{Message: node.Message{ID: "x", Address: carolAddr, Direction: node.Incoming, Text: "hi"}}})
	if !containsMsg(cmd, tea.RawMsg{Msg: "\a"}) {
		t.Error("no bell for a message out of view")
	}
	m.e.noBell = true
	_, cmd = m.Update(eventMsg{ev: node.MessageEvent{Message: node.Message{ID: "y", Address: carolAddr, Direction: node.Incoming, Text: "hi"}}})
	if containsMsg(cmd, tea.RawMsg{Msg: "\a"}) {
		t.Error("bell rings with NoBell")
	}
}

// containsMsg runs cmd (and batches) looking for want, skipping slow commands.
func containsMsg(cmd tea.Cmd, want tea.Msg) bool {
	if cmd == nil {
		return false
	}
	msg := runCmd(cmd)
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			if containsMsg(c, want) {
				return true
			}
		}
		return false
	}
	if isSequence(msg) {
		for _, c := range cmdsOf(msg) {
			if containsMsg(c, want) {
				return true
			}
		}
		return false
	}
	return reflect.DeepEqual(msg, want)
}

// TestEventsAreReissued checks the wait-for-next-event loop: after each
// event, Update returns a command that waits for the next one.
func TestEventsAreReissued(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	ch := make(chan node.Event, 1)
	_, cmd := m.Update(eventMsg{ev: node.ReachableEvent{Reachable: true}, ch: ch})
	ch <- node.TypingEvent{Address: bobAddr}
	if !containsMsg(cmd, eventMsg{ev: node.TypingEvent{Address: bobAddr}, ch: ch}) {
		t.Fatal("no command waiting for the next event")
	}
	close(ch)
	_, cmd = m.Update(eventMsg{ev: node.ReachableEvent{Reachable: true}, ch: ch})
	if !containsMsg(cmd, eventsClosedMsg{}) {
		t.Fatal("closed channel not reported")
	}
}

// TestUpdateDoesNotBlock runs Update against a node whose every call hangs:
// Update must return at once because node calls only happen in commands.
func TestUpdateDoesNotBlock(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	m.chat.api = hangingAPI{f}
	done := make(chan struct{})
	go func() {
		for _, k := range []string{"down", "h", "i", "enter", "ctrl+k", "esc", "ctrl+d", "esc", "pgup", "end"} {
			m.Update(press(k))
		}
		m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
		m.View()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Update blocked on a node call")
	}
}

// hangingAPI blocks every call until its context ends.
type hangingAPI struct{ *nodetest.Fake }

func (h hangingAPI) Send(ctx context.Context, ref, text string) (node.Message, error) {
	<-ctx.Done()
	return node.Message{}, ctx.Err()
}

func (h hangingAPI) History(ctx context.Context, ref, before string, limit int) ([]node.Message, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (h hangingAPI) SafetyNumber(ctx context.Context, ref string) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

func (h hangingAPI) MarkRead(ctx context.Context, ref string) error {
	<-ctx.Done()
	return ctx.Err()
}

func (h hangingAPI) Typing(ctx context.Context, ref string) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestKeyMapHelp checks that help lists every binding of the KeyMap, each
// with help text, and that the composer does not steal a global key.
func TestKeyMapHelp(t *testing.T) {
	km := DefaultKeyMap()
	var inHelp []key.Binding
	for _, g := range km.FullHelp() {
		inHelp = append(inHelp, g...)
	}
	for _, g := range km.groups() {
		if g.title == "" || len(g.keys) == 0 {
			t.Errorf("help group %q with %d keys", g.title, len(g.keys))
		}
	}
	v := reflect.ValueOf(km)
	for i := range v.NumField() {
		b := v.Field(i).Interface().(key.Binding)
		name := v.Type().Field(i).Name
		if len(b.Keys()) == 0 || b.Help().Key == "" || b.Help().Desc == "" {
			t.Errorf("%s: keys %v help %+v", name, b.Keys(), b.Help())
		}
		found := slices.ContainsFunc(inHelp, func(h key.Binding) bool { return reflect.DeepEqual(h.Keys(), b.Keys()) && h.Help() == b.Help() })
		if !found {
			t.Errorf("%s is not in the help", name)
		}
	}
	// The help dialog shows every description.
	m := testModel(t, world(t), 120, 40)
	drive(t, m, press("f1"))
	view := plain(m)
	for _, b := range inHelp {
		if !strings.Contains(view, b.Help().Desc) {
			t.Errorf("help dialog lacks %q", b.Help().Desc)
		}
	}
	// Global keys must not also be composer keys.
	global := []key.Binding{km.Quit, km.Switcher, km.AddContact, km.MyAddress, km.Details, km.Retry, km.ScrollUp, km.ScrollDown, km.ScrollTop, km.ScrollEnd, km.FocusNext}
	ta := newComposer(&m.styles, &km).KeyMap
	tv := reflect.ValueOf(ta)
	for i := range tv.NumField() {
		cb := tv.Field(i).Interface().(key.Binding)
		for _, g := range global {
			for _, k := range g.Keys() {
				if slices.Contains(cb.Keys(), k) {
					t.Errorf("composer %s also uses global key %q", tv.Type().Field(i).Name, k)
				}
			}
		}
	}
	for _, k := range km.Send.Keys() {
		if slices.Contains(ta.InsertNewline.Keys(), k) {
			t.Errorf("send key %q also inserts a newline", k)
		}
	}
}

// TestResize checks that every size gives exactly the terminal's lines, none
// wider than the terminal, whatever is open.
func TestResize(t *testing.T) {
	sizes := [][2]int{{80, 24}, {200, 60}, {59, 20}, {60, 20}, {40, 12}, {20, 8}, {19, 7}, {10, 3}, {1, 1}, {120, 40}, {80, 24}}
	setups := map[string][]string{
		"main":     {"down"},
		"request":  nil,
		"help":     {"f1"},
		"add":      {"ctrl+n"},
		"address":  {"ctrl+o"},
		"details":  {"down", "ctrl+d"},
		"switcher": {"ctrl+k"},
	}
	for name, ks := range setups {
		t.Run(name, func(t *testing.T) {
			m := testModel(t, world(t), 80, 24)
			for _, k := range ks {
				drive(t, m, press(k))
			}
			for _, sz := range sizes {
				drive(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
				checkFrame(t, m, sz[0], sz[1])
			}
		})
	}
	t.Run("welcome", func(t *testing.T) {
		m := profileModel(t, &fakeProfile{api: world(t)}, 80, 24)
		for _, sz := range sizes {
			drive(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			{
				checkFrame(t, m, sz[0], sz[1])
			}
		}
	})
}

func checkFrame(t *testing.T, m *Model, w, h int) {
	t.Helper()
	content := m.View().Content
	lines := strings.Split(content, "\n")
	if len(lines) > h {
		t.Errorf("%dx%d: %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("%dx%d: line %d is %d wide: %q", w, h, i, lw, ansi.Strip(l))
		}
	}
}

func TestSanitize(t *testing.T) {
	in := "hi\x1b[2J\x1b]0;pwned\x07 there\r\n\u202eevil\ttab"
	got := safetext.Text(in)
	if strings.ContainsAny(got, "\x1b\x07\r\u202e") {
		t.Errorf("sanitize left control characters: %q", got)
	}
	f := world(t)
	f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: in, Time: testNow})
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down"))
	if strings.Contains(m.View().Content, "\x1b[2J") || strings.Contains(m.View().Content, "\x1b]0;") {
		t.Error("a peer's escape sequence reached the terminal")
	}
}

func TestTorStall(t *testing.T) {
	f := world(t)
	f.SimTor(node.TorStatus{State: node.TorBootstrapping, Percent: 14, Summary: "Handshaking with a relay"})
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down"))
	n := m.chat.bar.torProgressN
	drive(t, m, torStallMsg{n})
	if !strings.Contains(plain(m), "stuck at 14%") || !strings.Contains(plain(m), "Is this computer online?") {
		t.Fatalf("no stall notice:\n%s", plain(m))
	}
	ev(t, m, node.TorProgressEvent{Tor: node.TorStatus{State: node.TorBootstrapping, Percent: 50, Summary: "Loading"}})
	drive(t, m, torStallMsg{n}) // the old timer: progress since
	if strings.Contains(plain(m), "stuck") {
		t.Fatalf("stall notice after progress:\n%s", plain(m))
	}
}

func TestAcceptUnnamedRequestAsksForName(t *testing.T) {
	f := world(t)
	erin := strings.Repeat("e", 52) + "eeed"
	f.SimContact(node.Contact{Address: erin, State: node.StatePendingIncoming, Greeting: "it's Erin", Created: testNow})
	m := testModel(t, f, 80, 24)
	// Erin is the newest request: top of the list, selected.
	if m.chat.list.selected != erin {
		t.Fatalf("selected %q", m.chat.list.selected)
	}
	drive(t, m, press("enter"))
	drive(t, m, press("a"))
	if !strings.Contains(plain(m), "Give them a name you will recognise") {
		t.Fatalf("no naming prompt:\n%s", plain(m))
	}
	typeText(t, m, "Erin")
	drive(t, m, press("enter"))
	drive(t, m, press("esc"))
	if c, _ := f.Contact(context.Background(), erin); c.Name != "Erin" || c.State != node.StateAccepted {
		t.Errorf("Erin: %+v", c)
	}
	if m.chat.dialog != nil || m.chat.focus != focusComposer {
		t.Errorf("dialog %T focus %v", m.chat.dialog, m.chat.focus)
	}
}

func TestMouseClickSelectsContact(t *testing.T) {
	m := testModel(t, world(t), 80, 24)
	// Rows: 0 title, 1-2 Carol, 3-4 Bob, 5-6 Dave.
	drive(t, m, tea.MouseClickMsg{X: 5, Y: 3, Button: tea.MouseLeft})
	if m.chat.list.selected != bobAddr || m.chat.focus != focusComposer {
		t.Fatalf("after clicking Bob: selected %q focus %v", m.chat.list.selected, m.chat.focus)
	}
	drive(t, m, tea.MouseClickMsg{X: 5, Y: 6, Button: tea.MouseLeft})
	if m.chat.list.selected != daveAddr || m.chat.focus != focusList {
		t.Fatalf("after clicking Dave: selected %q focus %v", m.chat.list.selected, m.chat.focus)
	}
	drive(t, m, tea.MouseClickMsg{X: 5, Y: 20, Button: tea.MouseLeft}) // below the list
	if m.chat.list.selected != daveAddr {
		t.Fatalf("click below the list changed the selection")
	}
}

// failingProfile fails to open the first time (another chive holds it).
type failingProfile struct {
	fakeProfile
	fails int
}

func (p *failingProfile) Unlock(ctx context.Context, pass []byte) (node.API, error) {
	if p.fails > 0 {
		p.fails--
		return nil, errors.New("the profile in /x is in use by another chive (pid 42)")
	}
	return p.fakeProfile.Unlock(ctx, pass)
}

func TestUnlockErrorRetry(t *testing.T) {
	p := &failingProfile{fakeProfile: fakeProfile{exists: true, api: world(t)}, fails: 1}
	m := profileModel(t, p, 80, 24)
	v := plain(m)
	if m.screen != screenUnlock || !strings.Contains(v, "in use by another chive (pid 42)") || strings.Contains(v, "Passphrase") {
		t.Fatalf("screen %v:\n%s", m.screen, v)
	}
	drive(t, m, press("enter"))
	if m.screen != screenMain {
		t.Fatalf("retry did not open: %v\n%s", m.screen, plain(m))
	}
}

func TestSettingsDialog(t *testing.T) {
	f := world(t)
	path := filepath.Join(t.TempDir(), "chive", "config.toml")
	dark := true
	m := New(context.Background(), Options{API: f, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true, ConfigPath: path})
	m.e.noTimers = true
	drive(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	drain(t, m, m.Init())
	drive(t, m, press("ctrl+p"))
	drive(t, m, press("enter")) // edit the name
	for range 5 {
		drive(t, m, press("backspace"))
	}
	typeText(t, m, "Alice B.")
	drive(t, m, press("enter"))
	drive(t, m, press("down"))
	drive(t, m, press("space")) // read receipts off
	drive(t, m, press("down"))
	drive(t, m, press("down"))
	drive(t, m, press("space")) // bell: tests start with NoBell, so this turns it on
	drive(t, m, press("down"))
	drive(t, m, press("space")) // title off
	drive(t, m, press("down"))
	drive(t, m, press("enter")) // desktop: auto → terminal
	drive(t, m, press("down"))
	drive(t, m, press("down"))
	drive(t, m, press("enter")) // theme: auto → dark
	drive(t, m, press("esc"))
	s, _ := f.Settings(context.Background())
	if s.ReadReceipts || !s.Typing || calls(f, "SetSettings") != 1 {
		t.Errorf("node settings %+v, calls %v", s, f.Calls)
	}
	if st, _ := f.Status(context.Background()); st.Name != "Alice B." || !strings.Contains(plain(m), "Alice B.") {
		t.Errorf("name %q, status bar:\n%s", st.Name, plain(m))
	}
	if m.e.noBell || !m.e.noTitle || m.e.notify.method != "osc9" || m.cfg.Theme.Name != "dark" {
		t.Errorf("noBell %v noTitle %v notify %q theme %q", m.e.noBell, m.e.noTitle, m.e.notify.method, m.cfg.Theme.Name)
	}
	// Saved for the next start.
	c, err := LoadConfig(path)
	if err != nil || !c.Notifications.Bell || c.Notifications.Title || c.Notifications.Desktop != "terminal" || c.Theme.Name != "dark" {
		t.Errorf("config file: %+v %v", c, err)
	}
	drive(t, m, press("down")) // Bob, so Carol's message arrives out of view
	ev(t, m, node.MessageEvent{Message: node.Message{ID: "z", Address: carolAddr, Direction: node.Incoming, Text: "hi"}})
	if m.chat.list.items[m.chat.list.index(carolAddr)].Unread != 1 {
		t.Fatal("message not counted as unread")
	}
	if got := m.View().WindowTitle; got != "chive" {
		t.Errorf("title %q with the unread count turned off", got)
	}
}

// failingSend is the fake with a Send that always fails.
type failingSend struct{ *nodetest.Fake }

func (f failingSend) Send(ctx context.Context, ref, text string) (node.Message, error) {
	return node.Message{}, errors.New("the outbox is full")
}

// TestSendFailureRestoresComposer checks what the Send reply is for: on an
// error the text comes back to the composer and the failure is shown.
func TestSendFailureRestoresComposer(t *testing.T) {
	f := world(t)
	m := testModel(t, failingSend{f}, 80, 24)
	drive(t, m, press("down")) // Bob
	typeText(t, m, "lost words")
	drive(t, m, press("enter"))
	if got := m.chat.composer.Value(); got != "lost words" {
		t.Errorf("composer = %q after a failed send", got)
	}
	if !strings.Contains(plain(m), "not sent: the outbox is full") {
		t.Errorf("no error shown:\n%s", plain(m))
	}
}

// TestSentMessageShownAtBottom sends while scrolled up: the message's event
// brings the view back to the newest, as it did when the reply showed it.
func TestSentMessageShownAtBottom(t *testing.T) {
	f := bigWorld(t, 500)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("pgup"))
	drive(t, m, press("pgup"))
	if m.chat.conv.scroll == 0 {
		t.Fatal("pgup did not scroll")
	}
	typeText(t, m, "back down")
	drive(t, m, press("enter"))
	c := &m.chat.conv
	if c.scroll != 0 || c.msgs[len(c.msgs)-1].Text != "back down" {
		t.Fatalf("scroll %d, newest %q", c.scroll, c.msgs[len(c.msgs)-1].Text)
	}
	// Someone else's message does not move a scrolled-up view.
	drive(t, m, press("pgup"))
	scroll := c.scroll
	f.SimReceive("Bob", "meanwhile")
	drain(t, m, nil) // delivers the fake's MessageEvent
	if c.scroll <= scroll {
		t.Errorf("scroll %d → %d: the view moved with an incoming message", scroll, c.scroll)
	}
}

// TestHelpKey: help is the KeyMap's Help binding wherever it is pressed,
// except that in the composer a key that types text is text.
func TestHelpKey(t *testing.T) {
	m := testModel(t, world(t), 80, 24)
	drive(t, m, press("?")) // the list has focus: Carol's request is selected
	if _, ok := m.chat.dialog.(*helpDialog); !ok || m.chat.focus != focusList {
		t.Fatalf("? in the list: dialog %T focus %v", m.chat.dialog, m.chat.focus)
	}
	drive(t, m, press("esc"))
	drive(t, m, press("down")) // Bob: the composer takes focus
	drive(t, m, press("?"))
	if m.chat.dialog != nil || m.chat.composer.Value() != "?" {
		t.Fatalf("? in the composer: dialog %T, composer %q", m.chat.dialog, m.chat.composer.Value())
	}
	drive(t, m, press("f1"))
	if _, ok := m.chat.dialog.(*helpDialog); !ok {
		t.Fatalf("f1 in the composer: dialog %T", m.chat.dialog)
	}
	// A KeyMap with other keys: the help follows it, and so do the hints.
	km := DefaultKeyMap()
	km.Help = key.NewBinding(key.WithKeys("f9"), key.WithHelp("f9", "help"))
	dark := true
	m2 := New(context.Background(), Options{API: world(t), Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true, KeyMap: &km})
	m2.e.noTimers = true
	drive(t, m2, tea.WindowSizeMsg{Width: 80, Height: 24})
	drain(t, m2, m2.Init())
	drive(t, m2, press("f1"))
	if m2.chat.dialog != nil {
		t.Fatal("f1 opened help with Help bound to f9")
	}
	if !strings.Contains(plain(m2), "f9 help") {
		t.Errorf("status bar does not name f9:\n%s", plain(m2))
	}
	drive(t, m2, tea.KeyPressMsg{Code: tea.KeyF9})
	if _, ok := m2.chat.dialog.(*helpDialog); !ok {
		t.Fatalf("f9: dialog %T", m2.chat.dialog)
	}
}

// quietReplies answers AcceptContact and AddContact as the node would but
// publishes no event, so a test can hold the event back.
type quietReplies struct{ *nodetest.Fake }

func (q quietReplies) AcceptContact(ctx context.Context, ref string) (node.Contact, error) {
	ct, err := q.Fake.Contact(ctx, ref)
	ct.State = node.StateAccepted
	return ct, err
}

func (q quietReplies) Send(ctx context.Context, ref, text string) (node.Message, error) {
	return q.Fake.SimMessage(ref, node.Message{Direction: node.Outgoing, Text: text, Time: testNow, State: node.Queued}), nil
}

func (q quietReplies) AddContact(ctx context.Context, address, name, greeting string) (node.Contact, error) {
	ct := node.Contact{Address: address, Name: name, State: node.StateRequested, Created: testNow}
	q.Fake.SimContact(ct) // stored, no event
	return ct, nil
}

// TestContactsChangeOnlyOnEvents: the replies to AcceptContact and
// AddContact change nothing on screen; the ContactEvent does.
func TestContactsChangeOnlyOnEvents(t *testing.T) {
	f := world(t)
	m := testModel(t, quietReplies{f}, 80, 24)
	drive(t, m, press("enter")) // Carol's request
	drive(t, m, press("a"))
	carol := m.chat.list.items[m.chat.list.index(carolAddr)]
	if carol.State != node.StatePendingIncoming || m.chat.focus == focusComposer {
		t.Fatalf("after the reply alone: Carol %s, focus %v", carol.State, m.chat.focus)
	}
	carol.State = node.StateAccepted
	ev(t, m, node.ContactEvent{Contact: carol})
	if got := m.chat.list.current(); got.State != node.StateAccepted || m.chat.focus != focusComposer || !strings.Contains(plain(m), "accepted Carol: say hello!") {
		t.Fatalf("after the event: %s, focus %v\n%s", got.State, m.chat.focus, plain(m))
	}

	const pat = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"
	drive(t, m, press("ctrl+n"))
	drive(t, m, tea.PasteMsg{Content: pat})
	drive(t, m, press("enter"))
	typeText(t, m, "Pat")
	drive(t, m, press("enter"))
	if m.chat.dialog != nil || m.chat.list.selected != pat || m.chat.list.index(pat) >= 0 || m.chat.conv.address != "" {
		t.Fatalf("after the reply alone: dialog %T, selected %q, in list %v, conversation %q",
			m.chat.dialog, m.chat.list.selected, m.chat.list.index(pat) >= 0, m.chat.conv.address)
	}
	ev(t, m, node.ContactEvent{Contact: node.Contact{Address: pat, Name: "Pat", State: node.StateRequested, Created: testNow}})
	if m.chat.list.index(pat) < 0 || m.chat.conv.address != pat || !strings.Contains(plain(m), "Waiting for Pat to accept") {
		t.Fatalf("after the event: conversation %q\n%s", m.chat.conv.address, plain(m))
	}

	// A message sent shows with its MessageEvent, not with the Send reply.
	drive(t, m, press("ctrl+k"))
	typeText(t, m, "carol") // accepted above
	drive(t, m, press("enter"))
	typeText(t, m, "hello carol")
	drive(t, m, press("enter"))
	if strings.Contains(plain(m), "hello carol") {
		t.Fatalf("the Send reply put the message on screen:\n%s", plain(m))
	}
	ms, _ := f.History(context.Background(), "Carol", "", 1)
	if len(ms) != 1 || ms[0].Text != "hello carol" {
		t.Fatalf("not sent: %v", ms)
	}
	ev(t, m, node.MessageEvent{Message: ms[0]})
	if !strings.Contains(plain(m), "hello carol") {
		t.Fatalf("after the event:\n%s", plain(m))
	}
}
