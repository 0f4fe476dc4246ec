package kmsclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// fakeKMS is a TLS server answering each request with the next of its
// responses (the last one repeats), counting requests.
type fakeKMS struct {
	*httptest.Server
	calls atomic.Int32
}

type fakeResponse struct {
	status int
	body   string
}

func newFake(t *testing.T, responses ...fakeResponse) *fakeKMS {
	f := &fakeKMS{}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := int(f.calls.Add(1)) - 1
		resp := responses[min(n, len(responses)-1)]
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", n))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.status)
		_, _ = io.WriteString(w, resp.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeKMS) client(t *testing.T, opts ...kmsclient.Option) *kmsclient.Client {
	tlsCfg := f.Server.Client().Transport.(*http.Transport).TLSClientConfig
	opts = append([]kmsclient.Option{kmsclient.WithBackoff(time.Millisecond, 2*time.Millisecond)}, opts...)
	c, err := kmsclient.New(f.URL, tlsCfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

const (
	unavailable = `{"error":{"code":"unavailable","message":"database unavailable","request_id":"r"}}`
	notFound    = `{"error":{"code":"not_found","message":"key \"k\" not found","request_id":"r"}}`
	generated   = `{"key_id":"bucket/b","key_version":3,"plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","ciphertext":"AQI="}`
	keyJSON     = `{"id":"bucket/b","purpose":"bucket-root","state":"active","enabled":true,"current_version":1}`
)

func TestRetries(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		responses []fakeResponse
		call      func(c *kmsclient.Client) error
		retries   int
		wantCalls int32
		wantCode  kms.Code
		retryable bool
	}{
		{"generate recovers after two 503s", []fakeResponse{{503, unavailable}, {503, unavailable}, {200, generated}},
			func(c *kmsclient.Client) error { _, err := c.GenerateDataKey(ctx, "bucket/b", nil); return err },
			2, 3, "", false},
		{"decrypt gives up after retries", []fakeResponse{{503, unavailable}},
			func(c *kmsclient.Client) error { _, err := c.Decrypt(ctx, []byte{1}, nil); return err },
			2, 3, kms.EUnavailable, true},
		{"retries off", []fakeResponse{{503, unavailable}},
			func(c *kmsclient.Client) error { _, err := c.Decrypt(ctx, []byte{1}, nil); return err },
			0, 1, kms.EUnavailable, true},
		{"proxy 502 page is retried", []fakeResponse{{502, "<html>bad gateway</html>"}, {200, generated}},
			func(c *kmsclient.Client) error { _, err := c.GenerateDataKey(ctx, "bucket/b", nil); return err },
			2, 2, "", false},
		{"504 is retried", []fakeResponse{{504, ""}},
			func(c *kmsclient.Client) error { _, err := c.Rewrap(ctx, []byte{1}, nil); return err },
			1, 2, kms.EUnavailable, true},
		{"create is never retried", []fakeResponse{{503, unavailable}, {201, keyJSON}},
			func(c *kmsclient.Client) error {
				_, err := c.CreateKey(ctx, wire.CreateKeyRequest{ID: "bucket/b"})
				return err
			},
			2, 1, kms.EUnavailable, false},
		{"rotate is never retried", []fakeResponse{{503, unavailable}, {200, keyJSON}},
			func(c *kmsclient.Client) error { _, err := c.RotateKey(ctx, "bucket/b"); return err },
			2, 1, kms.EUnavailable, false},
		{"not found is not retried", []fakeResponse{{404, notFound}},
			func(c *kmsclient.Client) error { _, err := c.GetKey(ctx, "bucket/b"); return err },
			2, 1, kms.ENotFound, false},
		{"500 is not retried", []fakeResponse{{500, `{"error":{"code":"internal","message":"internal error"}}`}},
			func(c *kmsclient.Client) error { _, err := c.ListKeys(ctx, "", 0); return err },
			2, 1, kms.EInternal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.responses...)
			err := tt.call(f.client(t, kmsclient.WithRetries(tt.retries)))
			if got := kms.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("error %v, want code %q", err, tt.wantCode)
			}
			if n := f.calls.Load(); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			if got := kmsclient.Retryable(err); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		resp     fakeResponse
		wantCode kms.Code
		wantMsg  string
	}{
		{"server code and message", fakeResponse{404, notFound}, kms.ENotFound, `key "k" not found`},
		{"every domain code", fakeResponse{409, `{"error":{"code":"wrong_state","message":"m"}}`}, kms.EState, "m"},
		{"destroyed", fakeResponse{410, `{"error":{"code":"destroyed","message":"gone"}}`}, kms.EDestroyed, "gone"},
		{"method not allowed", fakeResponse{405, `{"error":{"code":"method_not_allowed","message":"no"}}`}, kms.EInvalid, "no"},
		{"unknown code, by status", fakeResponse{403, `{"error":{"code":"brand_new","message":"m"}}`}, kms.EForbidden, "m"},
		{"not JSON", fakeResponse{413, "too big"}, kms.ETooLarge, "KMS answered HTTP 413 Request Entity Too Large"},
		{"empty 503", fakeResponse{503, ""}, kms.EUnavailable, "KMS answered HTTP 503 Service Unavailable"},
		{"teapot", fakeResponse{418, ""}, kms.EInternal, "KMS answered HTTP 418 I'm a teapot"},
		{"malformed success", fakeResponse{200, `{"key_id":`}, kms.EInternal, "malformed KMS response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.resp)
			_, err := f.client(t, kmsclient.WithRetries(0)).GetKey(ctx, "bucket/b")
			var ke *kms.Error
			if !errors.As(err, &ke) || ke.Code != tt.wantCode || ke.Message != tt.wantMsg {
				t.Fatalf("error %#v, want %s %q", err, tt.wantCode, tt.wantMsg)
			}
			var ce *kmsclient.CallError
			if !errors.As(err, &ce) || ce.Call != "GetKey" || ce.StatusCode != tt.resp.status || ce.RequestID != "req-0" {
				t.Errorf("call error %+v", ce)
			}
		})
	}
}

