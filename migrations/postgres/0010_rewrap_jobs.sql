-- Rewrap jobs of key rotation (issue 7, package s3node/rewrap): after a
-- KMS key is rotated, a job re-seals every object version's and
-- multipart upload's sealed key that depends on an older root-key
-- version of that key. The S3 nodes share the table: a node claims a job
-- with a lease it renews while working; a job whose lease expired (its
-- node crashed) is taken over by another node, which resumes at the
-- stored cursor. Times are Unix milliseconds (0: not yet), as on SQLite.
CREATE TABLE s3_rewrap_jobs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text    NOT NULL,
    key_id         text    COLLATE "C" NOT NULL,
    target_version bigint  NOT NULL CHECK (target_version > 0),
    state          text    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    total          bigint  NOT NULL DEFAULT 0,
    done           bigint  NOT NULL DEFAULT 0,
    failed         bigint  NOT NULL DEFAULT 0,
    skipped        bigint  NOT NULL DEFAULT 0,
    pass           bigint  NOT NULL DEFAULT 0,
    cursor_kind    text    NOT NULL DEFAULT '',
    cursor_version bigint  NOT NULL DEFAULT 0,
    cursor_id      bigint  NOT NULL DEFAULT 0,
    lease_owner    text    NOT NULL DEFAULT '',
    lease_expires  bigint  NOT NULL DEFAULT 0,
    created_at     bigint  NOT NULL,
    started_at     bigint  NOT NULL DEFAULT 0,
    updated_at     bigint  NOT NULL,
    finished_at    bigint  NOT NULL DEFAULT 0,
    last_error     text    NOT NULL DEFAULT ''
);
-- At most one pending or running job per key: a second rotation raises
-- the target version of the job under way instead.
CREATE UNIQUE INDEX s3_rewrap_jobs_active ON s3_rewrap_jobs (key_id) WHERE state IN ('pending', 'running');
