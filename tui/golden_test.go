package tui

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// Golden snapshots of every screen and dialog at fixed sizes, with the fixed
// clock of world(). Most are plain text (what a user reads); a few keep the
// colours, downsampled to a fixed profile. Regenerate with:
//
//	go test ./tui -run TestGolden -update

func TestGoldenScreens(t *testing.T) {
	type step func(t *testing.T, m *Model)
	keys := func(ks ...string) step {
		return func(t *testing.T, m *Model) {
			for _, k := range ks {
				drive(t, m, press(k))
			}
		}
	}
	text := func(s string) step { return func(t *testing.T, m *Model) { typeText(t, m, s) } }
	cases := []struct {
		name  string
		w, h  int
		model func(t *testing.T) *Model
		steps []step
	}{
		{"welcome", 80, 24, welcomeModel0, nil},
		{"welcome_filled", 80, 24, welcomeModel0, []step{text("alice"), keys("tab"), text("correct horse battery"), keys("tab"), text("correct")}},
		{"welcome_no_passphrase", 80, 24, welcomeModel0, []step{text("alice"), keys("tab", "tab", "tab", "space")}},
		{"welcome_error", 80, 24, welcomeModel0, []step{keys("enter")}},
		{"unlock", 80, 24, unlockModel0, nil},
		{"unlock_wrong", 80, 24, unlockModel0, []step{text("hunter2"), keys("enter")}},
		{"main", 80, 24, mainModel, []step{keys("down")}},
		{"main_wide", 120, 40, mainModel, []step{keys("down")}},
		{"main_200x60", 200, 60, mainModel, []step{keys("down")}},
		{"main_collapsed", 50, 16, mainModel, []step{keys("down")}},
		{"main_collapsed_list", 50, 16, mainModel, []step{keys("down", "tab")}},
		{"main_tiny", 16, 5, mainModel, nil},
		{"main_request", 80, 24, mainModel, nil},
		{"main_empty", 80, 24, emptyModel, nil},
		{"main_bootstrapping", 80, 24, bootstrappingModel, nil},
		{"main_tor_failed", 80, 24, torFailedModel, nil},
		{"main_typing", 80, 24, mainModel, []step{keys("down"), func(t *testing.T, m *Model) {
			drive(t, m, eventMsg{ev: node.TypingEvent{Address: bobAddr}})
		}}},
		{"dialog_help", 80, 24, mainModel, []step{keys("f1")}},
		{"dialog_settings", 80, 24, mainModel, []step{keys("ctrl+p", "down", "space")}},
		{"dialog_switcher", 80, 24, mainModel, []step{keys("ctrl+k"), text("o")}},
		{"dialog_add_empty", 80, 24, mainModel, []step{keys("ctrl+n")}},
		{"dialog_add_invalid", 80, 24, mainModel, []step{keys("ctrl+n"), text("chive:abc")}},
		{"dialog_add_checksum", 80, 24, mainModel, []step{keys("ctrl+n"), text("pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscrid")}},
		{"dialog_add_valid", 80, 24, mainModel, []step{keys("ctrl+n"), text("PG6MMJIYJMCRSSLVYKFWNNTLARU7P5SVN6Y2YMMJU6NUBXNDF4PSCRYD.onion")}},
		{"dialog_address", 80, 24, mainModel, []step{keys("ctrl+o")}},
		{"dialog_address_small", 60, 20, mainModel, []step{keys("ctrl+o")}},
		{"dialog_address_invite", 80, 24, mainModel, []step{keys("ctrl+o", "i")}},
		{"dialog_address_invite_big", 120, 40, mainModel, []step{keys("ctrl+o", "i")}},
		{"dialog_request", 80, 24, mainModel, []step{keys("enter")}},
		{"dialog_details", 80, 24, mainModel, []step{keys("down", "ctrl+d")}},
		{"dialog_details_delete", 80, 24, mainModel, []step{keys("down", "ctrl+d", "x")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model(t)
			drive(t, m, tea.WindowSizeMsg{Width: tc.w, Height: tc.h})
			for _, s := range tc.steps {
				s(t, m)
			}
			golden.RequireEqual(t, []byte(plain(m)))
		})
	}
}

