package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/node"
)

// The smaller defects of issue 11, each as the user met it.

const patAddr = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"

// lineOf is the index of the first line of v containing s, -1 if none.
func lineOf(v, s string) (line, col int) {
	for i, l := range strings.Split(v, "\n") {
		if j := strings.Index(l, s); j >= 0 {
			return i, len([]rune(l[:j]))
		}
	}
	return -1, -1
}

// TestUnlockingStaysPut: the block does not move when unlocking starts.
func TestUnlockingStaysPut(t *testing.T) {
	p := &fakeProfile{exists: true, passphrase: "correct horse", api: world(t)}
	m := profileModel(t, p, 80, 24)
	l1, c1 := lineOf(plain(m), "chive")
	m.unlock.busy = true
	v := plain(m)
	l2, c2 := lineOf(v, "chive")
	if l1 != l2 || c1 != c2 || !strings.Contains(v, "Unlocking") {
		t.Errorf("title at %d:%d, then %d:%d while unlocking:\n%s", l1, c1, l2, c2, v)
	}
}

// TestStrengthHintStaysInItsColumn: a long hint wraps under the fields.
func TestStrengthHintStaysInItsColumn(t *testing.T) {
	for _, w := range []int{80, 50} {
		m := profileModel(t, &fakeProfile{api: world(t)}, w, 24)
		typeText(t, m, "alice")
		drive(t, m, press("tab"))
		typeText(t, m, "abc")
		drive(t, m, press("tab"))
		typeText(t, m, "x")
		v := plain(m)
		lines := strings.Split(v, "\n")
		first, col := lineOf(v, "strength:")
		end, _ := lineOf(v, "No passphrase")
		if first < 0 || end < 0 {
			t.Fatalf("%d wide: no hint:\n%s", w, v)
		}
		for i := first; i < end; i++ {
			l := lines[i]
			if strings.TrimSpace(l) != "" && len(l)-len(strings.TrimLeft(l, " ")) < col {
				t.Errorf("%d wide: hint line %q starts left of column %d:\n%s", w, l, col, v)
			}
		}
	}
}

// TestShortPassphraseRefused: three characters do not make a passphrase.
func TestShortPassphraseRefused(t *testing.T) {
	p := &fakeProfile{api: world(t)}
	m := profileModel(t, p, 80, 24)
	typeText(t, m, "alice")
	drive(t, m, press("enter"))
	typeText(t, m, "abc")
	drive(t, m, press("enter"))
	typeText(t, m, "abc")
	drive(t, m, press("enter"))
	if p.created {
		t.Fatal("created a profile with a 3-character passphrase")
	}
	if v := plain(m); !strings.Contains(v, "at least") {
		t.Errorf("no reason given:\n%s", v)
	}
}

// TestHelpFitsAndScrolls: at 50×20 every key can be read by scrolling, each
// group has its own header, and the dialog stays on screen.
func TestHelpFitsAndScrolls(t *testing.T) {
	m := testModel(t, world(t), 50, 20)
	drive(t, m, press("f1"))
	seen := map[string]bool{}
	prev := ""
	for range 200 { // until the end: v == prev
		v := plain(m)
		checkFrame(t, m, 50, 20)
		for _, l := range strings.Split(v, "\n") {
			seen[l] = true
			if strings.Contains(l, "Anywhere") && strings.Contains(l, "Contacts") {
				t.Errorf("two column headers on one line: %q", l)
			}
		}
		if v == prev {
			break
		}
		prev = v
		drive(t, m, press("down"))
	}
	all := ""
	for l := range seen {
		all += l + "\n"
	}
	for _, g := range DefaultKeyMap().FullHelp() {
		for _, b := range g {
			if !strings.Contains(all, b.Help().Desc) {
				t.Errorf("help never shows %q", b.Help().Desc)
			}
		}
	}
	if _, ok := m.chat.dialog.(*helpDialog); !ok {
		t.Fatal("scrolling closed the help")
	}
}

