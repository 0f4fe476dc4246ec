package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/s3node"
)

const uploadCols = `u.seq, u.upload_id, u.key, u.initiated, u.owner, u.content_type, u.content_encoding,
	u.content_disposition, u.content_language, u.cache_control, u.expires, u.user_metadata, u.tags,
	u.storage_class, u.checksum_algorithm, u.checksum_type, u.sse_type, u.sse_sealed_key,
	u.sse_key_id, u.sse_key_version, u.sse_customer_key_md5, u.sse_format, u.sse_context`

type upload struct {
	seq      int64
	bucketID string
	s3node.MultipartUpload
}

func scanUpload(row pgx.Row, bucket string) (upload, error) {
	var u upload
	var meta, tags []byte
	var sse sseCols
	dest := []any{&u.seq, &u.UploadID, &u.Key, &u.Initiated, &u.Owner, &u.ContentType, &u.ContentEncoding,
		&u.ContentDisposition, &u.ContentLanguage, &u.CacheControl, &u.Expires, &meta, &tags,
		&u.StorageClass, &u.ChecksumAlgorithm, &u.ChecksumType}
	if err := row.Scan(append(dest, sse.dest()...)...); err != nil {
		return u, err
	}
	u.Bucket = bucket
	u.Initiated = u.Initiated.UTC()
	var err error
	if u.UserMetadata, err = decodeMap(meta); err != nil {
		return u, err
	}
	if u.Tags, err = decodeMap(tags); err != nil {
		return u, err
	}
	u.Encryption, err = sse.info()
	return u, err
}

func noSuchUpload(id string) error {
	return s3node.Errorf(s3node.ENotFound, s3node.NoSuchUpload, "upload %q not found", id)
}

// getUpload finds an upload by bucket name, key and id; lock is "" or a
// locking clause.
func getUpload(ctx context.Context, q querier, bucket, key, uploadID, lock string) (upload, error) {
	var bid string
	row := q.QueryRow(ctx, `SELECT b.id, `+uploadCols+` FROM s3_uploads u JOIN s3_buckets b ON b.id = u.bucket_id
		WHERE u.upload_id = $1 AND b.name = $2 AND u.key = $3 `+lock, uploadID, bucket, key)
	u, err := scanUpload(scanPrefix{row, &bid}, bucket)
	u.bucketID = bid
	if errors.Is(err, pgx.ErrNoRows) {
		return u, noSuchUpload(uploadID)
	}
	return u, err
}

// scanPrefix scans a leading column into first, the rest with the caller's
// destinations.
type scanPrefix struct {
	row   pgx.Row
	first any
}

func (s scanPrefix) Scan(dest ...any) error { return s.row.Scan(append([]any{s.first}, dest...)...) }

// CreateUpload stores a new upload.
func (s *S3Store) CreateUpload(ctx context.Context, u s3node.MultipartUpload) error {
	if err := checkNames(u.Bucket, u.Key, u.UploadID); err != nil {
		return err
	}
	if u.UploadID == "" || u.Key == "" {
		return invalid("create upload: key and upload id are required")
	}
	return s.tx(ctx, "create upload", func(tx pgx.Tx) error {
		bid, _, err := bucketRef(ctx, tx, u.Bucket, "")
		if err != nil {
			return err
		}
		args := []any{u.UploadID, bid, u.Key, u.Initiated, u.Owner, u.ContentType, u.ContentEncoding,
			u.ContentDisposition, u.ContentLanguage, u.CacheControl, u.Expires, encodeMap(u.UserMetadata),
			encodeMap(u.Tags), u.StorageClass, u.ChecksumAlgorithm, u.ChecksumType}
		_, err = tx.Exec(ctx, `INSERT INTO s3_uploads (`+strings.ReplaceAll(uploadCols[len("u.seq, "):], "u.", "")+
			`, bucket_id) VALUES ($1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
			$17, $18, $19, $20, $21, $22, $23, $2)`, append(args, sseArgs(u.Encryption)...)...)
		if isUniqueViolation(err) {
			return s3node.Errorf(s3node.EConflict, s3node.UploadAlreadyExists, "upload %q exists", u.UploadID)
		}
		return err
	})
}

// GetUpload returns an upload.
func (s *S3Store) GetUpload(ctx context.Context, bucket, key, uploadID string) (s3node.MultipartUpload, error) {
	if err := checkNames(bucket, key, uploadID); err != nil {
		return s3node.MultipartUpload{}, err
	}
	u, err := getUpload(ctx, s.db.pool, bucket, key, uploadID, "")
	if err != nil {
		return s3node.MultipartUpload{}, s.fail(err, "get upload")
	}
	return u.MultipartUpload, nil
}

