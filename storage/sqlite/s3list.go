package sqlite

import (
	"context"
	"errors"
	"strconv"

	"database/sql"

	"github.com/s3kms/s3kms/s3node"
)

func checkList(prefix, delimiter string, markers ...string) error {
	return checkNames(append([]string{prefix, delimiter}, markers...)...)
}

// keyRange renders the key condition of a seek: from the cursor, below
// end. n is the next placeholder number.
func keyRange(from s3node.Cursor, end string, n int, args []any) (string, []any) {
	op := ">"
	if from.Inclusive {
		op = ">="
	}
	cond := ` AND key ` + op + ` ?` + strconv.Itoa(n)
	args = append(args, from.Key)
	if end != "" {
		cond += ` AND key < ?` + strconv.Itoa(n+1)
		args = append(args, end)
	}
	return cond, args
}

// ListObjects lists current objects. Each seek is one range scan of the
// partial index s3_objects_listing (see the migration for the plan).
func (s *S3Store) ListObjects(ctx context.Context, bucket string, o s3node.ListObjectsOptions) (s3node.ListObjectsResult, error) {
	if err := checkList(o.Prefix, o.Delimiter, o.After, bucket); err != nil {
		return s3node.ListObjectsResult{}, err
	}
	if o.MaxKeys < 0 {
		return s3node.ListObjectsResult{}, invalid("max-keys must not be negative")
	}
	bid, _, err := bucketRef(ctx, s.db.read, bucket, "")
	if err != nil {
		return s3node.ListObjectsResult{}, s.fail(err, "list objects")
	}
	seek := func(ctx context.Context, from s3node.Cursor, end string, limit int) ([]s3node.ObjectVersion, error) {
		cond, args := keyRange(from, end, 3, []any{bid, limit})
		rows, err := s.db.read.QueryContext(ctx, `SELECT `+objectCols+` FROM s3_objects o
			WHERE bucket_id = ?1 AND is_current AND NOT delete_marker`+cond+`
			ORDER BY key LIMIT ?2`, args...)
		if err != nil {
			return nil, err
		}
		return collect(rows, func(r scanner) (s3node.ObjectVersion, error) { return scanObject(r, bucket) })
	}
	page, err := s3node.Walk(ctx, s3node.WalkParams{Prefix: o.Prefix, Delimiter: o.Delimiter,
		Start: s3node.Cursor{Key: o.After}, Max: o.MaxKeys},
		func(v s3node.ObjectVersion) string { return v.Key },
		func(v s3node.ObjectVersion) s3node.Cursor { return s3node.Cursor{Key: v.Key} }, seek)
	if err != nil {
		return s3node.ListObjectsResult{}, s.fail(err, "list objects")
	}
	res := s3node.ListObjectsResult{Objects: page.Items, CommonPrefixes: page.CommonPrefixes, IsTruncated: page.Truncated}
	if page.Truncated {
		res.NextMarker = page.LastPrefix
		if res.NextMarker == "" {
			res.NextMarker = page.Items[len(page.Items)-1].Key
		}
	}
	return res, nil
}

// ListVersions lists versions by key, newest first. Each seek is one or
// two range scans of s3_objects_versions.
func (s *S3Store) ListVersions(ctx context.Context, bucket string, o s3node.ListVersionsOptions) (s3node.ListVersionsResult, error) {
	if err := checkList(o.Prefix, o.Delimiter, o.KeyMarker, o.VersionIDMarker, bucket); err != nil {
		return s3node.ListVersionsResult{}, err
	}
	if o.MaxKeys < 0 {
		return s3node.ListVersionsResult{}, invalid("max-keys must not be negative")
	}
	if o.VersionIDMarker != "" && o.KeyMarker == "" {
		return s3node.ListVersionsResult{}, invalid("a version-id-marker needs a key-marker")
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
			return s3node.ListVersionsResult{}, invalid("version-id-marker %q not found", o.VersionIDMarker)
		}
		if err != nil {
			return s3node.ListVersionsResult{}, s.fail(err, "list versions")
		}
	}
	scan := func(r scanner) (s3node.ObjectVersion, error) { return scanObject(r, bucket) }
	seek := func(ctx context.Context, from s3node.Cursor, end string, limit int) ([]s3node.ObjectVersion, error) {
		var out []s3node.ObjectVersion
		if from.Seq != 0 {
			rows, err := s.db.read.QueryContext(ctx, `SELECT `+objectCols+` FROM s3_objects o
				WHERE bucket_id = ?1 AND key = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4`, bid, from.Key, from.Seq, limit)
			if err != nil {
				return nil, err
			}
			if out, err = collect(rows, scan); err != nil || len(out) == limit {
				return out, err
			}
			from = s3node.Cursor{Key: from.Key}
		}
		cond, args := keyRange(from, end, 3, []any{bid, limit - len(out)})
		rows, err := s.db.read.QueryContext(ctx, `SELECT `+objectCols+` FROM s3_objects o
			WHERE bucket_id = ?1`+cond+` ORDER BY key, id DESC LIMIT ?2`, args...)
		if err != nil {
			return nil, err
		}
		more, err := collect(rows, scan)
		return append(out, more...), err
	}
	page, err := s3node.Walk(ctx, s3node.WalkParams{Prefix: o.Prefix, Delimiter: o.Delimiter, Start: start, Max: o.MaxKeys},
		func(v s3node.ObjectVersion) string { return v.Key },
		func(v s3node.ObjectVersion) s3node.Cursor { return s3node.Cursor{Key: v.Key, Seq: v.Seq} }, seek)
	if err != nil {
		return s3node.ListVersionsResult{}, s.fail(err, "list versions")
	}
	res := s3node.ListVersionsResult{Versions: page.Items, CommonPrefixes: page.CommonPrefixes, IsTruncated: page.Truncated}
	if page.Truncated {
		if page.LastPrefix != "" {
			res.NextKeyMarker = page.LastPrefix
		} else {
			last := page.Items[len(page.Items)-1]
			res.NextKeyMarker, res.NextVersionIDMarker = last.Key, last.VersionID
		}
	}
	return res, nil
}
