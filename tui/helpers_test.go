package tui

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// Addresses for tests (valid v3 onion addresses are not needed by the fake,
// except where the add dialog parses one).
var (
	aliceAddr = strings.Repeat("a", 52) + "aaad"
	bobAddr   = "bob" + strings.Repeat("b", 49) + "bbbd"
	carolAddr = "carol" + strings.Repeat("c", 47) + "cccd"
	daveAddr  = "dave" + strings.Repeat("d", 48) + "dddd"
)

// testNow is the fixed clock of every test: Thursday 26 November 2026, 14:30 UTC.
var testNow = time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// world is a fake node with Alice's view: Bob (accepted, online, a short
// conversation), Carol (asking to chat), Dave (request sent).
func world(t testing.TB) *nodetest.Fake {
	f := nodetest.New("alice", aliceAddr)
	f.Now = fixedNow
	f.SimTor(node.TorStatus{State: node.TorReady, Percent: 100, Summary: "Done"})
	f.SimContact(node.Contact{Address: bobAddr, Name: "Bob", State: node.StateAccepted, Presence: node.Online, Created: testNow.Add(-72 * time.Hour)})
	f.SimContact(node.Contact{Address: daveAddr, Name: "Dave", State: node.StateRequested, Created: testNow.Add(-2 * time.Hour)})
	f.SimContact(node.Contact{Address: carolAddr, Name: "Carol", State: node.StatePendingIncoming, Greeting: "Hi Alice, it's Carol from the book club", Presence: node.Online, Created: testNow.Add(-time.Hour)})
	day := testNow.Add(-24 * time.Hour)
	f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: "Hey Alice! Did you get the onion thing working?", Time: day.Add(-3 * time.Hour), State: node.Read})
	f.SimMessage("Bob", node.Message{Direction: node.Outgoing, Text: "Yes! It's all over Tor now, no servers in the middle.", Time: day.Add(-3*time.Hour + time.Minute), State: node.Read})
	f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: "Nice. Lunch tomorrow?", Time: testNow.Add(-20 * time.Minute), State: node.Read})
	f.SimMessage("Bob", node.Message{Direction: node.Outgoing, Text: "Sure, 12:30 at the usual place. This line is long enough that it has to wrap around at eighty columns, which is the point.", Time: testNow.Add(-18 * time.Minute), State: node.Delivered})
	f.SimMessage("Bob", node.Message{Direction: node.Outgoing, Text: "Bring the book", Time: testNow.Add(-17 * time.Minute), State: node.Sent})
	f.SimMessage("Bob", node.Message{Direction: node.Outgoing, Text: "and the charger", Time: testNow.Add(-16 * time.Minute), State: node.Failed, Error: "Bob was offline for 3 days"})
	f.SimMessage("Bob", node.Message{Direction: node.Outgoing, Text: "see you", Time: testNow.Add(-time.Minute), State: node.Queued})
	return f
}

// testModel builds an attached (daemon-style) root model on api at w×h.
func testModel(t testing.TB, api node.API, w, h int) *Model {
	dark := true
	m := New(context.Background(), Options{API: api, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true, Getenv: noEnv})
	m.e.noTimers = true
	drive(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	drain(t, m, m.Init())
	return m
}

// noEnv is an empty environment, so that tests draw the same in any
// terminal (kitty's TERM would turn previews into kitty placeholders).
func noEnv(string) string { return "" }

// drive sends msg to the model and runs the commands it returns.
func drive(t testing.TB, m tea.Model, msg tea.Msg) {
	t.Helper()
	_, cmd := m.Update(msg)
	drain(t, m, cmd)
}

// drain runs commands as Bubble Tea would, feeding their messages back.
// Each round runs the pending commands concurrently; those that do not
// return within a short grace (waiting for events, timers) are dropped.
// The node's events are delivered as they are published: the fake
// publishes into the subscription before a call returns, so after each
// round drain hands every event waiting there to the model, as the
// wait-for-next-event command would (tests can also send events with ev).
func drain(t testing.TB, m tea.Model, cmd tea.Cmd) {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for rounds := 0; ; rounds++ {
		if rounds > 1000 {
			t.Fatal("drain: commands never settle")
		}
		var msgs []tea.Msg
		for _, msg := range runCmds(queue) {
			msgs = append(msgs, flatten(msg)...)
		}
		queue = nil
		for _, msg := range msgs {
			switch msg := msg.(type) {
			case nil, timeoutMsg, tea.QuitMsg:
			case subscribedMsg:
				subscriptions.Store(m, msg.ch)
			case tea.Cmd:
				queue = append(queue, msg)
			default:
				_, next := m.Update(msg)
				queue = append(queue, next)
			}
		}
		for _, e := range published(m) {
			_, next := m.Update(eventMsg{ev: e})
			queue = append(queue, next)
		}
		if len(queue) == 0 {
			return
		}
	}
}

// subscriptions holds each test model's event subscription (tea.Model →
// <-chan node.Event), taken from its subscribedMsg.
var subscriptions sync.Map

// published returns the events waiting in m's subscription.
func published(m tea.Model) []node.Event {
	v, ok := subscriptions.Load(m)
	if !ok {
		return nil
	}
	ch := v.(<-chan node.Event)
	var out []node.Event
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return out
		}
	}
}

