package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

var (
	aliceAddr = strings.Repeat("a", 55) + "d"
	bobAddr   = strings.Repeat("b", 55) + "d"
	carolAddr = strings.Repeat("c", 55) + "d"
)

var t0 = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)

// serve starts a Server for api on a socket in a fresh temp dir and returns
// the socket path; everything is torn down with the test.
func serve(t *testing.T, api node.API) (path string, srv *Server) {
	t.Helper()
	dir, err := os.MkdirTemp("", "rpc") // t.TempDir paths can exceed the 108-byte socket path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = SocketPath(dir)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv = NewServer(api, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v, want net.ErrClosed", err)
		}
	})
	return path, srv
}

func dialT(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newFake() *nodetest.Fake {
	f := nodetest.New("alice", aliceAddr)
	f.Now = func() time.Time { return t0 }
	return f
}

// rawConn is a line-oriented connection for protocol-level tests.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (rc *rawConn) send(line string) {
	rc.t.Helper()
	if _, err := rc.nc.Write([]byte(line + "\n")); err != nil {
		rc.t.Fatal(err)
	}
}

// recv reads one line as a generic response.
func (rc *rawConn) recv() map[string]json.RawMessage {
	rc.t.Helper()
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := rc.r.ReadBytes('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (got %q)", err, line)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		rc.t.Fatalf("response is not JSON: %q", line)
	}
	if string(m["jsonrpc"]) != `"2.0"` {
		rc.t.Fatalf("response without jsonrpc 2.0: %q", line)
	}
	return m
}

func errCode(t *testing.T, m map[string]json.RawMessage) int {
	t.Helper()
	var e Error
	if m["error"] == nil {
		t.Fatalf("want an error, got %v", m)
	}
	if err := json.Unmarshal(m["error"], &e); err != nil {
		t.Fatal(err)
	}
	if e.Message == "" {
		t.Errorf("error %d without message", e.Code)
	}
	return e.Code
}

