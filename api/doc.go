// Package api is the KMS's HTTPS adapter: the data-key API used by S3 nodes
// (generate, decrypt, rewrap, encrypt) and the admin REST API (key
// lifecycle, audit, master-key rotation), both JSON over HTTPS with mutual
// TLS, routed by chi.
//
// Every route is listed once, in routes (routes.go), with its method, path,
// body limit, timeout and whether it needs a client identity. Handlers
// return (response, error); one wrapper (server.go) authenticates, applies
// the limits, recovers panics, writes the JSON response, maps errors
// through the one table in errors.go and records Prometheus metrics.
// openapi.yaml documents the same routes; a test keeps the two in step.
//
// # Identity
//
// The server asks for a client certificate but does not demand one during
// the handshake (tls.VerifyClientCertIfGiven), so that a request without a
// certificate still reaches the wrapper and gets a JSON 401 that is
// audited. A certificate not signed by the client CA fails the handshake.
// The caller's identity is the hex SHA-256 of the certificate's
// SubjectPublicKeyInfo (kms.IdentityOf); it must be named in the policy.
// /healthz, /readyz and /metrics need no certificate.
//
// # Errors and auditing
//
// Error bodies are {"error":{"code":…,"message":…,"request_id":…}}; codes
// are kms.Code strings, messages are kms.ErrorMessage (never internal
// details, never key material), and an unknown error is a 500 "internal"
// whose cause goes only to the log. Each response carries an X-Request-Id
// header with the request id that the audit record also holds. Requests
// refused by the adapter itself (no or unknown certificate, malformed
// JSON, unknown fields, trailing data, oversized body, bad parameters) are
// audited with kms.Service.RecordDenied and change nothing. Requests to
// unknown routes (404) or with the wrong method (405) are not audited: they
// never reach an operation.
//
// # Key ids in paths
//
// Key ids contain "/" (bucket root keys are "bucket/<id>"); in paths they
// are escaped with url.PathEscape ("bucket%2Fabc"). chi routes on the raw
// (escaped) path, so the id is one path segment; handlers unescape it.
package api
