-- 0001: the projector runtime and the first read models.
--
-- Every column is a pure function of the event log: no wall-clock times, no
-- random ids, so a rebuild yields byte-identical tables (R32). Instants are
-- TEXT in RFC 3339 UTC with nanoseconds (they sort as they compare).

-- One row per projection: the stream sequence of the last event it has
-- applied. Written in the same transaction as the rows it covers.
CREATE TABLE checkpoints (
	name TEXT PRIMARY KEY,
	seq  INTEGER NOT NULL
) WITHOUT ROWID;

-- Events a projection could not use (undecodable envelope, malformed data).
-- They are recorded here and skipped; the projection carries on.
CREATE TABLE poison (
	seq        INTEGER NOT NULL,
	projection TEXT NOT NULL,
	error      TEXT NOT NULL,
	PRIMARY KEY (seq, projection)
) WITHOUT ROWID;

-- Projection "events": every event by stream sequence and by id.
CREATE TABLE events (
	seq     INTEGER PRIMARY KEY,
	id      TEXT NOT NULL UNIQUE,
	type    TEXT NOT NULL,
	subject TEXT NOT NULL,
	version INTEGER NOT NULL,
	time    TEXT NOT NULL,
	raw     BLOB NOT NULL
);
CREATE INDEX events_by_subject ON events (subject, version);

-- Projection "platforms": one row per platform, its nodes and hosts.
CREATE TABLE platforms (
	id               TEXT PRIMARY KEY,
	version          INTEGER NOT NULL,
	last_seq         INTEGER NOT NULL,
	last_event_at    TEXT NOT NULL,
	registered_at    TEXT NOT NULL DEFAULT '',
	registered_event TEXT NOT NULL DEFAULT '',
	request_code     TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE platform_nodes (
	platform      TEXT NOT NULL,
	node          TEXT NOT NULL,
	added_at      TEXT NOT NULL,
	added_event   TEXT NOT NULL,
	removed_at    TEXT,
	removed_event TEXT,
	PRIMARY KEY (platform, node)
) WITHOUT ROWID;

CREATE TABLE platform_hosts (
	platform      TEXT NOT NULL,
	host          TEXT NOT NULL,
	hypervisor    TEXT NOT NULL,
	sockets       INTEGER NOT NULL,
	added_at      TEXT NOT NULL,
	added_event   TEXT NOT NULL,
	removed_at    TEXT,
	removed_event TEXT,
	PRIMARY KEY (platform, host)
) WITHOUT ROWID;

-- Projection "licenses": every license a platform ever received, with its
-- provenance. recorded_* is its first arrival, arrived_* its latest (a key
-- re-inserted brings its licenses again); superseded_* names the license
-- that followed it in its slot by log position (R13), deleted_* its
-- deletion (R14).
CREATE TABLE licenses (
	platform         TEXT NOT NULL,
	license          TEXT NOT NULL,
	kind             TEXT NOT NULL,
	edition          TEXT NOT NULL,
	module           TEXT NOT NULL,
	slot             TEXT NOT NULL,
	sockets          INTEGER NOT NULL,
	quantity         INTEGER NOT NULL,
	issued_at        TEXT NOT NULL,
	expires_at       TEXT,
	source           TEXT NOT NULL,
	key_id           TEXT NOT NULL,
	bundle           TEXT NOT NULL,
	recorded_seq     INTEGER NOT NULL,
	recorded_event   TEXT NOT NULL,
	recorded_at      TEXT NOT NULL,
	arrived_seq      INTEGER NOT NULL,
	arrived_event    TEXT NOT NULL,
	arrived_at       TEXT NOT NULL,
	superseded_by    TEXT,
	superseded_event TEXT,
	superseded_at    TEXT,
	deleted_event    TEXT,
	deleted_at       TEXT,
	PRIMARY KEY (platform, license)
) WITHOUT ROWID;
CREATE INDEX licenses_by_slot ON licenses (platform, slot, arrived_seq);

-- Projection "usb_keys": one row per insertion of a key on a node, closed
-- by its removal.
CREATE TABLE usb_key_insertions (
	platform       TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	node           TEXT NOT NULL,
	key_id         TEXT NOT NULL,
	inserted_event TEXT NOT NULL,
	inserted_at    TEXT NOT NULL,
	licenses       INTEGER NOT NULL,
	removed_seq    INTEGER,
	removed_event  TEXT,
	removed_at     TEXT,
	PRIMARY KEY (platform, seq)
) WITHOUT ROWID;
CREATE INDEX usb_key_open ON usb_key_insertions (platform, node, key_id) WHERE removed_seq IS NULL;

-- Projection "timeline": each platform event in human terms.
CREATE TABLE timeline (
	platform TEXT NOT NULL,
	version  INTEGER NOT NULL,
	seq      INTEGER NOT NULL,
	event    TEXT NOT NULL,
	time     TEXT NOT NULL,
	type     TEXT NOT NULL,
	source   TEXT NOT NULL,
	summary  TEXT NOT NULL,
	PRIMARY KEY (platform, version)
) WITHOUT ROWID;
