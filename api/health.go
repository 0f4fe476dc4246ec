package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/s3kms/s3kms/api/wire"
)

// ReadyCheck is one readiness check of GET /readyz: Fn returns nil when
// the dependency Name ("key_store", "protector") is usable.
type ReadyCheck struct {
	Name string
	Fn   func(ctx context.Context) error
}

// GET /healthz: the process is up.
func (s *Server) healthz(*http.Request) (any, error) {
	return &wire.Health{Status: "ok"}, nil
}

// readyzHandler serves GET /readyz: 200 {"status":"ready","checks":{...}}
// when the key store and every configured check (the protector) answer
// within the route's deadline, 503 with the failing checks otherwise, and
// 503 {"status":"draining"} once SetDraining(true) was called.
func (s *Server) readyzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := &wire.Health{Status: "draining"}
		if !s.draining.Load() && (s.drainingFrom == nil || !s.drainingFrom()) {
			rep = s.runChecks(r.Context())
		}
		status := http.StatusOK
		if rep.Status != "ready" {
			status = http.StatusServiceUnavailable
		}
		b, _ := json.Marshal(rep)
		setJSONHeaders(w)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write(append(b, '\n'))
	})
}

// runChecks runs the readiness checks concurrently.
func (s *Server) runChecks(ctx context.Context) *wire.Health {
	checks := append([]ReadyCheck{{Name: "key_store", Fn: s.ready}}, s.checks...)
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { errs[i] = c.Fn(ctx) })
	}
	wg.Wait()
	rep := &wire.Health{Status: "ready", Checks: map[string]string{}}
	for i, c := range checks {
		rep.Checks[c.Name] = "ok"
		if errs[i] != nil {
			// The reason goes to the log only: /readyz needs no client
			// certificate.
			rep.Checks[c.Name] = "fail"
			rep.Status = "not ready"
			s.log.Warn("readiness check failed", "check", c.Name, "err", errs[i])
		}
	}
	return rep
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
