package s3err

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		err        error
		wantStatus int
		wantBody   string // substring; "" means no body
	}{
		{"no such key", "GET", New(NoSuchKey).With("Key", "a/b"), 404,
			"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a/b</Key><Resource>/bkt/a/b</Resource><RequestId>req1</RequestId><HostId>host1</HostId></Error>"},
		{"HEAD has no body", "HEAD", New(NoSuchKey), 404, ""},
		{"argument", "PUT", Argument("The calculated MD5 hash of the key did not match the hash that was provided.", "x-amz-server-side-encryption", "null"), 400,
			"<ArgumentName>x-amz-server-side-encryption</ArgumentName><ArgumentValue>null</ArgumentValue>"},
		{"unknown error hides details", "GET", errors.New("disk /srv/secret failed"), 500,
			"<Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>"},
		{"wrapped s3 error", "GET", errors.Join(errors.New("ctx"), New(AccessDenied)), 403, "<Code>AccessDenied</Code>"},
		{"escaping", "GET", New(NoSuchBucket).With("BucketName", "<&>"), 404, "<BucketName>&lt;&amp;&gt;</BucketName>"},
		{"not modified has no body", "GET", New(NotModified), 304, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/bkt/a/b", nil)
			w := httptest.NewRecorder()
			Write(w, r, tt.err, "req1", "host1")
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if w.Header().Get("x-amz-request-id") != "req1" {
				t.Error("no x-amz-request-id")
			}
			body := w.Body.String()
			if tt.wantBody == "" {
				if body != "" {
					t.Errorf("body = %q, want none", body)
				}
				return
			}
			if !strings.HasPrefix(body, xml.Header) || !strings.Contains(body, tt.wantBody) {
				t.Errorf("body = %s\nwant containing %s", body, tt.wantBody)
			}
			if strings.Contains(body, "secret") {
				t.Error("internal details leaked")
			}
			if w.Header().Get("Content-Type") != "application/xml" {
				t.Errorf("content type = %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

func TestTableComplete(t *testing.T) {
	for code, e := range table {
		if e.status < 300 || e.status > 599 || e.message == "" {
			t.Errorf("%s: status %d message %q", code, e.status, e.message)
		}
	}
	if New(AccessDenied).Status() != http.StatusForbidden || (&Error{Code: "Bogus"}).Status() != 500 {
		t.Error("Status lookup")
	}
}
