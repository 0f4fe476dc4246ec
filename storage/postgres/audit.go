package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/kms"
)

// AuditLog implements kms.AuditLog on PostgreSQL. The audit table refuses
// UPDATE, DELETE and TRUNCATE with a trigger (see migrations), so even a
// bug here or a stray statement cannot rewrite the trail.
type AuditLog struct {
	db *DB
}

var (
	_ kms.AuditLog     = (*AuditLog)(nil)
	_ kms.AuditBatcher = (*AuditLog)(nil)
)

// AppendAuditBatch inserts events in one transaction (one commit, one WAL
// flush); the database assigns their ids in order.
func (l *AuditLog) AppendAuditBatch(ctx context.Context, events []kms.AuditEvent) error {
	b := &pgx.Batch{}
	for _, e := range events {
		var ctxJSON any
		if e.Context != nil {
			j, err := json.Marshal(e.Context)
			if err != nil {
				return kms.Wrap(kms.EInternal, err, "append audit: encode context")
			}
			ctxJSON = json.RawMessage(j)
		}
		b.Queue(`INSERT INTO audit
			(time, identity, operation, key_id, key_version, result, context, request_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.Time, e.Identity, e.Operation, e.KeyID, e.KeyVersion, e.Result, ctxJSON, e.RequestID)
	}
	err := pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	return l.db.fail(err, "append audit batch")
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
		ctxJSON = json.RawMessage(b)
	}
	var err error
	if e.ID == 0 {
		_, err = l.db.pool.Exec(ctx, `INSERT INTO audit
			(time, identity, operation, key_id, key_version, result, context, request_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.Time, e.Identity, e.Operation, e.KeyID, e.KeyVersion, e.Result, ctxJSON, e.RequestID)
	} else {
		_, err = l.db.pool.Exec(ctx, `INSERT INTO audit
			(id, time, identity, operation, key_id, key_version, result, context, request_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.ID, e.Time, e.Identity, e.Operation, e.KeyID, e.KeyVersion, e.Result, ctxJSON, e.RequestID)
	}
	return l.db.fail(err, "append audit")
}

// ListAudit returns the events matching f, newest (highest id) first. A
// Limit <= 0 means no limit.
func (l *AuditLog) ListAudit(ctx context.Context, f kms.AuditFilter) ([]kms.AuditEvent, error) {
	// Only the filters in use go into the SQL, so the planner can use the
	// (key_id, id) and (identity, id) indexes.
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.KeyID != "" {
		add("key_id = $%d", f.KeyID)
	}
	if f.Identity != "" {
		add("identity = $%d", f.Identity)
	}
	if f.Before != 0 {
		add("id < $%d", f.Before)
	}
	q := `SELECT id, time, identity, operation, key_id, key_version, result, context, request_id FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	args = append(args, sqlLimit(f.Limit))
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))

	rows, err := l.db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, l.db.fail(err, "list audit")
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kms.AuditEvent, error) {
		var e kms.AuditEvent
		var ctxJSON []byte
		err := r.Scan(&e.ID, &e.Time, &e.Identity, &e.Operation, &e.KeyID, &e.KeyVersion, &e.Result, &ctxJSON, &e.RequestID)
		if err != nil {
			return e, err
		}
		e.Time = e.Time.UTC()
		if ctxJSON != nil {
			if err := json.Unmarshal(ctxJSON, &e.Context); err != nil {
				return e, kms.Wrap(kms.EInternal, err, "list audit: decode context")
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, l.db.fail(err, "list audit")
	}
	return events, nil
}