func TestEveryMethod(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted, Created: t0})
	in := f.SimMessage("bob", node.Message{Direction: node.Incoming, Text: "hi alice", Time: t0})
	path, _ := serve(t, f)
	c := dialT(t, path)

	st, err := c.Status(ctx)
	if err != nil || st.Address != aliceAddr || st.Name != "alice" || st.Contacts != 1 || !st.Daemon {
		t.Errorf("Status = %+v, %v", st, err)
	}
	ai, err := c.Address(ctx)
	if err != nil || ai != (AddressInfo{Address: aliceAddr, URI: "chive:" + aliceAddr, Name: "alice"}) {
		t.Errorf("Address = %+v, %v", ai, err)
	}
	cs, err := c.Contacts(ctx)
	if err != nil || len(cs) != 1 || cs[0].Name != "bob" || cs[0].Unread != 1 {
		t.Errorf("Contacts = %+v, %v", cs, err)
	}
	ct, err := c.Contact(ctx, "BOB")
	if err != nil || ct.Address != bobAddr || ct.State != node.StateAccepted || !ct.Created.Equal(t0) {
		t.Errorf("Contact = %+v, %v", ct, err)
	}
	ct, err = c.AddContact(ctx, carolAddr+".onion", "carol", "it's me")
	if err != nil || ct.Address != carolAddr || ct.State != node.StateRequested || ct.Name != "carol" {
		t.Errorf("AddContact = %+v, %v", ct, err)
	}
	ct, err = c.AcceptContact(ctx, "carol")
	if err != nil || ct.State != node.StateAccepted {
		t.Errorf("AcceptContact = %+v, %v", ct, err)
	}
	if err := c.RenameContact(ctx, "carol", "caroline"); err != nil {
		t.Error(err)
	}
	if ct, _ := c.Contact(ctx, carolAddr); ct.Name != "caroline" {
		t.Errorf("after rename: %q", ct.Name)
	}
	if err := c.SetVerified(ctx, "caroline", true); err != nil {
		t.Error(err)
	}
	if ct, _ := c.Contact(ctx, "caroline"); !ct.Verified {
		t.Error("SetVerified did not stick")
	}
	sn, err := c.SafetyNumber(ctx, "bob")
	if err != nil || len(sn) < 20 {
		t.Errorf("SafetyNumber = %q, %v", sn, err)
	}
	if ct, err := c.ResetSession(ctx, "bob"); err != nil || ct.Address != bobAddr {
		t.Errorf("ResetSession = %+v, %v", ct, err)
	}
	m, err := c.Send(ctx, "bob", "hello\nbob ☕")
	if err != nil || m.State != node.Queued || m.Text != "hello\nbob ☕" || len(m.ID) != 32 || m.Address != bobAddr {
		t.Errorf("Send = %+v, %v", m, err)
	}
	f.SimState(m.ID, node.Failed, "peer unreachable")
	if err := c.Retry(ctx, m.ID); err != nil {
		t.Error(err)
	}
	h, err := c.History(ctx, "bob", "", 10)
	if err != nil || len(h) != 2 || h[0].ID != m.ID || h[1].ID != in.ID || h[0].State != node.Queued {
		t.Errorf("History = %+v, %v", h, err)
	}
	h, err = c.History(ctx, "bob", m.ID, 10)
	if err != nil || len(h) != 1 || h[0].ID != in.ID {
		t.Errorf("History before = %+v, %v", h, err)
	}
	ib, err := c.Inbox(ctx, node.InboxQuery{})
	if err != nil || len(ib) != 1 || ib[0].Text != "hi alice" || ib[0].Seq != in.Seq {
		t.Errorf("Inbox = %+v, %v", ib, err)
	}
	ib, err = c.Inbox(ctx, node.InboxQuery{After: in.Seq, Contact: "bob"})
	if err != nil || len(ib) != 0 {
		t.Errorf("Inbox after = %+v, %v", ib, err)
	}
	if err := c.MarkRead(ctx, "bob"); err != nil {
		t.Error(err)
	}
	if ct, _ := c.Contact(ctx, "bob"); ct.Unread != 0 {
		t.Errorf("unread after MarkRead: %d", ct.Unread)
	}
	if err := c.Typing(ctx, "bob"); err != nil {
		t.Error(err)
	}
	s, err := c.Settings(ctx)
	if err != nil || !s.ReadReceipts || !s.Typing {
		t.Errorf("Settings = %+v, %v", s, err)
	}
	if err := c.SetSettings(ctx, node.Settings{ReadReceipts: false, Typing: true}); err != nil {
		t.Error(err)
	}
	if s, _ := c.Settings(ctx); s.ReadReceipts || !s.Typing {
		t.Errorf("Settings after set = %+v", s)
	}
	ms, err := c.SendMany(ctx, node.SendRequest{To: []string{"bob", "caroline", "BOB"}, Text: "to both", TTL: 10 * time.Minute,
		IdempotencyKey: "k1"})
	if err != nil || len(ms) != 2 || ms[0].Address != bobAddr || ms[1].Address != carolAddr || !ms[0].ExpiresAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("SendMany = %+v, %v", ms, err)
	}
	again, err := c.SendMany(ctx, node.SendRequest{To: []string{"bob"}, Text: "to both", IdempotencyKey: "k1"})
	if err != nil || len(again) != 1 || again[0].ID != ms[0].ID {
		t.Errorf("SendMany with a used key = %+v, %v; want the first message", again, err)
	}
	later, err := c.SendMany(ctx, node.SendRequest{To: []string{"bob"}, Text: "later", At: t0.Add(time.Hour)})
	if err != nil || len(later) != 1 || !later[0].SendAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("scheduled SendMany = %+v, %v", later, err)
	}
	sched, err := c.Scheduled(ctx)
	if err != nil || len(sched) != 1 || sched[0].ID != later[0].ID {
		t.Errorf("Scheduled = %+v, %v", sched, err)
	}
	if err := c.CancelScheduled(ctx, later[0].ID); err != nil {
		t.Error(err)
	}
	if sched, _ := c.Scheduled(ctx); len(sched) != 0 {
		t.Errorf("Scheduled after cancel = %+v", sched)
	}
	if err := c.BlockContact(ctx, "caroline"); err != nil {
		t.Error(err)
	}
	if ct, _ := c.Contact(ctx, "caroline"); ct.State != node.StateBlocked {
		t.Errorf("after block: %s", ct.State)
	}
	// issue 11: unblock, drafts, our name.
	if err := c.UnblockContact(ctx, "caroline"); err != nil {
		t.Error(err)
	}
	if ct, _ := c.Contact(ctx, "caroline"); ct.State != node.StateAccepted {
		t.Errorf("after unblock: %s, want accepted again", ct.State)
	}
	if err := c.BlockContact(ctx, "caroline"); err != nil {
		t.Error(err)
	}
	if err := c.SetDraft(ctx, "bob", "half a thought ☕\nand a line"); err != nil {
		t.Error(err)
	}
	if ct, _ := c.Contact(ctx, "bob"); ct.Draft != "half a thought ☕\nand a line" {
		t.Errorf("draft = %q", ct.Draft)
	}
	if cs, _ := c.Contacts(ctx); len(cs) == 0 || cs[0].Draft == "" && cs[len(cs)-1].Draft == "" {
		t.Errorf("Contacts lost the draft: %+v", cs)
	}
	if err := c.SetDraft(ctx, "bob", ""); err != nil {
		t.Error(err)
	}
	if ct, _ := c.Contact(ctx, "bob"); ct.Draft != "" {
		t.Errorf("draft after clearing = %q", ct.Draft)
	}
	if err := c.SetName(ctx, "Alice L."); err != nil {
		t.Error(err)
	}
	if st, _ := c.Status(ctx); st.Name != "Alice L." {
		t.Errorf("name after SetName = %q", st.Name)
	}
	f.SimRequest(strings.Repeat("e", 55)+"d", "eve", "hello?")
	if err := c.DeclineContact(ctx, "eve"); err != nil {
		t.Error(err)
	}
	if err := c.RemoveContact(ctx, "caroline", true); err != nil {
		t.Error(err)
	}
	cs, _ = c.Contacts(ctx)
	if len(cs) != 1 {
		t.Errorf("contacts after decline+remove: %+v", cs)
	}
	// Invites: made, listed, revoked; an unknown id is a typed error.
	exp := time.Now().Add(time.Hour).Round(time.Second)
	iv, err := c.CreateInvite(ctx, node.InviteOptions{Uses: 3, Expires: exp})
	if err != nil || iv.MaxUses != 3 || !iv.Expires.Equal(exp) || !strings.HasPrefix(iv.Link, "chive:") || !strings.Contains(iv.Link, "?invite=") {
		t.Errorf("CreateInvite = %+v, %v", iv, err)
	}
	if ivs, err := c.Invites(ctx); err != nil || len(ivs) != 1 || ivs[0].ID != iv.ID || ivs[0].Link != iv.Link {
		t.Errorf("Invites = %+v, %v", ivs, err)
	}
	if err := c.RevokeInvite(ctx, iv.ID); err != nil {
		t.Error(err)
	}
	if err := c.RevokeInvite(ctx, iv.ID); !errors.Is(err, node.ErrUnknownInvite) {
		t.Errorf("second revoke: %v, want ErrUnknownInvite", err)
	}
	if ivs, err := c.Invites(ctx); err != nil || ivs == nil || len(ivs) != 0 {
		t.Errorf("Invites after revoke = %#v, %v", ivs, err)
	}
	// issue 16: the mailbox.
	link := "chive:" + strings.Repeat("m", 55) + "d?pair=" + strings.Repeat("a", 52)
	if _, err := c.MailboxLink(ctx, "chive:"+bobAddr); !errors.Is(err, node.ErrNotPairingLink) {
		t.Errorf("MailboxLink of an address: %v, want ErrNotPairingLink", err)
	}
	if st, err := c.MailboxLink(ctx, link); err != nil || !st.Linked || !st.Connected {
		t.Errorf("MailboxLink = %+v, %v", st, err)
	}
	if _, err := c.MailboxLink(ctx, link); !errors.Is(err, node.ErrMailboxLinked) {
		t.Errorf("second MailboxLink: %v, want ErrMailboxLinked", err)
	}
	if st, err := c.MailboxStatus(ctx); err != nil || st.Address != strings.Repeat("m", 55)+"d" {
		t.Errorf("MailboxStatus = %+v, %v", st, err)
	}
	if err := c.MailboxUnlink(ctx, false); err != nil {
		t.Error(err)
	}
	if err := c.MailboxUnlink(ctx, true); !errors.Is(err, node.ErrNoMailbox) {
		t.Errorf("second MailboxUnlink: %v, want ErrNoMailbox", err)
	}

	exerciseFiles(t, c, f) // files.go
	convoCalls(t, c, f)    // issue 17: replies, reactions, edits, timers, search, backup
	// Groups (issue 18): made with bob, used by name as a contact ref is,
	// changed, left; errors keep their codes.
	g, err := c.CreateGroup(ctx, "team", []string{"bob"})
	if err != nil || g.Name != "team" || len(g.Members) != 2 || !g.Admin || len(g.ID) != 32 {
		t.Errorf("CreateGroup = %+v, %v", g, err)
	}
	if gs, err := c.Groups(ctx); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Errorf("Groups = %+v, %v", gs, err)
	}
	gm, err := c.Send(ctx, "TEAM", "hi team")
	if err != nil || gm.Group != g.ID || gm.Contact != "team" || gm.Recipients != 1 {
		t.Errorf("Send to a group = %+v, %v", gm, err)
	}
	if h, err := c.History(ctx, g.ID, "", 10); err != nil || len(h) != 1 || h[0].ID != gm.ID {
		t.Errorf("group History = %+v, %v", h, err)
	}
	if g2, err := c.PromoteInGroup(ctx, "team", "bob"); err != nil || !g2.Members[1].Admin {
		t.Errorf("PromoteInGroup = %+v, %v", g2, err)
	}
	if err := c.RenameGroup(ctx, "team", "crew"); err != nil {
		t.Error(err)
	}
	if g2, err := c.Group(ctx, "crew"); err != nil || g2.Name != "crew" {
		t.Errorf("Group = %+v, %v", g2, err)
	}
	if g2, err := c.RemoveFromGroup(ctx, "crew", "bob"); err != nil || len(g2.Members) != 1 {
		t.Errorf("RemoveFromGroup = %+v, %v", g2, err)
	}
	if g2, err := c.InviteToGroup(ctx, "crew", "bob"); err != nil || len(g2.Members) != 2 {
		t.Errorf("InviteToGroup = %+v, %v", g2, err)
	}
	if _, err := c.Group(ctx, "nope"); !errors.Is(err, node.ErrUnknownGroup) {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := c.CreateGroup(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, "bob", "which bob?"); !errors.Is(err, node.ErrAmbiguous) {
		t.Errorf("a name of a group and a contact: %v", err)
	}
	if err := c.LeaveGroup(ctx, "crew"); err != nil {
		t.Error(err)
	}
	if _, err := c.Send(ctx, "crew", "still here?"); !errors.Is(err, node.ErrNotMember) {
		t.Errorf("send after leaving: %v", err)
	}

	// Every node.API method must have reached the node under its own name.
	// (Locking the fake's mutex via a direct call orders the server
	// goroutines' writes to f.Calls before our read.)
	f.Settings(ctx)
	seen := map[string]bool{}
	for _, n := range f.Calls {
		seen[n] = true
	}
	api := reflect.TypeFor[node.API]()
	for i := range api.NumMethod() {
		name := api.Method(i).Name
		switch name {
		case "Subscribe": // TestSubscribe
			continue
		case "DeclineContact": // the fake records it as RemoveContact
			if !contains(f.Calls, "RemoveContact") {
				t.Error("DeclineContact did not reach the node")
			}
			continue
		}
		if !seen[name] {
			t.Errorf("node.API.%s never called through the client", name)
		}
	}
}

