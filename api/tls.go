package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// TLSConfig returns the server TLS configuration: the certificate and key
// in certFile and keyFile (PEM), TLS 1.2 or later, and client certificates
// verified against the CAs in clientCAFile (PEM) when given.
//
// A client certificate is requested but not required during the handshake
// (tls.VerifyClientCertIfGiven): a request without one reaches the API and
// gets an audited JSON 401, while a certificate that does not verify
// against the client CAs fails the handshake (logged by the http.Server's
// ErrorLog, see NewHTTPServer).
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("api: loading the server certificate: %w", err)
	}
	pemCAs, err := os.ReadFile(clientCAFile)
	if err != nil {
		return nil, fmt.Errorf("api: reading the client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCAs) {
		return nil, fmt.Errorf("api: no PEM certificate in the client CA file %s", clientCAFile)
	}
	return NewTLSConfig(cert, pool), nil
}

// NewTLSConfig is TLSConfig for a certificate and client CA pool already
// loaded.
func NewTLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    clientCAs,
	}
}

// Server timeouts. Bodies are at most 8 MiB (batch rewrap), so reading one
// takes well under ReadTimeout on any sane link; WriteTimeout is above the
// longest route timeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 90 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 20 * time.Second
)

// NewHTTPServer returns an http.Server for h with the API's timeouts and
// header limit, serving TLS with tlsCfg, logging connection-level errors
// (failed handshakes, bad client certificates) to log at warning level.
func NewHTTPServer(addr string, tlsCfg *tls.Config, h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve listens on addr and serves h over TLS until ctx is cancelled, then
// shuts down gracefully: it stops accepting, lets requests in flight
// finish for up to 20 s, and returns nil. Any other failure is returned.
func Serve(ctx context.Context, addr string, tlsCfg *tls.Config, h http.Handler, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return ServeListener(ctx, ln, tlsCfg, h, log)
}

// ServeListener is Serve on an existing listener, which it closes.
func ServeListener(ctx context.Context, ln net.Listener, tlsCfg *tls.Config, h http.Handler, log *slog.Logger) error {
	if tlsCfg == nil {
		ln.Close()
		return errors.New("api: a TLS configuration is required")
	}
	srv := NewHTTPServer(ln.Addr().String(), tlsCfg, h, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("api: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}
