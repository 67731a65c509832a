-- chive schema version 6: conversation features (issue 17): replies,
-- reactions, edits, deletion for everyone, disappearing messages.
--
-- Visible without the key: that a message is a timer change, was edited or
-- deleted, its timer and when it disappears, how many reactions it has.
-- Sealed: what a reply answers and quotes, every text, every emoji.

-- kind: 'text', a chat message; 'timer', a change of the conversation's
-- disappearing-messages timer (in column timer), shown in the conversation.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'timer'));
-- What a reply answers: sealed (row key as the body's).
ALTER TABLE messages ADD COLUMN reply_sealed BLOB;
-- When the text was last replaced (the author's clock); earlier versions are in edits.
ALTER TABLE messages ADD COLUMN edited INTEGER;
-- Deleted for everyone by its author (the author's clock): a tombstone whose
-- body, reply, edits and reactions are erased.
ALTER TABLE messages ADD COLUMN deleted INTEGER;
-- Seconds: a chat message disappears this long after it was read (ours:
-- after it was written); a 'timer' row: the new timer, 0 = off.
ALTER TABLE messages ADD COLUMN timer INTEGER;
-- When the message is erased: set once its timer starts.
ALTER TABLE messages ADD COLUMN vanish INTEGER;
CREATE INDEX messages_vanish ON messages (vanish) WHERE vanish IS NOT NULL;

-- One reaction per author per message; emoji_sealed NULL: removed (kept so
-- an older change arriving late does not bring it back). Row key: the
-- message's, then the author's direction.
CREATE TABLE reactions (
	message_seq  INTEGER NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
	author       TEXT NOT NULL CHECK (author IN ('in', 'out')),
	emoji_sealed BLOB,
	at           INTEGER NOT NULL,
	PRIMARY KEY (message_seq, author)
) STRICT, WITHOUT ROWID;

-- Earlier versions of edited messages (the current text is the body).
-- Row key: the message's, then at.
CREATE TABLE edits (
	message_seq INTEGER NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
	at          INTEGER NOT NULL,
	text_sealed BLOB NOT NULL,
	PRIMARY KEY (message_seq, at)
) STRICT, WITHOUT ROWID;

-- Per conversation: the disappearing-messages timer and the author's time
-- of the change that set it (the later change wins on both sides).
CREATE TABLE conversations (
	contact_id INTEGER PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
	timer      INTEGER NOT NULL DEFAULT 0,
	timer_at   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Changes (edits, deletions, reactions) that arrived before the message
-- they change: applied when it arrives. op_sealed is the decrypted content
-- (row key: contact id || op id).
CREATE TABLE convo_pending (
	contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	id         BLOB NOT NULL CHECK (length(id) = 16),
	target     BLOB NOT NULL CHECK (length(target) = 16),
	op_sealed  BLOB NOT NULL,
	at         INTEGER NOT NULL,
	PRIMARY KEY (contact_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX convo_pending_target ON convo_pending (contact_id, target);
CREATE INDEX convo_pending_at ON convo_pending (at);
