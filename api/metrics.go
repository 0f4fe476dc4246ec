package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3kms/s3kms/kms"
)

// metrics are the server's Prometheus metrics. Labels are route patterns
// and status codes only: never key ids, identities or anything secret.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newDefaultRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newMetrics(reg prometheus.Registerer, svc *kms.Service) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3kms", Subsystem: "kms_http", Name: "requests_total",
			Help: "HTTP requests served, by route (method and pattern) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "s3kms", Subsystem: "kms_http", Name: "request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route (method and pattern).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	hits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "s3kms", Subsystem: "kms", Name: "root_cache_hits_total",
		Help: "Lookups of opened root key versions answered from the cache.",
	}, func() float64 { h, _ := svc.CacheStats(); return float64(h) })
	misses := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "s3kms", Subsystem: "kms", Name: "root_cache_misses_total",
		Help: "Lookups of opened root key versions that had to open the root.",
	}, func() float64 { _, m := svc.CacheStats(); return float64(m) })
	cs := []prometheus.Collector{m.requests, m.duration, hits, misses}
	// Tests build a Server without a Service.
	var protector []kms.ProtectorStat
	auditOn := false
	if svc != nil {
		protector = svc.ProtectorStats()
		_, auditOn = svc.AuditStats()
	}
	for i, st := range protector {
		label := prometheus.Labels{"call": st.Call}
		stat := func() kms.ProtectorStat { return svc.ProtectorStats()[i] }
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "s3kms", Subsystem: "kms", Name: "protector_calls_total", ConstLabels: label,
				Help: "Protector (HSM for pkcs11) calls: OpenRoot on a root-cache miss, GenerateRoot on key creation and rotation.",
			}, func() float64 { return float64(stat().Calls) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "s3kms", Subsystem: "kms", Name: "protector_errors_total", ConstLabels: label,
				Help: "Protector calls that failed.",
			}, func() float64 { return float64(stat().Errors) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "s3kms", Subsystem: "kms", Name: "protector_seconds_total", ConstLabels: label,
				Help: "Time spent in protector calls (divide by protector_calls_total for the mean).",
			}, func() float64 { return stat().Duration.Seconds() }),
		)
	}
	if auditOn {
		audit := func(name, help string, f func(kms.AuditStats) uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "s3kms", Subsystem: "kms", Name: name, Help: help},
				func() float64 { st, _ := svc.AuditStats(); return float64(f(st)) })
		}
		cs = append(cs,
			audit("audit_batches_total", "Audit group commits (transactions) written.", func(st kms.AuditStats) uint64 { return st.Batches }),
			audit("audit_records_total", "Audit records written by group commits (divide by audit_batches_total for the mean batch).", func(st kms.AuditStats) uint64 { return st.Records }),
			audit("audit_batch_failures_total", "Audit group commits that failed (their requests failed).", func(st kms.AuditStats) uint64 { return st.Failures }),
		)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	if status == 0 {
		// The handler wrote nothing (client gone); net/http sends 200.
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Registry is the registry served on /metrics, for other components of
// the KMS process (KMIP) to register on.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}
