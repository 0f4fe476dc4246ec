package api

import (
	"net/http"
	"time"
)

// Body limits. A single data-key operation carries a sealed key of a few
// hundred bytes and a context; encrypt carries at most sealed.MaxPlaintext
// bytes of plaintext, which base64 grows by a third. A batch rewrap carries
// up to kms.MaxBatch items.
const (
	limitNone   = 1 << 10  // routes without a meaningful body ({} or {"days":N})
	limitSingle = 64 << 10 // one data-key or key operation
	limitBatch  = 8 << 20  // rewrap-batch
)

// Timeouts per route class. The audit write of a cancelled operation still
// happens (kms.Service writes it under its own deadline).
const (
	timeoutHealth = 2 * time.Second
	timeoutSingle = 10 * time.Second
	timeoutAdmin  = 15 * time.Second
	timeoutList   = 30 * time.Second
	timeoutBatch  = 60 * time.Second
)

// route is one entry of the route table.
type route struct {
	method  string
	pattern string // chi pattern; {id} is a URL-escaped key id
	// op names the route in metrics and is the audit operation of
	// requests refused before the service sees them; it matches the
	// operation name kms.Service records.
	op string
	// auth requires a verified client certificate whose identity is in
	// the policy.
	auth    bool
	maxBody int64
	timeout time.Duration
	status  int // status of a successful response; 0 means 200
	handle  func(s *Server, r *http.Request) (any, error)
	// raw, when set, serves the route instead of handle (for /metrics).
	raw func(s *Server) http.Handler
}

// routes is the route table: every route the server serves, and nothing
// else. openapi.yaml documents exactly these (TestOpenAPIMatchesRoutes).
func routes() []route {
	const get, post, put = http.MethodGet, http.MethodPost, http.MethodPut
	return []route{
		// Operations, without a client certificate.
		{method: get, pattern: "/healthz", op: "healthz", timeout: timeoutHealth, handle: (*Server).healthz},
		{method: get, pattern: "/readyz", op: "readyz", timeout: timeoutHealth, raw: (*Server).readyzHandler},
		{method: get, pattern: "/metrics", op: "metrics", timeout: timeoutSingle, raw: (*Server).metricsHandler},

		// Data-key API, for S3 nodes.
		{method: post, pattern: "/v1/datakey/generate", op: "datakey.generate", auth: true, maxBody: limitSingle, timeout: timeoutSingle, handle: (*Server).generateDataKey},
		{method: post, pattern: "/v1/datakey/decrypt", op: "decrypt", auth: true, maxBody: limitSingle, timeout: timeoutSingle, handle: (*Server).decrypt},
		{method: post, pattern: "/v1/datakey/rewrap", op: "rewrap", auth: true, maxBody: limitSingle, timeout: timeoutSingle, handle: (*Server).rewrap},
		{method: post, pattern: "/v1/datakey/rewrap-batch", op: "rewrap.batch", auth: true, maxBody: limitBatch, timeout: timeoutBatch, handle: (*Server).rewrapBatch},
		{method: post, pattern: "/v1/encrypt", op: "encrypt", auth: true, maxBody: limitSingle, timeout: timeoutSingle, handle: (*Server).encrypt},
		{method: post, pattern: "/v1/decrypt", op: "decrypt", auth: true, maxBody: limitSingle, timeout: timeoutSingle, handle: (*Server).decrypt},

		// Admin API.
		{method: post, pattern: "/v1/keys", op: "key.create", auth: true, maxBody: limitSingle, timeout: timeoutAdmin, status: http.StatusCreated, handle: (*Server).createKey},
		{method: get, pattern: "/v1/keys", op: "key.list", auth: true, timeout: timeoutList, handle: (*Server).listKeys},
		{method: get, pattern: "/v1/keys/{id}", op: "key.get", auth: true, timeout: timeoutAdmin, handle: (*Server).getKey},
		{method: post, pattern: "/v1/keys/{id}/rotate", op: "key.rotate", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).rotateKey},
		{method: post, pattern: "/v1/keys/{id}/disable", op: "key.disable", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).disableKey},
		{method: post, pattern: "/v1/keys/{id}/enable", op: "key.enable", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).enableKey},
		{method: post, pattern: "/v1/keys/{id}/activate", op: "key.state.active", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).activateKey},
		{method: post, pattern: "/v1/keys/{id}/deactivate", op: "key.state.deactivated", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).deactivateKey},
		{method: post, pattern: "/v1/keys/{id}/schedule-deletion", op: "key.schedule-deletion", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).scheduleDeletion},
		{method: post, pattern: "/v1/keys/{id}/cancel-deletion", op: "key.cancel-deletion", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).cancelDeletion},
		{method: post, pattern: "/v1/keys/{id}/destroy", op: "key.destroy", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).destroyKey},
		{method: post, pattern: "/v1/keys/{id}/versions/{v}/deactivate", op: "key.version.deactivate", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).deactivateVersion},
		{method: post, pattern: "/v1/keys/{id}/versions/{v}/activate", op: "key.version.activate", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).activateVersion},
		{method: post, pattern: "/v1/keys/{id}/versions/{v}/destroy", op: "key.version.destroy", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).destroyVersion},
		{method: put, pattern: "/v1/keys/{id}/rotation", op: "key.rotation", auth: true, maxBody: limitNone, timeout: timeoutAdmin, handle: (*Server).setRotation},
		{method: get, pattern: "/v1/admin/master", op: "master.status", auth: true, timeout: timeoutList, handle: (*Server).masterStatus},
		{method: post, pattern: "/v1/admin/master/rotate", op: "master.rotate", auth: true, maxBody: limitNone, timeout: timeoutBatch, handle: (*Server).rotateMaster},
		{method: get, pattern: "/v1/audit", op: "audit.list", auth: true, timeout: timeoutList, handle: (*Server).listAudit},
	}
}
