package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// The kms_key_id and kms_key_version columns are generated from
// sse_sealed_key by the functions of migration 0008_sse_kms_key_version;
// the queries below scan the *_kms_key indexes.

// CountUnattributed counts the SSE-S3 and SSE-KMS rows whose sealed key
// the generated columns cannot read.
func (s *S3Store) CountUnattributed(ctx context.Context) (objects, uploads int64, err error) {
	if err := s.db.pool.QueryRow(ctx, rows.UnattributedQuery).Scan(&objects, &uploads); err != nil {
		return 0, 0, s.fail(err, "count unattributed sealed keys")
	}
	return objects, uploads, nil
}

// sealedListQuery is ListSealed's query on table, whose row id column is
// id: at most $5 rows of key $1 below version $2 after ($3, $4). The row
// comparison is an index condition: the scan starts at the cursor.
func sealedListQuery(kind s3node.SealedKind, table, id string) string {
	return `SELECT ` + rows.SealedCols(kind) + ` FROM ` + table + ` t JOIN s3_buckets b ON b.id = t.bucket_id
		WHERE t.kms_key_id = $1 AND t.kms_key_version < $2 AND (t.kms_key_version, t.` + id + `) > ($3, $4)
		ORDER BY t.kms_key_version, t.` + id + ` LIMIT $5`
}

// CountSealed counts object versions and uploads by the version of keyID
// their sealed key depends on.
func (s *S3Store) CountSealed(ctx context.Context, keyID string) ([]s3node.SealedCount, error) {
	rs, err := s.db.pool.Query(ctx, rows.SealedCountQuery("$1"), keyID)
	if err != nil {
		return nil, s.fail(err, "count sealed keys")
	}
	counts, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (rows.SealedCount, error) { return rows.ScanSealedCount(r) })
	if err != nil {
		return nil, s.fail(err, "count sealed keys")
	}
	return rows.MergeSealedCounts(counts), nil
}

// ListSealed lists rows of kind sealed under keyID at a version below
// below, in (version, id) order after the cursor.
func (s *S3Store) ListSealed(ctx context.Context, kind s3node.SealedKind, keyID string, below int, after s3node.SealedCursor, limit int) ([]s3node.SealedRow, error) {
	table, id, err := rows.CheckListSealed(kind, limit)
	if err != nil {
		return nil, err
	}
	rs, err := s.db.pool.Query(ctx, sealedListQuery(kind, table, id), keyID, below, after.Version, after.ID, limit)
	if err != nil {
		return nil, s.fail(err, "list sealed keys")
	}
	out, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (s3node.SealedRow, error) { return rows.ScanSealed(r, kind) })
	if err != nil {
		return nil, s.fail(err, "list sealed keys")
	}
	return out, nil
}

// ResealKey replaces the row's sealed key if it still holds old, in one
// UPDATE: under READ COMMITTED a concurrent write to the row makes
// PostgreSQL re-check the WHERE clause on the row as that write left it,
// so a changed or deleted row is not updated. Only when nothing was
// updated does a second read tell why.
func (s *S3Store) ResealKey(ctx context.Context, kind s3node.SealedKind, id int64, old, sealed []byte) (int, error) {
	table, idCol, err := rows.SealedTable(kind)
	if err != nil {
		return 0, err
	}
	var version int64
	err = s.db.pool.QueryRow(ctx, `UPDATE `+table+` SET sse_sealed_key = $3,
			sse_key_version = s3_sealed_kms_key_version(sse_type, $3)
		WHERE `+idCol+` = $1 AND sse_sealed_key = $2 AND kms_key_id = s3_sealed_kms_key_id(sse_type, $3)
		RETURNING kms_key_version`, id, old, rows.NilIfEmpty(sealed)).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		var cur []byte
		var keyID *string
		err = s.db.pool.QueryRow(ctx, `SELECT sse_sealed_key, kms_key_id FROM `+table+` WHERE `+idCol+` = $1`, id).Scan(&cur, &keyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, rows.ResealFailure(false, nil, old, nil)
		}
		if err == nil {
			return 0, rows.ResealFailure(true, cur, old, keyID)
		}
	}
	if err != nil {
		return 0, s.fail(err, "reseal key")
	}
	return int(version), nil
}
