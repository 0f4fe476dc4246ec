-- Append-only audit trail of KMS operations.

CREATE TABLE audit (
    -- AUTOINCREMENT: ids are never reused, so paging by id stays sound.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT    NOT NULL,
    identity    TEXT    NOT NULL,
    operation   TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    key_version INTEGER NOT NULL,
    result      TEXT    NOT NULL,
    -- NULL for a nil context map, a JSON object otherwise, so that nil and
    -- empty maps round-trip distinctly.
    context     TEXT CHECK (context IS NULL OR json_valid(context)),
    request_id  TEXT    NOT NULL
) STRICT;

-- ListAudit filters on key or identity and pages newest first by id.
CREATE INDEX audit_key_id ON audit (key_id, id);
CREATE INDEX audit_identity ON audit (identity, id);

-- The trail must not be rewritten, even by a bug: every UPDATE or DELETE
-- aborts. (SQLite has no TRUNCATE; a DELETE without WHERE fires the
-- trigger too, because triggers disable the truncate optimisation.)
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only: DELETE refused');
END;

-- INSERT OR REPLACE (and REPLACE INTO) would delete the old row to make
-- room for the new one without firing the DELETE trigger (SQLite fires
-- delete triggers for REPLACE only with recursive_triggers on, a
-- per-connection setting). Refusing the insert of an existing id closes
-- that door for every connection.
CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only: id exists');
END;
