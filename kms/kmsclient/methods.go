package kmsclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// GenerateDataKey returns a fresh data key for key keyID bound to the
// encryption context ec (POST /v1/datakey/generate). The caller wipes
// dk.Plaintext after use (dk.Wipe). Retried on transient failures: an
// unused data key costs nothing.
func (c *Client) GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (kms.DataKey, error) {
	var out wire.GenerateDataKeyResponse
	err := c.do(ctx, call{name: "GenerateDataKey", method: http.MethodPost, path: "/v1/datakey/generate",
		in: &wire.GenerateDataKeyRequest{KeyID: keyID, Context: ec}, out: &out, idempotent: true})
	if err != nil {
		return kms.DataKey{}, err
	}
	return kms.DataKey{KeyID: out.KeyID, KeyVersion: out.KeyVersion, Plaintext: out.Plaintext, Sealed: out.Ciphertext}, nil
}

// Decrypt opens a sealed data key made with the same encryption context
// (POST /v1/datakey/decrypt). The caller wipes the plaintext after use.
func (c *Client) Decrypt(ctx context.Context, sealed []byte, ec map[string]string) (kms.DataKey, error) {
	return c.decrypt(ctx, "Decrypt", "/v1/datakey/decrypt", sealed, ec)
}

// DecryptPayload opens a payload sealed by Encrypt (POST /v1/decrypt).
func (c *Client) DecryptPayload(ctx context.Context, sealed []byte, ec map[string]string) (kms.DataKey, error) {
	return c.decrypt(ctx, "DecryptPayload", "/v1/decrypt", sealed, ec)
}

func (c *Client) decrypt(ctx context.Context, name, path string, sealed []byte, ec map[string]string) (kms.DataKey, error) {
	var out wire.DecryptResponse
	err := c.do(ctx, call{name: name, method: http.MethodPost, path: path,
		in: &wire.DecryptRequest{Ciphertext: sealed, Context: ec}, out: &out, idempotent: true})
	if err != nil {
		return kms.DataKey{}, err
	}
	return kms.DataKey{KeyID: out.KeyID, KeyVersion: out.KeyVersion, Plaintext: out.Plaintext, Sealed: sealed}, nil
}

// Rewrap re-seals a sealed data key or payload under the current version
// of its key (POST /v1/datakey/rewrap). The result has no Plaintext.
func (c *Client) Rewrap(ctx context.Context, sealed []byte, ec map[string]string) (kms.DataKey, error) {
	var out wire.RewrapResponse
	err := c.do(ctx, call{name: "Rewrap", method: http.MethodPost, path: "/v1/datakey/rewrap",
		in: &wire.RewrapRequest{Ciphertext: sealed, Context: ec}, out: &out, idempotent: true})
	if err != nil {
		return kms.DataKey{}, err
	}
	return kms.DataKey{KeyID: out.KeyID, KeyVersion: out.KeyVersion, Sealed: out.Ciphertext}, nil
}

