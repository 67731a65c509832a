// Package rpc serves a node.API as JSON-RPC 2.0 on a Unix domain socket and
// provides Client, a node.API that talks to such a server.
//
// The daemon serves the profile's node on SocketPath(profileDir); the CLI and
// the terminal UI attach to it:
//
//	c, err := rpc.Dial(ctx, rpc.SocketPath(dir)) // fails when no daemon runs
//	if err != nil { ... open the profile in-process instead ... }
//	defer c.Close()
//	st, err := c.Status(ctx)
//
// The protocol is one JSON object per line (newline-delimited), at most
// MaxLine bytes each. Methods and examples are in docs/api.md.
package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/chive-im/chive/node"
)

// SocketName is the control socket's file name inside the profile directory.
const SocketName = "chive.sock"

// SocketPath returns the control socket of the profile in dir.
func SocketPath(profileDir string) string { return filepath.Join(profileDir, SocketName) }

// MaxLine caps one request or response line. A request longer than this is
// answered with CodeInvalidRequest and the connection is closed, since the
// rest of the line cannot be trusted to be a new request.
const MaxLine = 1 << 20

// JSON-RPC 2.0 error codes. The -3200x codes are chive's; the client maps
// them back to the node package's sentinel errors so errors.Is works across
// the socket.
const (
	CodeParseError     = -32700 // the line is not JSON
	CodeInvalidRequest = -32600 // JSON, but not a request (or too large)
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603

	CodeError          = -32000 // any other error of the node; message says what
	CodeUnknownContact = -32001 // node.ErrUnknownContact
	CodeNotAccepted    = -32002 // node.ErrNotAccepted
	CodeBlocked        = -32003 // node.ErrBlocked
	CodeTooLong        = -32004 // node.ErrTooLong
	CodeClosed         = -32005 // node.ErrClosed: the daemon is shutting down

	// issue 11
	CodeAlreadyContact = -32006 // node.ErrAlreadyContact
	CodeSelf           = -32007 // node.ErrSelf: our own address

	// issue 12
	CodeUnknownMessage = -32012 // node.ErrUnknownMessage: no message has that id

	CodeUnknownInvite = -32013 // node.ErrUnknownInvite
	// issue 16 (a block of their own: -32016…)
	CodeMailboxLinked      = -32016 // node.ErrMailboxLinked
	CodeNoMailbox          = -32017 // node.ErrNoMailbox
	CodeNotPairingLink     = -32018 // node.ErrNotPairingLink
	CodeMailboxRefused     = -32019 // node.ErrMailboxRefused
	CodeMailboxUnreachable = -32020 // node.ErrMailboxUnreachable

	// Groups (issue 18).
	CodeUnknownGroup = -32080 // node.ErrUnknownGroup
	CodeAmbiguous    = -32081 // node.ErrAmbiguous: a name of a group and a contact, or of two groups
	CodeNotAdmin     = -32082 // node.ErrNotAdmin
	CodeNotMember    = -32083 // node.ErrNotMember
	CodeGroupFull    = -32084 // node.ErrGroupFull
)

// sentinels maps application codes to node's sentinel errors, both ways.
var sentinels = []struct {
	code int
	err  error
}{
	{CodeUnknownContact, node.ErrUnknownContact},
	{CodeNotAccepted, node.ErrNotAccepted},
	{CodeBlocked, node.ErrBlocked},
	{CodeTooLong, node.ErrTooLong},
	{CodeClosed, node.ErrClosed},
	{CodeAlreadyContact, node.ErrAlreadyContact},
	{CodeSelf, node.ErrSelf},
	{CodeUnknownMessage, node.ErrUnknownMessage},
	{CodeUnknownInvite, node.ErrUnknownInvite},
	{CodeMailboxLinked, node.ErrMailboxLinked},
	{CodeNoMailbox, node.ErrNoMailbox},
	{CodeNotPairingLink, node.ErrNotPairingLink},
	{CodeMailboxRefused, node.ErrMailboxRefused},
	{CodeMailboxUnreachable, node.ErrMailboxUnreachable},

	// Groups (issue 18). Ambiguity first: it can come with an unknown contact.
	{CodeAmbiguous, node.ErrAmbiguous},
	{CodeUnknownGroup, node.ErrUnknownGroup},
	{CodeNotAdmin, node.ErrNotAdmin},
	{CodeNotMember, node.ErrNotMember},
	{CodeGroupFull, node.ErrGroupFull},
}

