package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// Text a terminal draws wider or narrower than its rune count: a ZWJ
// family, a flag, a skin-toned thumb, CJK, Hebrew and Arabic (RTL), and a
// combining accent.
const (
	zwjFamily = "👩‍👩‍👧‍👦"
	flagDE    = "🇩🇪"
	thumb     = "👍🏽"
	cjk       = "你好，世界"
	hebrew    = "שלום עולם"
	arabic    = "مرحبا بالعالم"
	combining = "cafe\u0301"
)

// wideWorld is a fake node whose contacts and messages are full of text
// that is hard to measure.
func wideWorld(t testing.TB) *nodetest.Fake {
	f := nodetest.New("Zoë "+thumb, aliceAddr)
	f.Now = fixedNow
	f.SimTor(node.TorStatus{State: node.TorReady, Percent: 100, Summary: "Done"})
	f.SimContact(node.Contact{Address: bobAddr, Name: "Family " + zwjFamily, State: node.StateAccepted, Presence: node.Online, Created: testNow.Add(-72 * time.Hour)})
	f.SimContact(node.Contact{Address: carolAddr, Name: "王小明 " + flagDE, State: node.StateAccepted, Created: testNow.Add(-70 * time.Hour)})
	f.SimContact(node.Contact{Address: daveAddr, Name: "דוד " + hebrew, State: node.StatePendingIncoming, Greeting: arabic + " " + zwjFamily, Presence: node.Online, Created: testNow.Add(-time.Hour)})
	f.SimMessage(carolAddr, node.Message{Direction: node.Incoming, Text: cjk + " " + flagDE + flagDE + flagDE, Time: testNow.Add(-3 * time.Hour), State: node.Read})
	f.SimMessage(bobAddr, node.Message{Direction: node.Incoming, Text: "Look: " + zwjFamily + zwjFamily + " and " + flagDE + " " + thumb + thumb + " " + combining, Time: testNow.Add(-30 * time.Minute), State: node.Read})
	f.SimMessage(bobAddr, node.Message{Direction: node.Outgoing, Text: strings.Repeat(cjk+" ", 12), Time: testNow.Add(-25 * time.Minute), State: node.Read})
	f.SimMessage(bobAddr, node.Message{Direction: node.Incoming, Text: hebrew + " — " + arabic + " " + strings.Repeat(zwjFamily, 30), Time: testNow.Add(-20 * time.Minute), State: node.Read})
	f.SimMessage(bobAddr, node.Message{Direction: node.Outgoing, Text: "ok " + thumb, Time: testNow.Add(-10 * time.Minute), State: node.Delivered})
	return f
}

// checkCells fails unless every line of m's view is exactly w cells wide as
// wm measures it (what the renderer assumes the terminal draws), and there
// are exactly h lines.
func checkCells(t *testing.T, m *Model, wm ansi.Method, w, h int) {
	t.Helper()
	lines := strings.Split(m.View().Content, "\n")
	if len(lines) != h {
		t.Errorf("%dx%d: %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if got := wm.StringWidth(l); got != w {
			t.Errorf("%dx%d line %d: %d cells, want %d: %q", w, h, i, got, w, ansi.Strip(l))
		}
	}
}

// TestWideCharactersKeepRows draws screens full of emoji, flags, CJK and
// RTL text and checks every row is the terminal's width as the renderer
// measures it: wcwidth rules until the terminal reports grapheme support
// (mode 2027), grapheme clusters after.
func TestWideCharactersKeepRows(t *testing.T) {
	for _, grapheme := range []bool{false, true} {
		wm := ansi.WcWidth
		name := "wcwidth"
		if grapheme {
			wm, name = ansi.GraphemeWidth, "grapheme"
		}
		t.Run(name, func(t *testing.T) {
			for _, sz := range [][2]int{{50, 20}, {80, 24}, {160, 45}, {250, 70}} {
				for _, setup := range [][]string{{"down"}, {"down", "down"}, {"down", "tab"}, nil, {"enter"}, {"down", "ctrl+d"}, {"ctrl+k"}} {
					m := testModel(t, wideWorld(t), sz[0], sz[1])
					if grapheme {
						drive(t, m, tea.ModeReportMsg{Mode: ansi.ModeUnicodeCore, Value: ansi.ModeReset})
					}
					for _, k := range setup {
						drive(t, m, press(k))
					}
					checkCells(t, m, wm, sz[0], sz[1])
				}
			}
		})
	}
}
