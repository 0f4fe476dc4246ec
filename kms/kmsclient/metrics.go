package kmsclient

import (
	"context"
	"log/slog"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// Observer receives the outcome of every call a client makes, e.g. to
// export it as metrics (package clientmetrics does so for Prometheus; the
// client itself links no metrics library, so that callers of the KMS do not
// inherit one). method is a client method name (a fixed set); outcome is
// "ok" or a kms.Code; d includes retries and backoff. Never key ids,
// contexts or anything secret.
type Observer interface {
	CallDone(method, outcome string, d time.Duration)
	// Retried counts a repeated attempt of an idempotent call.
	Retried(method string)
}

// WithObserver reports the client's calls to o.
func WithObserver(o Observer) Option {
	return func(c *Client) { c.metrics = observer{o} }
}

// WithLogger logs retried and failed calls to l (debug and warn levels),
// with the request id of the caller's context (kms.WithRequestID, the S3
// request id inside an S3 node). Never request or response bodies.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.log = l }
}

// observer makes a nil Observer record nothing.
type observer struct{ o Observer }

func (m observer) observe(method string, err error, d time.Duration) {
	if m.o == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = string(kms.ErrorCode(err))
	}
	m.o.CallDone(method, outcome, d)
}

func (m observer) retried(method string) {
	if m.o != nil {
		m.o.Retried(method)
	}
}

// logRetry logs a failed attempt that will be repeated.
func (c *Client) logRetry(ctx context.Context, method string, attempt int, err error) {
	if c.log == nil {
		return
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "kms call failed; retrying",
		slog.String("request_id", kms.RequestIDFrom(ctx)), slog.String("call", method),
		slog.Int("attempt", attempt+1), slog.String("error", err.Error()))
}
