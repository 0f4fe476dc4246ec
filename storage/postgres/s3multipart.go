package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// getUpload finds an upload by bucket name, key and id; lock is "" or a
// locking clause.
func getUpload(ctx context.Context, q querier, bucket, key, uploadID, lock string) (rows.Upload, error) {
	var bid string
	row := q.QueryRow(ctx, `SELECT b.id, `+rows.UploadCols+` FROM s3_uploads u JOIN s3_buckets b ON b.id = u.bucket_id
		WHERE u.upload_id = $1 AND b.name = $2 AND u.key = $3 `+lock, uploadID, bucket, key)
	u, err := rows.ScanUpload(rows.ScanPrefix{Row: row, First: &bid}, bucket, codec{})
	u.BucketID = bid
	if errors.Is(err, pgx.ErrNoRows) {
		return u, rows.NoSuchUpload(uploadID)
	}
	return u, err
}

// CreateUpload stores a new upload.
func (s *S3Store) CreateUpload(ctx context.Context, u s3node.MultipartUpload) error {
	if err := rows.CheckUpload(u); err != nil {
		return err
	}
	return s.tx(ctx, "create upload", func(tx pgx.Tx) error {
		bid, _, err := bucketRef(ctx, tx, u.Bucket, "")
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO s3_uploads (`+rows.UploadInsertCols+`) VALUES
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
			$13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`, rows.UploadArgs(bid, u, codec{})...)
		if isUniqueViolation(err) {
			return s3node.Errorf(s3node.EConflict, s3node.UploadAlreadyExists, "upload %q exists", u.UploadID)
		}
		return err
	})
}

// GetUpload returns an upload.
func (s *S3Store) GetUpload(ctx context.Context, bucket, key, uploadID string) (s3node.MultipartUpload, error) {
	if err := rows.CheckNames(bucket, key, uploadID); err != nil {
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
	if err := rows.CheckPart(bucket, key, uploadID, p); err != nil {
		return nil, err
	}
	var old []string
	err := s.tx(ctx, "put part", func(tx pgx.Tx) error {
		// The row lock orders PutPart against Complete and Abort.
		if _, err := getUpload(ctx, tx, bucket, key, uploadID, "FOR UPDATE OF u"); err != nil {
			return err
		}
		rs, err := tx.Query(ctx, `DELETE FROM s3_parts WHERE upload_id = $1 AND part_number = $2 RETURNING blob_id`,
			uploadID, p.PartNumber)
		if err != nil {
			return err
		}
		if old, err = pgx.CollectRows(rs, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO s3_parts (upload_id, `+rows.PartCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, rows.PartArgs(uploadID, p, codec{})...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// ListParts lists parts with numbers above the marker.
func (s *S3Store) ListParts(ctx context.Context, bucket, key, uploadID string, o s3node.ListPartsOptions) (s3node.ListPartsResult, error) {
	if err := rows.CheckListParts(bucket, key, uploadID, o); err != nil {
		return s3node.ListPartsResult{}, err
	}
	var parts []s3node.Part
	err := s.tx(ctx, "list parts", func(tx pgx.Tx) error {
		if _, err := getUpload(ctx, tx, bucket, key, uploadID, ""); err != nil {
			return err
		}
		rs, err := tx.Query(ctx, `SELECT `+rows.PartCols+` FROM s3_parts WHERE upload_id = $1 AND part_number > $2
			ORDER BY part_number LIMIT $3`, uploadID, o.PartNumberMarker, o.MaxParts+1)
		if err != nil {
			return err
		}
		parts, err = pgx.CollectRows(rs, scanPart)
		return err
	})
	if err != nil {
		return s3node.ListPartsResult{}, err
	}
	return rows.TrimParts(parts, o.MaxParts), nil
}

// ListUploads lists uploads in progress by key, then creation order.
func (s *S3Store) ListUploads(ctx context.Context, bucket string, o s3node.ListUploadsOptions) (s3node.ListUploadsResult, error) {
	if err := rows.CheckListUploads(bucket, o); err != nil {
		return s3node.ListUploadsResult{}, err
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
	scan := func(r pgx.CollectableRow) (rows.Upload, error) { return rows.ScanUpload(r, bucket, codec{}) }
	seek := func(ctx context.Context, from s3node.Cursor, end string, limit int) ([]rows.Upload, error) {
		var out []rows.Upload
		if from.Seq != 0 {
			rs, err := s.db.pool.Query(ctx, `SELECT `+rows.UploadCols+` FROM s3_uploads u
				WHERE bucket_id = $1 AND key = $2 AND seq > $3 ORDER BY seq LIMIT $4`, bid, from.Key, from.Seq, limit)
			if err != nil {
				return nil, err
			}
			if out, err = pgx.CollectRows(rs, scan); err != nil || len(out) == limit {
				return out, err
			}
			from = s3node.Cursor{Key: from.Key}
		}
		cond, args := keyRange(from, end, 3, []any{bid, limit - len(out)})
		rs, err := s.db.pool.Query(ctx, `SELECT `+rows.UploadCols+` FROM s3_uploads u
			WHERE bucket_id = $1`+cond+` ORDER BY key, seq LIMIT $2`, args...)
		if err != nil {
			return nil, err
		}
		more, err := pgx.CollectRows(rs, scan)
		return append(out, more...), err
	}
	res, err := rows.ListUploads(ctx, o, start, seek)
	if err != nil {
		return s3node.ListUploadsResult{}, s.fail(err, "list uploads")
	}
	return res, nil
}

// CompleteUpload turns the upload into the current object version.
func (s *S3Store) CompleteUpload(ctx context.Context, r s3node.CompleteRequest) (s3node.PutResult, error) {
	if err := rows.CheckNames(r.Bucket, r.Key, r.UploadID); err != nil {
		return s3node.PutResult{}, err
	}
	var res s3node.PutResult
	err := s.tx(ctx, "complete upload", func(tx pgx.Tx) error {
		u, err := getUpload(ctx, tx, r.Bucket, r.Key, r.UploadID, "FOR UPDATE OF u")
		if err != nil {
			return err
		}
		var vs string
		if err := tx.QueryRow(ctx, `SELECT versioning FROM s3_buckets WHERE id = $1`, u.BucketID).Scan(&vs); err != nil {
			return err
		}
		rs, err := tx.Query(ctx, `SELECT `+rows.PartCols+` FROM s3_parts WHERE upload_id = $1`, r.UploadID)
		if err != nil {
			return err
		}
		parts, err := pgx.CollectRows(rs, scanPart)
		if err != nil {
			return err
		}
		v, unused, err := s3node.AssembleUpload(u.MultipartUpload, parts, r)
		if err != nil {
			return err
		}
		if res, err = putVersion(ctx, tx, u.BucketID, s3node.VersioningState(vs), v); err != nil {
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
	if err := rows.CheckNames(bucket, key, uploadID); err != nil {
		return nil, err
	}
	var blobs []string
	err := s.tx(ctx, "abort upload", func(tx pgx.Tx) error {
		if _, err := getUpload(ctx, tx, bucket, key, uploadID, "FOR UPDATE OF u"); err != nil {
			return err
		}
		rs, err := tx.Query(ctx, `DELETE FROM s3_parts WHERE upload_id = $1 RETURNING blob_id`, uploadID)
		if err != nil {
			return err
		}
		if blobs, err = pgx.CollectRows(rs, pgx.RowTo[string]); err != nil {
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

func scanPart(r pgx.CollectableRow) (s3node.Part, error) { return rows.ScanPart(r, codec{}) }
