package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// The kms_key_id and kms_key_version columns are generated from
// sse_sealed_key (migration 0008_sse_kms_key_version); the queries below
// search the *_kms_key indexes.

// CountSealed counts object versions and uploads by the version of keyID
// their sealed key depends on.
func (s *S3Store) CountSealed(ctx context.Context, keyID string) ([]s3node.SealedCount, error) {
	var counts [2][]rows.SealedCount
	for i, table := range []string{"s3_objects", "s3_uploads"} {
		rs, err := s.db.read.QueryContext(ctx, `SELECT kms_key_version, count(*) FROM `+table+`
			WHERE kms_key_id = ?1 GROUP BY kms_key_version`, keyID)
		if err != nil {
			return nil, s.fail(err, "count sealed keys")
		}
		if counts[i], err = collect(rs, rows.ScanSealedCount); err != nil {
			return nil, s.fail(err, "count sealed keys")
		}
	}
	return rows.MergeSealedCounts(counts[0], counts[1]), nil
}

// ListSealed lists rows of kind sealed under keyID at a version below
// below, in (version, id) order after the cursor.
func (s *S3Store) ListSealed(ctx context.Context, kind s3node.SealedKind, keyID string, below int, after s3node.SealedCursor, limit int) ([]s3node.SealedRow, error) {
	table, id, err := rows.CheckListSealed(kind, limit)
	if err != nil {
		return nil, err
	}
	rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.SealedCols(kind)+` FROM `+table+` t
		JOIN s3_buckets b ON b.id = t.bucket_id
		WHERE t.kms_key_id = ?1 AND t.kms_key_version < ?2 AND (t.kms_key_version, t.`+id+`) > (?3, ?4)
		ORDER BY t.kms_key_version, t.`+id+` LIMIT ?5`, keyID, below, after.Version, after.ID, limit)
	if err != nil {
		return nil, s.fail(err, "list sealed keys")
	}
	out, err := collect(rs, func(r scanner) (s3node.SealedRow, error) { return rows.ScanSealed(r, kind) })
	if err != nil {
		return nil, s.fail(err, "list sealed keys")
	}
	return out, nil
}

// ResealKey replaces the row's sealed key if it still holds old. The
// write transaction serialises it with every other writer, so the check
// and the update see the same row.
func (s *S3Store) ResealKey(ctx context.Context, kind s3node.SealedKind, id int64, old, sealed []byte) (int, error) {
	table, idCol, err := rows.SealedTable(kind)
	if err != nil {
		return 0, err
	}
	var version int64
	err = s.tx(ctx, "reseal key", func(tx *sql.Tx) error {
		var cur []byte
		var keyID *string
		err := tx.QueryRowContext(ctx, `SELECT sse_sealed_key, kms_key_id FROM `+table+` WHERE `+idCol+` = ?1`, id).Scan(&cur, &keyID)
		if errors.Is(err, sql.ErrNoRows) {
			return rows.ResealFailure(false, nil, old, nil)
		}
		if err != nil {
			return err
		}
		if string(cur) != string(old) || keyID == nil {
			return rows.ResealFailure(true, cur, old, keyID)
		}
		var newKeyID *string
		var newVersion *int64
		err = tx.QueryRowContext(ctx, `UPDATE `+table+` SET sse_sealed_key = ?2 WHERE `+idCol+` = ?1
			RETURNING kms_key_id, kms_key_version`, id, rows.NilIfEmpty(sealed)).Scan(&newKeyID, &newVersion)
		if err != nil {
			return err
		}
		if newKeyID == nil || *newKeyID != *keyID || newVersion == nil {
			return rows.ResealFailure(true, cur, old, keyID) // rolls back
		}
		version = *newVersion
		_, err = tx.ExecContext(ctx, `UPDATE `+table+` SET sse_key_version = kms_key_version WHERE `+idCol+` = ?1`, id)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(version), nil
}