func TestErrorsMapToSentinels(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StatePendingIncoming})
	path, _ := serve(t, f)
	c := dialT(t, path)

	_, err := c.Contact(ctx, "nobody")
	if !errors.Is(err, node.ErrUnknownContact) {
		t.Errorf("Contact(nobody) = %v, want ErrUnknownContact", err)
	}
	if !strings.Contains(err.Error(), "nobody") {
		t.Errorf("error lost the node's message: %q", err)
	}
	var re *Error
	if !errors.As(err, &re) || re.Code != CodeUnknownContact {
		t.Errorf("error %#v, want *Error with CodeUnknownContact", err)
	}
	for _, f := range []func() error{
		func() error { return c.MarkRead(ctx, "nobody") },
		func() error { _, err := c.Send(ctx, "nobody", "x"); return err },
		func() error { _, err := c.History(ctx, "nobody", "", 0); return err },
		func() error { _, err := c.Inbox(ctx, node.InboxQuery{Contact: "nobody"}); return err },
	} {
		if err := f(); !errors.Is(err, node.ErrUnknownContact) {
			t.Errorf("got %v, want ErrUnknownContact", err)
		}
	}
	if _, err := c.Send(ctx, "bob", "hi"); !errors.Is(err, node.ErrNotAccepted) || errors.Is(err, node.ErrUnknownContact) {
		t.Errorf("Send to a pending-incoming contact = %v, want ErrNotAccepted", err)
	}
	for _, f := range []func() error{
		func() error { return c.Retry(ctx, strings.Repeat("ab", 16)) },
		func() error { return c.CancelScheduled(ctx, strings.Repeat("ab", 16)) },
	} {
		if err := f(); !errors.Is(err, node.ErrUnknownMessage) || !errors.As(err, &re) || re.Code != CodeUnknownMessage {
			t.Errorf("unknown message id: %#v, want ErrUnknownMessage", err)
		}
	}
	f.SimContact(node.Contact{Address: carolAddr, Name: "carol", State: node.StateRequested})
	if _, err := c.AddContact(ctx, carolAddr, "carol", ""); !errors.Is(err, node.ErrAlreadyContact) {
		t.Errorf("AddContact of a requested contact = %v, want ErrAlreadyContact", err)
	}
	if _, err := c.AddContact(ctx, aliceAddr, "me", ""); !errors.Is(err, node.ErrSelf) {
		t.Errorf("AddContact of our own address = %v, want ErrSelf", err)
	}
	// A plain error keeps its text and maps to no sentinel.
	err = c.Retry(ctx, "ffff")
	if err == nil || !strings.Contains(err.Error(), "ffff") || !errors.As(err, &re) || re.Code != CodeError || re.Unwrap() != nil {
		t.Errorf("Retry(unknown id) = %#v", err)
	}
	// Every sentinel round-trips.
	for _, s := range sentinels {
		e := errorFor(fmt.Errorf("op: %w", s.err))
		if e.Code != s.code || !errors.Is(e, s.err) {
			t.Errorf("errorFor(%v) = %+v", s.err, e)
		}
	}
}

