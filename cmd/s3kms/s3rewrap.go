package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/s3node/rewrap"
)

// startRewrap starts the node's rewrap worker and sweeper (key rotation,
// s3node/rewrap) and, if configured, its admin API (jobs, the node's
// metrics from reg at /metrics, /healthz and /readyz), all stopped by ctx
// and awaited by rt.Close.
func (rt *s3Runtime) startRewrap(ctx context.Context, cfg config.S3, meta any, kc *kmsclient.Client, files *tlsFiles, logger *slog.Logger, reg *prometheus.Registry) error {
	st, ok := meta.(rewrap.Store)
	if !ok {
		return fmt.Errorf("s3: the metadata store %T keeps no rewrap jobs", meta)
	}
	metrics, err := rewrap.NewMetrics(reg)
	if err != nil {
		return err
	}
	w := rewrap.NewWorker(rewrap.Config{Store: st, KMS: kc, Rate: cfg.Rewrap.Rate, Batch: cfg.Rewrap.Batch, Lease: cfg.Rewrap.Lease, Logger: logger, Metrics: metrics})
	rt.wg.Go(func() { w.Run(ctx) })
	if cfg.Rewrap.SweepInterval > 0 {
		s := rewrap.NewSweeper(rewrap.SweeperConfig{Store: st, Interval: cfg.Rewrap.SweepInterval, Logger: logger,
			Current: func(ctx context.Context, keyID string) (int, error) {
				k, err := kc.GetKey(ctx, keyID)
				return k.CurrentVersion, err
			}})
		rt.wg.Go(func() { s.Run(ctx) })
	}
	if cfg.Admin.Listen == "" {
		return nil
	}
	certs, err := files.load("s3 admin", cfg.TLS.Cert, cfg.TLS.Key, cfg.Admin.ClientCA)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", rewrap.Handler(st, logger))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", rt.ready.LivenessHandler())
	mux.Handle("GET /readyz", rt.ready.ReadinessHandler())
	hs := &http.Server{
		Handler: mux,
		TLSConfig: certs.ServerConfig(&tls.Config{MinVersion: tls.VersionTLS12, NextProtos: httpNextProtos,
			ClientAuth: tls.RequireAndVerifyClientCert}),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
	}
	rt.servers = append(rt.servers, hs)
	rt.lns = append(rt.lns, ln)
	rt.adminLn = ln
	rt.wg.Go(func() {
		if err := hs.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("s3 admin server stopped", "addr", cfg.Admin.Listen, "err", err)
		}
	})
	return nil
}

// AdminAddr is the admin API's address, or "".
func (rt *s3Runtime) AdminAddr() string {
	if rt.adminLn == nil {
		return ""
	}
	return rt.adminLn.Addr().String()
}
