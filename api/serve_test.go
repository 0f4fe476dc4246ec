package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServe runs the API with TLSConfig (from PEM files) and Serve, as
// cmd does, checks who gets in, and shuts it down by cancelling.
func TestServe(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	dir := t.TempDir()
	caFile := e.CA.WritePEM(t, dir)
	certFile, keyFile := e.CA.Server(t).WritePEM(t, dir, "server")
	tlsCfg, err := api.TLSConfig(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.ServeListener(ctx, ln, tlsCfg, e.Server.Handler(), log) }()
	defer cancel()

	// The admin gets in; a client file configuration works.
	acert, akey := e.Admin.WritePEM(t, dir, "admin")
	ccfg, err := kmsclient.TLSConfigFromFiles(caFile, acert, akey)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := kmsclient.New(url, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.CloseIdleConnections()
	if _, err := adm.ListKeys(ctx, "", 0); err != nil {
		t.Fatalf("admin: %v", err)
	}

	// Without a certificate: the handshake succeeds, the API says 401;
	// health, readiness and metrics need no certificate.
	noCert, err := kmsclient.New(url, e.NoCertTLSConfig(), kmsclient.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.CloseIdleConnections()
	if _, err := noCert.ListKeys(ctx, "", 0); kms.ErrorCode(err) != kms.EUnauthorized {
		t.Errorf("no certificate: %v", err)
	}
	if err := noCert.Healthy(ctx); err != nil {
		t.Errorf("healthz: %v", err)
	}
	if err := noCert.Ready(ctx); err != nil {
		t.Errorf("readyz: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.NoCertTLSConfig()}}
	resp, err := hc.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `s3kms_kms_http_requests_total{code="401",route="GET /v1/keys"} 1`) ||
		!strings.Contains(string(body), "s3kms_kms_http_request_duration_seconds_bucket") ||
		!strings.Contains(string(body), "s3kms_kms_root_cache_hits_total") {
		t.Errorf("metrics: %d\n%s", resp.StatusCode, body)
	}
	hc.CloseIdleConnections()

	// A certificate from another CA fails the handshake, and it is logged.
	foreign, err := kmsclient.New(url, e.TLSConfig(e.Foreign), kmsclient.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = foreign.ListKeys(ctx, "", 0)
	var ce *kmsclient.CallError
	if kms.ErrorCode(err) != kms.EUnavailable || !errors.As(err, &ce) || !ce.Conn || ce.StatusCode != 0 {
		t.Errorf("foreign certificate: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "TLS handshake error") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "TLS handshake error") {
		t.Errorf("handshake failure not logged; logs:\n%s", logs.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
	if _, err := adm.ListKeys(context.Background(), "", 0); kms.ErrorCode(err) != kms.EUnavailable {
		t.Errorf("after shutdown: %v", err)
	}
}

// TestReadyzFailing checks that a failing readiness check is a JSON 503.
func TestReadyzFailing(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	srv, err := api.NewServer(api.Config{Service: e.Service, Ready: func(context.Context) error {
		return errors.New("database on fire")
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	srv.Handler().ServeHTTP(rec, httpRequest("GET", "/readyz"))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"key_store":"fail"`) ||
		strings.Contains(rec.Body.String(), "fire") {
		t.Errorf("readyz: %d %s", rec.Code, rec.Body)
	}
}
