package api

import (
	"net/http"
	"time"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// POST /v1/keys
func (s *Server) createKey(r *http.Request) (any, error) {
	var req wire.CreateKeyRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	k, err := s.svc.CreateKey(r.Context(), kms.CreateKeyRequest{
		ID: req.ID, Purpose: kms.Purpose(req.Purpose), Exportable: req.Exportable,
		Description: req.Description, State: kms.State(req.State),
	})
	if err != nil {
		return nil, err
	}
	return keyToWire(k, nil), nil
}

// GET /v1/keys?after=&limit=
func (s *Server) listKeys(r *http.Request) (any, error) {
	q := r.URL.Query()
	after := q.Get("after")
	if after != "" && !kms.ValidKeyID(after) {
		return nil, invalid("query parameter after must be a key id")
	}
	limit, err := queryInt(q, "limit", 0, kms.MaxListLimit)
	if err != nil {
		return nil, err
	}
	keys, next, err := s.svc.ListKeys(r.Context(), after, int(limit))
	if err != nil {
		return nil, err
	}
	out := &wire.ListKeysResponse{Keys: make([]wire.Key, len(keys)), Next: next}
	for i, k := range keys {
		out.Keys[i] = *keyToWire(k, nil)
	}
	return out, nil
}

// GET /v1/keys/{id}
func (s *Server) getKey(r *http.Request) (any, error) {
	id, err := keyIDParam(r)
	if err != nil {
		return nil, err
	}
	info, err := s.svc.GetKey(r.Context(), id)
	if err != nil {
		return nil, err
	}
	vs := make([]wire.KeyVersion, len(info.Versions))
	for i, v := range info.Versions {
		vs[i] = versionToWire(v)
	}
	return keyToWire(info.Key, vs), nil
}

// keyAction is the shape of the POST /v1/keys/{id}/<action> routes without
// parameters: an empty body or {}, then one service call.
func (s *Server) keyAction(r *http.Request, call func(id string) (kms.Key, error)) (any, error) {
	id, err := keyIDParam(r)
	if err != nil {
		return nil, err
	}
	var empty struct{}
	if err := decodeOptionalBody(r, &empty); err != nil {
		return nil, err
	}
	k, err := call(id)
	if err != nil {
		return nil, err
	}
	return keyToWire(k, nil), nil
}

// POST /v1/keys/{id}/rotate
func (s *Server) rotateKey(r *http.Request) (any, error) {
	return s.keyAction(r, func(id string) (kms.Key, error) { return s.svc.RotateKey(r.Context(), id) })
}

// POST /v1/keys/{id}/disable
func (s *Server) disableKey(r *http.Request) (any, error) {
	return s.keyAction(r, func(id string) (kms.Key, error) { return s.svc.SetEnabled(r.Context(), id, false) })
}

// POST /v1/keys/{id}/enable
func (s *Server) enableKey(r *http.Request) (any, error) {
	return s.keyAction(r, func(id string) (kms.Key, error) { return s.svc.SetEnabled(r.Context(), id, true) })
}

// POST /v1/keys/{id}/activate
func (s *Server) activateKey(r *http.Request) (any, error) {
	return s.keyAction(r, func(id string) (kms.Key, error) { return s.svc.SetState(r.Context(), id, kms.StateActive) })
}

// POST /v1/keys/{id}/deactivate
func (s *Server) deactivateKey(r *http.Request) (any, error) {
	return s.keyAction(r, func(id string) (kms.Key, error) {
		return s.svc.SetState(r.Context(), id, kms.StateDeactivated)
	})
}

// POST /v1/keys/{id}/cancel-deletion
func (s *Server) cancelDeletion(r *http.Request) (any, error) {
	return s.keyAction(r, func(id string) (kms.Key, error) { return s.svc.CancelDeletion(r.Context(), id) })
}

// POST /v1/keys/{id}/destroy
func (s *Server) destroyKey(r *http.Request) (any, error) {
	return s.keyAction(r, func(id string) (kms.Key, error) { return s.svc.DestroyKey(r.Context(), id) })
}

// POST /v1/keys/{id}/schedule-deletion {"days":N}
func (s *Server) scheduleDeletion(r *http.Request) (any, error) {
	id, err := keyIDParam(r)
	if err != nil {
		return nil, err
	}
	var req wire.ScheduleDeletionRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	k, err := s.svc.ScheduleDeletion(r.Context(), id, req.Days)
	if err != nil {
		return nil, err
	}
	return keyToWire(k, nil), nil
}

func keyToWire(k kms.Key, versions []wire.KeyVersion) *wire.Key {
	return &wire.Key{
		ID: k.ID, Purpose: string(k.Purpose), Exportable: k.Exportable, State: string(k.State),
		Enabled: k.Enabled, CurrentVersion: k.CurrentVersion, Description: k.Description,
		Owner: k.Owner, CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
		DeletionDate: utcPtr(k.DeletionDate), Versions: versions,
		RotationPeriod: rotationPeriod(k.RotationPeriod), NextRotation: utcPtr(k.NextRotation),
	}
}

func rotationPeriod(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func versionToWire(v kms.KeyVersion) wire.KeyVersion {
	return wire.KeyVersion{
		Version: v.Version, Protector: v.Protector, MasterKeyID: v.MasterKeyID,
		CreatedAt: v.CreatedAt.UTC(), DestroyedAt: utcPtr(v.DestroyedAt), State: string(v.VersionState()),
	}
}
