package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/s3kms/s3kms/kms"
)

// AuditLog implements kms.AuditLog on SQLite. Triggers on the audit table
// abort every UPDATE and DELETE (see migrations), so the trail cannot be
// rewritten through this database connection or any other.
type AuditLog struct {
	db *DB
}

var (
	_ kms.AuditLog     = (*AuditLog)(nil)
	_ kms.AuditBatcher = (*AuditLog)(nil)
)

// AppendAuditBatch inserts events in one transaction (one fsync); the
// database assigns their ids in order.
func (l *AuditLog) AppendAuditBatch(ctx context.Context, events []kms.AuditEvent) error {
	err := l.db.writeTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit
			(time, identity, operation, key_id, key_version, result, context, request_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range events {
			var ctxJSON any
			if e.Context != nil {
				b, err := json.Marshal(e.Context)
				if err != nil {
					return err
				}
				ctxJSON = string(b)
			}
			if _, err := stmt.ExecContext(ctx, formatTime(e.Time), e.Identity, e.Operation, e.KeyID,
				e.KeyVersion, e.Result, ctxJSON, e.RequestID); err != nil {
				return err
			}
		}
		return nil
	})
	return mapErr(err, "append audit batch")
}

// AppendAudit inserts e. If e.ID is 0 the database assigns the next id;
// otherwise e.ID is stored as given and a duplicate is kms.EConflict.
func (l *AuditLog) AppendAudit(ctx context.Context, e kms.AuditEvent) error {
	var ctxJSON any // NULL for a nil map, so nil and empty stay distinct
	if e.Context != nil {
		b, err := json.Marshal(e.Context)
		if err != nil {
			return kms.Wrap(kms.EInternal, err, "append audit: encode context")
		}
		ctxJSON = string(b)
	}
	var id any // NULL: SQLite assigns the next id
	if e.ID != 0 {
		id = e.ID
	}
	err := l.db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit
			(id, time, identity, operation, key_id, key_version, result, context, request_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, formatTime(e.Time), e.Identity, e.Operation, e.KeyID, e.KeyVersion, e.Result, ctxJSON, e.RequestID)
		return err
	})
	// The audit_no_replace trigger, not the primary key, is what refuses
	// an existing id (it runs first); it is the only insert trigger.
	if e.ID != 0 && (isUniqueViolation(err) || isTriggerAbort(err)) {
		return kms.Wrap(kms.EConflict, err, fmt.Sprintf("audit event %d exists", e.ID))
	}
	return mapErr(err, "append audit")
}

// ListAudit returns the events matching f, newest (highest id) first. A
// Limit <= 0 means no limit.
func (l *AuditLog) ListAudit(ctx context.Context, f kms.AuditFilter) ([]kms.AuditEvent, error) {
	// Only the filters in use go into the SQL, so that SQLite picks the
	// (key_id, id) or (identity, id) index.
	var where []string
	var args []any
	if f.KeyID != "" {
		where, args = append(where, "key_id = ?"), append(args, f.KeyID)
	}
	if f.Identity != "" {
		where, args = append(where, "identity = ?"), append(args, f.Identity)
	}
	if f.Before != 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := `SELECT id, time, identity, operation, key_id, key_version, result, context, request_id FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, sqlLimit(f.Limit))

	rows, err := l.db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list audit")
	}
	events, err := collect(rows, func(r scanner) (kms.AuditEvent, error) {
		var e kms.AuditEvent
		var t string
		var ctxJSON sql.NullString
		err := r.Scan(&e.ID, &t, &e.Identity, &e.Operation, &e.KeyID, &e.KeyVersion, &e.Result, &ctxJSON, &e.RequestID)
		if err != nil {
			return e, err
		}
		if e.Time, err = parseTime(t); err != nil {
			return e, err
		}
		if ctxJSON.Valid {
			if err := json.Unmarshal([]byte(ctxJSON.String), &e.Context); err != nil {
				return e, kms.Wrap(kms.EInternal, err, "list audit: decode context")
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, mapErr(err, "list audit")
	}
	return events, nil
}
