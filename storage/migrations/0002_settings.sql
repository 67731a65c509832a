-- chive schema version 2: settings, and indexes for the unread counts,
-- the outbox scheduler and the outbox-to-message link.

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

CREATE INDEX messages_unread ON messages (contact_id) WHERE direction = 'in' AND read IS NULL;
CREATE INDEX outbox_next ON outbox (next_attempt);
CREATE INDEX outbox_message ON outbox (message_seq) WHERE message_seq IS NOT NULL;