func TestConnectionErrors(t *testing.T) {
	f := newFake(t, fakeResponse{200, generated})
	c := f.client(t, kmsclient.WithRetries(1))
	f.Close()
	ctx := context.Background()
	_, err := c.Decrypt(ctx, []byte{1}, nil)
	var ce *kmsclient.CallError
	if kms.ErrorCode(err) != kms.EUnavailable || !errors.As(err, &ce) || !ce.Conn || !kmsclient.Retryable(err) {
		t.Errorf("decrypt on a closed server: %v (retryable %v)", err, kmsclient.Retryable(err))
	}
	_, err = c.DisableKey(ctx, "bucket/b")
	if kms.ErrorCode(err) != kms.EUnavailable || kmsclient.Retryable(err) {
		t.Errorf("disable on a closed server: %v (retryable %v)", err, kmsclient.Retryable(err))
	}
}

func TestContextDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := kmsclient.New(srv.URL, srv.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Decrypt(ctx, []byte{1}, nil)
	if kms.ErrorCode(err) != kms.EUnavailable || !errors.Is(err, context.DeadlineExceeded) || kmsclient.Retryable(err) {
		t.Errorf("deadline: %v (retryable %v)", err, kmsclient.Retryable(err))
	}
}

// TestCallTimeoutRetried checks that an attempt that times out on its own
// (WithCallTimeout) is retried, unlike the end of the caller's context.
func TestCallTimeoutRetried(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			select { // the first attempt hangs
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = io.WriteString(w, generated)
	}))
	defer srv.Close()
	defer close(release)
	c, err := kmsclient.New(srv.URL, srv.Client().Transport.(*http.Transport).TLSClientConfig,
		kmsclient.WithCallTimeout(100*time.Millisecond), kmsclient.WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	dk, err := c.GenerateDataKey(context.Background(), "bucket/b", nil)
	if err != nil || dk.KeyVersion != 3 || calls.Load() != 2 {
		t.Errorf("GenerateDataKey: v%d, %v, %d calls", dk.KeyVersion, err, calls.Load())
	}
}

// TestNoSecretsInErrors checks that neither plaintext nor data keys show up
// in error strings.
func TestNoSecretsInErrors(t *testing.T) {
	f := newFake(t, fakeResponse{413, `{"error":{"code":"too_large","message":"plaintext larger than 4096 bytes"}}`})
	c := f.client(t)
	_, _, err := c.Encrypt(context.Background(), "named/k", []byte("TOPSECRET-PLAINTEXT"), map[string]string{"a": "b"})
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(fmt.Sprintf("%+v", err), "TOPSECRET") {
		t.Errorf("error %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, ep := range []string{"", "kms:8443", "ftp://kms", "https://", "http://[::1"} {
		if _, err := kmsclient.New(ep, nil); err == nil {
			t.Errorf("New(%q) accepted", ep)
		}
	}
	tr := kmsclient.NewTransport(&tls.Config{})
	if tr.MaxIdleConnsPerHost < 64 || !tr.ForceAttemptHTTP2 || tr.TLSHandshakeTimeout == 0 || tr.ResponseHeaderTimeout == 0 {
		t.Errorf("transport %+v", tr)
	}
	// A base path on the endpoint is kept.
	var path string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.EscapedPath()
		_, _ = io.WriteString(w, keyJSON)
	}))
	defer srv.Close()
	c, err := kmsclient.New(srv.URL+"/kms/", srv.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if _, err := c.GetKey(context.Background(), "bucket/b"); err != nil || path != "/kms/v1/keys/bucket%2Fb" {
		t.Errorf("path %q, err %v", path, err)
	}
}

// TestAgainstServer runs the client against the real server: escaped key
// ids, batch item errors, and the codes of the server's error table.
func TestAgainstServer(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	adm := e.Client(t, e.Admin)
	if _, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: "bucket/x/y", Purpose: "bucket-root"}); err != nil {
		t.Fatal(err)
	}
	k, err := adm.GetKey(ctx, "bucket/x/y")
	if err != nil || k.ID != "bucket/x/y" || len(k.Versions) != 1 {
		t.Fatalf("GetKey: %+v %v", k, err)
	}
	ec := map[string]string{"bucket": "x"}
	dk, err := e.Client(t, e.S3Node).GenerateDataKey(ctx, "bucket/x/y", ec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := adm.RewrapBatch(ctx, []kms.RewrapItem{{Sealed: dk.Sealed, Context: ec}, {Sealed: []byte{1, 2}, Context: ec}})
	if err != nil || len(res) != 2 || res[0].Err != nil || res[0].KeyVersion != 1 || kms.ErrorCode(res[1].Err) != kms.EDecrypt {
		t.Errorf("RewrapBatch: %+v %v", res, err)
	}
	if _, err := e.NoCertClient(t).GetKey(ctx, "bucket/x/y"); kms.ErrorCode(err) != kms.EUnauthorized || kmsclient.Retryable(err) {
		t.Errorf("no cert: %v", err)
	}
	if _, err := e.Client(t, e.Stranger).GenerateDataKey(ctx, "bucket/x/y", ec); kms.ErrorCode(err) != kms.EUnauthorized {
		t.Errorf("stranger: %v", err)
	}
	if _, err := adm.GetKey(ctx, "bucket/none"); kms.ErrorCode(err) != kms.ENotFound || kms.ErrorMessage(err) == "" {
		t.Errorf("unknown key: %v", err)
	}
	if err := adm.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}
