package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/s3node/s3api"
	"github.com/s3kms/s3kms/storage/blobfs"
)

// newRegistry returns a registry with the Go and process collectors: one
// per S3 node, served at /metrics on its admin listener.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// s3Readiness is the S3 node's /readyz: the metadata database answers a
// ping, the KMS its /readyz (through the node's mutual-TLS client), and
// the data directory takes a small file.
func s3Readiness(db *database, kc *kmsclient.Client, data *blobfs.Store, logger *slog.Logger) *s3api.Readiness {
	return s3api.NewReadiness(0, 0,
		s3api.Check{Name: "database", Fn: db.ping},
		s3api.Check{Name: "kms", Fn: kc.Ready},
		s3api.Check{Name: "data_dir", Fn: s3api.DirWritable(data.TempDir())},
	).WithLogger(logger)
}

// sweepMetrics are the orphan-blob sweeper's metrics. A nil *sweepMetrics
// records nothing.
type sweepMetrics struct {
	blobs, temps, bytes, failures prometheus.Counter
	lastSuccess                   prometheus.Gauge
}

func newSweepMetrics(reg prometheus.Registerer) (*sweepMetrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "s3kms", Subsystem: "sweep", Name: name, Help: help})
	}
	m := &sweepMetrics{
		blobs:    counter("blobs_total", "Orphan blobs (committed, referenced by no metadata) removed by the sweeper."),
		temps:    counter("temps_total", "Abandoned temporary files removed by the sweeper."),
		bytes:    counter("bytes_total", "Bytes freed by the sweeper."),
		failures: counter("failures_total", "Sweeps that failed (retried at the next interval)."),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "s3kms", Subsystem: "sweep",
			Name: "last_success_timestamp_seconds", Help: "Unix time the last sweep finished without error."}),
	}
	for _, c := range []prometheus.Collector{m.blobs, m.temps, m.bytes, m.failures, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *sweepMetrics) observe(st blobfs.SweepStats, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.failures.Inc()
		return
	}
	m.blobs.Add(float64(st.Blobs))
	m.temps.Add(float64(st.Temps))
	m.bytes.Add(float64(st.Bytes))
	m.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
}

// protectorChecker is a protector with a readiness check (pkcs11: an HSM
// session answers), reported as "protector" by the KMS's /readyz.
type protectorChecker interface {
	Check(ctx context.Context) error
}
