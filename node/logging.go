package node

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/onion"
)

// safeHandler passes the message and every value of a log record through
// safetext.Line before the caller's handler sees it. Errors in particular
// carry bytes peers sent (a key in a CBOR decode error, a tor reply), and a
// log read in a terminal must not run their escape sequences or reorder a
// line with bidi controls. Then redact (if set) replaces onion addresses
// and their prefixes with local names (peerNames): logs name contacts by
// their local id, never by address. Wrapping the handler once, in newNode,
// covers every log line the node writes, present and future.
type safeHandler struct {
	h      slog.Handler
	redact func(string) string
}

func (s safeHandler) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s safeHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, s.clean(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(s.attr(a))
		return true
	})
	return s.h.Handle(ctx, out)
}

func (s safeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return safeHandler{s.h.WithAttrs(s.attrs(as)), s.redact}
}

func (s safeHandler) WithGroup(name string) slog.Handler {
	return safeHandler{s.h.WithGroup(s.clean(name)), s.redact}
}

func (s safeHandler) clean(text string) string {
	text = safetext.Line(text)
	if s.redact != nil {
		text = s.redact(text)
	}
	return text
}

func (s safeHandler) attrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = s.attr(a)
	}
	return out
}

// attr cleans a's key and value. Numbers, bools, times and durations
// cannot carry text and pass as they are; anything else is logged as its
// cleaned string.
func (s safeHandler) attr(a slog.Attr) slog.Attr {
	key := s.clean(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(key, s.clean(v.String()))
	case slog.KindGroup:
		return slog.Attr{Key: key, Value: slog.GroupValue(s.attrs(v.Group())...)}
	case slog.KindAny:
		var str string
		switch x := v.Any().(type) {
		case error:
			str = x.Error()
		case fmt.Stringer:
			str = x.String()
		default:
			str = fmt.Sprintf("%+v", x)
		}
		return slog.String(key, s.clean(str))
	}
	return slog.Attr{Key: key, Value: v}
}

// peerNames gives the onion addresses the node deals with the names its
// logs use: "#<contact id>" for a contact (the id "chive contacts" shows
// and refs accept), "stranger-<n>" for anyone else (numbered per run),
// "self" for our own. A log line must not hand out who the user talks to,
// and an address prefix does: it is enough to find the contact.
type peerNames struct {
	self    onion.Address
	contact func(onion.Address) (int64, bool) // the contact id, if in the book

	mu       sync.Mutex
	byPrefix map[string]*peerName // by the first 8 characters
	next     int
}

type peerName struct {
	addr     onion.Address
	id       int64 // contact id once known
	stranger int
}

const namePrefix = 8 // onion.Address.Short's length: what logs used to show

func newPeerNames(self onion.Address, contact func(onion.Address) (int64, bool)) *peerNames {
	pn := &peerNames{self: self, contact: contact, byPrefix: map[string]*peerName{}}
	pn.add(self)
	return pn
}

// add registers addr (any peer the node creates state for).
func (pn *peerNames) add(addr onion.Address) {
	if len(addr) < namePrefix {
		return
	}
	pn.mu.Lock()
	defer pn.mu.Unlock()
	if _, ok := pn.byPrefix[string(addr[:namePrefix])]; !ok {
		e := &peerName{addr: addr}
		if addr != pn.self {
			pn.next++
			e.stranger = pn.next
		}
		pn.byPrefix[string(addr[:namePrefix])] = e
	}
}

// name is addr's local name.
func (pn *peerNames) name(e *peerName) string {
	if e.addr == pn.self {
		return "self"
	}
	pn.mu.Lock()
	id := e.id
	pn.mu.Unlock()
	if id == 0 && pn.contact != nil {
		if cid, ok := pn.contact(e.addr); ok {
			id = cid
			pn.mu.Lock()
			e.id = cid // an address keeps its contact id
			pn.mu.Unlock()
		}
	}
	if id != 0 {
		return "#" + strconv.FormatInt(id, 10)
	}
	return "stranger-" + strconv.Itoa(e.stranger)
}

// redact replaces every run of base32 letters that starts with a known
// address's prefix (the full address, its Short form, or a longer cut)
// with the address's name.
func (pn *peerNames) redact(s string) string {
	isB32 := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '2' && c <= '7' }
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isB32(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isB32(s[j]) {
			j++
		}
		if j-i >= namePrefix && (i == 0 || !isAlnum(s[i-1])) && (j == len(s) || !isAlnum(s[j])) {
			pn.mu.Lock()
			e := pn.byPrefix[s[i:i+namePrefix]]
			pn.mu.Unlock()
			if e != nil && strings.HasPrefix(string(e.addr), s[i:j]) {
				b.WriteString(s[last:i])
				b.WriteString(pn.name(e))
				last = j
			}
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
