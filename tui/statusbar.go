package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

const (
	flashFor      = 6 * time.Second  // a note stays this long…
	flashErrFor   = 12 * time.Second // …an error longer…
	fadeSteps     = 8                // …then fades in this many steps…
	fadeStep      = 120 * time.Millisecond
	torStallAfter = 60 * time.Second
)

// statusBar is the bottom line: who we are, Tor's state or a flash
// message, and the contact counters. It also owns what Tor's state means
// for the rest of the screen (the stall and failure banners).
type statusBar struct {
	*env
	status node.Status

	flash    string
	flashErr bool
	flashID  int
	fade     int // steps of the flash's fade done; 0 while it is fully shown

	torProgressN int  // counts bootstrap progress, to notice a stall
	torStalled   bool // no bootstrap progress for torStallAfter

	eventsClosed bool
	connection   string // "" while connected to the node; else why not (reconnecting)
}

// torStallMsg fires torStallAfter after bootstrap progress n.
type torStallMsg struct{ n int }

// setStatus takes a fresh Status from the node. Tor's part goes through
// setTor so the stall timer sees it.
func (b *statusBar) setStatus(st node.Status) tea.Cmd {
	tor := st.Tor
	st.Tor = b.status.Tor
	b.status = st
	return b.setTor(tor)
}

// setTor records Tor's status and, while it bootstraps, arms a one-shot
// timer that flags a stall if nothing moves (no network, blocked Tor).
func (b *statusBar) setTor(t node.TorStatus) tea.Cmd {
	prev := b.status.Tor
	b.status.Tor = t
	if !bootstrapping(t) {
		b.torStalled = false
		return nil
	}
	if b.torProgressN > 0 && t.Percent == prev.Percent && t.State == prev.State {
		return nil
	}
	b.torStalled = false
	b.torProgressN++
	return b.after(torStallAfter, torStallMsg{b.torProgressN})
}

func bootstrapping(t node.TorStatus) bool {
	return t.State == node.TorBootstrapping || t.State == node.TorStarting
}

// stallTimer is the stall timer n firing: a stall if nothing moved since.
func (b *statusBar) stallTimer(n int) {
	if n == b.torProgressN && bootstrapping(b.status.Tor) {
		b.torStalled = true
	}
}

// setFlash shows s in place of Tor's state for a while, then fades it out.
// One timer at a time, and none once it is gone: an idle screen does not tick.
func (b *statusBar) setFlash(s string, isErr bool) tea.Cmd {
	b.flash, b.flashErr, b.fade = s, isErr, 0
	b.flashID++
	hold := flashFor
	if isErr {
		hold = flashErrFor
	}
	return b.after(hold, flashTickMsg{b.flashID})
}

// flashTick is flash id's timer: the next step of its fade, or its end.
// Without colours there is nothing to fade: it just goes.
func (b *statusBar) flashTick(id int) tea.Cmd {
	if id != b.flashID || b.flash == "" {
		return nil // replaced by a newer flash, whose timer runs
	}
	b.fade++
	if !b.colour || b.fade >= fadeSteps {
		b.flash, b.fade = "", 0
		return nil
	}
	return b.after(fadeStep, flashTickMsg{id})
}

// setCounts keeps the counters in step with the contact list.
func (b *statusBar) setCounts(contacts, online, pending int) {
	b.status.Contacts, b.status.ContactsOnline, b.status.PendingRequests = contacts, online, pending
}

