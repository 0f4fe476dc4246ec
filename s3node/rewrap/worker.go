package rewrap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/bucketkey"
)

// Store is what the worker and the sweeper need of the S3 metadata store:
// the sealed keys and the jobs. storage/sqlite and storage/postgres's
// S3Store implement it.
type Store interface {
	s3node.SealedKeyStore
	JobStore
}

// KMS rewraps sealed data keys under the current version of their key;
// kmsclient.Client implements it.
type KMS interface {
	RewrapBatch(ctx context.Context, items []kms.RewrapItem) ([]kms.RewrapResult, error)
}

// Defaults of Config.
const (
	DefaultRate  = 500             // rows per second
	DefaultBatch = 250             // rows per page (one RewrapBatch call)
	DefaultLease = time.Minute     // a crashed node's job is taken over after this
	DefaultPoll  = 2 * time.Second // how often an idle worker looks for a job
	// maxPasses bounds the passes of a job: with bucket keys, writes may
	// keep sealing under the old version for one cache TTL (at most 1h,
	// 720 passes at the default PassDelay).
	maxPasses = 1000
)

// Config configures a Worker.
type Config struct {
	Store  Store
	KMS    KMS
	Owner  string        // lease owner; default hostname and a random suffix
	Rate   float64       // rows per second, all kinds; default DefaultRate
	Batch  int           // rows per page, at most kms.MaxBatch; default DefaultBatch
	Lease  time.Duration // default DefaultLease
	Poll   time.Duration // default DefaultPoll
	Logger *slog.Logger
	// PassDelay is the pause between passes that left rows behind (rows
	// written under the old version by a bucket-key cache meanwhile);
	// default 5s.
	PassDelay time.Duration
	// Now is the clock of leases; default time.Now.
	Now func() time.Time
	// Metrics, if set, count rows, jobs and KMS batch latency.
	Metrics *Metrics
}

// Worker runs rewrap jobs. One per node; any number of nodes share the
// jobs through their leases.
type Worker struct {
	cfg     Config
	limiter *limiter
}

// NewWorker returns a worker with cfg's defaults filled in.
func NewWorker(cfg Config) *Worker {
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.Owner = host + "-" + hex.EncodeToString(b[:])
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	cfg.Batch = min(cfg.Batch, kms.MaxBatch)
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.PassDelay <= 0 {
		cfg.PassDelay = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Worker{cfg: cfg, limiter: newLimiter(cfg.Rate, cfg.Batch, cfg.Now)}
}

// Run claims and runs jobs until ctx ends. A job that fails on a
// transient error (database or KMS unavailable) keeps its lease and is
// resumed, by this node or another, when the lease expires.
func (w *Worker) Run(ctx context.Context) {
	for ctx.Err() == nil {
		ran, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "rewrap: job interrupted", slog.String("error", err.Error()))
		}
		if ran && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.cfg.Poll):
		}
	}
}

// RunOnce claims one job and runs it to its end; ran is false when there
// was none to claim.
func (w *Worker) RunOnce(ctx context.Context) (ran bool, err error) {
	j, err := w.cfg.Store.ClaimJob(ctx, w.cfg.Owner, w.cfg.Now(), w.cfg.Lease)
	if s3node.ErrorCode(err) == s3node.ENotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	w.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "rewrap: job claimed", slog.Int64("job", j.ID), slog.String("key_id", j.KeyID),
		slog.Int("target_version", j.TargetVersion), slog.Int("pass", j.Pass), slog.Int64("done", j.Done))
	err = w.run(ctx, &j)
	if err != nil && ctx.Err() != nil {
		// Shutting down: hand the job over at once rather than after the
		// lease, keeping the progress of the page under way (its re-sealed
		// rows are no longer listed).
		_, _ = w.cfg.Store.SaveJob(context.WithoutCancel(ctx), j, w.cfg.Now(), 0)
	}
	return true, err
}

// kinds are the row kinds of a pass, in order.
var kinds = []s3node.SealedKind{s3node.SealedObject, s3node.SealedUpload}