// RewrapBatch rewraps up to kms.MaxBatch items in one call
// (POST /v1/datakey/rewrap-batch). Items fail independently: the error of
// one is in its result's Err (a *kms.Error); the returned error is for the
// whole call.
func (c *Client) RewrapBatch(ctx context.Context, items []kms.RewrapItem) ([]kms.RewrapResult, error) {
	in := wire.RewrapBatchRequest{Items: make([]wire.RewrapRequest, len(items))}
	for i, it := range items {
		in.Items[i] = wire.RewrapRequest{Ciphertext: it.Sealed, Context: it.Context}
	}
	var out wire.RewrapBatchResponse
	err := c.do(ctx, call{name: "RewrapBatch", method: http.MethodPost, path: "/v1/datakey/rewrap-batch",
		in: &in, out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	if len(out.Results) != len(items) {
		return nil, &kms.Error{Code: kms.EInternal, Message: "KMS answered a batch rewrap with the wrong number of results",
			Err: &CallError{Call: "RewrapBatch", StatusCode: http.StatusOK}}
	}
	res := make([]kms.RewrapResult, len(out.Results))
	for i, r := range out.Results {
		if r.Error != nil {
			code, ok := knownCodes[kms.Code(r.Error.Code)]
			if !ok {
				code = kms.EInternal
			}
			res[i].Err = &kms.Error{Code: code, Message: r.Error.Message}
			continue
		}
		res[i] = kms.RewrapResult{Sealed: r.Ciphertext, KeyVersion: r.KeyVersion}
	}
	return res, nil
}

// Encrypt seals a payload of at most 4096 bytes under the current version
// of key keyID, bound to ec (POST /v1/encrypt).
func (c *Client) Encrypt(ctx context.Context, keyID string, plaintext []byte, ec map[string]string) (sealed []byte, version int, err error) {
	var out wire.EncryptResponse
	err = c.do(ctx, call{name: "Encrypt", method: http.MethodPost, path: "/v1/encrypt",
		in: &wire.EncryptRequest{KeyID: keyID, Plaintext: plaintext, Context: ec}, out: &out, idempotent: true})
	if err != nil {
		return nil, 0, err
	}
	return out.Ciphertext, out.KeyVersion, nil
}

// CreateKey creates a key (POST /v1/keys). Never retried.
func (c *Client) CreateKey(ctx context.Context, req wire.CreateKeyRequest) (wire.Key, error) {
	var out wire.Key
	err := c.do(ctx, call{name: "CreateKey", method: http.MethodPost, path: "/v1/keys", in: &req, out: &out})
	return out, err
}

// CreateBucketKey creates the root key of a bucket (purpose bucket-root)
// with the given id (kms.BucketKeyID). A key that exists already is not an
// error, so a retry after a lost answer succeeds.
func (c *Client) CreateBucketKey(ctx context.Context, id string) error {
	_, err := c.CreateKey(ctx, wire.CreateKeyRequest{ID: id, Purpose: string(kms.PurposeBucketRoot)})
	if kms.ErrorCode(err) == kms.EConflict {
		return nil
	}
	return err
}

// ScheduleKeyDeletion schedules the destruction of key id after days
// (ScheduleDeletion without the key's new state).
func (c *Client) ScheduleKeyDeletion(ctx context.Context, id string, days int) error {
	_, err := c.ScheduleDeletion(ctx, id, days)
	return err
}

// ListKeys returns one page of up to limit keys (0: the server's maximum)
// with ids after after, in byte order; its Next is the after value of the
// next page, "" on the last (GET /v1/keys).
func (c *Client) ListKeys(ctx context.Context, after string, limit int) (wire.ListKeysResponse, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out wire.ListKeysResponse
	err := c.do(ctx, call{name: "ListKeys", method: http.MethodGet, path: "/v1/keys", query: q, out: &out, idempotent: true})
	return out, err
}

// GetKey returns a key with its versions (GET /v1/keys/{id}).
func (c *Client) GetKey(ctx context.Context, id string) (wire.Key, error) {
	var out wire.Key
	err := c.do(ctx, call{name: "GetKey", method: http.MethodGet, path: keyPath(id, ""), out: &out, idempotent: true})
	return out, err
}

// keyAction posts to /v1/keys/{id}/<action>. State changes are not retried.
func (c *Client) keyAction(ctx context.Context, name, id, action string, in any) (wire.Key, error) {
	var out wire.Key
	err := c.do(ctx, call{name: name, method: http.MethodPost, path: keyPath(id, action), in: in, out: &out})
	return out, err
}

// RotateKey adds a root version that becomes current (POST /v1/keys/{id}/rotate).
func (c *Client) RotateKey(ctx context.Context, id string) (wire.Key, error) {
	return c.keyAction(ctx, "RotateKey", id, "rotate", nil)
}

// DisableKey disables a key (POST /v1/keys/{id}/disable).
func (c *Client) DisableKey(ctx context.Context, id string) (wire.Key, error) {
	return c.keyAction(ctx, "DisableKey", id, "disable", nil)
}

// EnableKey enables a key (POST /v1/keys/{id}/enable).
func (c *Client) EnableKey(ctx context.Context, id string) (wire.Key, error) {
	return c.keyAction(ctx, "EnableKey", id, "enable", nil)
}

// ActivateKey moves a pre-active key to active (POST /v1/keys/{id}/activate).
func (c *Client) ActivateKey(ctx context.Context, id string) (wire.Key, error) {
	return c.keyAction(ctx, "ActivateKey", id, "activate", nil)
}

// DeactivateKey deactivates a key: it still decrypts but protects no new
// data (POST /v1/keys/{id}/deactivate).
func (c *Client) DeactivateKey(ctx context.Context, id string) (wire.Key, error) {
	return c.keyAction(ctx, "DeactivateKey", id, "deactivate", nil)
}

// ScheduleDeletion schedules the destruction of a key in days days
// (POST /v1/keys/{id}/schedule-deletion).
func (c *Client) ScheduleDeletion(ctx context.Context, id string, days int) (wire.Key, error) {
	return c.keyAction(ctx, "ScheduleDeletion", id, "schedule-deletion", &wire.ScheduleDeletionRequest{Days: days})
}

// CancelDeletion cancels a scheduled deletion; the key stays disabled
// (POST /v1/keys/{id}/cancel-deletion).
func (c *Client) CancelDeletion(ctx context.Context, id string) (wire.Key, error) {
	return c.keyAction(ctx, "CancelDeletion", id, "cancel-deletion", nil)
}

// SetVersionState deactivates (state "deactivated") or activates again
// (state "active") a root version of a key
// (POST /v1/keys/{id}/versions/{v}/deactivate|activate).
func (c *Client) SetVersionState(ctx context.Context, id string, version int, state string) (wire.KeyVersion, error) {
	var action string
	switch state {
	case "active":
		action = "activate"
	case "deactivated":
		action = "deactivate"
	default:
		return wire.KeyVersion{}, fmt.Errorf("kmsclient: a version state is \"active\" or \"deactivated\", not %q", state)
	}
	var out wire.KeyVersion
	err := c.do(ctx, call{name: "SetVersionState", method: http.MethodPost,
		path: keyPath(id, "versions/"+strconv.Itoa(version)+"/"+action), out: &out})
	return out, err
}

// DestroyVersion erases a deactivated root version's material
// (POST /v1/keys/{id}/versions/{v}/destroy).
func (c *Client) DestroyVersion(ctx context.Context, id string, version int) (wire.KeyVersion, error) {
	var out wire.KeyVersion
	err := c.do(ctx, call{name: "DestroyVersion", method: http.MethodPost,
		path: keyPath(id, "versions/"+strconv.Itoa(version)+"/destroy"), out: &out})
	return out, err
}

// SetRotation sets a key's automatic rotation period; 0 turns it off
// (PUT /v1/keys/{id}/rotation).
func (c *Client) SetRotation(ctx context.Context, id string, period time.Duration) (wire.Key, error) {
	var out wire.Key
	err := c.do(ctx, call{name: "SetRotation", method: http.MethodPut, path: keyPath(id, "rotation"),
		in: &wire.RotationRequest{Period: period.String()}, out: &out, idempotent: true})
	return out, err
}

// DestroyKey destroys a key's material now; an active key is refused
// (POST /v1/keys/{id}/destroy).
func (c *Client) DestroyKey(ctx context.Context, id string) (wire.Key, error) {
	return c.keyAction(ctx, "DestroyKey", id, "destroy", nil)
}

// ListAudit returns one page of audit events matching f, newest first;
// its NextBefore is the Before value of the next page, 0 on the last
// (GET /v1/audit).
func (c *Client) ListAudit(ctx context.Context, f kms.AuditFilter) (wire.ListAuditResponse, error) {
	q := url.Values{}
	if f.KeyID != "" {
		q.Set("key_id", f.KeyID)
	}
	if f.Identity != "" {
		q.Set("identity", f.Identity)
	}
	if f.Before > 0 {
		q.Set("before", strconv.FormatInt(f.Before, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out wire.ListAuditResponse
	err := c.do(ctx, call{name: "ListAudit", method: http.MethodGet, path: "/v1/audit", query: q, out: &out, idempotent: true})
	return out, err
}

// MasterStatus returns how many root versions each master key id wraps
// (GET /v1/admin/master).
func (c *Client) MasterStatus(ctx context.Context) (wire.MasterStatus, error) {
	var out wire.MasterStatus
	err := c.do(ctx, call{name: "MasterStatus", method: http.MethodGet, path: "/v1/admin/master", out: &out, idempotent: true})
	return out, err
}

// RotateMaster rewraps up to batch root versions under the current master
// key (0: the server's default) and reports progress
// (POST /v1/admin/master/rotate). Call it until Remaining is 0. Safe to
// retry: a version is rewrapped once however often it is asked.
func (c *Client) RotateMaster(ctx context.Context, batch int) (wire.RotateMasterResponse, error) {
	var out wire.RotateMasterResponse
	err := c.do(ctx, call{name: "RotateMaster", method: http.MethodPost, path: "/v1/admin/master/rotate",
		in: &wire.RotateMasterRequest{Batch: batch}, out: &out, idempotent: true})
	return out, err
}

// Healthy reports whether the KMS process answers (GET /healthz).
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, call{name: "Healthy", method: http.MethodGet, path: "/healthz", idempotent: true})
}

// Ready reports whether the KMS can serve (GET /readyz).
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, call{name: "Ready", method: http.MethodGet, path: "/readyz", idempotent: true})
}
