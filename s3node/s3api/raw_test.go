package s3api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

// Raw HTTP requests, signed with the SDK's signer, for what the SDK
// client cannot send.
func TestRawRequests(t *testing.T) {
	e := newEnv(t, "")
	if resp, body := e.raw(t, alice(), http.MethodPut, "/raw", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		name, method, path string
		body               string
		hdr                http.Header
		anonymous          bool
		status             int
		code               string
	}{
		{name: "malformed CreateBucket XML", method: http.MethodPut, path: "/raw2", body: "<CreateBucketConfiguration><LocationConstraint>", status: 400, code: "MalformedXML"},
		{name: "wrong root element", method: http.MethodPut, path: "/raw2", body: "<Foo/>", status: 400, code: "MalformedXML"},
		{name: "unsupported sub-resource", method: http.MethodGet, path: "/raw?acl", status: 501, code: "NotImplemented"},
		{name: "unknown sub-resource method", method: http.MethodPost, path: "/raw?location", status: 501, code: "NotImplemented"},
		{name: "method not allowed", method: http.MethodPut, path: "/", status: 405, code: "MethodNotAllowed"},
		{name: "POST object", method: http.MethodPost, path: "/raw/key", status: 405, code: "MethodNotAllowed"},
		{name: "PATCH", method: http.MethodPatch, path: "/raw/key", status: 405, code: "MethodNotAllowed"},
		{name: "anonymous", method: http.MethodGet, path: "/", anonymous: true, status: 403, code: "AccessDenied"},
		{name: "no such key", method: http.MethodGet, path: "/raw/missing", status: 404, code: "NoSuchKey"},
		{name: "bad md5", method: http.MethodPut, path: "/raw/k", body: "data", hdr: http.Header{"Content-Md5": {"xx"}}, status: 400, code: "InvalidDigest"},
		{name: "unsupported sse", method: http.MethodPut, path: "/raw/k", body: "data", hdr: http.Header{"X-Amz-Server-Side-Encryption": {"AES128"}}, status: 400, code: "InvalidArgument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := alice()
			if tc.anonymous {
				creds = nil
			}
			resp, body := e.raw(t, creds, tc.method, tc.path, []byte(tc.body), tc.hdr)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if resp.Header.Get("x-amz-request-id") == "" || resp.Header.Get("x-amz-id-2") == "" {
				t.Fatal("no request id headers")
			}
			if !strings.Contains(string(body), "<RequestId>"+resp.Header.Get("x-amz-request-id")+"</RequestId>") {
				t.Fatalf("body does not carry the request id: %s", body)
			}
		})
	}

	t.Run("HEAD missing key has no body", func(t *testing.T) {
		resp, body := e.raw(t, alice(), http.MethodHead, "/raw/missing", nil, nil)
		if resp.StatusCode != 404 || len(body) != 0 || resp.Header.Get("x-amz-request-id") == "" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("default content type and request id on success", func(t *testing.T) {
		if resp, body := e.raw(t, alice(), http.MethodPut, "/raw/typed", []byte("x"), nil); resp.StatusCode != 200 {
			t.Fatalf("put: %d %s", resp.StatusCode, body)
		}
		resp, body := e.raw(t, alice(), http.MethodGet, "/raw/typed", nil, nil)
		if resp.StatusCode != 200 || string(body) != "x" || resp.Header.Get("Content-Type") != "binary/octet-stream" ||
			resp.Header.Get("x-amz-request-id") == "" || resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
		}
	})
	t.Run("body not matching its signed hash is not stored", func(t *testing.T) {
		other := sha256.Sum256([]byte("other"))
		resp, body := e.raw(t, alice(), http.MethodPut, "/raw/lying", []byte("data"),
			http.Header{"X-Amz-Content-Sha256": {hex.EncodeToString(other[:])}})
		if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>XAmzContentSHA256Mismatch</Code>") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if resp, _ := e.raw(t, alice(), http.MethodHead, "/raw/lying", nil, nil); resp.StatusCode != 404 {
			t.Fatalf("HEAD after refused PUT: %d", resp.StatusCode)
		}
	})
	t.Run("DELETE missing key is 204", func(t *testing.T) {
		resp, body := e.raw(t, alice(), http.MethodDelete, "/raw/never-there", nil, nil)
		if resp.StatusCode != http.StatusNoContent || len(body) != 0 || resp.Header.Get("x-amz-request-id") == "" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("panic becomes InternalError", func(t *testing.T) {
		e.s.routes[routeKey{http.MethodGet, kindBucket, "policyStatus"}] = route{op: "Panic",
			fn: func(*Server, *request) (*response, error) { panic("boom") }}
		resp, body := e.raw(t, alice(), http.MethodGet, "/raw?policyStatus", nil, nil)
		if resp.StatusCode != 500 || !strings.Contains(string(body), "<Code>InternalError</Code>") || strings.Contains(string(body), "boom") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("CreateBucket with LocationConstraint", func(t *testing.T) {
		resp, body := e.raw(t, alice(), http.MethodPut, "/raw3", []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`), nil)
		if resp.StatusCode != 200 || resp.Header.Get("Location") != "/raw3" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}
