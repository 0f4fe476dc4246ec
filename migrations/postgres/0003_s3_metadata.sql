-- S3 node metadata: users, buckets, object versions (with the segments of
-- multipart objects), multipart uploads and their parts.
--
-- Names and keys use COLLATE "C": byte order of the UTF-8 text, which is
-- S3's listing order, whatever the database's default collation.
--
-- Each blob id (storage/blobfs) is referenced by at most one row: an
-- object version's blob_id, a segment, or a part. The *_blob indexes let
-- the sweeper ask whether a blob is referenced.

CREATE TABLE s3_users (
    access_key_id text COLLATE "C" PRIMARY KEY,
    canonical_id  text        NOT NULL,
    display_name  text        NOT NULL,
    -- The secret key sealed by the KMS; never stored in clear.
    sealed_secret bytea       NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE TABLE s3_buckets (
    -- Random internal id; the bucket's KMS root key is derived from it.
    id          text COLLATE "C" PRIMARY KEY,
    name        text COLLATE "C" NOT NULL UNIQUE,
    owner       text        NOT NULL,
    created_at  timestamptz NOT NULL,
    region      text        NOT NULL,
    versioning  text        NOT NULL CHECK (versioning IN ('', 'Enabled', 'Suspended')),
    tags        jsonb,
    -- Default-encryption configuration, opaque to the store.
    encryption  bytea
);

CREATE INDEX s3_buckets_owner ON s3_buckets (owner, name);

-- One row per object version or delete marker. id orders the versions of
-- a key: writers of one key hold a per-key advisory lock while they take
-- the next id, so id order is commit order for every key.
CREATE TABLE s3_objects (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket_id           text COLLATE "C" NOT NULL REFERENCES s3_buckets (id),
    key                 text COLLATE "C" NOT NULL,
    version_id          text COLLATE "C" NOT NULL,
    is_current          boolean     NOT NULL,
    delete_marker       boolean     NOT NULL,
    size                bigint      NOT NULL,
    stored_size         bigint      NOT NULL,
    etag                text        NOT NULL,
    last_modified       timestamptz NOT NULL,
    owner               text        NOT NULL,
    content_type        text        NOT NULL,
    content_encoding    text        NOT NULL,
    content_disposition text        NOT NULL,
    content_language    text        NOT NULL,
    cache_control       text        NOT NULL,
    expires             text        NOT NULL,
    user_metadata       jsonb,
    tags                jsonb,
    storage_class       text        NOT NULL,
    checksums           jsonb,
    checksum_type       text        NOT NULL,
    -- Single-blob data; NULL for delete markers and multipart objects.
    blob_id             text COLLATE "C",
    parts_count         integer     NOT NULL,
    -- Server-side encryption; sse_type NULL means stored in clear.
    sse_type            text,
    sse_sealed_key      bytea,
    sse_key_id          text,
    sse_key_version     integer,
    sse_customer_key_md5 text,
    sse_format          text,
    sse_context         jsonb,
    UNIQUE (bucket_id, key, version_id)
);

-- At most one current version per key; GetObject without a version id.
CREATE UNIQUE INDEX s3_objects_current ON s3_objects (bucket_id, key) WHERE is_current;
-- ListObjects(V2), with or without a delimiter: an index range scan in key
-- order over live objects only, never reading delete markers or old
-- versions. For example (1,000,000 objects):
--
--   EXPLAIN SELECT ... FROM s3_objects
--    WHERE bucket_id = $1 AND is_current AND NOT delete_marker
--      AND key >= $2 AND key < $3 ORDER BY key LIMIT $4;
--
--   Limit
--     ->  Index Scan using s3_objects_listing on s3_objects
--           Index Cond: ((bucket_id = $1) AND (key >= $2) AND (key < $3))
--
-- Each step of a delimiter listing is one such scan from a new $2.
CREATE INDEX s3_objects_listing ON s3_objects (bucket_id, key) WHERE is_current AND NOT delete_marker;
-- ListObjectVersions: key order, newest first; also finds the newest
-- remaining version when the current one is deleted.
CREATE INDEX s3_objects_versions ON s3_objects (bucket_id, key, id DESC);
CREATE INDEX s3_objects_blob ON s3_objects (blob_id) WHERE blob_id IS NOT NULL;

-- The parts of a completed multipart object, in order.
CREATE TABLE s3_segments (
    object_id    bigint  NOT NULL REFERENCES s3_objects (id) ON DELETE CASCADE,
    part_number  integer NOT NULL,
    blob_id      text COLLATE "C" NOT NULL,
    part_offset  bigint  NOT NULL,
    size         bigint  NOT NULL,
    stored_size  bigint  NOT NULL,
    etag         text    NOT NULL,
    checksums    jsonb,
    PRIMARY KEY (object_id, part_number)
);

CREATE INDEX s3_segments_blob ON s3_segments (blob_id);

CREATE TABLE s3_uploads (
    seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upload_id           text COLLATE "C" NOT NULL UNIQUE,
    bucket_id           text COLLATE "C" NOT NULL REFERENCES s3_buckets (id),
    key                 text COLLATE "C" NOT NULL,
    initiated           timestamptz NOT NULL,
    owner               text        NOT NULL,
    content_type        text        NOT NULL,
    content_encoding    text        NOT NULL,
    content_disposition text        NOT NULL,
    content_language    text        NOT NULL,
    cache_control       text        NOT NULL,
    expires             text        NOT NULL,
    user_metadata       jsonb,
    tags                jsonb,
    storage_class       text        NOT NULL,
    checksum_algorithm  text        NOT NULL,
    checksum_type       text        NOT NULL,
    sse_type            text,
    sse_sealed_key      bytea,
    sse_key_id          text,
    sse_key_version     integer,
    sse_customer_key_md5 text,
    sse_format          text,
    sse_context         jsonb
);

-- ListMultipartUploads order: key, then creation order (seq).
CREATE INDEX s3_uploads_listing ON s3_uploads (bucket_id, key, seq);

CREATE TABLE s3_parts (
    upload_id     text COLLATE "C" NOT NULL REFERENCES s3_uploads (upload_id) ON DELETE CASCADE,
    part_number   integer     NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    blob_id       text COLLATE "C" NOT NULL,
    size          bigint      NOT NULL,
    stored_size   bigint      NOT NULL,
    etag          text        NOT NULL,
    checksums     jsonb,
    last_modified timestamptz NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

CREATE INDEX s3_parts_blob ON s3_parts (blob_id);