// run runs job j, which this worker holds, until it ends or an error.
//
// A pass lists every row of the key below the target, objects then
// uploads. After a pass, the job is done when CountSealed finds no row
// below the target. Rows may still be there: written under the old
// version since the pass listed (a node's bucket-key cache seals under
// the version it cached, for up to encryption.bucket_key_ttl), or refused
// by the KMS. The job fails only when a pass listed rows and none of them
// was re-sealed or found changed (the KMS refused them all); otherwise
// another pass follows, up to maxPasses.
func (w *Worker) run(ctx context.Context, j *Job) error {
	for {
		// listed and moved are this pass's rows listed, and re-sealed or
		// skipped; -1: resumed mid-pass, what came before is unknown.
		listed, movedAtStart := int64(-1), int64(-1)
		if j.Cursor.Kind == "" {
			j.Pass++
			j.Cursor = Cursor{Kind: string(s3node.SealedObject)}
			listed, movedAtStart = 0, j.Done+j.Skipped
			if err := w.save(ctx, j); err != nil {
				return err
			} else if j.Pass > maxPasses {
				return w.finish(ctx, j, Failed, fmt.Sprintf("rows still sealed below version %d after %d passes", j.TargetVersion, maxPasses))
			}
		}
		for i, kind := range kinds {
			if string(kind) != j.Cursor.Kind {
				continue
			}
			n, err := w.pass(ctx, j, kind)
			if err != nil {
				return err
			}
			listed += n
			if i+1 < len(kinds) {
				j.Cursor = Cursor{Kind: string(kinds[i+1])}
			}
		}
		left, err := w.remaining(ctx, j)
		if err != nil {
			return err
		}
		j.Cursor = Cursor{}
		if left == 0 {
			return w.finish(ctx, j, Done, "")
		}
		if movedAtStart >= 0 && listed > 0 && j.Done+j.Skipped == movedAtStart {
			reason := fmt.Sprintf("%d rows still sealed below version %d: the last pass re-sealed none of the %d it listed", left, j.TargetVersion, listed)
			if j.LastError != "" {
				reason += "; last error: " + j.LastError
			}
			return w.finish(ctx, j, Failed, reason)
		}
		if err := w.save(ctx, j); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w.cfg.PassDelay):
		}
	}
}

// pass rewraps the rows of kind below the target, page by page from the
// job's cursor, saving the job after each page, and returns how many rows
// it listed.
func (w *Worker) pass(ctx context.Context, j *Job, kind s3node.SealedKind) (int64, error) {
	var listed int64
	for {
		after := s3node.SealedCursor{Version: j.Cursor.Version, ID: j.Cursor.ID}
		rows, err := w.cfg.Store.ListSealed(ctx, kind, j.KeyID, j.TargetVersion, after, w.cfg.Batch)
		if err != nil {
			return listed, err
		}
		listed += int64(len(rows))
		if len(rows) > 0 {
			if err := w.limiter.wait(ctx, len(rows)); err != nil {
				return listed, err
			}
			if err := w.page(ctx, j, rows); err != nil {
				return listed, err
			}
			last := rows[len(rows)-1]
			j.Cursor = Cursor{Kind: string(kind), Version: last.KeyVersion, ID: last.ID}
			if err := w.save(ctx, j); err != nil {
				return listed, err
			}
		}
		if len(rows) < w.cfg.Batch {
			return listed, nil
		}
	}
}

// remaining counts the rows still sealed below the job's target version.
func (w *Worker) remaining(ctx context.Context, j *Job) (int64, error) {
	counts, err := w.cfg.Store.CountSealed(ctx, j.KeyID)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range counts {
		if c.Version < j.TargetVersion {
			n += c.Objects + c.Uploads
		}
	}
	return n, nil
}

// save persists j's progress and renews the lease; it picks up a target
// version raised by another rotation.
func (w *Worker) save(ctx context.Context, j *Job) error {
	target, err := w.cfg.Store.SaveJob(ctx, *j, w.cfg.Now(), w.cfg.Lease)
	if err != nil {
		return err
	}
	j.TargetVersion = target
	return nil
}

// finish ends j in state (Done or Failed) and logs it.
func (w *Worker) finish(ctx context.Context, j *Job, state State, reason string) error {
	j.State = state
	if reason != "" {
		j.LastError = reason
	}
	if _, err := w.cfg.Store.SaveJob(ctx, *j, w.cfg.Now(), w.cfg.Lease); err != nil {
		return err
	}
	w.cfg.Metrics.finished(state)
	level := slog.LevelInfo
	if state != Done {
		level = slog.LevelWarn
	}
	w.cfg.Logger.LogAttrs(ctx, level, "rewrap: job "+string(state), slog.Int64("job", j.ID), slog.String("key_id", j.KeyID),
		slog.Int("target_version", j.TargetVersion), slog.Int64("done", j.Done), slog.Int64("failed", j.Failed),
		slog.Int64("skipped", j.Skipped), slog.Int("passes", j.Pass), slog.String("reason", reason))
	return nil
}

