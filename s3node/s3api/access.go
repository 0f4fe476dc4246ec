package s3api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Caps on user-supplied strings in the access log: object keys are user
// data (logged, but bounded), user agents are free text.
const (
	maxLoggedKey       = 512
	maxLoggedUserAgent = 256
	maxLoggedAccessKey = 128
)

// countingBody counts the request body bytes read by the handler.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// observeRequest records a finished request in the metrics and, when the
// access log is on, writes its access line (slog, message "access"). It
// never logs secrets: no Authorization header, signature, credential
// scope, secret key nor SSE-C key or key MD5.
func (s *Server) observeRequest(w *trackingWriter, rq *request, body *countingBody, start time.Time) {
	d := time.Since(start)
	status := w.status
	if status == 0 {
		// Nothing written (client gone, or an aborted handler before the
		// status line): net/http answers 200 or cuts the connection.
		status = http.StatusOK
	}
	op := rq.op
	if op == "" {
		op = s.resolveOp(rq.r)
	}
	var in int64
	if body != nil {
		in = body.n.Load()
	}
	s.metrics.observe(op, status, rq.errCode, in, w.n, d)
	if !s.accessLog {
		return
	}
	r := rq.r
	bucket, key := rq.bucketName, rq.key
	if bucket == "" && key == "" {
		bucket, key = s.target(r)
	}
	accessKey := rq.user.AccessKeyID
	if accessKey == "" {
		accessKey = claimedAccessKey(r)
	}
	s.log.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelInfo, "access",
		slog.String("request_id", rq.requestID),
		slog.String("remote", r.RemoteAddr),
		slog.String("access_key", capString(accessKey, maxLoggedAccessKey)),
		slog.String("method", r.Method),
		slog.String("op", op),
		slog.String("bucket", capString(bucket, maxLoggedKey)),
		slog.String("key", capString(key, maxLoggedKey)),
		slog.Int("status", status),
		slog.String("error_code", string(rq.errCode)),
		slog.Int64("bytes_in", in),
		slog.Int64("bytes_out", w.n),
		slog.Duration("duration", d),
		slog.String("user_agent", capString(r.UserAgent(), maxLoggedUserAgent)),
		slog.String("sse", accessSSEMode(w.Header(), r.Header)),
	)
}

// resolveOp names the operation of a request that failed before routing
// (authentication), for metrics and the access log.
func (s *Server) resolveOp(r *http.Request) string {
	bucket, key := s.target(r)
	k := kindService
	switch {
	case key != "":
		k = kindObject
	case bucket != "":
		k = kindBucket
	}
	if rt, ok := s.routes[routeKey{r.Method, k, subResource(r)}]; ok {
		return rt.op
	}
	return opUnknown
}

// claimedAccessKey is the access key id a request names (SigV4 header or
// presigned query), before or without verification: the part of the
// credential before its first "/". The rest of the credential scope and
// the signature are never returned.
func claimedAccessKey(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if cred == "" {
		auth := r.Header.Get("Authorization")
		i := strings.Index(auth, "Credential=")
		if i < 0 {
			return ""
		}
		cred = auth[i+len("Credential="):]
	}
	ak, _, _ := strings.Cut(cred, "/")
	if strings.ContainsAny(ak, ", =") {
		return ""
	}
	return ak
}

// accessSSEMode names the server-side encryption of a request: from the
// response headers when it succeeded, else from what it asked for.
func accessSSEMode(resp, req http.Header) string {
	for _, h := range []http.Header{resp, req} {
		if h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
			return "SSE-C"
		}
		switch v := h.Get("X-Amz-Server-Side-Encryption"); {
		case v == "AES256":
			return "SSE-S3"
		case strings.HasPrefix(v, "aws:kms"):
			return "SSE-KMS"
		case v != "":
			return "invalid"
		}
	}
	return "none"
}

// capString cuts s to at most n bytes, marking the cut.
func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
