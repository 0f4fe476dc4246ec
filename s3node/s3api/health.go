package s3api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Health endpoints on the S3 listeners. "-" cannot start a bucket name,
// so these paths never address a bucket. They are unauthenticated.
const (
	HealthzPath = "/-/healthz"
	ReadyzPath  = "/-/readyz"
)

// Readiness defaults.
const (
	DefaultCheckTimeout = 2 * time.Second
	DefaultReadyTTL     = time.Second
)

// Check is one readiness check: Fn returns nil when the dependency Name
// (e.g. "database", "kms", "data_dir") is usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Readiness runs a node's readiness checks for /readyz. Results are kept
// for TTL so that probes cannot overload PostgreSQL or the KMS; concurrent
// probes share one run. It is safe for concurrent use.
type Readiness struct {
	log      *slog.Logger
	checks   []Check
	timeout  time.Duration
	ttl      time.Duration
	draining atomic.Bool
	// drainingFrom, if set, is another draining flag (DrainingFrom).
	drainingFrom func() bool

	mu     sync.Mutex
	last   ReadyReport
	lastAt time.Time
	valid  bool
}

// ReadyReport is the JSON body of /readyz and /healthz.
type ReadyReport struct {
	// Status is "ok" (liveness), "ready", "not ready" or "draining".
	Status string `json:"status"`
	// Checks maps each check to "ok" or "fail". The reason of a failure
	// is logged, not answered: the S3 listeners are public.
	Checks map[string]string `json:"checks,omitempty"`
}

// NewReadiness returns a Readiness running checks, each under timeout
// (0: DefaultCheckTimeout), caching results for ttl (0: DefaultReadyTTL).
func NewReadiness(timeout, ttl time.Duration, checks ...Check) *Readiness {
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	if ttl <= 0 {
		ttl = DefaultReadyTTL
	}
	return &Readiness{checks: checks, timeout: timeout, ttl: ttl, log: slog.New(slog.DiscardHandler)}
}

// WithLogger sets where failed checks are logged (warn level, with their
// reason; at most once per TTL) and returns rd.
func (rd *Readiness) WithLogger(l *slog.Logger) *Readiness {
	if l != nil {
		rd.log = l
	}
	return rd
}

// Ready runs the checks (or returns the cached result) and reports
// whether all passed.
func (rd *Readiness) Ready(ctx context.Context) (ReadyReport, bool) {
	if rd.Draining() {
		return ReadyReport{Status: "draining"}, false
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.valid || time.Since(rd.lastAt) >= rd.ttl {
		rd.last = rd.run(ctx)
		rd.lastAt, rd.valid = time.Now(), true
	}
	return rd.last, rd.last.Status == "ready"
}

// run runs every check concurrently.
func (rd *Readiness) run(ctx context.Context) ReadyReport {
	// The checks outlive a probe that hangs up: their result is shared.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rd.timeout)
	defer cancel()
	errs := make([]error, len(rd.checks))
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Go(func() { errs[i] = c.Fn(ctx) })
	}
	wg.Wait()
	rep := ReadyReport{Status: "ready", Checks: make(map[string]string, len(rd.checks))}
	for i, c := range rd.checks {
		rep.Checks[c.Name] = "ok"
		if errs[i] != nil {
			rep.Checks[c.Name] = "fail"
			rep.Status = "not ready"
			rd.log.Warn("readiness check failed", "check", c.Name, "err", errs[i])
		}
	}
	return rep
}

// LivenessHandler answers 200 {"status":"ok"}: the process is up.
func (rd *Readiness) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, http.StatusOK, ReadyReport{Status: "ok"})
	})
}

// ReadinessHandler answers 200 with the checks when all pass, 503
// otherwise (and while draining).
func (rd *Readiness) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, ok := rd.Ready(r.Context())
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		writeHealth(w, status, rep)
	})
}

func writeHealth(w http.ResponseWriter, status int, rep ReadyReport) {
	b, _ := json.Marshal(rep)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// serveHealth answers the health endpoints on the S3 listeners (path-style
// "/-/healthz" and "/-/readyz", GET or HEAD) and reports whether it did.
// Without a Readiness, /-/readyz answers as /-/healthz.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.URL.Path != HealthzPath && r.URL.Path != ReadyzPath {
		return false
	}
	if bucket, _ := s.target(r); bucket != "-" {
		return false // virtual-hosted style: a key of a real bucket
	}
	rd := s.readiness
	if rd == nil {
		rd = NewReadiness(0, 0)
	}
	if r.URL.Path == ReadyzPath {
		rd.ReadinessHandler().ServeHTTP(w, r)
	} else {
		rd.LivenessHandler().ServeHTTP(w, r)
	}
	return true
}

// DirWritable is a readiness check that creates and removes a small file
// in dir (the blob store's temp directory).
func DirWritable(dir string) func(context.Context) error {
	return func(context.Context) error {
		f, err := os.CreateTemp(dir, "readyz-*")
		if err != nil {
			return err
		}
		name := f.Name()
		_, werr := f.Write([]byte("ok"))
		cerr := f.Close()
		rerr := os.Remove(name)
		for _, e := range []error{werr, cerr, rerr} {
			if e != nil {
				return e
			}
		}
		return nil
	}
}
