package kmip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the KMIP server's Prometheus metrics. Labels are bounded:
// operation names of the operation table ("other" for anything else) and
// result reasons. Never identities, unique identifiers or names. A nil
// *metrics records nothing.
type metrics struct {
	items    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	conns    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "kmip", Name: "operations_total",
			Help: "KMIP batch items served, by operation and result (success, or the Result Reason of a failure).",
		}, []string{"operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "s3kms", Subsystem: "kmip", Name: "operation_duration_seconds",
			Help:    "Time to serve one KMIP batch item, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "s3kms", Subsystem: "kmip", Name: "connections_open",
			Help: "KMIP connections open.",
		}),
	}
	for _, c := range []prometheus.Collector{m.items, m.duration, m.conns} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// opLabel names op for metrics and logs: its name when the server serves
// it, "other" for any other value a client may send.
func (h *handler) opLabel(op kmip14.Operation, hasOp bool) string {
	if _, ok := h.ops[op]; !ok || !hasOp {
		return "other"
	}
	return op.String()
}

// resultLabel is "success" or the failure's Result Reason.
func resultLabel(it responseItem) string {
	if it.status == kmip14.ResultStatusSuccess {
		return "success"
	}
	return it.reason.String()
}

// observeItem records one served batch item in the metrics and, when the
// access log is on, logs it (message "kmip access"): connection id, item
// index, identity, operation, result and duration. Never payloads.
func (h *handler) observeItem(ctx context.Context, sess session, index int, it responseItem, d time.Duration) {
	op, result := h.opLabel(it.op, it.hasOp), resultLabel(it)
	if h.metrics != nil {
		h.metrics.items.WithLabelValues(op, result).Inc()
		h.metrics.duration.WithLabelValues(op).Observe(d.Seconds())
	}
	if h.accessLog {
		h.log.LogAttrs(ctx, slog.LevelInfo, "kmip access",
			slog.String("conn_id", sess.connID), slog.Int("batch_item", index),
			slog.String("identity", string(sess.identity)), slog.String("operation", op),
			slog.String("result", result), slog.Duration("duration", d))
	}
}

func (m *metrics) connOpened() {
	if m != nil {
		m.conns.Inc()
	}
}

func (m *metrics) connClosed() {
	if m != nil {
		m.conns.Dec()
	}
}

// newConnID returns a random id for a connection's log lines.
func newConnID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