// Render draws the status line, width cells wide.
func (b *statusBar) Render(width int) string {
	s := b.styles
	me := b.status.Name
	if me == "" {
		me = "me"
	}
	left := " " + safetext.Line(me)
	if len(b.status.Address) >= 8 {
		left += " · " + b.status.Address[:8]
	}
	if b.status.Daemon {
		left += " · daemon"
	}
	mid, kind := torText(b.status)
	if b.torStalled {
		mid = fmt.Sprintf("◷ Tor stuck at %d%%: no network?", b.status.Tor.Percent)
	}
	midStyle := s.StatusBusy
	switch kind {
	case styleReady:
		midStyle = s.StatusReady
	case styleFailed:
		midStyle = s.StatusError
	}
	switch {
	case b.flash != "":
		mid = b.flash
		fg := s.Accent.GetForeground()
		if b.flashErr {
			fg = s.StatusError.GetForeground()
		}
		if b.fade > 0 {
			// Fading: from the flash's colour towards the bar's own text.
			fg = lipgloss.Blend1D(fadeSteps+1, fg, s.StatusBar.GetForeground())[b.fade]
		}
		midStyle = s.StatusBar.Foreground(fg).Bold(b.flashErr)
	case b.connection != "":
		mid, midStyle = "◷ "+b.connection, s.StatusError
	case b.eventsClosed:
		mid, midStyle = "✗ disconnected from the node", s.StatusError
	}
	return b.join(width, left, mid, midStyle)
}

type statusKind int

const (
	styleReady statusKind = iota + 1
	styleBusy
	styleFailed
)

func torText(st node.Status) (string, statusKind) {
	t := st.Tor
	switch t.State {
	case node.TorOffline:
		why := safetext.Line(t.Error)
		if why == "" {
			why = "no network"
		}
		return "✗ offline: " + why, styleFailed
	case node.TorReconnecting:
		return "◷ network back, reconnecting…", styleBusy
	case node.TorFailed:
		e := t.Error
		if e == "" {
			e = "stopped"
		}
		return "✗ Tor: " + safetext.Line(e), styleFailed
	case node.TorReady:
		if st.Reachable {
			return "● Tor ready", styleReady
		}
		return "◷ publishing onion service…", styleBusy
	case node.TorBootstrapping:
		sum := t.Summary
		if sum == "" {
			sum = "bootstrapping"
		}
		return fmt.Sprintf("◷ Tor %d%% %s", t.Percent, safetext.Line(sum)), styleBusy
	}
	return "◷ starting Tor…", styleBusy
}

func (b *statusBar) join(w int, left, mid string, midStyle lipgloss.Style) string {
	s := b.styles
	right := fmt.Sprintf("%d/%d online · %s help ", b.status.ContactsOnline, b.status.Contacts, firstKey(b.keys.Help))
	if w < 60 {
		right = fmt.Sprintf("%d/%d ", b.status.ContactsOnline, b.status.Contacts)
	}
	lw, rw := b.textWidth(left), b.textWidth(right)
	midW := w - lw - rw - 4
	if midW < 8 {
		left = b.truncate(left, max(0, w-rw-12))
		lw = b.textWidth(left)
		midW = max(0, w-lw-rw-4)
	}
	mid = b.truncate(mid, midW)
	gap := max(0, w-lw-rw-b.textWidth(mid)-4)
	out := s.StatusBar.Bold(true).Render(left) + s.StatusBar.Render("  ") + midStyle.Render(mid) +
		s.StatusBar.Render(strings.Repeat(" ", gap)+"  ") + s.StatusBar.Render(right)
	return b.fit(out, w)
}

// banner is what Tor's state means for the conversation pane: a warning
// when bootstrapping stalls, an error when Tor failed; at most maxLines
// lines of width w.
func (b *statusBar) banner(w, maxLines int) []string {
	s := b.styles
	var out []string
	if b.torStalled {
		t := b.status.Tor
		text := fmt.Sprintf("◷ Tor has been stuck at %d%% (%s) for a while. Is this computer online? A firewall or a censored network may block Tor; chive keeps trying. With no internet at all, try a private Tor network: chive testnet up (see the README).", t.Percent, safetext.Line(t.Summary))
		for _, l := range b.wrap(text, w-2) {
			out = append(out, " "+s.Warning.Render(l))
		}
		out = out[:min(len(out), max(0, maxLines))]
	}
	if b.status.Tor.State == node.TorFailed {
		why := b.status.Tor.Error
		if why == "" {
			why = "Tor stopped"
		}
		text := "✗ Tor failed: " + safetext.Line(why) + ". Check your network connection (and that tor is installed), then restart chive."
		for _, l := range b.wrap(text, w-2) {
			out = append(out, " "+s.Error.Render(l))
		}
		out = out[:min(len(out), max(0, maxLines))]
	}
	return out
}
