package api

import (
	"net/http"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// POST /v1/datakey/generate
func (s *Server) generateDataKey(r *http.Request) (any, error) {
	var req wire.GenerateDataKeyRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if err := checkKeyID(req.KeyID); err != nil {
		return nil, err
	}
	dk, err := s.svc.GenerateDataKey(r.Context(), req.KeyID, req.Context)
	if err != nil {
		return nil, err
	}
	return &wire.GenerateDataKeyResponse{
		KeyID: dk.KeyID, KeyVersion: dk.KeyVersion, Plaintext: dk.Plaintext, Ciphertext: dk.Sealed,
	}, nil
}

// POST /v1/datakey/decrypt and POST /v1/decrypt: both open a sealed blob,
// a data key or a payload alike.
func (s *Server) decrypt(r *http.Request) (any, error) {
	var req wire.DecryptRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if len(req.Ciphertext) == 0 {
		return nil, invalid("ciphertext is required")
	}
	dk, err := s.svc.Decrypt(r.Context(), req.Ciphertext, req.Context)
	if err != nil {
		return nil, err
	}
	return &wire.DecryptResponse{KeyID: dk.KeyID, KeyVersion: dk.KeyVersion, Plaintext: dk.Plaintext}, nil
}

// POST /v1/datakey/rewrap
func (s *Server) rewrap(r *http.Request) (any, error) {
	var req wire.RewrapRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if len(req.Ciphertext) == 0 {
		return nil, invalid("ciphertext is required")
	}
	dk, err := s.svc.Rewrap(r.Context(), req.Ciphertext, req.Context)
	if err != nil {
		return nil, err
	}
	return &wire.RewrapResponse{KeyID: dk.KeyID, KeyVersion: dk.KeyVersion, Ciphertext: dk.Sealed}, nil
}

// POST /v1/datakey/rewrap-batch. Items fail independently; the response is
// 200 with one result per item unless the batch as a whole is refused.
func (s *Server) rewrapBatch(r *http.Request) (any, error) {
	var req wire.RewrapBatchRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	items := make([]kms.RewrapItem, len(req.Items))
	for i, it := range req.Items {
		items[i] = kms.RewrapItem{Sealed: it.Ciphertext, Context: it.Context}
	}
	results, err := s.svc.RewrapBatch(r.Context(), items)
	if err != nil {
		return nil, err
	}
	out := &wire.RewrapBatchResponse{Results: make([]wire.RewrapBatchResult, len(results))}
	for i, res := range results {
		if res.Err != nil {
			status, we := toWire(res.Err)
			if status >= 500 {
				s.log.Error("batch rewrap item failed", "item", i, "request_id", kms.RequestIDFrom(r.Context()),
					"code", kms.ErrorCode(res.Err), "err", res.Err)
			}
			out.Results[i].Error = &we
			continue
		}
		out.Results[i] = wire.RewrapBatchResult{Ciphertext: res.Sealed, KeyVersion: res.KeyVersion}
	}
	return out, nil
}

// POST /v1/encrypt
func (s *Server) encrypt(r *http.Request) (any, error) {
	var req wire.EncryptRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	defer clear(req.Plaintext)
	if err := checkKeyID(req.KeyID); err != nil {
		return nil, err
	}
	blob, version, err := s.svc.Encrypt(r.Context(), req.KeyID, req.Plaintext, req.Context)
	if err != nil {
		return nil, err
	}
	return &wire.EncryptResponse{KeyID: req.KeyID, KeyVersion: version, Ciphertext: blob}, nil
}
