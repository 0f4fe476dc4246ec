package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// TestOpenAPIMatchesRoutes checks that openapi.yaml documents every route
// of the route table and nothing else.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Errorf("openapi version %q, want 3.0.x", doc.OpenAPI)
	}
	methods := []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}
	var documented []string
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(methods, m) {
				documented = append(documented, strings.ToUpper(m)+" "+path)
			}
		}
	}
	var served []string
	for _, rt := range routes() {
		served = append(served, rt.method+" "+rt.pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("openapi.yaml documents %s, which is not a route", r)
		}
	}
}

// TestRouteTable checks the table's invariants.
func TestRouteTable(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range routes() {
		key := rt.method + " " + rt.pattern
		if seen[key] {
			t.Errorf("duplicate route %s", key)
		}
		seen[key] = true
		if (rt.handle == nil) == (rt.raw == nil) {
			t.Errorf("%s: exactly one of handle and raw must be set", key)
		}
		if rt.timeout <= 0 {
			t.Errorf("%s: no timeout", key)
		}
		if rt.method == http.MethodPost && rt.maxBody <= 0 {
			t.Errorf("%s: POST route without a body limit", key)
		}
		if strings.HasPrefix(rt.pattern, "/v1/") && !rt.auth {
			t.Errorf("%s: API route without authentication", key)
		}
		if rt.op == "" {
			t.Errorf("%s: no operation name", key)
		}
	}
}

// TestErrorTable checks that every kms code has an HTTP status and that
// unknown errors never leak.
func TestErrorTable(t *testing.T) {
	codes := []kms.Code{
		kms.EInvalid, kms.ENotFound, kms.EConflict, kms.EForbidden, kms.EUnauthorized,
		kms.EDisabled, kms.EState, kms.EDestroyed, kms.EDecrypt, kms.EUnavailable,
		kms.ETooLarge, kms.EInternal, kms.ENotExportable,
	}
	for _, c := range codes {
		if _, ok := errorStatus[c]; !ok {
			t.Errorf("kms code %q has no HTTP status", c)
		}
	}
	tests := []struct {
		err       error
		status    int
		code, msg string
	}{
		{kms.Errorf(kms.ENotFound, "key %q not found", "k"), 404, "not_found", `key "k" not found`},
		{kms.Wrap(kms.EUnavailable, os.ErrDeadlineExceeded, "database unavailable"), 503, "unavailable", "database unavailable"},
		{kms.Wrap(kms.EInternal, os.ErrPermission, "secret detail"), 500, "internal", "internal error"},
		{os.ErrPermission, 500, "internal", "internal error"},
		{&kms.Error{Code: "made_up", Message: "secret detail"}, 500, "internal", "internal error"},
		{&inputError{err: kms.Errorf(kms.ETooLarge, "too big")}, 413, "too_large", "too big"},
	}
	for _, tt := range tests {
		status, we := toWire(tt.err)
		if status != tt.status || we.Code != tt.code || we.Message != tt.msg {
			t.Errorf("toWire(%v) = %d %+v, want %d %s %q", tt.err, status, we, tt.status, tt.code, tt.msg)
		}
	}
}

// TestPanicRecovered checks that a panicking handler yields a JSON 500 with
// a request id and no detail, and that the server keeps serving.
func TestPanicRecovered(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{log: slog.New(slog.DiscardHandler), metrics: m}
	h := s.requestID(s.wrap(route{
		method: http.MethodGet, pattern: "/boom", op: "boom", timeout: timeoutSingle,
		handle: func(*Server, *http.Request) (any, error) { panic("secret detail") },
	}))
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500", rec.Code)
		}
		var er wire.ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		if er.Error.Code != "internal" || er.Error.RequestID == "" || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("body %s", rec.Body)
		}
		if er.Error.RequestID != rec.Header().Get("X-Request-Id") {
			t.Errorf("request id %q in body, %q in header", er.Error.RequestID, rec.Header().Get("X-Request-Id"))
		}
	}
}

func TestDescribeJSONErrorHidesValues(t *testing.T) {
	type req struct {
		KeyID      string `json:"key_id"`
		Ciphertext []byte `json:"ciphertext"`
		Days       int    `json:"days"`
	}
	for _, body := range []string{
		`{"key_id": 12345678}`,
		`{"days": "secretvalue"}`,
		`{"ciphertext": "secretvalue!!"}`,
		`{"days": 1e999}`,
		`{"secretfield_is_ok_to_name": 1}`,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		err := decodeBody(r, &req{})
		if err == nil {
			t.Errorf("%s: no error", body)
			continue
		}
		msg := kms.ErrorMessage(err)
		if strings.Contains(msg, "secretvalue") || strings.Contains(msg, "12345678") {
			t.Errorf("%s: message %q echoes the value", body, msg)
		}
	}
}

// TestRouteLimits checks that the wrapper applies the route's timeout and
// body limit before the handler runs.
func TestRouteLimits(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{log: slog.New(slog.DiscardHandler), metrics: m}
	var deadline time.Duration
	var readErr error
	h := s.requestID(s.wrap(route{
		method: http.MethodPost, pattern: "/t", op: "t", timeout: 3 * time.Second, maxBody: 10,
		handle: func(_ *Server, r *http.Request) (any, error) {
			d, ok := r.Context().Deadline()
			if !ok {
				t.Error("no deadline")
			}
			deadline = time.Until(d)
			if kms.RequestIDFrom(r.Context()) == "" {
				t.Error("no request id in the context")
			}
			_, readErr = io.ReadAll(r.Body)
			return &wire.Health{Status: "ok"}, nil
		},
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/t", strings.NewReader(strings.Repeat("x", 11))))
	if deadline <= 2*time.Second || deadline > 3*time.Second {
		t.Errorf("deadline in %v, want about 3s", deadline)
	}
	var mbe *http.MaxBytesError
	if !errors.As(readErr, &mbe) || mbe.Limit != 10 {
		t.Errorf("reading 11 bytes with a limit of 10: %v", readErr)
	}
}
