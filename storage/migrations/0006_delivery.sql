-- chive schema version 5: delivery semantics for scripts.
-- A message can fail or expire with a reason, expire at a deadline, be
-- scheduled, and carry an idempotency key; messages that cannot be encrypted
-- yet (scheduled, or to a contact who has not accepted) wait in "unsent".

-- Why a message failed or expired, in words (never message text).
ALTER TABLE messages ADD COLUMN error TEXT;
-- Outgoing: the deadline (Unix ns) after which it is never delivered.
ALTER TABLE messages ADD COLUMN expires INTEGER;
-- Outgoing: the time it was scheduled for (Unix ns); NULL: sent at once.
ALTER TABLE messages ADD COLUMN send_at INTEGER;
-- Outgoing: HMAC of (contact, idempotency key) under a key derived from the
-- database key, so a retried send finds the first one without the key
-- being stored in clear.
ALTER TABLE messages ADD COLUMN idem_mac BLOB;

CREATE UNIQUE INDEX messages_idem ON messages (contact_id, idem_mac) WHERE idem_mac IS NOT NULL;
CREATE INDEX messages_expiring ON messages (expires)
	WHERE expires IS NOT NULL AND direction = 'out' AND status IN ('queued', 'sent');

-- Messages stored (body sealed in messages) but not encrypted yet: due at
-- not_before, and encrypted into the outbox once due and the contact's
-- session exists, in one transaction.
CREATE TABLE unsent (
	message_seq INTEGER PRIMARY KEY REFERENCES messages(seq) ON DELETE CASCADE,
	contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	not_before  INTEGER NOT NULL
) STRICT;

CREATE INDEX unsent_due ON unsent (not_before);
CREATE INDEX unsent_contact ON unsent (contact_id, message_seq);
