// Package wire holds the JSON messages of the KMS HTTP API (the data-key
// API used by S3 nodes and the admin REST API), shared by the server in
// package api and the Go client in kms/kmsclient.
//
// It is a leaf package: it imports only the standard library, so that
// linking the client does not link the server (chi, Prometheus). Binary fields are []byte and travel as standard base64 (with
// padding) in JSON; times are RFC 3339 in UTC.
//
// Every error response has the body
//
//	{"error":{"code":"not_found","message":"...","request_id":"..."}}
//
// where code is a kms.Code string (or one of the HTTP-level codes below)
// and message is safe to show: it never contains key material or plaintext.
package wire

import "time"

// HTTP-level error codes that do not come from the kms domain.
const (
	// CodeMethodNotAllowed answers a known path with the wrong method.
	CodeMethodNotAllowed = "method_not_allowed"
)

// Error is the body of an error response, under the key "error".
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// ErrorResponse is the envelope of every error response.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// GenerateDataKeyRequest is the body of POST /v1/datakey/generate.
type GenerateDataKeyRequest struct {
	KeyID   string            `json:"key_id"`
	Context map[string]string `json:"context"`
}

// GenerateDataKeyResponse answers POST /v1/datakey/generate: a fresh data
// key in plaintext and sealed under the current version of the key.
type GenerateDataKeyResponse struct {
	KeyID      string `json:"key_id"`
	KeyVersion int    `json:"key_version"`
	Plaintext  []byte `json:"plaintext"`
	Ciphertext []byte `json:"ciphertext"`
}

// Wipe zeroes the plaintext.
func (r *GenerateDataKeyResponse) Wipe() { clear(r.Plaintext) }

// DecryptRequest is the body of POST /v1/datakey/decrypt, POST /v1/decrypt
// and POST /v1/datakey/rewrap.
type DecryptRequest struct {
	Ciphertext []byte            `json:"ciphertext"`
	Context    map[string]string `json:"context"`
}

// DecryptResponse answers POST /v1/datakey/decrypt and POST /v1/decrypt.
type DecryptResponse struct {
	KeyID      string `json:"key_id"`
	KeyVersion int    `json:"key_version"`
	Plaintext  []byte `json:"plaintext"`
}

// Wipe zeroes the plaintext.
func (r *DecryptResponse) Wipe() { clear(r.Plaintext) }

// RewrapRequest is the body of POST /v1/datakey/rewrap.
type RewrapRequest = DecryptRequest

// RewrapResponse answers POST /v1/datakey/rewrap: the same data key sealed
// under the current version of its key.
type RewrapResponse struct {
	KeyID      string `json:"key_id"`
	KeyVersion int    `json:"key_version"`
	Ciphertext []byte `json:"ciphertext"`
}

// RewrapBatchRequest is the body of POST /v1/datakey/rewrap-batch.
type RewrapBatchRequest struct {
	Items []RewrapRequest `json:"items"`
}

// RewrapBatchResult is one result of a batch rewrap, in the order of the
// request items: Ciphertext and KeyVersion, or Error.
type RewrapBatchResult struct {
	Ciphertext []byte `json:"ciphertext,omitempty"`
	KeyVersion int    `json:"key_version,omitempty"`
	Error      *Error `json:"error,omitempty"`
}

// RewrapBatchResponse answers POST /v1/datakey/rewrap-batch.
type RewrapBatchResponse struct {
	Results []RewrapBatchResult `json:"results"`
}

// EncryptRequest is the body of POST /v1/encrypt.
type EncryptRequest struct {
	KeyID     string            `json:"key_id"`
	Plaintext []byte            `json:"plaintext"`
	Context   map[string]string `json:"context"`
}

// EncryptResponse answers POST /v1/encrypt.
type EncryptResponse struct {
	KeyID      string `json:"key_id"`
	KeyVersion int    `json:"key_version"`
	Ciphertext []byte `json:"ciphertext"`
}

