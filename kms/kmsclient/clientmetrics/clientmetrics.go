// Package clientmetrics exports a KMS client's calls (kmsclient.Observer)
// as Prometheus metrics. It is apart from kmsclient so that the client
// links no metrics library; the S3 node, which serves Prometheus anyway,
// uses it.
package clientmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/kms/kmsclient"
)

// Metrics are a client's Prometheus metrics. Labels are the client
// method names (a fixed set) and outcomes ("ok" or a kms.Code): never key
// ids, contexts or anything secret.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
}

var _ kmsclient.Observer = (*Metrics)(nil)

// New registers the KMS client metrics on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
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
			Help: "Repeated attempts of KMS calls after a transient failure (or on another endpoint), by client method.",
		}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.duration, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// CallDone implements kmsclient.Observer.
func (m *Metrics) CallDone(method, outcome string, d time.Duration) {
	m.calls.WithLabelValues(method, outcome).Inc()
	m.duration.WithLabelValues(method).Observe(d.Seconds())
}

// Retried implements kmsclient.Observer.
func (m *Metrics) Retried(method string) {
	m.retries.WithLabelValues(method).Inc()
}
