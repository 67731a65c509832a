package rpc

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/chive-im/chive/node"
)

// FuzzHandle feeds arbitrary request lines to the server's decoder and
// dispatcher (against the fake node): it must never panic, and every reply is
// one valid JSON-RPC 2.0 response object with either a result or an error.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"status"}`,
		`{"jsonrpc":"2.0","id":"x","method":"send","params":{"contact":"bob","text":"hi"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"inbox","params":{"after":3,"contact":"bob","limit":10}}`,
		`{"jsonrpc":"2.0","method":"typing","params":{"contact":"bob"}}`,
		`{"jsonrpc":"2.0","id":null,"method":"contacts.add","params":{"address":"` + carolAddr + `","name":"c"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"settings.set","params":{"typing":false}}`,
		`{"jsonrpc":"2.0","id":4,"method":"history","params":{"contact":"bob","before":"","limit":-1}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"status"}]`,
		`{"jsonrpc":"2.0","id":[1],"method":"status"}`,
		`{"jsonrpc":"2.0","id":1,"method":"contacts.rename","params":["bob","b"]}`,
		`{`, `null`, `1e999`, "\"\\ud800\"", ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fake := newFake()
		fake.SimContact(node.Contact{Address: bobAddr, Name: "bob", State: node.StateAccepted})
		srv := NewServer(fake, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel() // ends a subscription the line may have started
		resp, _ := srv.handle(ctx, ctx, line)
		if resp == nil {
			return // a notification
		}
		var r struct {
			JSONRPC string          `json:"jsonrpc"`
			Result  json.RawMessage `json:"result"`
			Error   *Error          `json:"error"`
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(resp, &r) != nil || json.Unmarshal(resp, &keys) != nil {
			t.Fatalf("reply is not JSON: %q", resp)
		}
		if _, hasID := keys["id"]; r.JSONRPC != "2.0" || !hasID || (r.Result == nil) == (r.Error == nil) {
			t.Fatalf("malformed reply %s", resp)
		}
		if r.Error != nil && (r.Error.Code == 0 || r.Error.Message == "") {
			t.Fatalf("error without code or message: %s", resp)
		}
	})
}
