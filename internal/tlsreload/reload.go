// Package tlsreload serves TLS certificates and CA bundles that are read
// from files and re-read when the files change, so that an operator
// rotates certificates without restarting a process.
//
// A Reloader holds one certificate and key pair and, optionally, a CA
// bundle: the CAs that verify client certificates (servers with mutual
// TLS) or server certificates (clients). Run re-reads the files when their
// size, modification time or inode changes (polled every
// Config.Interval) and on SIGHUP. When the new files do not load (a
// broken PEM, a key that does not match the certificate, a half-written
// file), the Reloader keeps the pair and bundle it has and logs one
// warning per change; key bytes are never logged.
//
// The tls.Config hooks take the current material at each handshake:
// existing connections keep the certificate they were made with, new
// connections get the new one.
package tlsreload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultInterval is how often Run checks the files when Config.Interval
// is zero.
const DefaultInterval = 5 * time.Second

// Config names the files of a Reloader.
type Config struct {
	// Name says what the material is for in log lines ("kms https").
	Name string
	// CertFile and KeyFile hold the certificate chain and its private key
	// (PEM). Required.
	CertFile, KeyFile string
	// CAFile holds a CA bundle (PEM): the client CAs of a server, the
	// root CAs of a client. Optional.
	CAFile string
	// Interval is how often Run looks at the files; zero means
	// DefaultInterval, a negative value only reloads on SIGHUP.
	Interval time.Duration
	// Logger receives reloads and failures. Defaults to discarding.
	Logger *slog.Logger
}

// material is one loaded, consistent set of files.
type material struct {
	cert   *tls.Certificate
	leaf   *x509.Certificate
	pool   *x509.CertPool // nil without CAFile
	stamps string         // the files' stamps when they were read
}

// Reloader holds the current material. It is safe for concurrent use.
type Reloader struct {
	cfg    Config
	cur    atomic.Pointer[material]
	mu     sync.Mutex // serialises reloads
	warned string     // stamps of the last failed load, warned about
}

// New loads the files; they must be valid at start.
func New(cfg Config) (*Reloader, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("tlsreload: a certificate and a key file are required")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{cfg: cfg}
	m, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	return r, nil
}

// files are the files the Reloader watches.
func (r *Reloader) files() []string {
	fs := []string{r.cfg.CertFile, r.cfg.KeyFile}
	if r.cfg.CAFile != "" {
		fs = append(fs, r.cfg.CAFile)
	}
	return fs
}

// currentStamps describes the files as they are now; a file that cannot
// be stat'ed has an empty stamp.
func (r *Reloader) currentStamps() string {
	var s string
	for _, f := range r.files() {
		s += stamp(f) + "|"
	}
	return s
}

// load reads the files into a new material.
func (r *Reloader) load() (*material, error) {
	stamps := r.currentStamps()
	pair, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: %s: loading %s and %s: %w", r.cfg.Name, r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	m := &material{cert: &pair, leaf: pair.Leaf, stamps: stamps}
	if m.leaf == nil {
		if m.leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlsreload: %s: %w", r.cfg.Name, err)
		}
	}
	if r.cfg.CAFile != "" {
		pemCAs, err := os.ReadFile(r.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tlsreload: %s: reading the CA file: %w", r.cfg.Name, err)
		}
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(pemCAs) {
			return nil, fmt.Errorf("tlsreload: %s: no PEM certificate in the CA file %s", r.cfg.Name, r.cfg.CAFile)
		}
	}
	return m, nil
}

// Reload re-reads the files when they changed since the last load, or
// always when force is set. It reports whether new material is in use.
// When the files do not load, the current material stays and the error
// is returned (and logged once per change of the files).
func (r *Reloader) Reload(force bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	stamps := r.currentStamps()
	if !force && stamps == old.stamps {
		return false, nil
	}
	m, err := r.load()
	if err != nil {
		if force || stamps != r.warned {
			r.warned = stamps
			r.cfg.Logger.Warn("tls: new certificate files do not load; still serving the previous certificate",
				"name", r.cfg.Name, "err", err, "serial", old.leaf.SerialNumber.String(), "not_after", old.leaf.NotAfter)
		}
		return false, err
	}
	r.warned = ""
	r.cur.Store(m)
	if force || old.leaf.SerialNumber.Cmp(m.leaf.SerialNumber) != 0 || r.cfg.CAFile != "" {
		r.cfg.Logger.Info("tls: certificate files reloaded", "name", r.cfg.Name,
			"subject", m.leaf.Subject.String(), "serial", m.leaf.SerialNumber.String(), "not_after", m.leaf.NotAfter)
	}
	return true, nil
}

// Run reloads on changes (every Config.Interval) and on SIGHUP until ctx
// ends.
func (r *Reloader) Run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if r.cfg.Interval > 0 {
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			_, _ = r.Reload(false)
		case <-hup:
			_, _ = r.Reload(true)
		}
	}
}

// Certificate returns the current certificate and key pair.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load().cert }

// Name is Config.Name.
func (r *Reloader) Name() string { return r.cfg.Name }

// NotAfter is the end of validity of the current certificate.
func (r *Reloader) NotAfter() time.Time { return r.cur.Load().leaf.NotAfter }

// CAs returns the current CA pool, or nil without Config.CAFile.
func (r *Reloader) CAs() *x509.CertPool { return r.cur.Load().pool }

// GetCertificate is a tls.Config.GetCertificate serving the current
// certificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// GetClientCertificate is a tls.Config.GetClientCertificate presenting the
// current certificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// ServerConfig returns a copy of base that serves the current certificate
// and, with Config.CAFile, verifies client certificates against the
// current CA bundle (through GetConfigForClient, which returns a copy of
// base with the current pool as ClientCAs). base's Certificates and
// ClientCAs are ignored; its other fields are kept, so a base for an HTTP
// server that should offer HTTP/2 must list "h2" in NextProtos itself
// (http.Server only adds it to its own copy).
func (r *Reloader) ServerConfig(base *tls.Config) *tls.Config {
	base = base.Clone()
	base.Certificates = nil
	base.GetCertificate = r.GetCertificate
	if r.cfg.CAFile == "" {
		return base
	}
	base.ClientCAs = r.CAs()
	tmpl := base.Clone()
	// The copy of tmpl for the current material, made once per reload.
	type derived struct {
		m *material
		c *tls.Config
	}
	var cache atomic.Pointer[derived]
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := r.cur.Load()
		if d := cache.Load(); d != nil && d.m == m {
			return d.c, nil
		}
		c := tmpl.Clone()
		c.ClientCAs = m.pool
		cache.Store(&derived{m: m, c: c})
		return c, nil
	}
	return base
}

// ClientConfig returns a client configuration (TLS 1.2 or later) that
// presents the current certificate and, with Config.CAFile, verifies the
// server's certificate for serverName (a DNS name or an IP address)
// against the current CA bundle. Without Config.CAFile the system roots
// verify the server as usual.
func (r *Reloader) ClientConfig(serverName string) *tls.Config {
	c := &tls.Config{
		MinVersion:           tls.VersionTLS12,
		ServerName:           serverName,
		GetClientCertificate: r.GetClientCertificate,
	}
	if r.cfg.CAFile == "" {
		return c
	}
	// The roots change at run time, which tls.Config.RootCAs cannot: skip
	// the built-in verification and do the same one in VerifyConnection
	// (which runs even with InsecureSkipVerify) against the current pool.
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tlsreload: the server sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: r.CAs(), DNSName: serverName, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
		}
		return nil
	}
	return c
}
