package main

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

func TestInviteCommands(t *testing.T) {
	d := startFake(t)
	r := d.run(t, "address", "--invite", "--uses", "3", "--expires", "2d")
	wantCode(t, r, exitOK)
	lines := strings.Split(r.stdout, "\n")
	if !strings.HasPrefix(lines[0], "chive:"+aliceAddr+"?invite=") || !strings.Contains(r.stdout, "Invite #1: lets in 3 requests until") {
		t.Errorf("address --invite:\n%s", r.stdout)
	}
	ivs, _ := d.f.Invites(t.Context())
	if len(ivs) != 1 || ivs[0].MaxUses != 3 || ivs[0].Link != lines[0] {
		t.Fatalf("invites after address --invite: %+v", ivs)
	}
	if left := time.Until(ivs[0].Expires); left < 47*time.Hour || left > 49*time.Hour {
		t.Errorf("--expires 2d made an invite expiring in %v", left)
	}
	r = d.run(t, "address", "--invite", "--json", "--qr") // --qr is for the text form
	wantCode(t, r, exitOK)
	var iv node.Invite
	if err := json.Unmarshal([]byte(r.stdout), &iv); err != nil || iv.ID != 2 || iv.MaxUses != 1 {
		t.Errorf("address --invite --json: %q %v", r.stdout, err)
	}
	for _, args := range [][]string{
		{"address", "--uses", "2"},
		{"address", "--invite", "--expires", "soon"},
		{"address", "--invite", "--expires", "-1h"},
		{"address", "--invite", "--uses", "-1"},
		{"invites", "revoke", "abc"},
		{"invites", "revoke"},
	} {
		if r := d.run(t, args...); r.code != exitUsage {
			t.Errorf("%s: exit %d, want %d (usage)\n%s", strings.Join(args, " "), r.code, exitUsage, r.stderr)
		}
	}

	r = d.run(t, "invites")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "ID  USED  EXPIRES") || !strings.Contains(r.stdout, "0/3") || !strings.Contains(r.stdout, iv.Link) {
		t.Errorf("invites:\n%s", r.stdout)
	}
	r = d.run(t, "invites", "revoke", "#1")
	wantCode(t, r, exitOK)
	if r := d.run(t, "invites", "revoke", "1"); r.code != exitError || !strings.Contains(r.stderr, "unknown invite") {
		t.Errorf("revoking twice: exit %d: %s", r.code, r.stderr)
	}
	r = d.run(t, "invites", "--json")
	var list []node.Invite
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].ID != 2 {
		t.Errorf("invites --json: %q %v", r.stdout, err)
	}

	// Someone else's invite link is what "contacts add" takes.
	link := "chive:" + carolAddr + "?invite=" + strings.Repeat("a", 26)
	r = d.run(t, "contacts", "add", link, "--name", "carol")
	wantCode(t, r, exitOK)
	if c, err := d.f.Contact(t.Context(), carolAddr); err != nil || c.Name != "carol" {
		t.Errorf("carol after adding her invite link: %+v, %v", c, err)
	}
	if r := d.run(t, "contacts", "add", link[:len(link)-1], "--name", "carol2"); r.code == exitOK || !strings.Contains(r.stderr, "damaged") {
		t.Errorf("a cut invite link: exit %d: %s", r.code, r.stderr)
	}
}

func TestStatusDefences(t *testing.T) {
	d := startFake(t)
	r := d.run(t, "status")
	if !strings.Contains(r.stdout, "defences:  not known yet") {
		t.Errorf("status before publication:\n%s", r.stdout)
	}
	d.f.SimDefences(&node.Defences{TorVersion: "0.4.9.11", MaxStreams: 4, PoW: true, PoWQueueRate: 25, PoWQueueBurst: 250})
	r = d.run(t, "status")
	if !strings.Contains(r.stdout, "defences:  at most 4 streams per circuit, proof of work on (queue 25/s, burst 250); tor 0.4.9.11") {
		t.Errorf("status:\n%s", r.stdout)
	}
	r = d.run(t, "status", "--json")
	var st node.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Defences == nil || !st.Defences.PoW || st.Defences.MaxStreams != 4 {
		t.Errorf("status --json: %q %v", r.stdout, err)
	}
	d.f.SimDefences(&node.Defences{MaxStreams: 4})
	if r := d.run(t, "status"); !strings.Contains(r.stdout, "proof of work off") {
		t.Errorf("status without PoW:\n%s", r.stdout)
	}
}

func TestParseLife(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "12h": 12 * time.Hour, "30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour} {
		if got, err := parseLife(in); err != nil || got != want {
			t.Errorf("parseLife(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "x", "-1d", "0s", "1dd", "1.5d"} {
		if _, err := parseLife(bad); err == nil {
			t.Errorf("parseLife(%q) succeeded", bad)
		}
	}
}

// TestDaemonLogNamesContactsByID: the daemon's event log names contacts by
// their local id, never by address or its prefix.
func TestDaemonLogNamesContactsByID(t *testing.T) {
	f := nodetest.New("alice", aliceAddr)
	bob := node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted, ID: 7}
	f.SimContact(bob)
	var buf syncBuffer
	events := make(chan node.Event, 8)
	events <- node.MessageEvent{Message: node.Message{ID: "00", Address: bobAddr, Direction: node.Incoming}}
	events <- node.PresenceEvent{Address: bobAddr, Presence: node.Online}
	events <- node.ContactRequestEvent{Contact: node.Contact{Address: carolAddr, State: node.StatePendingIncoming, ID: 9}}
	events <- node.MessageStateEvent{ID: "01", Address: carolAddr, State: node.Delivered}
	close(events)
	logEvents(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), f, events)
	out := buf.String()
	for _, a := range []string{bobAddr, carolAddr} {
		if strings.Contains(out, a[:8]) {
			t.Errorf("the log names %s by its address:\n%s", a[:8], out)
		}
	}
	if strings.Count(out, "contact=#7") != 2 || !strings.Contains(out, "from=#9") || !strings.Contains(out, "contact=#9") {
		t.Errorf("the log does not name contacts by id:\n%s", out)
	}
}
