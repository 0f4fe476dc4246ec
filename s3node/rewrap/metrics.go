package rewrap

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a worker's Prometheus metrics. Labels are results and
// states only, never key ids or object names. A nil *Metrics records
// nothing.
type Metrics struct {
	rows  *prometheus.CounterVec
	jobs  *prometheus.CounterVec
	batch prometheus.Histogram
}

// NewMetrics registers the rewrap metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3kms_rewrap_rows_total",
			Help: "Object versions and uploads a rewrap job handled, by result: done (re-sealed), skipped (changed concurrently), failed (refused by the KMS).",
		}, []string{"result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3kms_rewrap_jobs_finished_total",
			Help: "Rewrap jobs this node finished, by final state.",
		}, []string{"state"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3kms_rewrap_kms_batch_seconds",
			Help:    "Duration of the KMS RewrapBatch call of one page.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
	}
	for _, c := range []prometheus.Collector{m.rows, m.jobs, m.batch} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) addRows(done, skipped, failed int64) {
	if m == nil {
		return
	}
	m.rows.WithLabelValues("done").Add(float64(done))
	m.rows.WithLabelValues("skipped").Add(float64(skipped))
	m.rows.WithLabelValues("failed").Add(float64(failed))
}

func (m *Metrics) finished(s State) {
	if m != nil {
		m.jobs.WithLabelValues(string(s)).Inc()
	}
}

func (m *Metrics) batchTook(d time.Duration) {
	if m != nil {
		m.batch.Observe(d.Seconds())
	}
}
