package rows

import (
	"time"

	"github.com/s3kms/s3kms/s3node/rewrap"
)

// JobCols are the columns of s3_rewrap_jobs that ScanJob reads, in order.
// Both backends store the same types (migration 0010_rewrap_jobs).
const JobCols = `id, kind, key_id, target_version, state, total, done, failed, skipped, pass,
	cursor_kind, cursor_version, cursor_id, lease_owner, lease_expires,
	created_at, started_at, updated_at, finished_at, last_error`

// JobSaveSet is the SET list of SaveJob, with placeholders p(1)..p(12):
// state, done, failed, skipped, pass, cursor kind, version and id, last
// error, lease expiry, updated_at, finished_at.
func JobSaveSet(p func(int) string) string {
	return `state = ` + p(1) + `, done = ` + p(2) + `, failed = ` + p(3) + `, skipped = ` + p(4) + `, pass = ` + p(5) +
		`, cursor_kind = ` + p(6) + `, cursor_version = ` + p(7) + `, cursor_id = ` + p(8) + `, last_error = ` + p(9) +
		`, lease_expires = ` + p(10) + `, updated_at = ` + p(11) + `, finished_at = ` + p(12)
}

// JobSaveArgs are SaveJob's values for JobSaveSet: a final state
// releases the lease and sets finished_at.
func JobSaveArgs(j rewrap.Job, now time.Time, lease time.Duration) []any {
	expires, finished := Millis(now.Add(lease)), int64(0)
	if !j.State.Active() {
		expires, finished = 0, Millis(now)
	}
	return []any{string(j.State), j.Done, j.Failed, j.Skipped, j.Pass, j.Cursor.Kind, j.Cursor.Version, j.Cursor.ID,
		j.LastError, expires, Millis(now), finished}
}

// Millis is t in Unix milliseconds, 0 for the zero time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ScanJob reads the JobCols of one row.
func ScanJob(r Scanner) (rewrap.Job, error) {
	var j rewrap.Job
	var state string
	var lease, created, started, updated, finished int64
	err := r.Scan(&j.ID, &j.Kind, &j.KeyID, &j.TargetVersion, &state, &j.Total, &j.Done, &j.Failed, &j.Skipped, &j.Pass,
		&j.Cursor.Kind, &j.Cursor.Version, &j.Cursor.ID, &j.LeaseOwner, &lease,
		&created, &started, &updated, &finished, &j.LastError)
	if err != nil {
		return rewrap.Job{}, err
	}
	j.State = rewrap.State(state)
	j.LeaseExpires, j.CreatedAt, j.StartedAt = fromMillis(lease), fromMillis(created), fromMillis(started)
	j.UpdatedAt, j.FinishedAt = fromMillis(updated), fromMillis(finished)
	return j, nil
}

// OldestSealedQuery is OldestSealed's query, the same on both backends:
// a skip scan of the *_kms_key indexes (migration 0008), one seek for
// each distinct key id and one for its lowest version, on each table.
// Rows: key id, lowest version; a key may come twice (objects, uploads).
var OldestSealedQuery = oldestSealed("s3_objects") + ` UNION ALL ` + oldestSealed("s3_uploads")

func oldestSealed(table string) string {
	return `SELECT id, (SELECT min(kms_key_version) FROM ` + table + ` WHERE kms_key_id = k.id) FROM (
		WITH RECURSIVE k(id) AS (
			SELECT min(kms_key_id) FROM ` + table + ` WHERE kms_key_id IS NOT NULL
			UNION ALL
			SELECT (SELECT min(kms_key_id) FROM ` + table + ` WHERE kms_key_id IS NOT NULL AND kms_key_id > k.id) FROM k WHERE k.id IS NOT NULL
		) SELECT id FROM k WHERE id IS NOT NULL) k`
}

// MergeOldest adds a (key id, version) row of OldestSealedQuery to m,
// keeping the lowest version of each key.
func MergeOldest(m map[string]int, keyID string, version int) {
	if v, ok := m[keyID]; !ok || version < v {
		m[keyID] = version
	}
}
