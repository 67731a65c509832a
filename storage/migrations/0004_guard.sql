-- chive schema version 4: bind what is stored to whom it belongs, invite
-- links, and a bounded seen table (issue 13).
--
-- Outbox frames are now sealed with the contact id in their associated data
-- (row key = contact id || outbox id), so a frame moved to another contact's
-- row fails to open instead of being sent to that contact. Existing rows are
-- resealed by a Go step in this same transaction (storage/migrate.go,
-- goSteps["guard"]): SQL cannot, it has no key.

-- An invite is a token the user hands out in a chive: link; a contact
-- request carrying a valid one skips the stranger limits. token_mac is
-- HMAC-SHA256(lookup key, "invite\x00" || token): an equality lookup without
-- the token in clear; token_sealed lets the user see the link again (row
-- key: the invite id).
CREATE TABLE invites (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	token_mac    BLOB NOT NULL UNIQUE,
	token_sealed BLOB NOT NULL,
	max_uses     INTEGER NOT NULL CHECK (max_uses > 0),
	uses         INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
	expires      INTEGER NOT NULL,
	created      INTEGER NOT NULL
) STRICT;

-- invited: the contact's pending request came with a valid invite token.
-- Such requests are never evicted to make room for others.
ALTER TABLE contacts ADD COLUMN invited INTEGER NOT NULL DEFAULT 0;

-- The seen table is pruned by age (storage.PruneSeen).
CREATE INDEX seen_at ON seen (at);
