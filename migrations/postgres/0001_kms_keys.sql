-- KMS key registry: one row per key, one row per key version.
--
-- Key ids use COLLATE "C" so that ORDER BY id and id > $after follow byte
-- order ("B" < "a"), whatever the database's default collation is: listing
-- pages must be stable and identical to the SQLite backend.

CREATE TABLE keys (
    id              text COLLATE "C" PRIMARY KEY,
    purpose         text        NOT NULL,
    exportable      boolean     NOT NULL,
    state           text        NOT NULL,
    enabled         boolean     NOT NULL,
    current_version integer     NOT NULL,
    description     text        NOT NULL,
    owner           text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- Set while a deletion is scheduled (kms.Key.DeletionDate).
    deletion_date   timestamptz,
    -- Compared and incremented by UpdateKey (optimistic concurrency).
    revision        bigint      NOT NULL
);

-- The deletion sweeper asks for keys due for deletion; only the few keys
-- with a scheduled deletion are indexed.
CREATE INDEX keys_deletion_date ON keys (deletion_date) WHERE deletion_date IS NOT NULL;

CREATE TABLE key_versions (
    key_id        text COLLATE "C" NOT NULL REFERENCES keys (id),
    version       integer     NOT NULL CHECK (version >= 1),
    -- Root material wrapped under the master key; empty once destroyed.
    wrapped       bytea       NOT NULL,
    protector     text        NOT NULL,
    master_key_id text        NOT NULL,
    created_at    timestamptz NOT NULL,
    destroyed_at  timestamptz,
    PRIMARY KEY (key_id, version)
);
