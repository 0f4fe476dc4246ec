package rewrap

import (
	"context"
	"log/slog"
	"time"

	"github.com/s3kms/s3kms/s3node"
)

// DefaultSweepInterval is how often a Sweeper looks for old versions.
const DefaultSweepInterval = time.Minute

// SweeperConfig configures a Sweeper.
type SweeperConfig struct {
	Store Store
	// Current returns the current root-key version of a KMS key (the node's
	// KMS identity needs read on its keys: bucket/* and the SSE-KMS keys).
	Current  func(ctx context.Context, keyID string) (int, error)
	Interval time.Duration // default DefaultSweepInterval
	Logger   *slog.Logger
}

// Sweeper starts rewrap jobs by itself: every interval it finds the keys
// some row is sealed under an older version of than the key's current
// one (a rotation nobody followed with a job: automatic rotation in the
// KMS, `admin key rotate` without --config) and creates a job for each
// key without an active one.
type Sweeper struct{ cfg SweeperConfig }

// NewSweeper returns a sweeper with cfg's defaults filled in.
func NewSweeper(cfg SweeperConfig) *Sweeper {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSweepInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{cfg: cfg}
}

// Run sweeps every interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "rewrap: sweep failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep looks once and returns the jobs it created. A key whose current
// version the KMS does not tell (deleted, not readable by this node) is
// logged and left out.
func (s *Sweeper) Sweep(ctx context.Context) ([]Job, error) {
	oldest, err := s.cfg.Store.OldestSealed(ctx)
	if err != nil {
		return nil, err
	}
	var out []Job
	for keyID, version := range oldest {
		cur, err := s.cfg.Current(ctx, keyID)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			s.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "rewrap: sweep: no current version", slog.String("key_id", keyID), slog.String("error", err.Error()))
			continue
		}
		if version >= cur {
			continue
		}
		j, created, err := CreateJob(ctx, s.cfg.Store, keyID, cur)
		if s3node.ErrorCode(err) == s3node.EConflict {
			continue // another node created it at the same time
		}
		if err != nil {
			return out, err
		}
		if created {
			s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "rewrap: job created by sweeper", slog.Int64("job", j.ID),
				slog.String("key_id", keyID), slog.Int("target_version", cur), slog.Int64("total", j.Total))
			out = append(out, j)
		}
	}
	return out, nil
}

// CreateJob records a job rewrapping every row sealed under keyID below
// version target, its total counted now (CountSealed), or raises the
// target of the key's active job (created false).
func CreateJob(ctx context.Context, st Store, keyID string, target int) (Job, bool, error) {
	counts, err := st.CountSealed(ctx, keyID)
	if err != nil {
		return Job{}, false, err
	}
	var total int64
	for _, c := range counts {
		if c.Version < target {
			total += c.Objects + c.Uploads
		}
	}
	return st.CreateJob(ctx, keyID, target, total, time.Now())
}
