-- chive schema version 3: display names, drafts, and what unblocking restores.

-- The display name the contact gives itself (sealed; NULL until it sent one).
ALTER TABLE contacts ADD COLUMN peer_name_sealed BLOB;
-- Our own display name as we last sent it to the contact (sealed; NULL:
-- none sent yet), so a change made while we could not tell them is sent later.
ALTER TABLE contacts ADD COLUMN name_sent_sealed BLOB;
-- The state a blocked contact had when blocked, which unblocking restores
-- (NULL: not in the book then, or blocked before version 3).
ALTER TABLE contacts ADD COLUMN blocked_from TEXT
	CHECK (blocked_from IS NULL OR blocked_from IN ('requested', 'pending-incoming', 'accepted'));

-- One unsent draft per conversation.
CREATE TABLE drafts (
	contact_id  INTEGER PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
	text_sealed BLOB NOT NULL,
	updated     INTEGER NOT NULL
) STRICT;
