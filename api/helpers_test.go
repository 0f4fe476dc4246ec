package api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// who names a caller of the raw HTTP helpers.
type who int

const (
	asAdmin who = iota
	asS3Node
	asStranger
	asNone
)

func (w who) String() string {
	return [...]string{"admin", "s3node", "stranger", "no-cert"}[w]
}

// identity is the identity the server sees for w ("" without a cert).
func identity(e *apitest.Env, w who) kms.Identity {
	switch w {
	case asAdmin:
		return e.Admin.Identity
	case asS3Node:
		return e.S3Node.Identity
	case asStranger:
		return e.Stranger.Identity
	}
	return ""
}

func tlsFor(e *apitest.Env, w who) *tls.Config {
	switch w {
	case asAdmin:
		return e.TLSConfig(e.Admin)
	case asS3Node:
		return e.TLSConfig(e.S3Node)
	case asStranger:
		return e.TLSConfig(e.Stranger)
	}
	return e.NoCertTLSConfig()
}

// rawClients returns plain HTTP clients per caller, for requests the Go
// client cannot make (malformed bodies and the like).
func rawClients(t *testing.T, e *apitest.Env) map[who]*http.Client {
	m := map[who]*http.Client{}
	for _, w := range []who{asAdmin, asS3Node, asStranger, asNone} {
		tr := &http.Transport{TLSClientConfig: tlsFor(e, w), ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		m[w] = &http.Client{Transport: tr}
	}
	return m
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
	err    wire.Error // decoded error body, if any
}

func rawDo(t *testing.T, c *http.Client, e *apitest.Env, method, path string, body []byte) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.StatusCode >= 300 {
		var er wire.ErrorResponse
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&er); err != nil {
			t.Fatalf("%s %s: status %d with a body that is not a JSON error: %q", method, path, resp.StatusCode, b)
		}
		r.err = er.Error
	}
	return r
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// auditOf returns the audit event written for the request with id reqID.
func auditOf(t *testing.T, e *apitest.Env, reqID string) (kms.AuditEvent, bool) {
	t.Helper()
	for _, ev := range e.AuditEvents(t, kms.AuditFilter{Limit: 200}) {
		if ev.RequestID == reqID {
			return ev, true
		}
	}
	return kms.AuditEvent{}, false
}

// snapshot is the state of every key: id → revision and version count.
func snapshot(t *testing.T, e *apitest.Env) map[string][2]int64 {
	t.Helper()
	ctx := context.Background()
	keys, err := e.Store.ListKeys(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][2]int64{}
	for _, k := range keys {
		vs, err := e.Store.ListVersions(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		m[k.ID] = [2]int64{k.Revision, int64(len(vs))}
	}
	return m
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func httpRequest(method, path string) *http.Request { return httptest.NewRequest(method, path, nil) }
