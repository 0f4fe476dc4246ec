// Package rewrap is the S3 node's key-rotation job engine (issue 7): after
// a KMS key is rotated, a rewrap job re-seals every object version's and
// multipart upload's sealed key that still depends on an older root-key
// version of that key, so that the older versions can be deactivated and
// destroyed.
//
// Jobs live in the S3 metadata database (migration 0010_rewrap_jobs,
// JobStore), shared by every node. A Worker in each node claims a pending
// job, or a running one whose lease expired (its node crashed), renews the
// lease at every page, and persists its counters and cursor per page, so
// any node resumes where another stopped. A Sweeper in each node creates
// a job by itself when it finds rows sealed under a version older than a
// key's current one (automatic rotation in the KMS, or a rotation made
// without --config).
//
// Each page of rows is rewrapped with one KMS RewrapBatch call, with the
// encryption context the node sealed the key with; each row is then
// replaced by compare-and-set (s3node.SealedKeyStore.ResealKey), so a
// concurrent PUT, DELETE or COPY always wins and nothing is lost. Passes
// over the key's rows repeat until CountSealed finds none below the
// target version.
//
// Bucket keys (encryption.bucket_key_ttl): a node seals new objects under
// the bucket data key it cached, of the version current when it cached
// it, until the entry expires. The cache is not invalidated on rotation
// (a node learns of it only through the job); instead a job keeps passing
// while passes make progress, and rows written under the old version
// after it ended make the sweeper start another. Until the TTL has passed
// after a rotation, counts of the old version may therefore grow again:
// wait at least one TTL before deactivating it.
package rewrap

import (
	"context"
	"time"
)

// State is the state of a Job.
type State string

// States of a job. pending and running are active: a key has at most one
// active job.
const (
	Pending   State = "pending"
	Running   State = "running"
	Done      State = "done"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Active reports whether a job in state s may still change.
func (s State) Active() bool { return s == Pending || s == Running }

// KindRewrap is the kind of the jobs this package runs.
const KindRewrap = "rewrap"

// Job is a rewrap job as stored. Counters count rows (object versions
// and uploads); they accumulate over passes.
type Job struct {
	ID            int64     `json:"id"`
	Kind          string    `json:"kind"`           // KindRewrap
	KeyID         string    `json:"key_id"`         // a bucket root key "bucket/<id>" or a named SSE-KMS key
	TargetVersion int       `json:"target_version"` // rows below this root-key version are rewrapped
	State         State     `json:"state"`
	Total         int64     `json:"total"`   // rows below the target when the job was created
	Done          int64     `json:"done"`    // rows re-sealed
	Failed        int64     `json:"failed"`  // rows the KMS refused to rewrap, per attempt (each pass retries them)
	Skipped       int64     `json:"skipped"` // rows changed or deleted concurrently
	Pass          int       `json:"pass"`    // passes started
	Cursor        Cursor    `json:"cursor"`
	LeaseOwner    string    `json:"lease_owner"`
	LeaseExpires  time.Time `json:"lease_expires"`
	CreatedAt     time.Time `json:"created_at"`
	StartedAt     time.Time `json:"started_at"` // zero until first claimed
	UpdatedAt     time.Time `json:"updated_at"`
	FinishedAt    time.Time `json:"finished_at"` // zero while active
	LastError     string    `json:"last_error"`  // why the job failed, or the last row error; never key material
}

// Cursor is where a pass goes on: Kind is "object" or "upload" (the
// s3node.SealedKind being listed; "" for a pass not started), Version and
// ID the last row done.
type Cursor struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	ID      int64  `json:"id"`
}

// JobStore keeps rewrap jobs; storage/sqlite and storage/postgres
// implement it on the S3 metadata database, and storagetest.
// ExerciseRewrapJobs checks them. Errors are *s3node.Error.
type JobStore interface {
	// CreateJob records a pending job for keyID with target version
	// target and total rows, and returns it with created true. When the
	// key has an active job already, it raises that job's target version
	// to target if lower and returns it with created false.
	CreateJob(ctx context.Context, keyID string, target int, total int64, now time.Time) (j Job, created bool, err error)
	// GetJob returns job id, or ENotFound.
	GetJob(ctx context.Context, id int64) (Job, error)
	// ListJobs returns up to limit jobs, newest first.
	ListJobs(ctx context.Context, limit int) ([]Job, error)
	// ClaimJob gives owner the oldest pending job, or a running one whose
	// lease expired (expiry at or before now), with a lease until
	// now+lease, in state running. ENotFound when there is none.
	ClaimJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (Job, error)
	// SaveJob writes j's state, counters, cursor, pass and last error if
	// j.LeaseOwner still holds the job's lease, renewing it until
	// now+lease (a final state releases it), and returns the stored
	// target version (CreateJob may have raised it). EConflict when the
	// lease was lost (another node took the job over, or it was
	// cancelled); ENotFound when the job is gone.
	SaveJob(ctx context.Context, j Job, now time.Time, lease time.Duration) (target int, err error)
	// OldestSealed returns, for every KMS key some object version or
	// upload has a sealed key depending on, the lowest root-key version
	// one depends on (the sweeper's question), reading one index entry
	// per key rather than the rows.
	OldestSealed(ctx context.Context) (map[string]int, error)
}
