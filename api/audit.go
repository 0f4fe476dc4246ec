package api

import (
	"math"
	"net/http"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// GET /v1/audit?key_id=&identity=&before=&limit=
func (s *Server) listAudit(r *http.Request) (any, error) {
	q := r.URL.Query()
	f := kms.AuditFilter{KeyID: q.Get("key_id"), Identity: q.Get("identity")}
	if f.KeyID != "" && !kms.ValidKeyID(f.KeyID) {
		return nil, invalid("query parameter key_id must be a key id")
	}
	if f.Identity != "" && !kms.Identity(f.Identity).Valid() {
		return nil, invalid("query parameter identity must be a lower-case hex SHA-256")
	}
	before, err := queryInt(q, "before", 0, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	limit, err := queryInt(q, "limit", 0, kms.MaxListLimit)
	if err != nil {
		return nil, err
	}
	f.Before, f.Limit = before, int(limit)
	if f.Limit == 0 {
		f.Limit = kms.MaxListLimit
	}
	events, err := s.svc.ListAudit(r.Context(), f)
	if err != nil {
		return nil, err
	}
	out := &wire.ListAuditResponse{Events: make([]wire.AuditEvent, len(events))}
	for i, e := range events {
		out.Events[i] = wire.AuditEvent{
			ID: e.ID, Time: e.Time.UTC(), Identity: e.Identity, Operation: e.Operation,
			KeyID: e.KeyID, KeyVersion: e.KeyVersion, Result: e.Result,
			Context: e.Context, RequestID: e.RequestID,
		}
	}
	if len(events) == f.Limit && len(events) > 0 {
		out.NextBefore = events[len(events)-1].ID
	}
	return out, nil
}
