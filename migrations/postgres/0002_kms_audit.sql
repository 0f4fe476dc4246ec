-- Append-only audit trail of KMS operations.

CREATE TABLE audit (
    id          bigserial   PRIMARY KEY,
    time        timestamptz NOT NULL,
    identity    text        NOT NULL,
    operation   text        NOT NULL,
    key_id      text        NOT NULL,
    key_version integer     NOT NULL,
    result      text        NOT NULL,
    -- NULL for a nil context map, a JSON object otherwise, so that nil and
    -- empty maps round-trip distinctly.
    context     jsonb,
    request_id  text        NOT NULL
);

-- ListAudit filters on key or identity and pages newest first by id.
CREATE INDEX audit_key_id ON audit (key_id, id);
CREATE INDEX audit_identity ON audit (identity, id);

-- The trail must not be rewritten, even by a bug or an operator with the
-- application's credentials: every UPDATE, DELETE or TRUNCATE fails. The
-- trigger is per statement so that it also fires when no row matches,
-- which makes an attempt visible instead of silently doing nothing.
CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
