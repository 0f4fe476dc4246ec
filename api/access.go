package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// maxClientRequestID bounds the X-Request-Id a client may send.
const maxClientRequestID = 128

type clientRequestIDKey struct{}

// withClientRequestID keeps the request id the client sent (an S3 node's
// x-amz-request-id) in ctx, if it is a short token of safe characters.
// The KMS's own request id stays the one in audit records and responses;
// this one is logged next to it, to follow a request across services.
func withClientRequestID(ctx context.Context, r *http.Request) context.Context {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > maxClientRequestID {
		return ctx
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return ctx
		}
	}
	return context.WithValue(ctx, clientRequestIDKey{}, id)
}

// clientRequestID returns the id withClientRequestID kept, or "".
func clientRequestID(ctx context.Context) string {
	id, _ := ctx.Value(clientRequestIDKey{}).(string)
	return id
}

// logAccess writes the access line of one request (message "access"):
// ids, route, status, duration and the caller's identity (the hash of its
// certificate's public key). Never bodies, key ids or contexts.
func (s *Server) logAccess(r *http.Request, route string, status int, d time.Duration) {
	if !s.accessLog {
		return
	}
	var identity string
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		identity = string(kms.IdentityOf(r.TLS.PeerCertificates[0]))
	}
	if status == 0 {
		status = http.StatusOK
	}
	s.log.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelInfo, "access",
		slog.String("request_id", kms.RequestIDFrom(r.Context())),
		slog.String("client_request_id", clientRequestID(r.Context())),
		slog.String("remote", r.RemoteAddr),
		slog.String("identity", identity),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
	)
}