// TestAddEnterInNicknameSubmits: the hint says enter sends the request.
func TestAddEnterInNicknameSubmits(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("ctrl+n"))
	drive(t, m, tea.PasteMsg{Content: patAddr})
	drive(t, m, press("enter"))
	typeText(t, m, "Pat")
	drive(t, m, press("enter"))
	if calls(f, "AddContact") != 1 {
		t.Fatalf("AddContact calls = %d\n%s", calls(f, "AddContact"), plain(m))
	}
}

// TestAddPlainErrors: re-adding, our own address and typos are told in
// plain words, before anything is sent.
func TestAddPlainErrors(t *testing.T) {
	wrongVersion := patAddr[:55] + "a" // one mistyped last letter
	cases := []struct {
		name, paste, want string
		bad               []string
	}{
		{"already a contact", patAddr, "already", nil},
		{"own address", "chive:" + strings.ToUpper(patAddr), "your own address", nil},
		{"mistyped last letter", wrongVersion, "mistyped", []string{"version", "want 3"}},
		{"mistyped letter", patAddr[:10] + "a" + patAddr[11:], "mistyped", []string{"checksum"}},
		{"too short", patAddr[:50], "56", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			if tc.name == "already a contact" {
				f.SimContact(node.Contact{Address: patAddr, Name: "Pat", State: node.StateAccepted, Created: testNow})
			}
			m := testModel(t, f, 80, 24)
			if tc.name == "own address" {
				m.chat.bar.status.Address = patAddr
			}
			drive(t, m, press("ctrl+n"))
			drive(t, m, tea.PasteMsg{Content: tc.paste})
			drive(t, m, press("tab"))
			typeText(t, m, "Someone")
			drive(t, m, press("enter"))
			drive(t, m, press("enter"))
			v := plain(m)
			if !strings.Contains(v, tc.want) {
				t.Errorf("view lacks %q:\n%s", tc.want, v)
			}
			for _, b := range tc.bad {
				if strings.Contains(v, b) {
					t.Errorf("view says %q:\n%s", b, v)
				}
			}
			if calls(f, "AddContact") != 0 {
				t.Errorf("AddContact called")
			}
		})
	}
}

// TestVerifyLabelShowsState: the key's label says what pressing it does.
func TestVerifyLabelShowsState(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down"))
	drive(t, m, press("ctrl+d"))
	if v := plain(m); !strings.Contains(v, "v mark verified") {
		t.Fatalf("unverified contact:\n%s", v)
	}
	drive(t, m, press("v"))
	if v := plain(m); !strings.Contains(v, "v mark not verified") || !strings.Contains(v, "✓ verified") {
		t.Fatalf("after v:\n%s", v)
	}
}

// TestReadDiffersFromDeliveredWithoutColour: under NO_COLOR the glyphs alone
// tell delivered from read.
func TestReadDiffersFromDeliveredWithoutColour(t *testing.T) {
	st := DefaultStyles(true)
	d, r := plainText(stateMark(&st, node.Delivered)), plainText(stateMark(&st, node.Read))
	if d == r {
		t.Errorf("delivered %q and read %q look the same without colour", d, r)
	}
}

// TestCtrlCClearsDraftFirst: ctrl+c with text in the composer clears it;
// only then does it quit.
func TestCtrlCClearsDraftFirst(t *testing.T) {
	m := testModel(t, world(t), 80, 24)
	drive(t, m, press("down"))
	typeText(t, m, "half a thought")
	_, cmd := m.Update(press("ctrl+c"))
	if containsMsg(cmd, tea.QuitMsg{}) {
		t.Fatal("ctrl+c quit with a draft in the composer")
	}
	drain(t, m, cmd)
	if got := m.chat.composer.Value(); got != "" {
		t.Errorf("composer = %q after ctrl+c", got)
	}
	_, cmd = m.Update(press("ctrl+c"))
	if !containsMsg(cmd, tea.QuitMsg{}) {
		t.Error("second ctrl+c did not quit")
	}
}

var _ = context.Background
var _ = time.Second
