-- KMS key registry: one row per key, one row per key version.
--
-- Text compares with SQLite's default BINARY collation, i.e. byte order of
-- the UTF-8 text ("B" < "a"), the same order as COLLATE "C" in PostgreSQL.
-- Times are TEXT in the fixed-width UTC form 2006-01-02T15:04:05.000000000Z:
-- nanosecond precision, and string order equals time order, so the
-- deletion sweeper can compare them in SQL.

CREATE TABLE keys (
    id              TEXT    NOT NULL PRIMARY KEY,
    purpose         TEXT    NOT NULL,
    exportable      INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    enabled         INTEGER NOT NULL,
    current_version INTEGER NOT NULL,
    description     TEXT    NOT NULL,
    owner           TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    -- Set while a deletion is scheduled (kms.Key.DeletionDate).
    deletion_date   TEXT,
    -- Compared and incremented by UpdateKey (optimistic concurrency).
    revision        INTEGER NOT NULL
) STRICT;

CREATE INDEX keys_deletion_date ON keys (deletion_date) WHERE deletion_date IS NOT NULL;

CREATE TABLE key_versions (
    key_id        TEXT    NOT NULL REFERENCES keys (id),
    version       INTEGER NOT NULL CHECK (version >= 1),
    -- Root material wrapped under the master key; empty once destroyed.
    wrapped       BLOB    NOT NULL,
    protector     TEXT    NOT NULL,
    master_key_id TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    destroyed_at  TEXT,
    PRIMARY KEY (key_id, version)
) STRICT;