// flatten turns batches and sequences into their commands (as tea.Cmd
// values in the returned slice) and keeps other messages.
func flatten(msg tea.Msg) []tea.Msg {
	if b, ok := msg.(tea.BatchMsg); ok {
		out := make([]tea.Msg, 0, len(b))
		for _, c := range b {
			out = append(out, c)
		}
		return out
	}
	if isSequence(msg) {
		var out []tea.Msg
		for _, c := range cmdsOf(msg) {
			out = append(out, c)
		}
		return out
	}
	return []tea.Msg{msg}
}

type timeoutMsg struct{}

// commandGrace is how long drain waits for a command. With timers off and
// events delivered by the tests, every command returns quickly; this is
// only a safety net on a loaded machine.
const commandGrace = 5 * time.Second

// runCmds runs commands concurrently and returns their messages in order;
// a command still running after the grace period yields timeoutMsg.
func runCmds(cmds []tea.Cmd) []tea.Msg {
	out := make([]tea.Msg, len(cmds))
	chans := make([]chan tea.Msg, len(cmds))
	for i, c := range cmds {
		if c == nil {
			continue
		}
		chans[i] = make(chan tea.Msg, 1)
		go func() { chans[i] <- c() }()
	}
	deadline := time.After(commandGrace)
	for i, ch := range chans {
		if ch == nil {
			continue
		}
		select {
		case out[i] = <-ch:
		case <-deadline:
			deadline = closedTime
			select {
			case out[i] = <-ch:
			default:
				out[i] = timeoutMsg{}
			}
		}
	}
	return out
}

var closedTime = func() <-chan time.Time {
	ch := make(chan time.Time)
	close(ch)
	return ch
}()

func runCmd(c tea.Cmd) tea.Msg { return runCmds([]tea.Cmd{c})[0] }

// tea.Sequence returns an unexported slice type of commands.
func isSequence(msg tea.Msg) bool {
	v := reflect.ValueOf(msg)
	return v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil))
}

func cmdsOf(msg tea.Msg) []tea.Cmd {
	v := reflect.ValueOf(msg)
	out := make([]tea.Cmd, v.Len())
	for i := range out {
		out[i] = v.Index(i).Interface().(tea.Cmd)
	}
	return out
}

func press(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "alt+enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter, Mod: tea.ModAlt}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "f1":
		return tea.KeyPressMsg{Code: tea.KeyF1}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	}
	if strings.HasPrefix(s, "ctrl+") && len(s) == 6 {
		return tea.KeyPressMsg{Code: rune(s[5]), Mod: tea.ModCtrl}
	}
	if strings.HasPrefix(s, "alt+") && len(s) == 5 {
		return tea.KeyPressMsg{Code: rune(s[4]), Mod: tea.ModAlt}
	}
	if len([]rune(s)) == 1 {
		r := []rune(s)[0]
		return tea.KeyPressMsg{Code: r, Text: s}
	}
	panic(fmt.Sprintf("key %q", s))
}

// typeText sends each rune as a key press.
func typeText(t testing.TB, m tea.Model, s string) {
	for _, r := range s {
		if r == ' ' {
			drive(t, m, press("space"))
			continue
		}
		drive(t, m, tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// plain is the view without escape sequences, trailing spaces trimmed.
func plain(m tea.Model) string {
	s := ansi.Strip(m.View().Content)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// fakeProfile is a Profile on top of a fake node.
type fakeProfile struct {
	exists     bool
	passphrase string // "" means none needed
	api        node.API

	created     bool
	createdName string
	createdPass string
	createdNone bool
	unlocks     int
}

func (p *fakeProfile) State(ctx context.Context) (bool, bool, error) {
	return p.exists, p.exists && p.passphrase != "", nil
}

func (p *fakeProfile) Create(ctx context.Context, name string, pass []byte, none bool) error {
	p.created, p.createdName, p.createdPass, p.createdNone = true, name, string(pass), none
	p.exists = true
	if !none {
		p.passphrase = string(pass)
	}
	return nil
}

func (p *fakeProfile) Unlock(ctx context.Context, pass []byte) (node.API, error) {
	p.unlocks++
	if string(pass) != p.passphrase {
		return nil, fmt.Errorf("open profile: %w", ErrWrongPassphrase)
	}
	return p.api, nil
}

// profileModel builds a root model that starts at the welcome or unlock screen.
func profileModel(t testing.TB, p Profile, w, h int) *Model {
	dark := true
	m := New(context.Background(), Options{Profile: p, Dir: "/home/alice/.local/share/chive", Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true})
	m.e.noTimers = true
	drive(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	drain(t, m, m.Init())
	return m
}

var (
	blackish = colorRGB{0x10, 0x10, 0x10}
	whitish  = colorRGB{0xf8, 0xf8, 0xf8}
)

type colorRGB struct{ r, g, b uint8 }

func (c colorRGB) RGBA() (r, g, b, a uint32) {
	return uint32(c.r) * 0x101, uint32(c.g) * 0x101, uint32(c.b) * 0x101, 0xffff
}

// plainText strips escape sequences.
func plainText(s string) string { return ansi.Strip(s) }
