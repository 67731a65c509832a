-- chive schema version 6: files (issue 15). A file's chunks are kept sealed
-- under its file key in <profile>/files/<local>; this table holds what is
-- needed to fetch, check and open them. The key is in info_sealed: deleting
-- a row (secure_delete) leaves its chunk file undecryptable.

CREATE TABLE files (
	id           BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16), -- the file id: the id of its message
	contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
	-- Deleting the message (a deleted conversation) deletes the file.
	message_seq  INTEGER NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
	local        TEXT NOT NULL UNIQUE,   -- the chunk file's name under files/
	size         INTEGER NOT NULL,
	state        TEXT NOT NULL,
	info_sealed  BLOB NOT NULL,          -- name, media type, hash, key: the files package's encoding
	thumb_sealed BLOB,
	have         BLOB,                   -- bitmap: chunks stored (in) or sent at least once (out)
	bytes        INTEGER NOT NULL DEFAULT 0, -- progress: plaintext bytes of the chunks in have
	sent_bytes   INTEGER NOT NULL DEFAULT 0, -- chunk bytes written to links, resends included
	recv_bytes   INTEGER NOT NULL DEFAULT 0, -- chunk bytes received, duplicates included
	dup_bytes    INTEGER NOT NULL DEFAULT 0, -- chunk bytes received that were stored already
	error        TEXT,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL,
	done         INTEGER                 -- when it completed, failed or was cancelled
) STRICT;

CREATE INDEX files_contact ON files (contact_id, direction, state);
CREATE INDEX files_message ON files (message_seq);
