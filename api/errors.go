package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// errorStatus is the one table from kms error codes to HTTP status codes.
// The JSON error code is the kms.Code string itself. A code missing here
// is answered as EInternal (500) and logged.
var errorStatus = map[kms.Code]int{
	kms.EInvalid:       http.StatusBadRequest,
	kms.ENotFound:      http.StatusNotFound,
	kms.EConflict:      http.StatusConflict,
	kms.EForbidden:     http.StatusForbidden,
	kms.EUnauthorized:  http.StatusUnauthorized,
	kms.EDisabled:      http.StatusConflict,
	kms.EState:         http.StatusConflict,
	kms.EDestroyed:     http.StatusGone,
	kms.EDecrypt:       http.StatusBadRequest,
	kms.EUnavailable:   http.StatusServiceUnavailable,
	kms.ETooLarge:      http.StatusRequestEntityTooLarge,
	kms.ENotExportable: http.StatusForbidden,
	kms.EInternal:      http.StatusInternalServerError,
}

// toWire returns the HTTP status and the JSON error of err. It never
// returns internal details: an unknown error becomes "internal error".
func toWire(err error) (int, wire.Error) {
	code := kms.ErrorCode(err)
	status, ok := errorStatus[code]
	if !ok || code == kms.EInternal {
		return http.StatusInternalServerError, wire.Error{Code: string(kms.EInternal), Message: "internal error"}
	}
	return status, wire.Error{Code: string(code), Message: kms.ErrorMessage(err)}
}

// inputError is an error the adapter finds itself before the service sees
// the request: malformed or oversized body, bad path or query parameter,
// missing or unknown client identity. The route wrapper audits it with
// kms.Service.RecordDenied, since the service never did.
type inputError struct {
	err   *kms.Error
	keyID string // key named by the request, if known
}

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// invalid returns an inputError with code EInvalid.
func invalid(format string, args ...any) error {
	return &inputError{err: kms.Errorf(kms.EInvalid, format, args...)}
}

// writeError writes err as a JSON error response and returns the status.
// 5xx causes are logged with the request id; 4xx are the caller's business.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, route string, err error) int {
	status, we := toWire(err)
	we.RequestID = kms.RequestIDFrom(r.Context())
	switch {
	case status == http.StatusServiceUnavailable:
		// A dependency is down: expected during outages, one line each.
		s.log.Warn("request failed", "route", route, "request_id", we.RequestID,
			"client_request_id", clientRequestID(r.Context()), "code", kms.ErrorCode(err), "err", err)
	case status >= 500:
		s.log.Error("request failed", "route", route, "request_id", we.RequestID,
			"client_request_id", clientRequestID(r.Context()), "code", kms.ErrorCode(err), "err", err)
	}
	return writeErrorBody(w, status, we)
}

func writeErrorBody(w http.ResponseWriter, status int, we wire.Error) int {
	b, err := json.Marshal(wire.ErrorResponse{Error: we})
	if err != nil {
		// Marshalling three strings cannot fail; keep a valid body anyway.
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return status
}

func setJSONHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Responses may carry plaintext data keys: never cache them.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// isInputError returns the inputError in err's chain.
func isInputError(err error) (*inputError, bool) {
	var ie *inputError
	ok := errors.As(err, &ie)
	return ie, ok
}
