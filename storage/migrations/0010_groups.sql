-- chive schema version 6: private groups (issue 18). See docs/protocol.md,
-- "Groups", for what the node keeps here and why.

-- One row per group we were in. name_sealed caches the name the log gives
-- (the log itself is group_ops); status is ours in the group.
CREATE TABLE chat_groups (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	gid            BLOB NOT NULL UNIQUE CHECK (length(gid) = 16),
	name_sealed    BLOB NOT NULL,
	status         TEXT NOT NULL CHECK (status IN ('active', 'invited', 'removed', 'left')),
	-- The contact who invited us (sealed; NULL if we created the group):
	-- while 'invited', only they may open the group's first session.
	inviter_sealed BLOB,
	lamport        INTEGER NOT NULL DEFAULT 0, -- the highest clock seen or sent
	next_seq       INTEGER NOT NULL DEFAULT 1, -- our next message's number
	draft_sealed   BLOB,
	created        INTEGER NOT NULL,
	updated        INTEGER NOT NULL
) STRICT;

-- The membership log: every signed change, as received (sealed; row key
-- group id || hash).
CREATE TABLE group_ops (
	group_id  INTEGER NOT NULL REFERENCES chat_groups(id) ON DELETE CASCADE,
	hash      BLOB NOT NULL CHECK (length(hash) = 32),
	op_sealed BLOB NOT NULL,
	PRIMARY KEY (group_id, hash)
) STRICT, WITHOUT ROWID;

-- Each other member (or former member) of a group, by address MAC: the
-- group-scoped ratchet session with them (NULL: none yet), our request for
-- one that they have not answered, the last request of theirs we accepted
-- (a resend changes nothing), and which of their messages we hold (the run
-- first..have of their numbers), for Sync.
CREATE TABLE group_peers (
	group_id       INTEGER NOT NULL REFERENCES chat_groups(id) ON DELETE CASCADE,
	addr_mac       BLOB NOT NULL,
	addr_sealed    BLOB NOT NULL,
	name_sealed    BLOB,             -- the display name they gave us
	session_sealed BLOB,
	request_id     BLOB CHECK (request_id IS NULL OR length(request_id) = 16),
	accepted_id    BLOB CHECK (accepted_id IS NULL OR length(accepted_id) = 16),
	first          INTEGER NOT NULL DEFAULT 0,
	have           INTEGER NOT NULL DEFAULT 0,
	updated        INTEGER NOT NULL,
	PRIMARY KEY (group_id, addr_mac)
) STRICT;

-- Group messages, ours and others'. seq shares the messages table's
-- sequence, so one inbox cursor orders both. envelope_sealed is the
-- author's signed message as received (what we forward); body_sealed its
-- text. Shown in (lamport, id) order.
CREATE TABLE group_messages (
	seq             INTEGER PRIMARY KEY,
	group_id        INTEGER NOT NULL REFERENCES chat_groups(id) ON DELETE CASCADE,
	id              BLOB NOT NULL CHECK (length(id) = 16),
	author_mac      BLOB NOT NULL,
	author_sealed   BLOB NOT NULL,
	author_seq      INTEGER NOT NULL CHECK (author_seq > 0),
	lamport         INTEGER NOT NULL,
	epoch           INTEGER NOT NULL,
	direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
	envelope_sealed BLOB NOT NULL,
	body_sealed     BLOB NOT NULL,
	via_sealed      BLOB,             -- the member it came from, when not its author
	created         INTEGER NOT NULL, -- the author's clock
	received        INTEGER NOT NULL,
	sent            INTEGER,
	read            INTEGER,
	UNIQUE (group_id, id),
	UNIQUE (group_id, author_mac, author_seq)
) STRICT;

CREATE INDEX group_messages_order ON group_messages (group_id, lamport, id);
CREATE INDEX group_messages_unread ON group_messages (group_id, author_mac) WHERE direction = 'in' AND read IS NULL;

-- Our messages: which member has each, which read it.
CREATE TABLE group_receipts (
	message_seq INTEGER NOT NULL REFERENCES group_messages(seq) ON DELETE CASCADE,
	addr_mac    BLOB NOT NULL,
	delivered   INTEGER,
	read        INTEGER,
	PRIMARY KEY (message_seq, addr_mac)
) STRICT, WITHOUT ROWID;

-- What each member is still to get from us, in order: session requests and
-- acceptances (ready frames), messages (ours or forwarded, by reference),
-- our log ('ops'), receipts (payloads) and, to a contact we added, the
-- invitation ('invite', sealed under our 1:1 session). Payloads are sealed
-- when they leave, so a new session needs no re-encryption.
CREATE TABLE group_outbox (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
	group_id    INTEGER NOT NULL REFERENCES chat_groups(id) ON DELETE CASCADE,
	addr_mac    BLOB NOT NULL,
	kind        TEXT NOT NULL CHECK (kind IN ('request', 'accept', 'message', 'ops', 'receipt', 'invite')),
	message_seq INTEGER REFERENCES group_messages(seq) ON DELETE CASCADE,
	data_sealed BLOB,
	created     INTEGER NOT NULL,
	sent        INTEGER
) STRICT;

CREATE INDEX group_outbox_peer ON group_outbox (addr_mac, seq);
CREATE UNIQUE INDEX group_outbox_message ON group_outbox (addr_mac, message_seq) WHERE message_seq IS NOT NULL;
