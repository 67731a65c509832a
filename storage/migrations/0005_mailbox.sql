-- chive schema version 5: a mailbox (issue 16).

-- Our own mailbox, at most one: where contacts leave messages for us while
-- we are offline, and where we leave ours for them.
CREATE TABLE mailbox (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	address_sealed BLOB NOT NULL,
	linked         INTEGER NOT NULL,
	last_seen      INTEGER -- the last session with it
) STRICT;

-- Per contact: the token of their slot in our mailbox (and when the
-- mailbox added it), the mailbox info we last queued for them, and the
-- mailbox they told us about (its key and our token there).
CREATE TABLE contact_mailbox (
	contact_id       INTEGER PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
	token_sealed     BLOB,
	slot_added       INTEGER,
	info_sent_sealed BLOB,
	peer_sealed      BLOB,
	updated          INTEGER NOT NULL
) STRICT;

-- When a mailbox acknowledged an outbox item: ours, or the contact's.
ALTER TABLE outbox ADD COLUMN stored_own INTEGER;
ALTER TABLE outbox ADD COLUMN stored_peer INTEGER;