func TestProtocolErrors(t *testing.T) {
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	f.SimMessage("bob", node.Message{Direction: node.Incoming, Text: "unread", Time: t0})
	path, _ := serve(t, f)
	rc := dialRaw(t, path)

	for _, tc := range []struct {
		line string
		code int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"status"`, CodeParseError},
		{`not json`, CodeParseError},
		{"\x00\xff", CodeParseError},
		{`[{"jsonrpc":"2.0","id":1,"method":"status"}]`, CodeInvalidRequest},
		{`"status"`, CodeInvalidRequest},
		{`{"jsonrpc":"1.0","id":1,"method":"status"}`, CodeInvalidRequest},
		{`{"id":1,"method":"status"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":42}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":{"a":1},"method":"status"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"nope"}`, CodeMethodNotFound},
		{`{"jsonrpc":"2.0","id":1,"method":"Status"}`, CodeMethodNotFound},
		{`{"jsonrpc":"2.0","id":1,"method":"send","params":["bob","hi"]}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"send","params":{"contact":"bob"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"send","params":{"contact":"bob","text":7}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"send","params":{"contact":"bob","text":"x","extra":1}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"contacts.get"}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"contacts.get","params":{"contact":""}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"contacts.add","params":{"address":"x"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":1}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"history","params":{"contact":"bob","limit":-1}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"inbox","params":{"after":"1"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"settings.set"}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"settings.set","params":{"typing":"yes"}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"x":1}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"contacts.get","params":{"contact":"zed"}}`, CodeUnknownContact},
	} {
		rc.send(tc.line)
		resp := rc.recv()
		if got := errCode(t, resp); got != tc.code {
			t.Errorf("%s: code %d, want %d (%s)", tc.line, got, tc.code, resp["error"])
		}
	}

	// The connection survived all of it; ids come back as sent.
	rc.send(`{"jsonrpc":"2.0","id":"abc","method":"status"}`)
	resp := rc.recv()
	if string(resp["id"]) != `"abc"` || resp["result"] == nil {
		t.Errorf("after errors: %v", resp)
	}
	// A notification (no id) gets no response, even for an unknown method;
	// the next response is for the next request.
	rc.send(`{"jsonrpc":"2.0","method":"nope"}`)
	rc.send(`{"jsonrpc":"2.0","method":"mark_read","params":{"contact":"bob"}}`)
	rc.send(`{"jsonrpc":"2.0","id":7,"method":"settings.set","params":{"typing":false}}`)
	resp = rc.recv()
	if string(resp["id"]) != "7" {
		t.Errorf("notification answered: %v", resp)
	}
	var s node.Settings
	json.Unmarshal(resp["result"], &s)
	if s.Typing || !s.ReadReceipts {
		t.Errorf("settings.set patch: %+v (want typing off, read receipts kept)", s)
	}
	// Requests run concurrently, so the notification may finish later.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ct, _ := f.Contact(context.Background(), "bob"); ct.Unread == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("notification mark_read did not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Blank lines are ignored.
	rc.send("")
	rc.send(`{"jsonrpc":"2.0","id":8,"method":"address"}`)
	if resp := rc.recv(); string(resp["id"]) != "8" {
		t.Errorf("after blank line: %v", resp)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestOversizedRequest(t *testing.T) {
	f := newFake()
	path, _ := serve(t, f)

	// Exactly at the limit is fine (the text is too long for nothing else).
	rc := dialRaw(t, path)
	prefix := `{"jsonrpc":"2.0","id":1,"method":"status","pad":"`
	fill := MaxLine - len(prefix) - len(`"}`)
	rc.send(prefix + strings.Repeat("x", fill) + `"}`)
	if resp := rc.recv(); resp["result"] == nil {
		t.Errorf("request of exactly MaxLine bytes refused: %s", resp["error"])
	}

	// One byte more: an error, then the connection is closed.
	big := prefix + strings.Repeat("x", fill+1) + `"}`
	go rc.nc.Write([]byte(big + "\n" + `{"jsonrpc":"2.0","id":2,"method":"status"}` + "\n"))
	resp := rc.recv()
	if code := errCode(t, resp); code != CodeInvalidRequest || string(resp["id"]) != "null" {
		t.Errorf("oversized: %v", resp)
	}
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := rc.r.ReadBytes('\n'); err == nil {
		t.Errorf("connection still open after oversized request; got %q", line)
	}

	// Without any newline at all, the server stops reading at the limit too.
	rc2 := dialRaw(t, path)
	go func() {
		chunk := []byte(strings.Repeat("y", 64<<10))
		for range 2 * MaxLine / len(chunk) {
			if _, err := rc2.nc.Write(chunk); err != nil {
				return
			}
		}
	}()
	if code := errCode(t, rc2.recv()); code != CodeInvalidRequest {
		t.Errorf("endless line: code %d", code)
	}

	// The server still serves others.
	c := dialT(t, path)
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	path, _ := serve(t, f)
	c := dialT(t, path)

	events, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Send(ctx, "bob", "ping")
	if err != nil {
		t.Fatal(err)
	}
	// Subscribe returned after the server registered the subscription, so
	// nothing published from now on can be missed.
	f.SimTor(node.TorStatus{State: node.TorBootstrapping, Percent: 45, Summary: "Loading relay descriptors"})
	f.SimState(m.ID, node.Delivered, "")
	in := f.SimReceive("bob", "pong")
	f.SimPresence("bob", node.Online)
	f.SimTyping("bob")
	carol := f.SimRequest(carolAddr, "carol", "hi, it's carol")

	want := []node.Event{
		node.MessageEvent{Message: m}, // Send publishes it, as the node does
		node.TorProgressEvent{Tor: node.TorStatus{State: node.TorBootstrapping, Percent: 45, Summary: "Loading relay descriptors"}},
		node.MessageStateEvent{ID: m.ID, Address: bobAddr, State: node.Delivered, At: t0},
		node.MessageEvent{Message: in},
		node.PresenceEvent{Address: bobAddr, Presence: node.Online},
		node.TypingEvent{Address: bobAddr},
		node.ContactRequestEvent{Contact: node.Contact{Address: carolAddr, Name: "carol", State: node.StatePendingIncoming,
			Greeting: "hi, it's carol", Presence: node.Online, Created: t0, ID: carol.ID}},
	}
	for i, w := range want {
		select {
		case ev := <-events:
			if !reflect.DeepEqual(normalize(ev), normalize(w)) {
				t.Errorf("event %d:\n got %#v\nwant %#v", i, ev, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d (%s) not delivered", i, w.Kind())
		}
	}

	// Two subscribers both get everything; cancelling one closes its channel.
	ctx2, cancel2 := context.WithCancel(ctx)
	ev2, err := c.Subscribe(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	f.SimReceive("bob", "to both")
	for _, ch := range []<-chan node.Event{events, ev2} {
		select {
		case ev := <-ch:
			if me, ok := ev.(node.MessageEvent); !ok || me.Message.Text != "to both" {
				t.Errorf("got %#v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("second subscriber: event not delivered")
		}
	}
	cancel2()
	select {
	case _, open := <-ev2:
		for open {
			_, open = <-ev2
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}

// normalize round-trips an event through JSON so times compare by value.
func normalize(e node.Event) node.Event {
	b, err := MarshalEvent(e)
	if err != nil {
		panic(err)
	}
	e2, err := UnmarshalEvent(b)
	if err != nil {
		panic(err)
	}
	return e2
}

// TestSubscribeRaw checks the wire form of event notifications.
func TestSubscribeRaw(t *testing.T) {
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	path, _ := serve(t, f)
	rc := dialRaw(t, path)
	rc.send(`{"jsonrpc":"2.0","id":1,"method":"subscribe"}`)
	if resp := rc.recv(); string(resp["result"]) != `{"subscribed":true}` {
		t.Fatalf("subscribe: %v", resp)
	}
	f.SimTyping("bob")
	n := rc.recv()
	if string(n["method"]) != `"event"` || n["id"] != nil {
		t.Fatalf("notification: %v", n)
	}
	if got, want := string(n["params"]), `{"kind":"typing","data":{"address":"`+bobAddr+`"}}`; got != want {
		t.Errorf("params %s, want %s", got, want)
	}
	// The subscribed connection still answers requests.
	rc.send(`{"jsonrpc":"2.0","id":2,"method":"status"}`)
	if resp := rc.recv(); string(resp["id"]) != "2" {
		t.Errorf("request on subscribed connection: %v", resp)
	}
}

func TestConcurrentClients(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the subscription nobody drains to the end
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	path, _ := serve(t, f)
	shared := dialT(t, path)
	events, err := shared.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const workers, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		c := shared
		if w%2 == 1 {
			c = dialT(t, path) // half share one connection, half have their own
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				text := fmt.Sprintf("w%d-%d", w, i)
				m, err := c.Send(ctx, "bob", text)
				if err == nil && m.Text != text {
					err = fmt.Errorf("Send(%q) answered with %q: responses crossed", text, m.Text)
				}
				if err != nil {
					errs <- err
					continue
				}
				if _, err := c.Contact(ctx, "nobody"); !errors.Is(err, node.ErrUnknownContact) {
					errs <- fmt.Errorf("Contact(nobody): %v", err)
				}
				if st, err := c.Status(ctx); err != nil || st.Address != aliceAddr {
					errs <- fmt.Errorf("Status: %+v %v", st, err)
				}
				f.SimTyping("bob")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h, err := shared.History(ctx, "bob", "", 1000)
	if err != nil || len(h) != workers*calls {
		t.Errorf("history has %d messages, want %d (%v)", len(h), workers*calls, err)
	}
	// Every Send's MessageEvent arrives; typing events may be dropped for a
	// slow reader, but some arrive.
	messages, typing := 0, 0
	for messages < workers*calls || typing == 0 {
		select {
		case ev := <-events:
			switch ev.(type) {
			case node.MessageEvent:
				messages++
			case node.TypingEvent:
				typing++
			default:
				t.Fatalf("unexpected event %#v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("after concurrent load: %d of %d messages, %d typing events", messages, workers*calls, typing)
		}
	}
}

func TestContextCancelledCall(t *testing.T) {
	f := newFake()
	path, _ := serve(t, f)
	c := dialT(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
	// The connection is still usable, and the late answer is not delivered
	// to the wrong caller.
	for range 3 {
		if st, err := c.Status(context.Background()); err != nil || st.Address != aliceAddr {
			t.Fatalf("after cancelled call: %+v %v", st, err)
		}
	}
}

func TestListenSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "rpc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := SocketPath(dir)
	if filepath.Base(path) != "chive.sock" || filepath.Dir(path) != dir {
		t.Errorf("SocketPath = %s", path)
	}

	if _, err := Dial(context.Background(), path); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial without socket = %v, want ErrNoDaemon", err)
	}

	// A stale socket: bound, then abandoned without unlinking (kill -9).
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	if _, err := Dial(context.Background(), path); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial on stale socket = %v, want ErrNoDaemon", err)
	}

	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %o, want 600", perm)
	}
	// A live socket is not taken over.
	srv := NewServer(newFake(), nil)
	go srv.Serve(ln)
	if _, err := Listen(path); !errors.Is(err, ErrDaemonRunning) {
		t.Errorf("Listen on a live socket = %v, want ErrDaemonRunning", err)
	}
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	events, err := c.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// Close: socket removed, calls fail with ErrDisconnected (and ErrClosed),
	// subscriptions end.
	srv.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("client did not notice the server closing")
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrDisconnected) || !errors.Is(err, node.ErrClosed) {
		t.Errorf("call after server Close = %v", err)
	}
	select {
	case _, open := <-events:
		if open {
			t.Error("event after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not closed")
	}
	c.Close()
	if err := srv.Serve(ln); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve after Close = %v", err)
	}

	// Not a socket: never removed.
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil {
		t.Error("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Error("regular file changed")
	}
}

// panicky is a node.API whose Status panics.
type panicky struct{ *nodetest.Fake }

func (panicky) Status(context.Context) (node.Status, error) { panic("boom") }

func TestHandlerPanic(t *testing.T) {
	path, _ := serve(t, panicky{newFake()})
	c := dialT(t, path)
	var re *Error
	if _, err := c.Status(context.Background()); !errors.As(err, &re) || re.Code != CodeInternal {
		t.Errorf("panicking method = %v, want internal error", err)
	}
	if _, err := c.Settings(context.Background()); err != nil {
		t.Errorf("server unusable after a panic: %v", err)
	}
}

func TestListenLongPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(SocketPath(dir))
	if err == nil || !strings.Contains(err.Error(), "shorter path") {
		t.Errorf("Listen on a %d-byte path: %v", len(SocketPath(dir)), err)
	}
}

// slowStatus is a node.API whose Status waits for release.
type slowStatus struct {
	*nodetest.Fake
	release chan struct{}
	entered chan struct{} // optional: told when Status starts waiting
}

func (s slowStatus) Status(ctx context.Context) (node.Status, error) {
	if s.entered != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
	}
	<-s.release
	return s.Fake.Status(ctx)
}

// TestHalfClose is the shape of docs/api.md's shell example,
// echo REQUEST | socat - UNIX-CONNECT:…: the client writes its requests,
// closes its write side and reads. Every request read is answered; the
// server closes the connection after the last answer.
func TestHalfClose(t *testing.T) {
	api := slowStatus{newFake(), make(chan struct{}), nil}
	api.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	path, _ := serve(t, api)
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"status"}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"method":"send","params":{"contact":"bob","text":"sent after EOF?"}}` + "\n" +
		`{"jsonrpc":"2.0","id":3,"method":"subscribe"}`)) // the last line without a newline
	if err := nc.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// The status request is still running when the server reads EOF.
	time.Sleep(50 * time.Millisecond)
	close(api.release)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("read until the server closes: %v (got %q)", err, b)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
			Error  *Error          `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Error != nil {
			t.Fatalf("answer %q: %v %v", line, err, r.Error)
		}
		if r.Method == EventMethod {
			continue // the subscription may pass on the send's event before it ends
		}
		got[string(r.ID)] = string(r.Result)
	}
	if len(got) != 3 || !strings.Contains(got["1"], aliceAddr) || !strings.Contains(got["2"], `"state":"queued"`) || got["3"] != `{"subscribed":true}` {
		t.Fatalf("answers after EOF: %v", got)
	}
	if h, _ := api.History(context.Background(), "bob", "", 1); len(h) != 1 || h[0].Text != "sent after EOF?" {
		t.Errorf("history %+v", h)
	}
}

// TestShutdown: requests already read when the daemon stops are answered;
// then the connections close and new ones are refused.
func TestShutdown(t *testing.T) {
	api := slowStatus{newFake(), make(chan struct{}), make(chan struct{}, 1)}
	path, srv := serve(t, api)
	c := dialT(t, path)
	events, err := c.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() { _, err := c.Status(context.Background()); answered <- err }()
	<-api.entered // read, now running
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(context.Background()) }()
	for range events { // the subscription ends at once
	}
	close(api.release)
	if err := <-answered; err != nil {
		t.Errorf("request in flight during Shutdown: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := Dial(context.Background(), path); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("dial after Shutdown: %v", err)
	}
	// A request never read is not answered: the client sees the connection
	// close and can retry elsewhere.
	if _, err := c.Settings(context.Background()); !errors.Is(err, ErrDisconnected) {
		t.Errorf("call after Shutdown: %v", err)
	}
}

// TestSendParams: the optional fields of send and send_many on the wire.
func TestSendParams(t *testing.T) {
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
	path, _ := serve(t, f)
	rc := dialRaw(t, path)
	rc.send(`{"jsonrpc":"2.0","id":1,"method":"send","params":{"contact":"bob","text":"code 1","ttl":"5m","idempotency_key":"otp-1"}}`)
	var m node.Message
	if r := rc.recv(); json.Unmarshal(r["result"], &m) != nil || !m.ExpiresAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("send with ttl: %s", r["result"])
	}
	rc.send(`{"jsonrpc":"2.0","id":2,"method":"send","params":{"contact":"bob","text":"code 1","ttl":300,"idempotency_key":"otp-1"}}`)
	var m2 node.Message
	if r := rc.recv(); json.Unmarshal(r["result"], &m2) != nil || m2.ID != m.ID {
		t.Fatalf("repeated send: %s, want message %s", r["result"], m.ID)
	}
	rc.send(`{"jsonrpc":"2.0","id":3,"method":"send_many","params":{"to":["bob"],"text":"later","send_at":"2026-11-27T09:00:00Z"}}`)
	var ms []node.Message
	if r := rc.recv(); json.Unmarshal(r["result"], &ms) != nil || len(ms) != 1 || !ms[0].SendAt.Equal(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("send_many: %s", r["result"])
	}
	for i, bad := range []string{
		`{"contact":"bob","text":"x","ttl":"soon"}`,
		`{"contact":"bob","text":"x","ttl":"-5m"}`,
		`{"contact":"bob","text":"x","expires":"5m"}`,
	} {
		rc.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"send","params":%s}`, 10+i, bad))
		if code := errCode(t, rc.recv()); code != CodeInvalidParams {
			t.Errorf("%s: code %d", bad, code)
		}
	}
	for i, bad := range []string{`{"text":"x"}`, `{"to":[],"text":"x"}`, `{"to":["bob",""],"text":"x"}`, `{"to":["bob"]}`} {
		rc.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"send_many","params":%s}`, 20+i, bad))
		if code := errCode(t, rc.recv()); code != CodeInvalidParams {
			t.Errorf("send_many %s: code %d", bad, code)
		}
	}
}

func TestCallCancelledInFlight(t *testing.T) {
	api := slowStatus{newFake(), make(chan struct{}), nil}
	path, _ := serve(t, api)
	c := dialT(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("in-flight call past its deadline: %v", err)
	}
	// Other calls on the same connection are not held up by the slow one,
	// and its late answer goes nowhere.
	if s, err := c.Settings(context.Background()); err != nil || !s.Typing {
		t.Errorf("Settings while Status is stuck: %+v %v", s, err)
	}
	close(api.release)
	if st, err := c.Status(context.Background()); err != nil || st.Address != aliceAddr {
		t.Errorf("after release: %+v %v", st, err)
	}
}
