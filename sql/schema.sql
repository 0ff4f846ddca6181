-- schema.sql: the pushlite message store, version 1 (PRAGMA user_version).
-- Applied by `pushlite init` and by any program that opens an empty database.
-- Later versions add sql/migrate-N.sql files, applied in order.

-- AUTOINCREMENT: ids are never reused, also after a purge deleted the newest
-- rows, so a client's cursor can never point at a different message.
CREATE TABLE messages (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	topic    TEXT NOT NULL,
	user     TEXT,              -- NULL: broadcast to every subscriber
	clients  TEXT,              -- NULL: every kind; else "pc,ios"
	type     TEXT,
	src      TEXT,
	target   TEXT,
	created  INTEGER NOT NULL,  -- ms since the epoch
	expires  INTEGER NOT NULL,  -- ms since the epoch
	last_get INTEGER,           -- first delivery to its user, ms; NULL = never
	body     TEXT NOT NULL      -- the message as a JSON object, without id and last_get
);

-- Purge finds timed-out rows without a scan.
CREATE INDEX messages_expires ON messages(expires);

-- One row per ancestor path of a message's topic ("/", "/a", "/a/b" for
-- topic "/a/b"), keyed by target user ('' for broadcasts). A subscription to
-- a subtree, for one user or for broadcasts, is then one range of this index
-- already in id order: no scan and no sort, however large the table.
CREATE TABLE message_paths (
	path TEXT NOT NULL,
	user TEXT NOT NULL,
	id   INTEGER NOT NULL,
	PRIMARY KEY (path, user, id)
) WITHOUT ROWID;

PRAGMA user_version = 1;