// Encryption context entries a node binds sealed keys to (s3node/s3api,
// DESIGN.md "Key hierarchy"): the rewrap must present exactly the context
// the key was sealed with.
const (
	contextBucket = "s3kms:bucket"
	contextKey    = "s3kms:key"
)

// item is what one row needs rewrapped: the KMS-sealed blob and its
// context, and for a bucket-key envelope the node-sealed part to keep.
type item struct {
	sealed []byte
	ec     map[string]string
	env    *bucketkey.Envelope
}

// rowItem returns what to rewrap for row r.
func rowItem(r s3node.SealedRow) (item, error) {
	sk := r.Encryption.SealedKey
	if bucketkey.IsEnvelope(sk) {
		env, err := bucketkey.Parse(sk)
		if err != nil {
			return item{}, err
		}
		return item{sealed: env.BucketKey, ec: map[string]string{contextBucket: r.BucketID}, env: &env}, nil
	}
	ec := make(map[string]string, len(r.Encryption.Context)+2)
	for k, v := range r.Encryption.Context {
		ec[k] = v
	}
	ec[contextBucket], ec[contextKey] = r.BucketID, r.Key
	return item{sealed: sk, ec: ec}, nil
}

// page rewraps rows with one RewrapBatch call (envelopes sharing a bucket
// data key share its item) and re-seals them one by one, compare and set.
func (w *Worker) page(ctx context.Context, j *Job, rows []s3node.SealedRow) error {
	var reqs []kms.RewrapItem
	index := make(map[string]int) // envelope BDK -> its request
	rowReq := make([]int, len(rows))
	items := make([]item, len(rows))
	for i, r := range rows {
		it, err := rowItem(r)
		if err != nil {
			rowReq[i] = -1
			continue
		}
		items[i] = it
		if it.env != nil {
			if k, ok := index[string(it.sealed)]; ok {
				rowReq[i] = k
				continue
			}
			index[string(it.sealed)] = len(reqs)
		}
		rowReq[i] = len(reqs)
		reqs = append(reqs, kms.RewrapItem{Sealed: it.sealed, Context: it.ec})
	}
	var results []kms.RewrapResult
	if len(reqs) > 0 {
		var err error
		start := time.Now()
		if results, err = w.cfg.KMS.RewrapBatch(ctx, reqs); err != nil {
			return err
		}
		w.cfg.Metrics.batchTook(time.Since(start))
	}
	done, skipped, failed := j.Done, j.Skipped, j.Failed
	defer func() { w.cfg.Metrics.addRows(j.Done-done, j.Skipped-skipped, j.Failed-failed) }()
	for i, r := range rows {
		if rowReq[i] < 0 {
			j.Failed++
			j.LastError = fmt.Sprintf("%s %d: malformed bucket-key envelope", r.Kind, r.ID)
			continue
		}
		res := results[rowReq[i]]
		if res.Err != nil {
			j.Failed++
			j.LastError = fmt.Sprintf("%s %d (%s/%s): KMS: %v", r.Kind, r.ID, r.Bucket, r.Key, res.Err)
			continue
		}
		sealed := res.Sealed
		if env := items[i].env; env != nil {
			var err error
			if sealed, err = (bucketkey.Envelope{BucketKey: res.Sealed, ObjectKey: env.ObjectKey}).Marshal(); err != nil {
				return err
			}
		}
		_, err := w.cfg.Store.ResealKey(ctx, r.Kind, r.ID, r.Encryption.SealedKey, sealed)
		switch s3node.ErrorCode(err) {
		case "":
			j.Done++
		case s3node.ENotFound, s3node.EConflict:
			j.Skipped++ // deleted or rewritten meanwhile; a later pass lists it again if still old
		case s3node.EInvalid:
			// The KMS answered with a key the store does not accept for
			// this row (another key id): leave the row as it is.
			j.Failed++
			j.LastError = fmt.Sprintf("%s %d (%s/%s): %v", r.Kind, r.ID, r.Bucket, r.Key, err)
		default:
			return err
		}
	}
	return nil
}

// errStopped is returned by the limiter when its context ends.
var errStopped = errors.New("rewrap: stopped")

// limiter is a token bucket of rate rows per second holding at most burst
// rows, so a job leaves the database and the KMS to foreground requests.
type limiter struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: now(), now: now}
}

// wait takes n tokens, sleeping until they are there.
func (l *limiter) wait(ctx context.Context, n int) error {
	now := l.now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	if l.tokens >= 0 {
		return nil
	}
	d := time.Duration(-l.tokens / l.rate * float64(time.Second))
	select {
	case <-ctx.Done():
		return errors.Join(errStopped, ctx.Err())
	case <-time.After(d):
		return nil
	}
}
