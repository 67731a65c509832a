package rpc

import (
	"encoding/json"
	"testing"
	"time"
	"unicode"

	"github.com/chive-im/chive/node"
)

// evil is what a peer could put in a name (before names were checked) or a
// message: a one-byte CSI, an OSC, a bidi override, zero-width characters,
// a line separator.
const evil = "x\u009b31m\u009d0;t\u009c\u202egpj.exe\u200b\u2060\u2028\U000E0041y"

// rawUnsafe reports the first character of line a terminal would act on
// or hide.
func rawUnsafe(line []byte) (rune, bool) {
	for _, r := range string(line) {
		if r == 0x7f || r >= 0x80 && r <= 0x9f || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return r, true
		}
	}
	return 0, false
}

// TestJSONEscapesPeerText: responses and events carry C1 controls, bidi
// and zero-width characters escaped (\u009b), never raw, and decode to the
// same text.
func TestJSONEscapesPeerText(t *testing.T) {
	f := newFake()
	f.SimContact(node.Contact{Address: bobAddr, Name: "bob" + evil, State: node.StateAccepted})
	f.SimMessage(bobAddr, node.Message{Direction: node.Incoming, Text: evil, Time: t0})
	path, _ := serve(t, f)
	rc := dialRaw(t, path)
	readLine := func() []byte {
		t.Helper()
		rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := rc.r.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		if r, bad := rawUnsafe(line); bad {
			t.Errorf("raw %U on the wire: %q", r, line)
		}
		return line
	}
	rc.send(`{"jsonrpc":"2.0","id":1,"method":"contacts.list"}`)
	var cs struct{ Result []node.Contact }
	json.Unmarshal(readLine(), &cs)
	if len(cs.Result) != 1 || cs.Result[0].Name != "bob"+evil {
		t.Errorf("contacts.list decoded to %+v", cs.Result)
	}
	rc.send(`{"jsonrpc":"2.0","id":2,"method":"inbox"}`)
	var ms struct{ Result []node.Message }
	json.Unmarshal(readLine(), &ms)
	if len(ms.Result) != 1 || ms.Result[0].Text != evil {
		t.Errorf("inbox decoded to %+v", ms.Result)
	}
	rc.send(`{"jsonrpc":"2.0","id":3,"method":"subscribe"}`)
	readLine()
	f.SimReceive(bobAddr, evil)
	var ev struct{ Params json.RawMessage }
	json.Unmarshal(readLine(), &ev)
	e, err := UnmarshalEvent(ev.Params)
	if me, ok := e.(node.MessageEvent); err != nil || !ok || me.Message.Text != evil {
		t.Errorf("event decoded to %#v, %v", e, err)
	}
}