// CreateKeyRequest is the body of POST /v1/keys.
type CreateKeyRequest struct {
	ID          string `json:"id"`
	Purpose     string `json:"purpose,omitempty"`
	Exportable  bool   `json:"exportable,omitempty"`
	Description string `json:"description,omitempty"`
	// State is "active" (the default) or "pre-active".
	State string `json:"state,omitempty"`
}

// ScheduleDeletionRequest is the body of POST /v1/keys/{id}/schedule-deletion.
type ScheduleDeletionRequest struct {
	Days int `json:"days"`
}

// Key is a key of the registry as the admin API shows it.
type Key struct {
	ID             string     `json:"id"`
	Purpose        string     `json:"purpose"`
	Exportable     bool       `json:"exportable"`
	State          string     `json:"state"`
	Enabled        bool       `json:"enabled"`
	CurrentVersion int        `json:"current_version"`
	Description    string     `json:"description"`
	Owner          string     `json:"owner"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeletionDate   *time.Time `json:"deletion_date,omitempty"`
	// RotationPeriod is the automatic rotation period (a Go duration,
	// "8760h0m0s"), NextRotation when the key rotates next; both omitted
	// when automatic rotation is off.
	RotationPeriod string     `json:"rotation_period,omitempty"`
	NextRotation   *time.Time `json:"next_rotation,omitempty"`
	// Versions is set by GET /v1/keys/{id} only.
	Versions []KeyVersion `json:"versions,omitempty"`
}

// KeyVersion is one root version of a key, without its material.
type KeyVersion struct {
	Version     int        `json:"version"`
	Protector   string     `json:"protector"`
	MasterKeyID string     `json:"master_key_id"`
	CreatedAt   time.Time  `json:"created_at"`
	DestroyedAt *time.Time `json:"destroyed_at,omitempty"`
	// State is "active", "deactivated" or "destroyed".
	State string `json:"state"`
}

// RotationRequest is the body of PUT /v1/keys/{id}/rotation. Period is a
// Go duration ("8760h"); "0" turns automatic rotation off.
type RotationRequest struct {
	Period string `json:"period"`
}

// ListKeysResponse answers GET /v1/keys. Next is the value of the after
// parameter for the next page, "" (omitted) on the last page.
type ListKeysResponse struct {
	Keys []Key  `json:"keys"`
	Next string `json:"next,omitempty"`
}

// AuditEvent is one record of the audit log.
type AuditEvent struct {
	ID         int64             `json:"id"`
	Time       time.Time         `json:"time"`
	Identity   string            `json:"identity"`
	Operation  string            `json:"operation"`
	KeyID      string            `json:"key_id,omitempty"`
	KeyVersion int               `json:"key_version,omitempty"`
	Result     string            `json:"result"`
	Context    map[string]string `json:"context,omitempty"`
	RequestID  string            `json:"request_id,omitempty"`
}

// ListAuditResponse answers GET /v1/audit, newest event first. NextBefore
// is the value of the before parameter for the next page, 0 (omitted) on
// the last page.
type ListAuditResponse struct {
	Events     []AuditEvent `json:"events"`
	NextBefore int64        `json:"next_before,omitempty"`
}

// MasterStatus answers GET /v1/admin/master: how many root versions (not
// destroyed) each master key id wraps. The current master key is always
// listed, with 0 if it wraps none yet.
type MasterStatus struct {
	Current  string         `json:"current_master_key_id"`
	Versions map[string]int `json:"versions"`
}

// RotateMasterRequest is the body of POST /v1/admin/master/rotate. Batch
// is how many versions to rewrap at most (default 500, at most 5000).
type RotateMasterRequest struct {
	Batch int `json:"batch,omitempty"`
}

// RotateMasterResponse answers POST /v1/admin/master/rotate: Done
// versions were rewrapped under Current by this call, Remaining versions
// are still under other master keys.
type RotateMasterResponse struct {
	Current   string `json:"current_master_key_id"`
	Done      int    `json:"done"`
	Remaining int    `json:"remaining"`
}

// Health answers GET /healthz and GET /readyz when all is well.
type Health struct {
	Status string `json:"status"`
	// Checks (GET /readyz) maps each dependency to "ok" or "fail".
	Checks map[string]string `json:"checks,omitempty"`
}
