package s3api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/storage/postgres"
)

// readyz runs h on GET /-/readyz and decodes the answer.
func readyz(t *testing.T, h http.Handler) (int, ReadyReport) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ReadyzPath, nil))
	var rep ReadyReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("readyz body %q: %v", rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, rep
}

// TestReadinessFlips runs the node's readiness checks on real
// dependencies (a private PostgreSQL cluster, a KMS over mutual TLS, a
// data directory) and takes them away one after the other: /readyz must
// answer 503 naming the failing check, and 200 again once it is back.
// About 8 s on 2 cores, mostly initdb of the private cluster.
func TestReadinessFlips(t *testing.T) {
	ctx := context.Background()
	cluster := pgtest.New(t)
	db, err := postgres.Open(ctx, cluster.CreateDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	kmsEnv, nodeKMS := apitest.NewForS3Node(t, apitest.Options{})
	dataDir := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A TTL of 1 ns: every probe runs the checks.
	rd := NewReadiness(2*time.Second, time.Nanosecond,
		Check{Name: "database", Fn: db.Ping},
		Check{Name: "kms", Fn: nodeKMS.Ready},
		Check{Name: "data_dir", Fn: DirWritable(dataDir)},
	)
	h := rd.ReadinessHandler()
	for _, step := range []struct {
		name    string
		do      func() error
		status  int
		failing string // the one check that fails, if any
		state   string
	}{
		{name: "all up", status: 200, state: "ready"},
		{name: "postgres stopped", do: cluster.Stop, status: 503, failing: "database", state: "not ready"},
		{name: "postgres started", do: cluster.Start, status: 200, state: "ready"},
		{name: "data dir removed", do: func() error { return os.Remove(dataDir) }, status: 503, failing: "data_dir", state: "not ready"},
		{name: "data dir back", do: func() error { return os.Mkdir(dataDir, 0o700) }, status: 200, state: "ready"},
		{name: "draining", do: func() error { rd.SetDraining(true); return nil }, status: 503, state: "draining"},
		{name: "drained off", do: func() error { rd.SetDraining(false); return nil }, status: 200, state: "ready"},
		{name: "kms down", do: func() error { kmsEnv.HTTP.Close(); return nil }, status: 503, failing: "kms", state: "not ready"},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.do != nil {
				if err := step.do(); err != nil {
					t.Fatal(err)
				}
			}
			code, rep := readyz(t, h)
			if code != step.status || rep.Status != step.state {
				t.Fatalf("readyz = %d %+v; want %d %q", code, rep, step.status, step.state)
			}
			if step.state == "draining" {
				return
			}
			for _, name := range []string{"database", "kms", "data_dir"} {
				got := rep.Checks[name]
				if want := name == step.failing; want != (got == "fail") || !want && got != "ok" {
					t.Errorf("check %s = %q (failing: %q)", name, got, step.failing)
				}
			}
		})
	}
}

// TestReadinessCache checks that probes within the TTL share one run of
// the checks, and that the liveness answer runs none.
func TestReadinessCache(t *testing.T) {
	var runs atomic.Int32
	rd := NewReadiness(time.Second, time.Hour, Check{Name: "counted", Fn: func(context.Context) error {
		runs.Add(1)
		return errors.New("down")
	}})
	for range 5 {
		if code, rep := readyz(t, rd.ReadinessHandler()); code != 503 || rep.Checks["counted"] != "fail" {
			t.Fatalf("readyz = %d %+v", code, rep)
		}
	}
	rec := httptest.NewRecorder()
	rd.LivenessHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, HealthzPath, nil))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %s", rec.Code, rec.Body)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("checks ran %d times, want 1", n)
	}
}

// TestHealthEndpoints checks /-/healthz and /-/readyz on an S3 listener:
// unauthenticated, JSON, and only path-style (a virtual-hosted request
// for "/-/readyz" addresses a key of a bucket).
func TestHealthEndpoints(t *testing.T) {
	o := newObsEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, HealthzPath, 200, `"status":"ok"`},
		{http.MethodGet, ReadyzPath, 200, `"kms":"ok"`},
		{http.MethodHead, ReadyzPath, 200, ""},
		{http.MethodPut, ReadyzPath, 403, "AccessDenied"}, // not a health probe: an anonymous S3 request
		{http.MethodGet, "/-/other", 403, "AccessDenied"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := o.raw(t, nil, tc.method, tc.path, nil, nil)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Fatalf("%s %s = %d %s", tc.method, tc.path, resp.StatusCode, body)
			}
		})
	}
	// Virtual-hosted style: Host "-.domain" is not intercepted.
	s := &Server{domain: "s3.test"}
	r := httptest.NewRequest(http.MethodGet, "/-/readyz", nil)
	r.Host = "bucket.s3.test"
	if s.serveHealth(httptest.NewRecorder(), r) {
		t.Error("a virtual-hosted request for key -/readyz was answered as a health probe")
	}
}

// TestDrainingFrom checks that the lifecycle's drain flag, read through
// DrainingFrom, makes readiness answer draining without running checks.
func TestDrainingFrom(t *testing.T) {
	var flag atomic.Bool
	var runs atomic.Int32
	rd := NewReadiness(time.Second, time.Nanosecond, Check{Name: "c", Fn: func(context.Context) error { runs.Add(1); return nil }}).
		DrainingFrom(flag.Load)
	for _, tc := range []struct {
		draining bool
		code     int
		status   string
	}{{false, 200, "ready"}, {true, 503, "draining"}, {false, 200, "ready"}} {
		flag.Store(tc.draining)
		if code, rep := readyz(t, rd.ReadinessHandler()); code != tc.code || rep.Status != tc.status {
			t.Errorf("draining %v: readyz = %d %+v", tc.draining, code, rep)
		}
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("checks ran %d times, want 2 (none while draining)", n)
	}
}
