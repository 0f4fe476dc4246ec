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

// CountUnattributed counts the SSE-S3 and SSE-KMS rows whose sealed key
// the generated columns cannot read.
func (s *S3Store) CountUnattributed(ctx context.Context) (objects, uploads int64, err error) {
	if err := s.db.read.QueryRowContext(ctx, rows.UnattributedQuery).Scan(&objects, &uploads); err != nil {
		return 0, 0, s.fail(err, "count unattributed sealed keys")
	}
	return objects, uploads, nil
}

// sealedListQueries are ListSealed's two seeks on table, whose row id
// column is id: rows of key ?1 at version ?2 with an id above ?3, and
// rows of key ?1 at versions above ?2 and below ?3; at most ?4 rows.
func sealedListQueries(kind s3node.SealedKind, table, id string) (sameVersion, nextVersions string) {
	from := `SELECT ` + rows.SealedCols(kind) + ` FROM ` + table + ` t JOIN s3_buckets b ON b.id = t.bucket_id `
	return from + `WHERE t.kms_key_id = ?1 AND t.kms_key_version = ?2 AND t.` + id + ` > ?3 ORDER BY t.` + id + ` LIMIT ?4`,
		from + `WHERE t.kms_key_id = ?1 AND t.kms_key_version > ?2 AND t.kms_key_version < ?3
			ORDER BY t.kms_key_version, t.` + id + ` LIMIT ?4`
}

// CountSealed counts object versions and uploads by the version of keyID
// their sealed key depends on.
func (s *S3Store) CountSealed(ctx context.Context, keyID string) ([]s3node.SealedCount, error) {
	rs, err := s.db.read.QueryContext(ctx, rows.SealedCountQuery("?1"), keyID)
	if err != nil {
		return nil, s.fail(err, "count sealed keys")
	}
	counts, err := collect(rs, rows.ScanSealedCount)
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
	// Two index seeks rather than one row-value comparison, which SQLite
	// turns into a range on the version alone: with most rows at one
	// version, every page would scan from that version's first row. The
	// first seek finishes the cursor's version, the second starts at the
	// next ones.
	sameVersion, nextVersions := sealedListQueries(kind, table, id)
	var out []s3node.SealedRow
	if after.Version < below {
		rs, err := s.db.read.QueryContext(ctx, sameVersion, keyID, after.Version, after.ID, limit)
		if err != nil {
			return nil, s.fail(err, "list sealed keys")
		}
		if out, err = collect(rs, func(r scanner) (s3node.SealedRow, error) { return rows.ScanSealed(r, kind) }); err != nil {
			return nil, s.fail(err, "list sealed keys")
		}
	}
	if len(out) == limit {
		return out, nil
	}
	rs, err := s.db.read.QueryContext(ctx, nextVersions, keyID, after.Version, below, limit-len(out))
	if err != nil {
		return nil, s.fail(err, "list sealed keys")
	}
	more, err := collect(rs, func(r scanner) (s3node.SealedRow, error) { return rows.ScanSealed(r, kind) })
	if err != nil {
		return nil, s.fail(err, "list sealed keys")
	}
	return append(out, more...), nil
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
