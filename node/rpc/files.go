package rpc

import (
	"context"
	"encoding/json"

	"github.com/chive-im/chive/node"
)

// File transfer (issue 15): methods, params and error codes.

// Error codes of the file API (-32050…: clear of the other features').
const (
	CodeUnknownFile  = -32050 // node.ErrUnknownFile
	CodeFileTooLarge = -32051 // node.ErrFileTooLarge
	CodeQuota        = -32052 // node.ErrQuota
	CodeFileState    = -32053 // node.ErrFileState
	CodeFileNotReady = -32054 // node.ErrFileNotReady
	CodeNoSpace      = -32055 // node.ErrNoSpace
	CodeFileExists   = -32056 // node.ErrFileExists
)

type (
	sendFileParams struct {
		Contact string `json:"contact"`
		Path    string `json:"path"`
		Caption string `json:"caption,omitempty"`
	}
	fileParams struct {
		ID string `json:"id"`
	}
	saveFileParams struct {
		ID   string `json:"id"`
		Path string `json:"path"`
	}
	pathResult struct {
		Path string `json:"path"`
	}
)

func init() {
	sentinels = append(sentinels, []struct {
		code int
		err  error
	}{
		{CodeUnknownFile, node.ErrUnknownFile},
		{CodeFileTooLarge, node.ErrFileTooLarge},
		{CodeQuota, node.ErrQuota},
		{CodeFileState, node.ErrFileState},
		{CodeFileNotReady, node.ErrFileNotReady},
		{CodeNoSpace, node.ErrNoSpace},
		{CodeFileExists, node.ErrFileExists},
	}...)
	for name, m := range fileMethods {
		methods[name] = m
	}
}

// withFile is a method taking {"id": file id}.
func withFile(f func(s *Server, ctx context.Context, id string) (any, *Error)) method {
	return func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[fileParams](raw)
		if e == nil {
			e = required("id", p.ID)
		}
		if e != nil {
			return nil, e
		}
		return f(s, ctx, p.ID)
	}
}

var fileMethods = map[string]method{
	"send_file": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[sendFileParams](raw)
		if e == nil {
			e = required("contact", p.Contact)
		}
		if e == nil {
			e = required("path", p.Path)
		}
		if e != nil {
			return nil, e
		}
		return call(s.api.SendFile(ctx, p.Contact, p.Path, p.Caption))
	},
	"files.list": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		q, e := decodeParams[node.FileQuery](raw)
		if e == nil && q.Limit < 0 {
			e = invalidParams(`"limit" must not be negative`)
		}
		if e != nil {
			return nil, e
		}
		ts, err := s.api.Files(ctx, q)
		if ts == nil {
			ts = []node.Transfer{}
		}
		return call(ts, err)
	},
	"files.get": withFile(func(s *Server, ctx context.Context, id string) (any, *Error) {
		return call(s.api.File(ctx, id))
	}),
	"files.accept": withFile(func(s *Server, ctx context.Context, id string) (any, *Error) {
		return call(s.api.AcceptFile(ctx, id))
	}),
	"files.cancel": withFile(func(s *Server, ctx context.Context, id string) (any, *Error) {
		return call(s.api.CancelFile(ctx, id))
	}),
	"files.pause": withFile(func(s *Server, ctx context.Context, id string) (any, *Error) {
		return call(s.api.PauseFile(ctx, id))
	}),
	"files.resume": withFile(func(s *Server, ctx context.Context, id string) (any, *Error) {
		return call(s.api.ResumeFile(ctx, id))
	}),
	"files.save": func(s *Server, ctx context.Context, raw json.RawMessage) (any, *Error) {
		p, e := decodeParams[saveFileParams](raw)
		if e == nil {
			e = required("id", p.ID)
		}
		if e == nil {
			e = required("path", p.Path)
		}
		if e != nil {
			return nil, e
		}
		path, err := s.api.SaveFile(ctx, p.ID, p.Path)
		return call(pathResult{Path: path}, err)
	},
	"files.open": withFile(func(s *Server, ctx context.Context, id string) (any, *Error) {
		path, err := s.api.OpenFile(ctx, id)
		return call(pathResult{Path: path}, err)
	}),
	"files.thumbnail": withFile(func(s *Server, ctx context.Context, id string) (any, *Error) {
		return call(s.api.Thumbnail(ctx, id))
	}),
}

func (c *Client) SendFile(ctx context.Context, ref, path, caption string) (node.Message, error) {
	var m node.Message
	return m, c.Call(ctx, "send_file", sendFileParams{Contact: ref, Path: path, Caption: caption}, &m)
}

func (c *Client) Files(ctx context.Context, q node.FileQuery) ([]node.Transfer, error) {
	var ts []node.Transfer
	return ts, c.Call(ctx, "files.list", q, &ts)
}

func (c *Client) File(ctx context.Context, id string) (node.Transfer, error) {
	var t node.Transfer
	return t, c.Call(ctx, "files.get", fileParams{ID: id}, &t)
}

func (c *Client) AcceptFile(ctx context.Context, id string) (node.Transfer, error) {
	var t node.Transfer
	return t, c.Call(ctx, "files.accept", fileParams{ID: id}, &t)
}

func (c *Client) CancelFile(ctx context.Context, id string) (node.Transfer, error) {
	var t node.Transfer
	return t, c.Call(ctx, "files.cancel", fileParams{ID: id}, &t)
}

func (c *Client) PauseFile(ctx context.Context, id string) (node.Transfer, error) {
	var t node.Transfer
	return t, c.Call(ctx, "files.pause", fileParams{ID: id}, &t)
}

func (c *Client) ResumeFile(ctx context.Context, id string) (node.Transfer, error) {
	var t node.Transfer
	return t, c.Call(ctx, "files.resume", fileParams{ID: id}, &t)
}

func (c *Client) SaveFile(ctx context.Context, id, path string) (string, error) {
	var r pathResult
	err := c.Call(ctx, "files.save", saveFileParams{ID: id, Path: path}, &r)
	return r.Path, err
}

func (c *Client) OpenFile(ctx context.Context, id string) (string, error) {
	var r pathResult
	err := c.Call(ctx, "files.open", fileParams{ID: id}, &r)
	return r.Path, err
}

func (c *Client) Thumbnail(ctx context.Context, id string) (node.Thumbnail, error) {
	var t node.Thumbnail
	return t, c.Call(ctx, "files.thumbnail", fileParams{ID: id}, &t)
}
