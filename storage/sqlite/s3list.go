package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// keyRange renders the key condition of a seek: from the cursor, below
// end. n is the next placeholder number.
func keyRange(from s3node.Cursor, end string, n int, args []any) (string, []any) {
	return rows.KeyRange("?", from, end, n, args)
}

func scanObjects(bucket string) func(scanner) (s3node.ObjectVersion, error) {
	return func(r scanner) (s3node.ObjectVersion, error) { return rows.ScanObject(r, bucket, codec{}) }
}

// ListObjects lists current objects. Each seek is one range scan of the
// partial index s3_objects_listing (see the migration for the plan).
func (s *S3Store) ListObjects(ctx context.Context, bucket string, o s3node.ListObjectsOptions) (s3node.ListObjectsResult, error) {
	if err := rows.CheckListObjects(bucket, o); err != nil {
		return s3node.ListObjectsResult{}, err
	}
	bid, _, err := bucketRef(ctx, s.db.read, bucket, "")
	if err != nil {
		return s3node.ListObjectsResult{}, s.fail(err, "list objects")
	}
	seek := func(ctx context.Context, from s3node.Cursor, end string, limit int) ([]s3node.ObjectVersion, error) {
		cond, args := keyRange(from, end, 3, []any{bid, limit})
		rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.ObjectCols+` FROM s3_objects o
			WHERE bucket_id = ?1 AND is_current AND NOT delete_marker`+cond+`
			ORDER BY key LIMIT ?2`, args...)
		if err != nil {
			return nil, err
		}
		return collect(rs, scanObjects(bucket))
	}
	res, err := rows.ListObjects(ctx, o, seek)
	if err != nil {
		return s3node.ListObjectsResult{}, s.fail(err, "list objects")
	}
	return res, nil
}

// ListVersions lists versions by key, newest first. Each seek is one or
// two range scans of s3_objects_versions.
func (s *S3Store) ListVersions(ctx context.Context, bucket string, o s3node.ListVersionsOptions) (s3node.ListVersionsResult, error) {
	if err := rows.CheckListVersions(bucket, o); err != nil {
		return s3node.ListVersionsResult{}, err
	}
	bid, _, err := bucketRef(ctx, s.db.read, bucket, "")
	if err != nil {
		return s3node.ListVersionsResult{}, s.fail(err, "list versions")
	}
	start := s3node.Cursor{Key: o.KeyMarker}
	if o.VersionIDMarker != "" {
		err := s.db.read.QueryRowContext(ctx, `SELECT id FROM s3_objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3`,
			bid, o.KeyMarker, o.VersionIDMarker).Scan(&start.Seq)
		if errors.Is(err, sql.ErrNoRows) {
			return s3node.ListVersionsResult{}, rows.Invalid("version-id-marker %q not found", o.VersionIDMarker)
		}
		if err != nil {
			return s3node.ListVersionsResult{}, s.fail(err, "list versions")
		}
	}
	scan := scanObjects(bucket)
	seek := func(ctx context.Context, from s3node.Cursor, end string, limit int) ([]s3node.ObjectVersion, error) {
		var out []s3node.ObjectVersion
		if from.Seq != 0 {
			rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.ObjectCols+` FROM s3_objects o
				WHERE bucket_id = ?1 AND key = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4`, bid, from.Key, from.Seq, limit)
			if err != nil {
				return nil, err
			}
			if out, err = collect(rs, scan); err != nil || len(out) == limit {
				return out, err
			}
			from = s3node.Cursor{Key: from.Key}
		}
		cond, args := keyRange(from, end, 3, []any{bid, limit - len(out)})
		rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.ObjectCols+` FROM s3_objects o
			WHERE bucket_id = ?1`+cond+` ORDER BY key, id DESC LIMIT ?2`, args...)
		if err != nil {
			return nil, err
		}
		more, err := collect(rs, scan)
		return append(out, more...), err
	}
	res, err := rows.ListVersions(ctx, o, start, seek)
	if err != nil {
		return s3node.ListVersionsResult{}, s.fail(err, "list versions")
	}
	return res, nil
}