// Error is a JSON-RPC error object, as received by the client or sent by the
// server. Unwrap returns the node sentinel error matching Code, if any, so
// errors.Is(err, node.ErrUnknownContact) holds for a remote unknown contact.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error {
	for _, s := range sentinels {
		if s.code == e.Code {
			return s.err
		}
	}
	return nil
}

// errorFor converts an error of the node to a JSON-RPC error.
func errorFor(err error) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return &Error{Code: s.code, Message: err.Error()}
		}
	}
	return &Error{Code: CodeError, Message: err.Error()}
}

func invalidParams(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidParams, Message: "invalid params: " + fmt.Sprintf(format, args...)}
}

// request is one JSON-RPC request or notification (no id).
type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// response is one JSON-RPC response. Exactly one of Result and Error is set.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// notification is a server-to-client message without id: an event of a
// subscription.
type notification struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// EventMethod is the method name of event notifications after "subscribe".
const EventMethod = "event"

// Parameter and result shapes of the methods, shared by server and client.
// Field names are the API contract (docs/api.md).
type (
	contactParams struct {
		Contact string `json:"contact"`
	}
	addParams struct {
		Address  string `json:"address"`
		Name     string `json:"name"`
		Greeting string `json:"greeting,omitempty"`
	}
	renameParams struct {
		Contact string `json:"contact"`
		Name    string `json:"name"`
	}
	removeParams struct {
		Contact     string `json:"contact"`
		KeepHistory bool   `json:"keep_history,omitempty"`
	}
	verifyParams struct {
		Contact  string `json:"contact"`
		Verified bool   `json:"verified"`
	}
	sendParams struct {
		Contact        string    `json:"contact"`
		Text           string    `json:"text"`
		TTL            Duration  `json:"ttl,omitzero"`
		SendAt         time.Time `json:"send_at,omitzero"`
		IdempotencyKey string    `json:"idempotency_key,omitempty"`
	}
	sendManyParams struct {
		To             []string  `json:"to"`
		Text           string    `json:"text"`
		TTL            Duration  `json:"ttl,omitzero"`
		SendAt         time.Time `json:"send_at,omitzero"`
		IdempotencyKey string    `json:"idempotency_key,omitempty"`
	}
	retryParams struct {
		ID string `json:"id"`
	}
	historyParams struct {
		Contact string `json:"contact"`
		Before  string `json:"before,omitempty"`
		Limit   int    `json:"limit,omitempty"`
	}
	safetyResult struct {
		SafetyNumber string `json:"safety_number"`
	}
	subscribeResult struct {
		Subscribed bool `json:"subscribed"`
	}

	// issue 11
	draftParams struct {
		Contact string `json:"contact"`
		Text    string `json:"text"`
	}
	nameParams struct {
		Name string `json:"name"`
	}
	// issue 16
	mailboxLinkParams struct {
		URI string `json:"uri"`
	}
	mailboxUnlinkParams struct {
		Force bool `json:"force,omitempty"`
	}
)

// Duration is a time to live on the wire: a string in Go's duration syntax
// ("90s", "10m", "1h30m") or a number of seconds. It is written as a string.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("a duration like \"90s\", \"10m\" or \"2h\": %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return errors.New(`a duration: a string like "10m" or a number of seconds`)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

func (d Duration) check() *Error {
	if d < 0 {
		return invalidParams(`"ttl" must not be negative`)
	}
	return nil
}

// Groups (issue 18): the groups.* methods' params.
type (
	groupParams struct {
		Group string `json:"group"`
	}
	groupCreateParams struct {
		Name    string   `json:"name"`
		Members []string `json:"members,omitempty"`
	}
	groupMemberParams struct {
		Group  string `json:"group"`
		Member string `json:"member"`
	}
	groupRenameParams struct {
		Group string `json:"group"`
		Name  string `json:"name"`
	}
)

// inviteParams are invites.revoke's params.
type inviteParams struct {
	ID int64 `json:"id"`
}

// AddressInfo is the result of the "address" method.
type AddressInfo struct {
	Address string `json:"address"` // 56 characters, no ".onion"
	URI     string `json:"uri"`     // "chive:" + Address
	Name    string `json:"name"`
}

// empty is the result of methods that return nothing but success.
type empty struct{}
