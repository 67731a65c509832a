package rpc

import (
	"context"
	"encoding/json"
	"time"

	"github.com/chive-im/chive/node"
)

// Conversation features (issue 17): replies, reactions, edits, deletion,
// disappearing messages, search and backups. Registered with the server's
// method table and error codes at init, to keep server.go's table as it is.

// Error codes of issue 17 (a block of their own: -32040…).
const (
	CodeNoMessage    = -32040 // node.ErrNoMessage: no such message in the conversation
	CodeNotAuthor    = -32041 // node.ErrNotAuthor: only its author may edit or delete it for everyone
	CodeTooLate      = -32042 // node.ErrTooLate: past the edit or delete window
	CodeBackupExists = -32043 // node.ErrBackupExists: the backup file exists
)

func init() {
	sentinels = append(sentinels,
		struct {
			code int
			err  error
		}{CodeNoMessage, node.ErrNoMessage},
		struct {
			code int
			err  error
		}{CodeNotAuthor, node.ErrNotAuthor},
		struct {
			code int
			err  error
		}{CodeTooLate, node.ErrTooLate},
		struct {
			code int
			err  error
		}{CodeBackupExists, node.ErrBackupExists},
	)
	for name, m := range convoMethods {
		methods[name] = m
	}
}

type (
	replyParams struct {
		Contact string `json:"contact"`
		To      string `json:"to"`
		Text    string `json:"text"`
	}
	reactParams struct {
		Contact string `json:"contact"`
		ID      string `json:"id"`
		Emoji   string `json:"emoji"` // "" removes our reaction
	}
	editParams struct {
		Contact string `json:"contact"`
		ID      string `json:"id"`
		Text    string `json:"text"`
	}
	deleteParams struct {
		Contact     string `json:"contact"`
		ID          string `json:"id"`
		ForEveryone bool   `json:"for_everyone,omitempty"`
	}
	messageParams struct {
		Contact string `json:"contact"`
		ID      string `json:"id"`
	}
	timerParams struct {
		Contact string        `json:"contact"`
		Timer   *node.Seconds `json:"timer"` // seconds; 0 turns it off
	}
)

var convoMethods = map[string]method{
	"reply": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[replyParams](raw)
		e = requireAll(e, "contact", p.Contact, "to", p.To, "text", p.Text)
		if e != nil {
			return nil, e
		}
		return call(s.api.Reply(ctx, p.Contact, p.To, p.Text))
	},
	"react": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[reactParams](raw)
		e = requireAll(e, "contact", p.Contact, "id", p.ID)
		if e != nil {
			return nil, e
		}
		return ok(s.api.React(ctx, p.Contact, p.ID, p.Emoji))
	},
	"edit": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[editParams](raw)
		e = requireAll(e, "contact", p.Contact, "id", p.ID, "text", p.Text)
		if e != nil {
			return nil, e
		}
		return call(s.api.Edit(ctx, p.Contact, p.ID, p.Text))
	},
	"delete": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[deleteParams](raw)
		e = requireAll(e, "contact", p.Contact, "id", p.ID)
		if e != nil {
			return nil, e
		}
		return ok(s.api.Delete(ctx, p.Contact, p.ID, p.ForEveryone))
	},
	"edits": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[messageParams](raw)
		e = requireAll(e, "contact", p.Contact, "id", p.ID)
		if e != nil {
			return nil, e
		}
		vs, err := s.api.Edits(ctx, p.Contact, p.ID)
		if vs == nil {
			vs = []node.Version{}
		}
		return call(vs, err)
	},
	"timer.set": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[timerParams](raw)
		e = requireAll(e, "contact", p.Contact)
		if e == nil && p.Timer == nil {
			e = invalidParams(`"timer" is required (seconds; 0 turns it off)`)
		}
		if e != nil {
			return nil, e
		}
		return call(s.api.SetTimer(ctx, p.Contact, time.Duration(*p.Timer)))
	},
	"search": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		q, e := decodeParams[node.SearchQuery](raw)
		e = requireAll(e, "query", q.Text)
		if e == nil && q.Limit < 0 {
			e = invalidParams(`"limit" must not be negative`)
		}
		if e != nil {
			return nil, e
		}
		ms, err := s.api.Search(ctx, q)
		if ms == nil {
			ms = []node.Message{}
		}
		return call(ms, err)
	},
	"backup": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		o, e := decodeParams[node.BackupOptions](raw)
		e = requireAll(e, "path", o.Path, "passphrase", o.Passphrase)
		if e != nil {
			return nil, e
		}
		return call(s.api.Backup(ctx, o))
	},
}

// --- the client ---

func (c *Client) Reply(ctx context.Context, ref, to, text string) (node.Message, error) {
	var m node.Message
	return m, c.Call(ctx, "reply", replyParams{Contact: ref, To: to, Text: text}, &m)
}

func (c *Client) React(ctx context.Context, ref, id, emoji string) error {
	return c.Call(ctx, "react", reactParams{Contact: ref, ID: id, Emoji: emoji}, nil)
}

func (c *Client) Edit(ctx context.Context, ref, id, text string) (node.Message, error) {
	var m node.Message
	return m, c.Call(ctx, "edit", editParams{Contact: ref, ID: id, Text: text}, &m)
}

func (c *Client) Delete(ctx context.Context, ref, id string, forEveryone bool) error {
	return c.Call(ctx, "delete", deleteParams{Contact: ref, ID: id, ForEveryone: forEveryone}, nil)
}

func (c *Client) Edits(ctx context.Context, ref, id string) ([]node.Version, error) {
	var vs []node.Version
	return vs, c.Call(ctx, "edits", messageParams{Contact: ref, ID: id}, &vs)
}

func (c *Client) SetTimer(ctx context.Context, ref string, timer time.Duration) (node.Message, error) {
	var m node.Message
	t := node.Seconds(timer)
	return m, c.Call(ctx, "timer.set", timerParams{Contact: ref, Timer: &t}, &m)
}

func (c *Client) Search(ctx context.Context, q node.SearchQuery) ([]node.Message, error) {
	var ms []node.Message
	return ms, c.Call(ctx, "search", q, &ms)
}

func (c *Client) Backup(ctx context.Context, o node.BackupOptions) (node.BackupInfo, error) {
	var info node.BackupInfo
	return info, c.Call(ctx, "backup", o, &info)
}

// requireAll is required for each name/value pair, after e (the params'
// decoding): the first error wins.
func requireAll(e *Error, nameValues ...string) *Error {
	for i := 0; e == nil && i+1 < len(nameValues); i += 2 {
		e = required(nameValues[i], nameValues[i+1])
	}
	return e
}