// TestGoldenColour keeps the styling of the main screen, downsampled to 256
// colours, for a dark and a light terminal.
func TestGoldenColour(t *testing.T) {
	for _, dark := range []bool{true, false} {
		name := "dark"
		if !dark {
			name = "light"
		}
		t.Run(name, func(t *testing.T) {
			m := mainModel(t)
			drive(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
			drive(t, m, press("down"))
			drive(t, m, backgroundMsg(dark))
			var buf bytes.Buffer
			w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ANSI256}
			w.Write([]byte(m.View().Content))
			golden.RequireEqual(t, buf.Bytes())
		})
	}
}

// TestGoldenWideText draws a screen full of ZWJ emoji, flags, CJK and RTL
// text at the four sizes the issue names, in colour (256 colours, dark) and
// without (NO_COLOR: Bubble Tea's Ascii profile, attributes but no colours),
// as the renderer measures it until the terminal reports grapheme support,
// and at 80×24 once it does.
func TestGoldenWideText(t *testing.T) {
	for _, sz := range [][2]int{{50, 20}, {80, 24}, {160, 45}, {250, 70}} {
		for _, p := range []colorprofile.Profile{colorprofile.ANSI256, colorprofile.Ascii} {
			for _, grapheme := range []bool{false, true} {
				if grapheme && sz != [2]int{80, 24} {
					continue
				}
				name := fmt.Sprintf("%dx%d_%s", sz[0], sz[1], map[colorprofile.Profile]string{colorprofile.ANSI256: "colour", colorprofile.Ascii: "nocolor"}[p])
				if grapheme {
					name += "_grapheme"
				}
				t.Run(name, func(t *testing.T) {
					m := testModel(t, wideWorld(t), sz[0], sz[1])
					drive(t, m, tea.ColorProfileMsg{Profile: p})
					if grapheme {
						drive(t, m, tea.ModeReportMsg{Mode: ansi.ModeUnicodeCore, Value: ansi.ModeReset})
					}
					drive(t, m, press("down"))
					var buf bytes.Buffer
					w := &colorprofile.Writer{Forward: &buf, Profile: p}
					w.Write([]byte(m.View().Content))
					golden.RequireEqual(t, buf.Bytes())
				})
			}
		}
	}
}

func backgroundMsg(dark bool) tea.BackgroundColorMsg {
	if dark {
		return tea.BackgroundColorMsg{Color: blackish}
	}
	return tea.BackgroundColorMsg{Color: whitish}
}

func welcomeModel0(t *testing.T) *Model {
	return profileModel(t, &fakeProfile{api: world(t)}, 80, 24)
}

func unlockModel0(t *testing.T) *Model {
	return profileModel(t, &fakeProfile{exists: true, passphrase: "correct horse", api: world(t)}, 80, 24)
}

func mainModel(t *testing.T) *Model { return testModel(t, world(t), 80, 24) }

func emptyModel(t *testing.T) *Model {
	f := nodetest.New("alice", aliceAddr)
	f.Now = fixedNow
	f.SimTor(node.TorStatus{State: node.TorReady, Percent: 100})
	return testModel(t, f, 80, 24)
}

func bootstrappingModel(t *testing.T) *Model {
	f := world(t)
	f.SimTor(node.TorStatus{State: node.TorBootstrapping, Percent: 45, Summary: "Loading relay descriptors"})
	return testModel(t, f, 80, 24)
}

func torFailedModel(t *testing.T) *Model {
	f := world(t)
	f.SimTor(node.TorStatus{State: node.TorFailed, Error: "tor exited: could not bind the SOCKS port 9050 (another tor running?)"})
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down"))
	return m
}

var _ = time.Second
