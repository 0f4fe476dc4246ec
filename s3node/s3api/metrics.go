package s3api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/s3node/s3err"
)

// opUnknown labels requests whose operation could not be resolved (an
// unsupported method, a malformed target).
const opUnknown = "Unknown"

// metrics are the S3 API's Prometheus metrics. Labels are bounded: the
// operation names of the route table, HTTP status codes and the codes of
// the s3err table. Never bucket names, keys, access keys or anything
// secret. A nil *metrics records nothing.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "s3", Name: "requests_total",
			Help: "S3 requests served, by operation and HTTP status code.",
		}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "s3kms", Subsystem: "s3", Name: "request_duration_seconds",
			Help:    "Time to serve an S3 request (until the last byte of the response is written), by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "s3", Name: "errors_total",
			Help: "S3 error responses, by operation and S3 error code.",
		}, []string{"op", "s3_code"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "s3", Name: "received_bytes_total",
			Help: "Request body bytes read, by operation.",
		}, []string{"op"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "s3", Name: "sent_bytes_total",
			Help: "Response body bytes written, by operation.",
		}, []string{"op"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "s3kms", Subsystem: "s3", Name: "requests_in_flight",
			Help: "S3 requests being served.",
		}),
	}
	cs := []prometheus.Collector{m.requests, m.duration, m.errors, m.bytesIn, m.bytesOut, m.inFlight}
	if c := s.bucketKeys; c != nil {
		counter := func(name, help string, f func() uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "s3kms", Subsystem: "s3", Name: name, Help: help,
			}, func() float64 { return float64(f()) })
		}
		cs = append(cs,
			counter("bucket_key_cache_hits_total", "Bucket-key cache lookups answered without the KMS, for new objects (generate).",
				func() uint64 { return c.Stats().GenerateHits }),
			counter("bucket_key_cache_misses_total", "Bucket-key cache lookups that called the KMS, for new objects (generate).",
				func() uint64 { return c.Stats().GenerateMisses }),
			counter("bucket_key_cache_open_hits_total", "Bucket-key cache lookups answered without the KMS, for objects read (open).",
				func() uint64 { return c.Stats().OpenHits }),
			counter("bucket_key_cache_open_misses_total", "Bucket-key cache lookups that called the KMS, for objects read (open).",
				func() uint64 { return c.Stats().OpenMisses }),
		)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) started() {
	if m != nil {
		m.inFlight.Inc()
	}
}

// observe records a finished request.
func (m *metrics) observe(op string, status int, code s3err.Code, in, out int64, d time.Duration) {
	if m == nil {
		return
	}
	m.inFlight.Dec()
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
	if code != "" {
		m.errors.WithLabelValues(op, string(code)).Inc()
	}
	if in > 0 {
		m.bytesIn.WithLabelValues(op).Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.WithLabelValues(op).Add(float64(out))
	}
}
