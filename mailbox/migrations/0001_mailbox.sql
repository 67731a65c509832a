-- chive mailbox store, version 1.
-- Columns named *_sealed hold nonce||XChaCha20-Poly1305 ciphertext under
-- the store's key (storage.Vault), with (table, column, row key) as
-- associated data. Times are Unix nanoseconds.

CREATE TABLE config (
	id               INTEGER PRIMARY KEY CHECK (id = 1),
	onion_key_sealed BLOB NOT NULL, -- the mailbox's own onion service key
	owner_sealed     BLOB,          -- the owner's ed25519 public key; NULL until paired
	pair_sealed      BLOB,          -- the one-time pairing secret; NULL once paired
	created          INTEGER NOT NULL,
	owner_seen       INTEGER        -- the owner's last session
) STRICT;

-- One slot per contact of the owner, named by a hash of the contact's
-- token: the mailbox knows neither the token nor who holds it.
CREATE TABLE slots (
	slot      BLOB PRIMARY KEY CHECK (length(slot) = 16),
	created   INTEGER NOT NULL,
	last_seen INTEGER -- the contact's last session
) STRICT, WITHOUT ROWID;

-- Items: padded frames, already end-to-end encrypted by the ratchet, kept
-- for the other side. dir 'in': put by the contact for the owner; 'out':
-- put by the owner for the contact.
CREATE TABLE items (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	slot        BLOB NOT NULL REFERENCES slots(slot) ON DELETE CASCADE,
	dir         TEXT NOT NULL CHECK (dir IN ('in', 'out')),
	id          BLOB NOT NULL CHECK (length(id) = 16),
	item_sealed BLOB NOT NULL,
	size        INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	UNIQUE (slot, dir, id)
) STRICT;

CREATE INDEX items_created ON items (created);

-- What became of items, for whoever put them: taken by the other side, or
-- expired. dir is the item's.
CREATE TABLE notices (
	slot    BLOB NOT NULL REFERENCES slots(slot) ON DELETE CASCADE,
	dir     TEXT NOT NULL CHECK (dir IN ('in', 'out')),
	id      BLOB NOT NULL CHECK (length(id) = 16),
	expired INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL,
	PRIMARY KEY (slot, dir, id)
) STRICT, WITHOUT ROWID;
