package sigv4

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

const (
	testAccessKey = "AKIAIOSFODNN7EXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion    = "us-east-1"
)

// testLookup knows the AWS documentation example key.
var testLookup = CredentialsFunc(func(_ context.Context, id string) ([]byte, error) {
	if id == testAccessKey {
		return []byte(testSecret), nil
	}
	return nil, ErrUnknownAccessKey
})

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// wantCode fails unless err is an *Error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want *Error %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
}

// outcome is what the test server saw.
type outcome struct {
	res  *Result
	body []byte
	err  error // from Verify, or from reading the body
}

// serveOnce sends req to an httptest server that verifies it server-side
// (so Host, Content-Length and Transfer-Encoding are as Go's server sees
// them) and reads the whole body through Result.Body.
func serveOnce(t *testing.T, req *http.Request, opts Options) outcome {
	t.Helper()
	ch := make(chan outcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- verifyAndRead(r, opts)
	}))
	defer srv.Close()
	// Keep the signed Host header; send to the test server's address.
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	req.Host = host
	req.URL.Host = srv.Listener.Addr().String()
	req.URL.Scheme = "http"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp.Body.Close()
	return <-ch
}

func verifyAndRead(r *http.Request, opts Options) outcome {
	res, err := Verify(r.Context(), r, testLookup, opts)
	if err != nil {
		return outcome{err: err}
	}
	b, err := io.ReadAll(res.Body(r.Body))
	return outcome{res: res, body: b, err: err}
}
