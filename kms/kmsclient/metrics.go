package kmsclient

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/kms"
)

// Metrics are a client's Prometheus metrics. Labels are the client
// method names (a fixed set) and outcomes ("ok" or a kms.Code): never key
// ids, contexts or anything secret. A nil *Metrics records nothing.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
}

// NewMetrics registers the KMS client metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "kmsclient", Name: "calls_total",
			Help: "KMS calls made (after retries), by client method and outcome (ok or the KMS error code).",
		}, []string{"method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "s3kms", Subsystem: "kmsclient", Name: "call_duration_seconds",
			Help:    "Duration of KMS calls, retries and backoff included, by client method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "kmsclient", Name: "retries_total",
			Help: "Repeated attempts of idempotent KMS calls after a transient failure, by client method.",
		}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.duration, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// WithMetrics records the client's calls in m.
func WithMetrics(m *Metrics) Option {
	return func(c *Client) { c.metrics = m }
}

// WithLogger logs retried and failed calls to l (debug and warn levels),
// with the request id of the caller's context (kms.WithRequestID, the S3
// request id inside an S3 node). Never request or response bodies.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.log = l }
}

func (m *Metrics) observe(method string, err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = string(kms.ErrorCode(err))
	}
	m.calls.WithLabelValues(method, outcome).Inc()
	m.duration.WithLabelValues(method).Observe(d.Seconds())
}

func (m *Metrics) retried(method string) {
	if m != nil {
		m.retries.WithLabelValues(method).Inc()
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
