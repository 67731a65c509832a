-- chive schema version 1: the core tables.
-- Columns named *_sealed hold nonce||XChaCha20-Poly1305 ciphertext under the
-- database key, with (table, column, row key) as associated data.
-- Times are Unix nanoseconds (UTC); NULL means "not yet".

CREATE TABLE identity (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	name_sealed     BLOB NOT NULL,
	onion_key_sealed BLOB NOT NULL,
	ratchet_sealed  BLOB NOT NULL,
	created         INTEGER NOT NULL
) STRICT;

CREATE TABLE contacts (
	-- AUTOINCREMENT: an id is never reused, so a stale id held by a running
	-- node can never write into a later contact's rows.
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	-- HMAC-SHA256 of the canonical address under a key derived from the
	-- database key: an equality lookup without storing the address in clear.
	address_mac      BLOB NOT NULL UNIQUE,
	address_sealed   BLOB NOT NULL,
	nickname_sealed  BLOB NOT NULL,
	state            TEXT NOT NULL CHECK (state IN ('requested', 'pending-incoming', 'accepted', 'blocked')),
	verified         INTEGER NOT NULL DEFAULT 0,
	removed          INTEGER NOT NULL DEFAULT 0,
	greeting_sealed  BLOB,
	bundle_sealed    BLOB,
	note_sealed      BLOB,
	created          INTEGER NOT NULL,
	updated          INTEGER NOT NULL,
	last_seen        INTEGER
) STRICT;

CREATE TABLE sessions (
	contact_id   INTEGER PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
	state_sealed BLOB NOT NULL,
	updated      INTEGER NOT NULL
) STRICT;

CREATE TABLE messages (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- local order; the keyset cursor
	id           BLOB NOT NULL CHECK (length(id) = 16),
	contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
	body_sealed  BLOB NOT NULL,
	meta_sealed  BLOB,
	status       TEXT NOT NULL,
	created      INTEGER NOT NULL,
	sent         INTEGER,
	delivered    INTEGER,
	read         INTEGER,
	UNIQUE (contact_id, direction, id)
) STRICT;

CREATE INDEX messages_conversation ON messages (contact_id, seq);

CREATE TABLE outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- send order
	id           BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
	contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	kind         TEXT NOT NULL,
	message_seq  INTEGER REFERENCES messages(seq) ON DELETE CASCADE,
	frame_sealed BLOB NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	created      INTEGER NOT NULL,
	sent         INTEGER
) STRICT;

CREATE INDEX outbox_contact ON outbox (contact_id, seq);

CREATE TABLE seen (
	contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	id         BLOB NOT NULL CHECK (length(id) = 16),
	at         INTEGER NOT NULL,
	PRIMARY KEY (contact_id, id)
) STRICT, WITHOUT ROWID;
