package safetext

import (
	"context"
	"fmt"
	"log/slog"
)

// LogHandler passes the message and every value of a log record through
// Line before the handler it wraps sees it. Errors in particular carry
// bytes peers sent (a key in a CBOR decode error, a tor reply), and a log
// read in a terminal must not run their escape sequences or reorder a line
// with bidi controls. Wrapping a logger's handler once (the node does it
// in newNode, the daemon for its own log) covers every line it writes,
// present and future.
type LogHandler struct{ h slog.Handler }

// NewLogHandler wraps h. Wrapping twice is harmless (Line is idempotent).
func NewLogHandler(h slog.Handler) LogHandler { return LogHandler{h} }

func (s LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s LogHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Line(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(safeAttr(a))
		return true
	})
	return s.h.Handle(ctx, out)
}

func (s LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LogHandler{s.h.WithAttrs(safeAttrs(as))}
}

func (s LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{s.h.WithGroup(Line(name))}
}

func safeAttrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = safeAttr(a)
	}
	return out
}

// safeAttr cleans a's key and value. Numbers, bools, times and durations
// cannot carry text and pass as they are; anything else is logged as its
// cleaned string.
func safeAttr(a slog.Attr) slog.Attr {
	key := Line(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(key, Line(v.String()))
	case slog.KindGroup:
		return slog.Attr{Key: key, Value: slog.GroupValue(safeAttrs(v.Group())...)}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprintf("%+v", x)
		}
		return slog.String(key, Line(s))
	}
	return slog.Attr{Key: key, Value: v}
}
