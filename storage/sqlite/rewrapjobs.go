package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/rewrap"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// The rewrap jobs of key rotation (migration 0010_rewrap_jobs). Writes
// run on the single write connection, so a claim's check and update see
// the same row.

var _ rewrap.JobStore = (*S3Store)(nil)

// CreateJob records a pending job for keyID, or raises the target of its
// active job.
func (s *S3Store) CreateJob(ctx context.Context, keyID string, target int, total int64, now time.Time) (rewrap.Job, bool, error) {
	var j rewrap.Job
	created := false
	err := s.tx(ctx, "create rewrap job", func(tx *sql.Tx) error {
		var err error
		j, err = rows.ScanJob(tx.QueryRowContext(ctx, `UPDATE s3_rewrap_jobs SET target_version = max(target_version, ?2), updated_at = ?3
			WHERE key_id = ?1 AND state IN ('pending', 'running') RETURNING `+rows.JobCols, keyID, target, rows.Millis(now)))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		created = true
		j, err = rows.ScanJob(tx.QueryRowContext(ctx, `INSERT INTO s3_rewrap_jobs (kind, key_id, target_version, state, total, created_at, updated_at)
			VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?5) RETURNING `+rows.JobCols, rewrap.KindRewrap, keyID, target, total, rows.Millis(now)))
		return err
	})
	if err != nil {
		return rewrap.Job{}, false, err
	}
	return j, created, nil
}

// GetJob returns job id.
func (s *S3Store) GetJob(ctx context.Context, id int64) (rewrap.Job, error) {
	j, err := rows.ScanJob(s.db.read.QueryRowContext(ctx, `SELECT `+rows.JobCols+` FROM s3_rewrap_jobs WHERE id = ?1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return rewrap.Job{}, s3node.Errorf(s3node.ENotFound, "", "rewrap job %d not found", id)
	}
	if err != nil {
		return rewrap.Job{}, s.fail(err, "get rewrap job")
	}
	return j, nil
}

// ListJobs returns up to limit jobs, newest first.
func (s *S3Store) ListJobs(ctx context.Context, limit int) ([]rewrap.Job, error) {
	rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.JobCols+` FROM s3_rewrap_jobs ORDER BY id DESC LIMIT ?1`, limit)
	if err != nil {
		return nil, s.fail(err, "list rewrap jobs")
	}
	out, err := collect(rs, rows.ScanJob)
	if err != nil {
		return nil, s.fail(err, "list rewrap jobs")
	}
	return out, nil
}

// ClaimJob leases the oldest claimable job to owner.
func (s *S3Store) ClaimJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (rewrap.Job, error) {
	var j rewrap.Job
	err := s.tx(ctx, "claim rewrap job", func(tx *sql.Tx) error {
		var err error
		j, err = rows.ScanJob(tx.QueryRowContext(ctx, `UPDATE s3_rewrap_jobs SET state = 'running', lease_owner = ?1,
				lease_expires = ?3, updated_at = ?2, started_at = CASE WHEN started_at = 0 THEN ?2 ELSE started_at END
			WHERE id = (SELECT id FROM s3_rewrap_jobs
				WHERE state = 'pending' OR (state = 'running' AND lease_expires <= ?2) ORDER BY id LIMIT 1)
			RETURNING `+rows.JobCols, owner, rows.Millis(now), rows.Millis(now.Add(lease))))
		if errors.Is(err, sql.ErrNoRows) {
			return s3node.Errorf(s3node.ENotFound, "", "no rewrap job to claim")
		}
		return err
	})
	return j, err
}

// SaveJob writes j's progress if j.LeaseOwner still holds its lease.
func (s *S3Store) SaveJob(ctx context.Context, j rewrap.Job, now time.Time, lease time.Duration) (int, error) {
	var target int
	err := s.tx(ctx, "save rewrap job", func(tx *sql.Tx) error {
		p := func(i int) string { return "?" + strconv.Itoa(i) }
		args := append(rows.JobSaveArgs(j, now, lease), j.ID, j.LeaseOwner)
		err := tx.QueryRowContext(ctx, `UPDATE s3_rewrap_jobs SET `+rows.JobSaveSet(p)+`
			WHERE id = ?13 AND lease_owner = ?14 AND state = 'running' RETURNING target_version`, args...).Scan(&target)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var state string
		err = tx.QueryRowContext(ctx, `SELECT state FROM s3_rewrap_jobs WHERE id = ?1`, j.ID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return s3node.Errorf(s3node.ENotFound, "", "rewrap job %d not found", j.ID)
		} else if err != nil {
			return err
		}
		return s3node.Errorf(s3node.EConflict, "", "rewrap job %d: lease lost", j.ID)
	})
	return target, err
}

// OldestSealed returns the lowest root-key version each KMS key's rows
// depend on.
func (s *S3Store) OldestSealed(ctx context.Context) (map[string]int, error) {
	rs, err := s.db.read.QueryContext(ctx, rows.OldestSealedQuery)
	if err != nil {
		return nil, s.fail(err, "find oldest sealed versions")
	}
	defer rs.Close()
	out := make(map[string]int)
	for rs.Next() {
		var id string
		var v int
		if err := rs.Scan(&id, &v); err != nil {
			return nil, s.fail(err, "find oldest sealed versions")
		}
		rows.MergeOldest(out, id, v)
	}
	if err := rs.Err(); err != nil {
		return nil, s.fail(err, "find oldest sealed versions")
	}
	return out, nil
}
