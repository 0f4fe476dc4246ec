package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// versionParam returns the root-key version of the request path.
func versionParam(r *http.Request) (int, error) {
	v, err := strconv.Atoi(chi.URLParam(r, "v"))
	if err != nil || v < 1 {
		return 0, &inputError{err: kms.Errorf(kms.EInvalid, "invalid key version in path")}
	}
	return v, nil
}

// versionAction is the shape of POST /v1/keys/{id}/versions/{v}/<action>:
// an empty body or {}, one service call, the version after it.
func (s *Server) versionAction(r *http.Request, call func(id string, v int) (kms.KeyVersion, error)) (any, error) {
	id, err := keyIDParam(r)
	if err != nil {
		return nil, err
	}
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	var empty struct{}
	if err := decodeOptionalBody(r, &empty); err != nil {
		return nil, err
	}
	kv, err := call(id, v)
	if err != nil {
		return nil, err
	}
	out := versionToWire(kv)
	return &out, nil
}

// POST /v1/keys/{id}/versions/{v}/deactivate
func (s *Server) deactivateVersion(r *http.Request) (any, error) {
	return s.versionAction(r, func(id string, v int) (kms.KeyVersion, error) {
		return s.svc.SetVersionState(r.Context(), id, v, kms.StateDeactivated)
	})
}

// POST /v1/keys/{id}/versions/{v}/activate
func (s *Server) activateVersion(r *http.Request) (any, error) {
	return s.versionAction(r, func(id string, v int) (kms.KeyVersion, error) {
		return s.svc.SetVersionState(r.Context(), id, v, kms.StateActive)
	})
}

// POST /v1/keys/{id}/versions/{v}/destroy
func (s *Server) destroyVersion(r *http.Request) (any, error) {
	return s.versionAction(r, func(id string, v int) (kms.KeyVersion, error) {
		return s.svc.DestroyVersion(r.Context(), id, v)
	})
}

// PUT /v1/keys/{id}/rotation {"period":"8760h"}
func (s *Server) setRotation(r *http.Request) (any, error) {
	id, err := keyIDParam(r)
	if err != nil {
		return nil, err
	}
	var req wire.RotationRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	period, err := time.ParseDuration(req.Period)
	if err != nil {
		return nil, &inputError{err: kms.Errorf(kms.EInvalid, "period is not a duration such as \"8760h\" or \"0\"")}
	}
	k, err := s.svc.SetRotation(r.Context(), id, period)
	if err != nil {
		return nil, err
	}
	return keyToWire(k, nil), nil
}
