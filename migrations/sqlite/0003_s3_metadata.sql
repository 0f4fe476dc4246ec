-- S3 node metadata: users, buckets, object versions (with the segments of
-- multipart objects), multipart uploads and their parts.
--
-- Names and keys use: byte order of the UTF-8 TEXT, which is
-- S3's listing order, whatever the database's default collation.
--
-- Each blob id (storage/blobfs) is referenced by at most one row: an
-- object version's blob_id, a segment, or a part. The *_blob indexes let
-- the sweeper ask whether a blob is referenced.

CREATE TABLE s3_users (
    access_key_id TEXT NOT NULL PRIMARY KEY,
    canonical_id  TEXT        NOT NULL,
    display_name  TEXT        NOT NULL,
    -- The secret key sealed by the KMS; never stored in clear.
    sealed_secret BLOB       NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE s3_buckets (
    -- Random internal id; the bucket's KMS root key is derived from it.
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    owner       TEXT        NOT NULL,
    created_at  TEXT NOT NULL,
    region      TEXT        NOT NULL,
    versioning  TEXT        NOT NULL CHECK (versioning IN ('', 'Enabled', 'Suspended')),
    tags        TEXT,
    -- Default-encryption configuration, opaque to the store.
    encryption  BLOB
) STRICT;

CREATE INDEX s3_buckets_owner ON s3_buckets (owner, name);

-- One row per object version or delete marker. id orders the versions of
-- a key: SQLite serialises writers, so id order is commit order.
CREATE TABLE s3_objects (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket_id           TEXT NOT NULL REFERENCES s3_buckets (id),
    key                 TEXT NOT NULL,
    version_id          TEXT NOT NULL,
    is_current          INTEGER     NOT NULL,
    delete_marker       INTEGER     NOT NULL,
    size                INTEGER      NOT NULL,
    stored_size         INTEGER      NOT NULL,
    etag                TEXT        NOT NULL,
    last_modified       TEXT NOT NULL,
    owner               TEXT        NOT NULL,
    content_type        TEXT        NOT NULL,
    content_encoding    TEXT        NOT NULL,
    content_disposition TEXT        NOT NULL,
    content_language    TEXT        NOT NULL,
    cache_control       TEXT        NOT NULL,
    expires             TEXT        NOT NULL,
    user_metadata       TEXT,
    tags                TEXT,
    storage_class       TEXT        NOT NULL,
    checksums           TEXT,
    checksum_type       TEXT        NOT NULL,
    -- Single-blob data; NULL for delete markers and multipart objects.
    blob_id             TEXT,
    parts_count         INTEGER     NOT NULL,
    -- Server-side encryption; sse_type NULL means stored in clear.
    sse_type            TEXT,
    sse_sealed_key      BLOB,
    sse_key_id          TEXT,
    sse_key_version     INTEGER,
    sse_customer_key_md5 TEXT,
    sse_format          TEXT,
    sse_context         TEXT,
    UNIQUE (bucket_id, key, version_id)
) STRICT;

-- At most one current version per key; GetObject without a version id.
CREATE UNIQUE INDEX s3_objects_current ON s3_objects (bucket_id, key) WHERE is_current;
-- ListObjects(V2), with or without a delimiter: an index range search in
-- key order over live objects only, never reading delete markers or old
-- versions. The query must repeat the index's WHERE terms as written
-- (is_current AND NOT delete_marker) for SQLite to use it:
--
--   EXPLAIN QUERY PLAN SELECT ... FROM s3_objects
--    WHERE bucket_id = ?1 AND is_current AND NOT delete_marker
--      AND key >= ?3 AND key < ?4 ORDER BY key LIMIT ?2;
--
--   SEARCH s3_objects USING INDEX s3_objects_listing (bucket_id=? AND key>? AND key<?)
--
-- Each step of a delimiter listing is one such search from a new ?3.
CREATE INDEX s3_objects_listing ON s3_objects (bucket_id, key) WHERE is_current AND NOT delete_marker;
-- ListObjectVersions: key order, newest first; also finds the newest
-- remaining version when the current one is deleted.
CREATE INDEX s3_objects_versions ON s3_objects (bucket_id, key, id DESC);
CREATE INDEX s3_objects_blob ON s3_objects (blob_id) WHERE blob_id IS NOT NULL;

-- The parts of a completed multipart object, in order.
CREATE TABLE s3_segments (
    object_id    INTEGER  NOT NULL REFERENCES s3_objects (id) ON DELETE CASCADE,
    part_number  INTEGER NOT NULL,
    blob_id      TEXT NOT NULL,
    part_offset  INTEGER  NOT NULL,
    size         INTEGER  NOT NULL,
    stored_size  INTEGER  NOT NULL,
    etag         TEXT    NOT NULL,
    checksums    TEXT,
    PRIMARY KEY (object_id, part_number)
) STRICT;

CREATE INDEX s3_segments_blob ON s3_segments (blob_id);

CREATE TABLE s3_uploads (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id           TEXT NOT NULL UNIQUE,
    bucket_id           TEXT NOT NULL REFERENCES s3_buckets (id),
    key                 TEXT NOT NULL,
    initiated           TEXT NOT NULL,
    owner               TEXT        NOT NULL,
    content_type        TEXT        NOT NULL,
    content_encoding    TEXT        NOT NULL,
    content_disposition TEXT        NOT NULL,
    content_language    TEXT        NOT NULL,
    cache_control       TEXT        NOT NULL,
    expires             TEXT        NOT NULL,
    user_metadata       TEXT,
    tags                TEXT,
    storage_class       TEXT        NOT NULL,
    checksum_algorithm  TEXT        NOT NULL,
    checksum_type       TEXT        NOT NULL,
    sse_type            TEXT,
    sse_sealed_key      BLOB,
    sse_key_id          TEXT,
    sse_key_version     INTEGER,
    sse_customer_key_md5 TEXT,
    sse_format          TEXT,
    sse_context         TEXT
) STRICT;

-- ListMultipartUploads order: key, then creation order (seq).
CREATE INDEX s3_uploads_listing ON s3_uploads (bucket_id, key, seq);

CREATE TABLE s3_parts (
    upload_id     TEXT NOT NULL REFERENCES s3_uploads (upload_id) ON DELETE CASCADE,
    part_number   INTEGER     NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    blob_id       TEXT NOT NULL,
    size          INTEGER      NOT NULL,
    stored_size   INTEGER      NOT NULL,
    etag          TEXT        NOT NULL,
    checksums     TEXT,
    last_modified TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) STRICT;

CREATE INDEX s3_parts_blob ON s3_parts (blob_id);
