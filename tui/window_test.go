package tui

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// bigWorld is a fake node holding one conversation of n messages with Bob.
func bigWorld(tb testing.TB, n int) *nodetest.Fake {
	f := nodetest.New("alice", aliceAddr)
	f.Now = fixedNow
	f.SimTor(node.TorStatus{State: node.TorReady, Percent: 100})
	f.SimContact(node.Contact{Address: bobAddr, Name: "Bob", State: node.StateAccepted, Presence: node.Online, Created: testNow.Add(-1000 * time.Hour)})
	start := testNow.Add(-time.Duration(n) * time.Minute)
	for i := range n {
		dir := node.Incoming
		if i%3 == 0 {
			dir = node.Outgoing
		}
		f.SimMessage("Bob", node.Message{Direction: dir, Text: fmt.Sprintf("message %d: the quick brown fox jumps over the lazy dog, again and again", i),
			Time: start.Add(time.Duration(i) * time.Minute), State: node.Read})
	}
	return f
}

// checkWindow asserts the window is bounded and contiguous (one contact,
// so sequence numbers run without gaps).
func checkWindow(t *testing.T, c *conversation) {
	t.Helper()
	if len(c.msgs) > maxWindow {
		t.Fatalf("window holds %d messages, more than %d", len(c.msgs), maxWindow)
	}
	for i := 1; i < len(c.msgs); i++ {
		if c.msgs[i].Seq != c.msgs[i-1].Seq+1 {
			t.Fatalf("window not contiguous at %d: seq %d after %d", i, c.msgs[i].Seq, c.msgs[i-1].Seq)
		}
	}
}

func TestHundredThousandMessages(t *testing.T) {
	const n = 100_000
	f := bigWorld(t, n)
	m := testModel(t, f, 80, 24)
	c := &m.chat.conv
	if c.address != bobAddr || !c.loaded {
		t.Fatalf("conversation not opened: %q loaded=%v", c.address, c.loaded)
	}
	checkWindow(t, c)
	if len(c.msgs) != pageSize || c.msgs[len(c.msgs)-1].Seq != n {
		t.Fatalf("first page: %d messages, newest seq %d", len(c.msgs), c.msgs[len(c.msgs)-1].Seq)
	}
	// Scroll up far: pages load as the view nears the top, the window stays
	// bounded. PgUp a few screens, then Home (top of the window) repeatedly.
	for range 10 {
		drive(t, m, press("pgup"))
		checkWindow(t, c)
	}
	for range 12 {
		drive(t, m, press("home"))
		checkWindow(t, c)
	}
	oldest := c.msgs[0].Seq
	if oldest > n-1000 {
		t.Fatalf("after 12 × home the oldest message is seq %d: older pages did not load", oldest)
	}
	if len(c.newer) == 0 {
		t.Fatal("window was never trimmed at the new end")
	}
	if !containsText(plain(m), fmt.Sprintf("message %d:", c.msgs[len(c.msgs)-1].Seq-1)) && !containsText(plain(m), "message ") {
		t.Fatalf("no messages on screen:\n%s", plain(m))
	}
	// Scroll back down: newer pages come back, contiguous, until the newest.
	for i := 0; i < 400 && (len(c.newer) > 0 || c.scroll > 0); i++ {
		drive(t, m, press("pgdown"))
		checkWindow(t, c)
	}
	if len(c.newer) != 0 || c.msgs[len(c.msgs)-1].Seq != n {
		t.Fatalf("did not get back to the newest: newer=%d newest=%d", len(c.newer), c.msgs[len(c.msgs)-1].Seq)
	}
	// Up again, then End jumps to the newest in one page.
	for range 6 {
		drive(t, m, press("home"))
	}
	drive(t, m, press("end"))
	checkWindow(t, c)
	if c.scroll != 0 || len(c.newer) != 0 || c.msgs[len(c.msgs)-1].Seq != n {
		t.Fatalf("end: scroll %d newer %d newest %d", c.scroll, len(c.newer), c.msgs[len(c.msgs)-1].Seq)
	}
	// A message arriving while scrolled far up is counted, not appended.
	for range 6 {
		drive(t, m, press("home"))
		t.Logf("msgs %d newer %d scroll %d lines %d oldestReached %v loading %v", len(c.msgs), len(c.newer), c.scroll, len(c.lines), c.oldestReached, c.loadingOlder)
	}
	if len(c.newer) == 0 {
		t.Fatal("window not trimmed after 6 × home")
	}
	msg := f.SimMessage("Bob", node.Message{Direction: node.Incoming, Text: "late news", Time: testNow})
	ev(t, m, node.MessageEvent{Message: msg})
	if c.unseenBelow != 1 || !containsText(plain(m), "1 new") {
		t.Fatalf("unseenBelow = %d\n%s", c.unseenBelow, plain(m))
	}
	for i := 0; i < 400 && (len(c.newer) > 0 || c.scroll > 0); i++ {
		drive(t, m, press("pgdown"))
		checkWindow(t, c)
	}
	if last := c.msgs[len(c.msgs)-1]; last.Text != "late news" {
		t.Fatalf("newest after scrolling down = %q", last.Text)
	}
}

