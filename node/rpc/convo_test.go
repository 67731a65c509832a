package rpc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// convoCalls calls issue 17's methods through the client (TestEveryMethod):
// results, errors and the events the fake publishes come back as they left.
func convoCalls(t *testing.T, c *Client, f *nodetest.Fake) {
	t.Helper()
	ctx := context.Background()
	events, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := f.SimReceive("bob", "dinner at 8?")
	r, err := c.Reply(ctx, "bob", in.ID, "yes")
	if err != nil || r.ReplyTo == nil || r.ReplyTo.ID != in.ID || r.ReplyTo.Quote != "dinner at 8?" || r.ReplyTo.Direction != node.Incoming {
		t.Errorf("Reply = %+v, %v", r, err)
	}
	if _, err := c.Reply(ctx, "bob", strings.Repeat("0", 32), "to nothing"); !errors.Is(err, node.ErrNoMessage) {
		t.Errorf("Reply to an unknown message: %v, want ErrNoMessage", err)
	}
	if err := c.React(ctx, "bob", in.ID, "👍"); err != nil {
		t.Error(err)
	}
	e, err := c.Edit(ctx, "bob", r.ID, "yes, at 8")
	if err != nil || e.Text != "yes, at 8" || e.Edited.IsZero() {
		t.Errorf("Edit = %+v, %v", e, err)
	}
	if _, err := c.Edit(ctx, "bob", in.ID, "theirs"); !errors.Is(err, node.ErrNotAuthor) {
		t.Errorf("Edit of theirs: %v, want ErrNotAuthor", err)
	}
	vs, err := c.Edits(ctx, "bob", r.ID)
	if err != nil || len(vs) != 2 || vs[0].Text != "yes" || vs[1].Text != "yes, at 8" {
		t.Errorf("Edits = %+v, %v", vs, err)
	}
	tm, err := c.SetTimer(ctx, "bob", time.Hour)
	if err != nil || tm.Kind != node.KindTimer || time.Duration(tm.Timer) != time.Hour {
		t.Errorf("SetTimer = %+v, %v", tm, err)
	}
	if ct, _ := c.Contact(ctx, "bob"); time.Duration(ct.Timer) != time.Hour {
		t.Errorf("contact timer = %v", ct.Timer)
	}
	if _, err := c.SetTimer(ctx, "bob", 0); err != nil {
		t.Error(err)
	}
	if _, err := c.SetTimer(ctx, "bob", 2*time.Minute); err == nil {
		t.Error("SetTimer accepted 2m")
	}
	ms, err := c.Search(ctx, node.SearchQuery{Text: "AT 8", Contact: "bob"})
	if err != nil || len(ms) != 2 || ms[0].ID != r.ID || ms[1].ID != in.ID {
		t.Errorf("Search = %+v, %v", ms, err)
	}
	if err := c.Delete(ctx, "bob", r.ID, true); err != nil {
		t.Error(err)
	}
	if err := c.Delete(ctx, "bob", in.ID, false); err != nil {
		t.Error(err)
	}
	info, err := c.Backup(ctx, node.BackupOptions{Path: "/tmp/x.chive-backup", Passphrase: "long enough passphrase"})
	if err != nil || info.Path != "/tmp/x.chive-backup" {
		t.Errorf("Backup = %+v, %v", info, err)
	}
	// The events arrive as the fake published them.
	want := map[node.Change]string{node.ChangeReaction: in.ID, node.ChangeEdited: r.ID, node.ChangeDeleted: r.ID, node.ChangeRemoved: in.ID}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-events:
			ch, ok := ev.(node.MessageChangedEvent)
			if !ok || want[ch.Change] != ch.ID {
				continue
			}
			if (ch.Change == node.ChangeRemoved) != (ch.Message == nil) {
				t.Errorf("%s event with message %+v", ch.Change, ch.Message)
			}
			if ch.Change == node.ChangeReaction && (len(ch.Message.Reactions) != 1 || ch.Message.Reactions[0].Emoji != "👍") {
				t.Errorf("reaction event: %+v", ch.Message)
			}
			delete(want, ch.Change)
		case <-deadline:
			t.Fatalf("events not seen: %v", want)
		}
	}
}

func TestConvoParams(t *testing.T) {
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted, Created: t0})
	path, _ := serve(t, f)
	rc := dialRaw(t, path)
	for _, tc := range []struct {
		req  string
		code int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"reply","params":{"contact":"bob","text":"x"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":2,"method":"react","params":{"contact":"bob"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":3,"method":"timer.set","params":{"contact":"bob"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":4,"method":"timer.set","params":{"contact":"bob","timer":"1h"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":5,"method":"search","params":{"query":""}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":6,"method":"search","params":{"query":"x","limit":-1}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":7,"method":"edit","params":{"contact":"bob","id":"00000000000000000000000000000000","text":"x"}}`, CodeNoMessage},
		{`{"jsonrpc":"2.0","id":8,"method":"backup","params":{"path":"/tmp/b"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":9,"method":"delete","params":{"contact":"bob","id":"x","for_everyone":true,"extra":1}}`, CodeInvalidParams},
	} {
		rc.send(tc.req)
		if got := errCode(t, rc.recv()); got != tc.code {
			t.Errorf("%s: code %d, want %d", tc.req, got, tc.code)
		}
	}
}

func TestMessageChangedEventJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, e := range []node.Event{
		node.MessageChangedEvent{ID: "00", Address: "abc", Change: node.ChangeExpired},
		node.MessageChangedEvent{ID: "00", Address: "abc", Change: node.ChangeEdited, Message: &node.Message{ID: "00", Text: "new", Edited: at, Time: at,
			ReplyTo: &node.ReplyTo{ID: "01", Direction: node.Outgoing, Quote: "q"}, Reactions: []node.Reaction{{Emoji: "👍", From: node.Incoming, At: at}},
			Timer: node.Seconds(time.Hour), Disappears: at}},
	} {
		b, err := MarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := MarshalEvent(got)
		if string(gb) != string(b) {
			t.Errorf("round trip: %s, want %s", gb, b)
		}
	}
}
