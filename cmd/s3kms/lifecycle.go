package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"time"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/lifecycle"
	"github.com/s3kms/s3kms/internal/tlsreload"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// tlsFiles loads the TLS files of a runtime (internal/tlsreload) and, once
// started, reloads them until the runtime stops.
type tlsFiles struct {
	interval time.Duration // tls.reload_interval; 0: SIGHUP only
	logger   *slog.Logger
	rs       []*tlsreload.Reloader
}

// load returns a Reloader over the files.
func (f *tlsFiles) load(name, certFile, keyFile, caFile string) (*tlsreload.Reloader, error) {
	interval := f.interval
	if interval == 0 {
		interval = -1 // tlsreload: SIGHUP only
	}
	r, err := tlsreload.New(tlsreload.Config{Name: name, CertFile: certFile, KeyFile: keyFile, CAFile: caFile,
		Interval: interval, Logger: f.logger})
	if err != nil {
		return nil, err
	}
	f.rs = append(f.rs, r)
	return r, nil
}

// start logs the certificates' end of validity and runs the reloaders
// until ctx ends.
func (f *tlsFiles) start(ctx context.Context, wg *sync.WaitGroup) {
	for name, end := range f.certNotAfter() {
		f.logger.Info("tls certificate loaded; reloaded on change and on SIGHUP", "name", name, "not_after", end)
	}
	for _, r := range f.rs {
		wg.Go(func() { r.Run(ctx) })
	}
}

// certNotAfter returns, per loaded certificate (by name: "kms", "s3
// https", "s3 admin", "kms client"), the end of its validity, for a gauge.
func (f *tlsFiles) certNotAfter() map[string]time.Time {
	m := map[string]time.Time{}
	for _, r := range f.rs {
		m[r.Name()] = r.NotAfter()
	}
	return m
}

// httpNextProtos makes an HTTPS server whose configuration changes per
// handshake (GetConfigForClient) still offer HTTP/2.
var httpNextProtos = []string{"h2", "http/1.1"}

// kmsTLS returns the KMS's server configurations, for HTTPS and for KMIP,
// over its reloaded certificate and client CAs.
func (f *tlsFiles) kmsTLS(c config.TLS) (https, kmip *tls.Config, err error) {
	r, err := f.load("kms", c.Cert, c.Key, c.ClientCA)
	if err != nil {
		return nil, nil, err
	}
	base := api.NewTLSConfig(tls.Certificate{}, nil)
	kmip = r.ServerConfig(base)
	base.NextProtos = httpNextProtos
	return r.ServerConfig(base), kmip, nil
}

// kmsClient returns a KMS client of the endpoint(s) whose certificate and
// trusted CAs are reloaded.
func (f *tlsFiles) kmsClient(c config.KMSClient, opts ...kmsclient.Option) (*kmsclient.Client, error) {
	r, err := f.load("kms client", c.Cert, c.Key, c.CAFile)
	if err != nil {
		return nil, err
	}
	opts = append(kmsClientOptions(c), append(opts, kmsclient.WithTLSConfigFunc(r.ClientConfig))...)
	return kmsclient.NewMulti(c.URLs(), nil, opts...)
}

// stopper is what a runtime's graceful stop needs.
type stopper struct {
	drain  lifecycle.Drain
	cfg    config.Lifecycle
	logger *slog.Logger
}

// stopServing drains for shutdown_delay, then stops the servers (each a
// function stopping one server within the context) and waits up to
// shutdown_timeout for what is in flight.
func (s *stopper) stopServing(delay bool, servers ...func(context.Context) (forced bool)) {
	s.drain.SetDraining(true)
	if delay && s.cfg.ShutdownDelay > 0 {
		s.logger.Info("draining: readiness reports not ready; still serving", "shutdown_delay", s.cfg.ShutdownDelay)
		time.Sleep(s.cfg.ShutdownDelay)
	}
	timeout := s.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = config.DefaultShutdownTimeout
	}
	s.logger.Info("stopping: no new connections; waiting for requests in flight", "shutdown_timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	forced := false
	for _, stop := range servers {
		wg.Go(func() {
			if stop(ctx) {
				mu.Lock()
				forced = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if forced {
		s.logger.Warn("shutdown_timeout passed: connections still busy were closed", "shutdown_timeout", timeout)
	}
}
