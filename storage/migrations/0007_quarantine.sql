-- chive schema version 6: rows "chive doctor --repair" moved aside because
-- they could not be read (a sealed value failing authentication). Each holds
-- the row as it was, as JSON (sealed values base64, still sealed), so nothing
-- is thrown away; the live tables no longer trip over it.

CREATE TABLE quarantine (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	tbl     TEXT NOT NULL,    -- the table the row was in
	row_id  INTEGER NOT NULL, -- its key there (seq, id or contact_id)
	columns TEXT NOT NULL,    -- the columns that did not open, comma-separated
	data    TEXT NOT NULL,    -- the row as a JSON object
	at      INTEGER NOT NULL  -- when it was moved, Unix nanoseconds
) STRICT;
