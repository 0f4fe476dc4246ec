package api

import (
	"net/http"
	"time"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// GET /healthz: the process is up.
func (s *Server) healthz(*http.Request) (any, error) {
	return &wire.Health{Status: "ok"}, nil
}

// GET /readyz: the key store answers within the route's deadline.
func (s *Server) readyz(r *http.Request) (any, error) {
	if err := s.ready(r.Context()); err != nil {
		return nil, kms.Wrap(kms.EUnavailable, err, "not ready")
	}
	return &wire.Health{Status: "ready"}, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