// PutPart stores p, replacing a part with the same number.
func (s *S3Store) PutPart(ctx context.Context, bucket, key, uploadID string, p s3node.Part) ([]string, error) {
	if err := checkNames(bucket, key, uploadID); err != nil {
		return nil, err
	}
	if p.PartNumber < 1 || p.PartNumber > 10000 || p.BlobID == "" {
		return nil, invalid("part number must be 1 to 10000, with a blob")
	}
	var old []string
	err := s.tx(ctx, "put part", func(tx pgx.Tx) error {
		// The row lock orders PutPart against Complete and Abort.
		if _, err := getUpload(ctx, tx, bucket, key, uploadID, "FOR UPDATE OF u"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM s3_parts WHERE upload_id = $1 AND part_number = $2 RETURNING blob_id`,
			uploadID, p.PartNumber)
		if err != nil {
			return err
		}
		if old, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO s3_parts (upload_id, part_number, blob_id, size, stored_size, etag, checksums, last_modified)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			uploadID, p.PartNumber, p.BlobID, p.Size, p.StoredSize, p.ETag, encodeMap(p.Checksums), p.LastModified)
		return err
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

func scanPart(r pgx.CollectableRow) (s3node.Part, error) {
	var p s3node.Part
	var sums []byte
	if err := r.Scan(&p.PartNumber, &p.BlobID, &p.Size, &p.StoredSize, &p.ETag, &sums, &p.LastModified); err != nil {
		return p, err
	}
	p.LastModified = p.LastModified.UTC()
	var err error
	p.Checksums, err = decodeMap(sums)
	return p, err
}

const partCols = `part_number, blob_id, size, stored_size, etag, checksums, last_modified`

// ListParts lists parts with numbers above the marker.
func (s *S3Store) ListParts(ctx context.Context, bucket, key, uploadID string, o s3node.ListPartsOptions) (s3node.ListPartsResult, error) {
	if err := checkNames(bucket, key, uploadID); err != nil {
		return s3node.ListPartsResult{}, err
	}
	if o.MaxParts < 0 || o.PartNumberMarker < 0 {
		return s3node.ListPartsResult{}, invalid("max-parts and part-number-marker must not be negative")
	}
	var res s3node.ListPartsResult
	err := s.tx(ctx, "list parts", func(tx pgx.Tx) error {
		if _, err := getUpload(ctx, tx, bucket, key, uploadID, ""); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+partCols+` FROM s3_parts WHERE upload_id = $1 AND part_number > $2
			ORDER BY part_number LIMIT $3`, uploadID, o.PartNumberMarker, o.MaxParts+1)
		if err != nil {
			return err
		}
		res.Parts, err = pgx.CollectRows(rows, scanPart)
		return err
	})
	if err != nil {
		return s3node.ListPartsResult{}, err
	}
	if len(res.Parts) > o.MaxParts {
		res.Parts, res.IsTruncated = res.Parts[:o.MaxParts], true
		if o.MaxParts > 0 {
			res.NextPartNumberMarker = res.Parts[o.MaxParts-1].PartNumber
		}
	}
	return res, nil
}

// ListUploads lists uploads in progress by key, then creation order.
func (s *S3Store) ListUploads(ctx context.Context, bucket string, o s3node.ListUploadsOptions) (s3node.ListUploadsResult, error) {
	if err := checkList(o.Prefix, o.Delimiter, o.KeyMarker, o.UploadIDMarker, bucket); err != nil {
		return s3node.ListUploadsResult{}, err
	}
	if o.MaxUploads < 0 {
		return s3node.ListUploadsResult{}, invalid("max-uploads must not be negative")
	}
	bid, _, err := bucketRef(ctx, s.db.pool, bucket, "")
	if err != nil {
		return s3node.ListUploadsResult{}, s.fail(err, "list uploads")
	}
	start := s3node.Cursor{Key: o.KeyMarker}
	if o.UploadIDMarker != "" {
		err := s.db.pool.QueryRow(ctx, `SELECT seq FROM s3_uploads WHERE bucket_id = $1 AND key = $2 AND upload_id = $3`,
			bid, o.KeyMarker, o.UploadIDMarker).Scan(&start.Seq)
		if errors.Is(err, pgx.ErrNoRows) {
			// A finished upload: continue after the key, as S3 does.
			start.Seq = 0
		} else if err != nil {
			return s3node.ListUploadsResult{}, s.fail(err, "list uploads")
		}
	}
	scan := func(r pgx.CollectableRow) (upload, error) { return scanUpload(r, bucket) }
	seek := func(ctx context.Context, from s3node.Cursor, end string, limit int) ([]upload, error) {
		var out []upload
		if from.Seq != 0 {
			rows, err := s.db.pool.Query(ctx, `SELECT `+uploadCols+` FROM s3_uploads u
				WHERE bucket_id = $1 AND key = $2 AND seq > $3 ORDER BY seq LIMIT $4`, bid, from.Key, from.Seq, limit)
			if err != nil {
				return nil, err
			}
			if out, err = pgx.CollectRows(rows, scan); err != nil || len(out) == limit {
				return out, err
			}
			from = s3node.Cursor{Key: from.Key}
		}
		cond, args := keyRange(from, end, 3, []any{bid, limit - len(out)})
		rows, err := s.db.pool.Query(ctx, `SELECT `+uploadCols+` FROM s3_uploads u
			WHERE bucket_id = $1`+cond+` ORDER BY key, seq LIMIT $2`, args...)
		if err != nil {
			return nil, err
		}
		more, err := pgx.CollectRows(rows, scan)
		return append(out, more...), err
	}
	page, err := s3node.Walk(ctx, s3node.WalkParams{Prefix: o.Prefix, Delimiter: o.Delimiter, Start: start, Max: o.MaxUploads},
		func(u upload) string { return u.Key },
		func(u upload) s3node.Cursor { return s3node.Cursor{Key: u.Key, Seq: u.seq} }, seek)
	if err != nil {
		return s3node.ListUploadsResult{}, s.fail(err, "list uploads")
	}
	res := s3node.ListUploadsResult{CommonPrefixes: page.CommonPrefixes, IsTruncated: page.Truncated}
	for _, u := range page.Items {
		res.Uploads = append(res.Uploads, u.MultipartUpload)
	}
	if page.Truncated {
		if page.LastPrefix != "" {
			res.NextKeyMarker = page.LastPrefix
		} else {
			last := res.Uploads[len(res.Uploads)-1]
			res.NextKeyMarker, res.NextUploadIDMarker = last.Key, last.UploadID
		}
	}
	return res, nil
}

// CompleteUpload turns the upload into the current object version.
func (s *S3Store) CompleteUpload(ctx context.Context, r s3node.CompleteRequest) (s3node.PutResult, error) {
	if err := checkNames(r.Bucket, r.Key, r.UploadID); err != nil {
		return s3node.PutResult{}, err
	}
	var res s3node.PutResult
	err := s.tx(ctx, "complete upload", func(tx pgx.Tx) error {
		u, err := getUpload(ctx, tx, r.Bucket, r.Key, r.UploadID, "FOR UPDATE OF u")
		if err != nil {
			return err
		}
		var vs string
		if err := tx.QueryRow(ctx, `SELECT versioning FROM s3_buckets WHERE id = $1`, u.bucketID).Scan(&vs); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+partCols+` FROM s3_parts WHERE upload_id = $1`, r.UploadID)
		if err != nil {
			return err
		}
		parts, err := pgx.CollectRows(rows, scanPart)
		if err != nil {
			return err
		}
		v, unused, err := s3node.AssembleUpload(u.MultipartUpload, parts, r)
		if err != nil {
			return err
		}
		if res, err = putVersion(ctx, tx, u.bucketID, s3node.VersioningState(vs), v); err != nil {
			return err
		}
		res.Unreferenced = append(res.Unreferenced, unused...)
		if _, err := tx.Exec(ctx, `DELETE FROM s3_parts WHERE upload_id = $1`, r.UploadID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM s3_uploads WHERE upload_id = $1`, r.UploadID)
		return err
	})
	if err != nil {
		return s3node.PutResult{}, err
	}
	return res, nil
}

// AbortUpload removes the upload and returns its parts' blobs.
func (s *S3Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) ([]string, error) {
	if err := checkNames(bucket, key, uploadID); err != nil {
		return nil, err
	}
	var blobs []string
	err := s.tx(ctx, "abort upload", func(tx pgx.Tx) error {
		if _, err := getUpload(ctx, tx, bucket, key, uploadID, "FOR UPDATE OF u"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM s3_parts WHERE upload_id = $1 RETURNING blob_id`, uploadID)
		if err != nil {
			return err
		}
		if blobs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM s3_uploads WHERE upload_id = $1`, uploadID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return blobs, nil
}
