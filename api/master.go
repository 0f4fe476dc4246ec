package api

import (
	"net/http"

	"github.com/s3kms/s3kms/api/wire"
)

// GET /v1/admin/master
func (s *Server) masterStatus(r *http.Request) (any, error) {
	counts, err := s.svc.MasterStatus(r.Context())
	if err != nil {
		return nil, err
	}
	return &wire.MasterStatus{Current: s.svc.MasterKeyID(), Versions: counts}, nil
}

// POST /v1/admin/master/rotate
func (s *Server) rotateMaster(r *http.Request) (any, error) {
	var req wire.RotateMasterRequest
	if err := decodeOptionalBody(r, &req); err != nil {
		return nil, err
	}
	if req.Batch < 0 {
		return nil, invalid("batch must not be negative")
	}
	done, remaining, err := s.svc.RotateMaster(r.Context(), req.Batch)
	if err != nil {
		return nil, err
	}
	return &wire.RotateMasterResponse{Current: s.svc.MasterKeyID(), Done: done, Remaining: remaining}, nil
}
