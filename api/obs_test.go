package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// TestReadyzChecks checks that /readyz reports the key store and every
// configured check by name, answers 503 when one fails (without its
// reason, which is logged) and while draining.
func TestReadyzChecks(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("HSM on fire") }
	for _, tc := range []struct {
		name     string
		store    func(context.Context) error
		hsm      func(context.Context) error
		draining bool
		code     int
		want     wire.Health
	}{
		{"all ok", ok, ok, false, 200, wire.Health{Status: "ready", Checks: map[string]string{"key_store": "ok", "protector": "ok"}}},
		{"protector down", ok, down, false, 503, wire.Health{Status: "not ready", Checks: map[string]string{"key_store": "ok", "protector": "fail"}}},
		{"store down", down, ok, false, 503, wire.Health{Status: "not ready", Checks: map[string]string{"key_store": "fail", "protector": "ok"}}},
		{"draining", ok, ok, true, 503, wire.Health{Status: "draining"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			srv, err := api.NewServer(api.Config{Service: e.Service, Ready: tc.store, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Checks: []api.ReadyCheck{{Name: "protector", Fn: tc.hsm}}})
			if err != nil {
				t.Fatal(err)
			}
			srv.SetDraining(tc.draining)
			rec := newRecorder()
			srv.Handler().ServeHTTP(rec, httpRequest("GET", "/readyz"))
			var got wire.Health
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.code || got.Status != tc.want.Status || len(got.Checks) != len(tc.want.Checks) {
				t.Fatalf("readyz = %d %s; want %d %+v", rec.Code, rec.Body, tc.code, tc.want)
			}
			for k, v := range tc.want.Checks {
				if got.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, got.Checks[k], v)
				}
			}
			if strings.Contains(rec.Body.String(), "fire") {
				t.Errorf("the failure's reason is in the answer: %s", rec.Body)
			}
			if tc.code == 503 && !tc.draining && !strings.Contains(logs.String(), "on fire") {
				t.Errorf("the failure's reason is not logged: %s", logs.String())
			}
		})
	}
}

// TestClientRequestID checks that the X-Request-Id a client sends (an S3
// node's request id, sent by kmsclient from the context) is logged as
// client_request_id next to the KMS's own id in the access line, and
// that ids with unsafe characters or too long are not.
func TestClientRequestID(t *testing.T) {
	var logs lockedBuffer
	e := apitest.New(t, apitest.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), AccessLog: true})
	ctx := kms.WithRequestID(context.Background(), "4F2A9C1B7D3E5A60")
	if _, err := e.Client(t, e.Admin).ListKeys(ctx, "", 1); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bad id", strings.Repeat("a", 129), "x\"y"} {
		req := httpRequest("GET", "/healthz")
		req.Header.Set("X-Request-Id", id)
		e.Server.Handler().ServeHTTP(newRecorder(), req)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if m["msg"] == "access" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d access lines, want 4: %s", len(lines), logs.String())
	}
	first := lines[0]
	if first["client_request_id"] != "4F2A9C1B7D3E5A60" || first["request_id"] == "4F2A9C1B7D3E5A60" || first["request_id"] == "" ||
		first["route"] != "GET /v1/keys" || first["status"] != float64(http.StatusOK) || first["identity"] != string(e.Admin.Identity) {
		t.Errorf("access line = %v", first)
	}
	for _, l := range lines[1:] {
		if l["client_request_id"] != "" {
			t.Errorf("unsafe client request id logged: %v", l)
		}
	}
}

// TestKMSMetrics checks the protector and audit group-commit metrics
// after a key creation (GenerateRoot) and a data key (OpenRoot).
func TestKMSMetrics(t *testing.T) {
	e := apitest.New(t, apitest.Options{CacheSize: -1})
	admin := e.Client(t, e.Admin)
	ctx := context.Background()
	if _, err := admin.CreateKey(ctx, wire.CreateKeyRequest{ID: "metrics-key"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GenerateDataKey(ctx, "metrics-key", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	e.Server.Handler().ServeHTTP(rec, httpRequest("GET", "/metrics"))
	body := rec.Body.String()
	for _, want := range []string{
		`s3kms_kms_protector_calls_total{call="GenerateRoot"} 1`,
		`s3kms_kms_protector_calls_total{call="OpenRoot"} 1`,
		`s3kms_kms_protector_errors_total{call="OpenRoot"} 0`,
		`s3kms_kms_protector_seconds_total{call="OpenRoot"}`,
		`s3kms_kms_audit_batches_total`,
		`s3kms_kms_audit_records_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}
