package rows

import (
	"slices"

	"github.com/s3kms/s3kms/s3node"
)

// SealedTable returns the table of rows of kind and its row id column,
// or EInvalid for an unknown kind.
func SealedTable(kind s3node.SealedKind) (table, id string, err error) {
	switch kind {
	case s3node.SealedObject:
		return "s3_objects", "id", nil
	case s3node.SealedUpload:
		return "s3_uploads", "seq", nil
	}
	return "", "", Invalid("unknown sealed row kind %q", kind)
}

// CheckListSealed validates ListSealed's arguments and returns the
// kind's table and id column.
func CheckListSealed(kind s3node.SealedKind, limit int) (table, id string, err error) {
	if table, id, err = SealedTable(kind); err != nil {
		return "", "", err
	}
	if limit < 1 {
		return "", "", Invalid("limit %d: want at least 1", limit)
	}
	return table, id, nil
}

// SealedCols is the select list of ScanSealed for rows of kind read
// through alias t, joined with s3_buckets as b.
func SealedCols(kind s3node.SealedKind) string {
	id, version, upload := `t.id`, `t.version_id`, `''`
	if kind == s3node.SealedUpload {
		id, version, upload = `t.seq`, `''`, `t.upload_id`
	}
	return id + `, t.bucket_id, b.name, t.key, ` + version + `, ` + upload + `, t.kms_key_id, t.kms_key_version,
	t.sse_type, t.sse_sealed_key, t.sse_key_id, t.sse_key_version, t.sse_customer_key_md5, t.sse_format,
	t.sse_context, t.sse_bucket_key`
}

// ScanSealed reads a row of SealedCols.
func ScanSealed(row Scanner, kind s3node.SealedKind) (s3node.SealedRow, error) {
	r := s3node.SealedRow{Kind: kind}
	var version int64
	var sse sseCols
	dest := []any{&r.ID, &r.BucketID, &r.Bucket, &r.Key, &r.VersionID, &r.UploadID, &r.KeyID, &version}
	if err := row.Scan(append(dest, sse.dest()...)...); err != nil {
		return r, err
	}
	r.KeyVersion = int(version)
	info, err := sse.info()
	if info != nil {
		r.Encryption = *info
	}
	return r, err
}

// SealedCountQuery is CountSealed's query, with the placeholder ph for
// the key id: one statement, so that both tables are read in one
// snapshot (an upload completing in between is counted once, as an
// upload or as an object, never zero times). Its rows are ScanSealedCount's.
func SealedCountQuery(ph string) string {
	part := func(upload, table string) string {
		return `SELECT ` + upload + `, kms_key_version, count(*) FROM ` + table + `
		WHERE kms_key_id = ` + ph + ` GROUP BY kms_key_version`
	}
	return part("0", "s3_objects") + ` UNION ALL ` + part("1", "s3_uploads")
}

// UnattributedQuery is CountUnattributed's query, in one statement for
// one snapshot. Its WHERE clauses are the *_kms_unattributed indexes',
// as written (SQLite uses a partial index only then).
const UnattributedQuery = `SELECT
	(SELECT count(*) FROM s3_objects WHERE sse_type IN ('SSE-S3', 'SSE-KMS') AND kms_key_id IS NULL),
	(SELECT count(*) FROM s3_uploads WHERE sse_type IN ('SSE-S3', 'SSE-KMS') AND kms_key_id IS NULL)`

// SealedCount is one row of SealedCountQuery: N rows of objects or
// uploads at Version.
type SealedCount struct {
	Upload  bool
	Version int64
	N       int64
}

// ScanSealedCount reads a row of SealedCountQuery.
func ScanSealedCount(r Scanner) (SealedCount, error) {
	var c SealedCount
	var upload int64
	err := r.Scan(&upload, &c.Version, &c.N)
	c.Upload = upload != 0
	return c, err
}

// MergeSealedCounts turns the rows of SealedCountQuery into CountSealed's
// result, by ascending version.
func MergeSealedCounts(rows []SealedCount) []s3node.SealedCount {
	byVersion := make(map[int]*s3node.SealedCount)
	for _, r := range rows {
		c, ok := byVersion[int(r.Version)]
		if !ok {
			c = &s3node.SealedCount{Version: int(r.Version)}
			byVersion[int(r.Version)] = c
		}
		if r.Upload {
			c.Uploads += r.N
		} else {
			c.Objects += r.N
		}
	}
	var out []s3node.SealedCount // nil when none
	for _, c := range byVersion {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b s3node.SealedCount) int { return a.Version - b.Version })
	return out
}

// ResealFailure says why ResealKey's compare-and-set updated nothing,
// given what the row holds now: found is false when the row is gone;
// cur is its sealed key and keyID what it depends on (nil for none).
func ResealFailure(found bool, cur, old []byte, keyID *string) error {
	switch {
	case !found:
		return s3node.Errorf(s3node.ENotFound, "", "the row is gone")
	case string(cur) != string(old):
		return s3node.Errorf(s3node.EConflict, "", "the sealed key changed since it was listed")
	case keyID == nil:
		return Invalid("the sealed key depends on no KMS key")
	}
	return Invalid("the new sealed key does not depend on KMS key %s", *keyID)
}