func TestMouseWheelScrolls(t *testing.T) {
	m := testModel(t, bigWorld(t, 500), 80, 24)
	drive(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if m.chat.conv.scroll != 3 {
		t.Fatalf("scroll after wheel up = %d", m.chat.conv.scroll)
	}
	drive(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	drive(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if m.chat.conv.scroll != 0 {
		t.Fatalf("scroll after wheel down = %d", m.chat.conv.scroll)
	}
	drive(t, m, press("home"))
	if m.chat.conv.scroll == 0 {
		t.Fatal("home did not scroll")
	}
}

func containsText(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// BenchmarkFirstFrame measures the time from the node being unlocked to the
// first frame that shows the newest messages of the selected conversation
// (the fake node answers History from memory). msgs=100 is the baseline:
// a 100k-message conversation should cost the same.
func BenchmarkFirstFrame(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("msgs=%d", n), func(b *testing.B) {
			f := bigWorld(b, n)
			p := &fakeProfile{exists: true, api: f}
			dark := true
			for b.Loop() {
				m := New(context.Background(), Options{Profile: p, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true})
				m.e.noTimers = true
				m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
				drainFast(m, func() tea.Msg { return unlockedMsg{api: f} })
				if v := m.View().Content; !m.chat.conv.loaded || len(v) == 0 {
					b.Fatal("conversation not shown")
				}
			}
		})
	}
}

// drainFast is drain without a testing.TB and with no grace for blocking
// commands beyond a millisecond, for benchmarks.
func drainFast(m tea.Model, cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		var next []tea.Cmd
		for _, c := range queue {
			if c == nil {
				continue
			}
			ch := make(chan tea.Msg, 1)
			go func() { ch <- c() }()
			var msg tea.Msg
			select {
			case msg = <-ch:
			case <-time.After(2 * time.Second):
				continue
			}
			for _, mm := range flatten(msg) {
				switch mm := mm.(type) {
				case nil, tea.QuitMsg, subscribedMsg:
				case tea.Cmd:
					next = append(next, mm)
				default:
					_, c2 := m.Update(mm)
					next = append(next, c2)
				}
			}
		}
		queue = next
	}
}

// BenchmarkView is one frame at 200×60: of a full conversation (the window
// holding a page of a 100k-message history), and of an empty one as the
// baseline.
func BenchmarkView(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("200x60/msgs=%d", n), func(b *testing.B) {
			m := testModel(b, bigWorld(b, n), 200, 60)
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

// BenchmarkViewAfterEvent is a frame after a message arrives (re-layout included).
func BenchmarkViewAfterEvent(b *testing.B) {
	f := bigWorld(b, 100_000)
	m := testModel(b, f, 200, 60)
	i := 0
	for b.Loop() {
		i++
		m.Update(eventMsg{ev: node.MessageEvent{Message: node.Message{ID: fmt.Sprintf("e%d", i), Seq: int64(200_000 + i), Address: bobAddr, Direction: node.Incoming, Text: "hello there", Time: testNow, State: node.Received}}})
		_ = m.View()
	}
}

// TestMemory100k reports what the UI keeps for a 100k-message
// conversation: heap in use with the model open, minus the fake node's own
// copy of the messages. It fails if the UI holds more than a few MB.
func TestMemory100k(t *testing.T) {
	f := bigWorld(t, 100_000)
	base := heapInUse()
	m := testModel(t, f, 200, 60)
	for range 30 {
		drive(t, m, press("pgup"))
	}
	used := heapInUse() - base
	runtime.KeepAlive(m)
	runtime.KeepAlive(f)
	t.Logf("UI heap for a 100k-message conversation after scrolling 30 pages: %.2f MB (window %d messages, %d lines)",
		float64(used)/(1<<20), len(m.chat.conv.msgs), len(m.chat.conv.lines))
	if used > 16<<20 {
		t.Errorf("UI holds %.1f MB", float64(used)/(1<<20))
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
