package wire

import (
	"fmt"
	"unicode/utf8"
)

// Conversation features carried in Content (issue 17): replies, reactions,
// edits, deletion for everyone and the disappearing-messages timer. Each
// kind is applied by the receiving node, not only shown: see
// docs/protocol.md, "Conversation features".

// Limits of the conversation fields, in bytes of UTF-8.
const (
	MaxQuote = 512 // the excerpt of the message a reply answers
	MaxEmoji = 64  // one reaction: an emoji, perhaps with modifiers and joiners
	// MaxTimer is the longest disappearing-messages timer, in seconds (a year).
	MaxTimer = 365 * 24 * 3600
)

// Ref names a message of the conversation: its id, and whether the sender
// of the content that carries the Ref wrote it (Mine) or the receiver did.
// Ids are chosen by their author, so only the pair names one message.
type Ref struct {
	ID   ID   `cbor:"1,keyasint"`
	Mine bool `cbor:"2,keyasint,omitempty"`
}

// Reaction sets the sender's one reaction to a message; an empty Emoji
// removes it.
type Reaction struct {
	To    Ref    `cbor:"1,keyasint"`
	Emoji string `cbor:"2,keyasint,omitempty"`
}

// Edit replaces the text of one of the sender's own messages. The
// content's Time orders edits of the same message.
type Edit struct {
	ID   ID     `cbor:"1,keyasint"`
	Text string `cbor:"2,keyasint"`
}

// Delete deletes one of the sender's own messages for everyone: the
// receiver keeps a tombstone and erases the text.
type Delete struct {
	ID ID `cbor:"1,keyasint"`
}

// Timer sets the conversation's disappearing-messages timer; 0 turns it off.
type Timer struct {
	Seconds uint32 `cbor:"1,keyasint"`
}

func (c Content) validateConvo() error {
	bad := func(what string) error { return fmt.Errorf("%s: %w", what, ErrMalformed) }
	kinds := 0
	for _, set := range []bool{c.Profile != nil, c.Mailbox != nil, c.GroupInvite != nil, c.Reaction != nil, c.Edit != nil, c.Delete != nil, c.Timer != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return bad("more than one kind of content")
	case kinds == 1 && (c.Text != "" || c.File != nil || c.ReplyTo != nil || c.Quote != "" || c.Disappear != 0):
		return bad("a kind of content with a chat message's fields")
	case c.ReplyTo != nil && ((c.Text == "" && c.File == nil) || c.ReplyTo.ID.IsZero()):
		return bad("reply without text or id")
	case c.Quote != "" && c.ReplyTo == nil:
		return bad("quote without reply")
	case len(c.Quote) > MaxQuote || !utf8.ValidString(c.Quote):
		return bad("bad quote")
	case c.Disappear > MaxTimer:
		return bad("disappear too long")
	case c.Disappear != 0 && c.Text == "" && c.File == nil: // a file is a chat message, caption or not
		return bad("disappear without text")
	case c.Reaction != nil && (c.Reaction.To.ID.IsZero() || len(c.Reaction.Emoji) > MaxEmoji || !utf8.ValidString(c.Reaction.Emoji)):
		return bad("bad reaction")
	case c.Edit != nil && (c.Edit.ID.IsZero() || c.Edit.Text == "" || len(c.Edit.Text) > MaxText || !utf8.ValidString(c.Edit.Text)):
		return bad("bad edit")
	case c.Delete != nil && c.Delete.ID.IsZero():
		return bad("bad delete")
	case c.Timer != nil && c.Timer.Seconds > MaxTimer:
		return bad("timer too long")
	}
	return nil
}
