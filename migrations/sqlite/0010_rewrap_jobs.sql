-- Rewrap jobs of key rotation (issue 7, package s3node/rewrap): after a
-- KMS key is rotated, a job re-seals every object version's and
-- multipart upload's sealed key that depends on an older root-key
-- version of that key. The S3 nodes share the table: a node claims a job
-- with a lease it renews while working; a job whose lease expired (its
-- node crashed) is taken over by another node, which resumes at the
-- stored cursor. Times are Unix milliseconds (0: not yet).
CREATE TABLE s3_rewrap_jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT    NOT NULL,
    key_id         TEXT    NOT NULL,
    target_version INTEGER NOT NULL CHECK (target_version > 0),
    state          TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    total          INTEGER NOT NULL DEFAULT 0,
    done           INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    skipped        INTEGER NOT NULL DEFAULT 0,
    pass           INTEGER NOT NULL DEFAULT 0,
    cursor_kind    TEXT    NOT NULL DEFAULT '',
    cursor_version INTEGER NOT NULL DEFAULT 0,
    cursor_id      INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT    NOT NULL DEFAULT '',
    lease_expires  INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT    NOT NULL DEFAULT ''
);
-- At most one pending or running job per key: a second rotation raises
-- the target version of the job under way instead.
CREATE UNIQUE INDEX s3_rewrap_jobs_active ON s3_rewrap_jobs (key_id) WHERE state IN ('pending', 'running');
