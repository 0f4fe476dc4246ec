package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// lockKey serialises writers of one key until the transaction ends. The
// bucket id is hex, so "/" separates it from the key unambiguously.
func lockKey(ctx context.Context, tx pgx.Tx, bucketID, key string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, bucketID+"/"+key)
	return err
}

// insertObject makes v the current version of its key. The caller holds
// the key lock and has removed a replaced null version.
func insertObject(ctx context.Context, tx pgx.Tx, bucketID string, v s3node.ObjectVersion) (int64, error) {
	if _, err := tx.Exec(ctx, `UPDATE s3_objects SET is_current = false
		WHERE bucket_id = $1 AND key = $2 AND is_current`, bucketID, v.Key); err != nil {
		return 0, err
	}
	args := rows.ObjectArgs(bucketID, v, codec{})
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO s3_objects (`+rows.ObjectInsertCols+`) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
		 $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) RETURNING id`, args...).Scan(&id)
	if err != nil || len(v.Parts) == 0 {
		return id, err
	}
	var b pgx.Batch
	for _, p := range v.Parts {
		b.Queue(`INSERT INTO s3_segments (object_id, `+rows.SegmentCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			rows.SegmentArgs(id, p, codec{})...)
	}
	return id, tx.SendBatch(ctx, &b).Close()
}

// removeVersion deletes one version row (and its segments) and returns
// the blobs it referenced. found is false if there was none.
func removeVersion(ctx context.Context, tx pgx.Tx, bucketID, key, versionID string) (found, current, marker bool, blobs []string, err error) {
	// Segments first, to return their blob ids (ON DELETE CASCADE would
	// drop them silently).
	rs, err := tx.Query(ctx, `DELETE FROM s3_segments WHERE object_id = (SELECT id FROM s3_objects
		WHERE bucket_id = $1 AND key = $2 AND version_id = $3) RETURNING blob_id`, bucketID, key, versionID)
	if err != nil {
		return false, false, false, nil, err
	}
	if blobs, err = pgx.CollectRows(rs, pgx.RowTo[string]); err != nil {
		return false, false, false, nil, err
	}
	var blob *string
	err = tx.QueryRow(ctx, `DELETE FROM s3_objects WHERE bucket_id = $1 AND key = $2 AND version_id = $3
		RETURNING is_current, delete_marker, blob_id`, bucketID, key, versionID).Scan(&current, &marker, &blob)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, false, nil, nil
	}
	if err != nil {
		return false, false, false, nil, err
	}
	if blob != nil {
		blobs = append(blobs, *blob)
	}
	return true, current, marker, blobs, nil
}

// promoteNewest makes the newest remaining version of key current.
func promoteNewest(ctx context.Context, tx pgx.Tx, bucketID, key string) error {
	_, err := tx.Exec(ctx, `UPDATE s3_objects SET is_current = true WHERE id = (
		SELECT id FROM s3_objects WHERE bucket_id = $1 AND key = $2 ORDER BY id DESC LIMIT 1)`, bucketID, key)
	return err
}

// putVersion writes v as the current version following the bucket's
// versioning state, in tx, holding the key lock.
func putVersion(ctx context.Context, tx pgx.Tx, bucketID string, vs s3node.VersioningState, v s3node.ObjectVersion) (s3node.PutResult, error) {
	if err := lockKey(ctx, tx, bucketID, v.Key); err != nil {
		return s3node.PutResult{}, err
	}
	var res s3node.PutResult
	if vs == s3node.Enabled {
		v.VersionID = s3node.NewVersionID()
	} else {
		v.VersionID = s3node.NullVersionID
		_, _, _, blobs, err := removeVersion(ctx, tx, bucketID, v.Key, s3node.NullVersionID)
		if err != nil {
			return res, err
		}
		res.Unreferenced = blobs
	}
	id, err := insertObject(ctx, tx, bucketID, v)
	res.VersionID, res.Seq = v.VersionID, id
	return res, err
}

// PutObject stores v as the current version of its key.
func (s *S3Store) PutObject(ctx context.Context, v s3node.ObjectVersion) (s3node.PutResult, error) {
	if err := rows.CheckVersion(v); err != nil {
		return s3node.PutResult{}, err
	}
	var res s3node.PutResult
	err := s.tx(ctx, "put object", func(tx pgx.Tx) error {
		id, vs, err := bucketRef(ctx, tx, v.Bucket, "")
		if err != nil {
			return err
		}
		res, err = putVersion(ctx, tx, id, vs, v)
		return err
	})
	if err != nil {
		return s3node.PutResult{}, err
	}
	return res, nil
}

// GetObject returns the current version (versionID "") or the given one.
func (s *S3Store) GetObject(ctx context.Context, bucket, key, versionID string) (s3node.ObjectVersion, error) {
	if err := rows.CheckNames(bucket, key, versionID); err != nil {
		return s3node.ObjectVersion{}, err
	}
	bid, _, err := bucketRef(ctx, s.db.pool, bucket, "")
	if err != nil {
		return s3node.ObjectVersion{}, s.fail(err, "get object")
	}
	v, err := getVersion(ctx, s.db.pool, bid, bucket, key, versionID, "")
	if err != nil {
		return v, s.fail(err, "get object")
	}
	return v, nil
}

func getVersion(ctx context.Context, q querier, bucketID, bucket, key, versionID, lock string) (s3node.ObjectVersion, error) {
	cond, arg := `o.is_current`, any(nil)
	if versionID != "" {
		cond, arg = `o.version_id = $3`, versionID
	}
	args := []any{bucketID, key}
	if arg != nil {
		args = append(args, arg)
	}
	v, err := rows.ScanObject(q.QueryRow(ctx, `SELECT `+rows.ObjectCols+` FROM s3_objects o
		WHERE o.bucket_id = $1 AND o.key = $2 AND `+cond+` `+lock, args...), bucket, codec{})
	if errors.Is(err, pgx.ErrNoRows) {
		return v, rows.NoSuchObject(key, versionID)
	}
	if err != nil || v.PartsCount == 0 {
		return v, err
	}
	rs, err := q.Query(ctx, `SELECT `+rows.SegmentCols+`
		FROM s3_segments WHERE object_id = $1 ORDER BY part_number`, v.Seq)
	if err != nil {
		return v, err
	}
	v.Parts, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (s3node.Segment, error) { return rows.ScanSegment(r) })
	return v, err
}

// DeleteObject deletes without a version id, as the versioning state says.
func (s *S3Store) DeleteObject(ctx context.Context, bucket, key string) (s3node.DeleteResult, error) {
	if err := rows.CheckNames(bucket, key); err != nil {
		return s3node.DeleteResult{}, err
	}
	var res s3node.DeleteResult
	err := s.tx(ctx, "delete object", func(tx pgx.Tx) error {
		bid, vs, err := bucketRef(ctx, tx, bucket, "")
		if err != nil {
			return err
		}
		if err := lockKey(ctx, tx, bid, key); err != nil {
			return err
		}
		if vs != s3node.Enabled {
			found, current, marker, blobs, err := removeVersion(ctx, tx, bid, key, s3node.NullVersionID)
			if err != nil {
				return err
			}
			res.Unreferenced = blobs
			if vs == s3node.Unversioned {
				if found && current {
					err = promoteNewest(ctx, tx, bid, key)
				}
				if found {
					res.VersionID, res.DeleteMarker = s3node.NullVersionID, marker
				}
				return err
			}
		}
		m := s3node.ObjectVersion{Key: key, DeleteMarker: true, VersionID: s3node.NullVersionID, LastModified: time.Now().UTC()}
		if vs == s3node.Enabled {
			m.VersionID = s3node.NewVersionID()
		}
		_, err = insertObject(ctx, tx, bid, m)
		res.VersionID, res.DeleteMarker = m.VersionID, true
		return err
	})
	if err != nil {
		return s3node.DeleteResult{}, err
	}
	return res, nil
}

// DeleteVersion removes one version for good.
func (s *S3Store) DeleteVersion(ctx context.Context, bucket, key, versionID string) (s3node.DeleteResult, error) {
	if err := rows.CheckNames(bucket, key, versionID); err != nil {
		return s3node.DeleteResult{}, err
	}
	var res s3node.DeleteResult
	err := s.tx(ctx, "delete version", func(tx pgx.Tx) error {
		bid, _, err := bucketRef(ctx, tx, bucket, "")
		if err != nil {
			return err
		}
		if err := lockKey(ctx, tx, bid, key); err != nil {
			return err
		}
		found, current, marker, blobs, err := removeVersion(ctx, tx, bid, key, versionID)
		if err != nil {
			return err
		}
		if !found {
			return rows.NoSuchVersion(key, versionID)
		}
		res = s3node.DeleteResult{VersionID: versionID, DeleteMarker: marker, Unreferenced: blobs}
		if current {
			return promoteNewest(ctx, tx, bid, key)
		}
		return nil
	})
	if err != nil {
		return s3node.DeleteResult{}, err
	}
	return res, nil
}

// UpdateObject changes a version's tags or encryption info.
func (s *S3Store) UpdateObject(ctx context.Context, bucket, key, versionID string, u s3node.ObjectUpdate) (s3node.ObjectVersion, error) {
	if err := rows.CheckNames(bucket, key, versionID); err != nil {
		return s3node.ObjectVersion{}, err
	}
	var v s3node.ObjectVersion
	err := s.tx(ctx, "update object", func(tx pgx.Tx) error {
		bid, _, err := bucketRef(ctx, tx, bucket, "")
		if err != nil {
			return err
		}
		if err := lockKey(ctx, tx, bid, key); err != nil {
			return err
		}
		v, err = getVersion(ctx, tx, bid, bucket, key, versionID, "")
		if err != nil {
			return err
		}
		if v.DeleteMarker {
			return rows.Invalid("a delete marker has no tags or data")
		}
		if u.SetTags {
			v.Tags = nil
			if len(u.Tags) > 0 {
				v.Tags = u.Tags
			}
			if _, err := tx.Exec(ctx, `UPDATE s3_objects SET tags = $2 WHERE id = $1`, v.Seq, rows.Map(u.Tags, codec{})); err != nil {
				return err
			}
		}
		if u.SetEncryption {
			v.Encryption = u.Encryption
			args := append([]any{v.Seq}, rows.SSEArgs(u.Encryption, codec{})...)
			_, err := tx.Exec(ctx, `UPDATE s3_objects SET sse_type = $2, sse_sealed_key = $3, sse_key_id = $4,
				sse_key_version = $5, sse_customer_key_md5 = $6, sse_format = $7, sse_context = $8, sse_bucket_key = $9 WHERE id = $1`, args...)
			return err
		}
		return nil
	})
	if err != nil {
		return s3node.ObjectVersion{}, err
	}
	return v, nil
}
