package s3err

import (
	"errors"
	"net/http/httptest"
	"testing"
)

// TestRetryAfter: every 503 answer tells clients when to come back; other
// statuses carry no Retry-After, and a handler's own value is kept.
func TestRetryAfter(t *testing.T) {
	own := New(SlowDown)
	own.Header = map[string][]string{"Retry-After": {"7"}}
	for _, tc := range []struct {
		name   string
		method string
		err    error
		want   string
	}{
		{"service unavailable", "PUT", New(ServiceUnavailable), RetryAfterSeconds},
		{"slow down", "GET", New(SlowDown), RetryAfterSeconds},
		{"HEAD", "HEAD", Msg(ServiceUnavailable, "KMS down"), RetryAfterSeconds},
		{"handler's own value", "GET", own, "7"},
		{"internal error", "GET", errors.New("boom"), ""},
		{"not found", "GET", New(NoSuchKey), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Write(w, httptest.NewRequest(tc.method, "/b/k", nil), tc.err, "r", "")
			if got := w.Header().Get("Retry-After"); got != tc.want {
				t.Errorf("Retry-After = %q, want %q", got, tc.want)
			}
		})
	}
}
