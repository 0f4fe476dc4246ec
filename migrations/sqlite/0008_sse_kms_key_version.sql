-- The KMS key and root-key version each object version's and multipart
-- upload's sealed key depends on, for key rotation: the rewrap job lists
-- the rows sealed under an older version of a key, and `admin key show`
-- counts them per version.
--
-- The columns are generated from sse_sealed_key, never written: they
-- cannot disagree with the sealed bytes, whichever write path stored
-- them (PUT, POST, copy, multipart, a rewrap), and existing rows need no
-- backfill. What the sealed key depends on (kms/sealed SPEC.md,
-- s3node/bucketkey):
--
--   SSE-S3, SSE-KMS   a kms/sealed blob (first byte 0x01): its key id and
--                     key version
--   bucket-key        an envelope (first byte 0x42, uint16 length, the
--   envelope          KMS-sealed bucket data key, the node-sealed object
--                     key): the key id and version of the KMS-sealed
--                     bucket data key inside
--   SSE-C, clear      NULL: no KMS key is involved
--
-- A kms/sealed header is: version 0x01, use, key id length k, k bytes of
-- key id (ASCII), uint32 big-endian key version. kms_sealed is the blob
-- the columns parse (for an envelope, from the bucket data key on: the
-- bytes after its header are never read). SQLite has no function turning
-- bytes into an integer, so bytes are read through hex().
--
-- VIRTUAL: computed when read, stored only in the index below, so the
-- ALTERs do not rewrite the tables. storagetest.ExerciseS3Store checks
-- the values against the Go parsers (kms/sealed, s3node/bucketkey).

ALTER TABLE s3_objects ADD COLUMN kms_sealed BLOB GENERATED ALWAYS AS (
    CASE WHEN sse_type IN ('SSE-S3', 'SSE-KMS') THEN
        CASE substr(sse_sealed_key, 1, 1)
            WHEN X'01' THEN sse_sealed_key
            WHEN X'42' THEN CASE WHEN substr(sse_sealed_key, 4, 1) = X'01' THEN substr(sse_sealed_key, 4) END
        END
    END) VIRTUAL;
ALTER TABLE s3_objects ADD COLUMN kms_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN length(kms_sealed) >= 7 + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 1, 1)) - 1) * 16
              + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 2, 1)) - 1) THEN
        NULLIF(CAST(substr(kms_sealed, 4, (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 1, 1)) - 1) * 16
                + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 2, 1)) - 1)) AS TEXT), '')
    END) VIRTUAL;
ALTER TABLE s3_objects ADD COLUMN kms_key_version INTEGER GENERATED ALWAYS AS (
    CASE WHEN kms_key_id IS NOT NULL THEN
            (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 1, 1)) - 1) * 268435456
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 2, 1)) - 1) * 16777216
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 3, 1)) - 1) * 1048576
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 4, 1)) - 1) * 65536
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 5, 1)) - 1) * 4096
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 6, 1)) - 1) * 256
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 7, 1)) - 1) * 16
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 8, 1)) - 1) * 1
    END) VIRTUAL;

ALTER TABLE s3_uploads ADD COLUMN kms_sealed BLOB GENERATED ALWAYS AS (
    CASE WHEN sse_type IN ('SSE-S3', 'SSE-KMS') THEN
        CASE substr(sse_sealed_key, 1, 1)
            WHEN X'01' THEN sse_sealed_key
            WHEN X'42' THEN CASE WHEN substr(sse_sealed_key, 4, 1) = X'01' THEN substr(sse_sealed_key, 4) END
        END
    END) VIRTUAL;
ALTER TABLE s3_uploads ADD COLUMN kms_key_id TEXT GENERATED ALWAYS AS (
    CASE WHEN length(kms_sealed) >= 7 + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 1, 1)) - 1) * 16
              + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 2, 1)) - 1) THEN
        NULLIF(CAST(substr(kms_sealed, 4, (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 1, 1)) - 1) * 16
                + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 3, 1)), 2, 1)) - 1)) AS TEXT), '')
    END) VIRTUAL;
ALTER TABLE s3_uploads ADD COLUMN kms_key_version INTEGER GENERATED ALWAYS AS (
    CASE WHEN kms_key_id IS NOT NULL THEN
            (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 1, 1)) - 1) * 268435456
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 2, 1)) - 1) * 16777216
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 3, 1)) - 1) * 1048576
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 4, 1)) - 1) * 65536
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 5, 1)) - 1) * 4096
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 6, 1)) - 1) * 256
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 7, 1)) - 1) * 16
            + (instr('0123456789ABCDEF', substr(hex(substr(kms_sealed, 4 + length(kms_key_id), 4)), 8, 1)) - 1) * 1
    END) VIRTUAL;

-- Count and list by (key id, version) for the rewrap job and key show:
-- an index range search, in (version, id) order for the job's cursor.
CREATE INDEX s3_objects_kms_key ON s3_objects (kms_key_id, kms_key_version, id) WHERE kms_key_id IS NOT NULL;
CREATE INDEX s3_uploads_kms_key ON s3_uploads (kms_key_id, kms_key_version, seq) WHERE kms_key_id IS NOT NULL;
-- The SSE-S3 and SSE-KMS rows whose sealed key the columns cannot read (a
-- format this migration does not know, corrupt bytes): normally none, and
-- CountUnattributed must find them without reading the table.
CREATE INDEX s3_objects_kms_unattributed ON s3_objects (id) WHERE sse_type IN ('SSE-S3', 'SSE-KMS') AND kms_key_id IS NULL;
CREATE INDEX s3_uploads_kms_unattributed ON s3_uploads (seq) WHERE sse_type IN ('SSE-S3', 'SSE-KMS') AND kms_key_id IS NULL;
