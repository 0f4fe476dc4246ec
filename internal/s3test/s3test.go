// Package s3test runs an S3 node in-process for tests and benchmarks: the
// s3api server on SQLite metadata and a blobfs data store in a temporary
// directory, served over HTTPS on a loopback port with a certificate from
// a fresh CA, the way `s3kms dev` serves it, with a real in-process KMS
// (api/apitest) for SSE-S3 and SSE-KMS; users are static.
//
// Endpoint describes where clients connect and with which credentials;
// Start returns one for the in-process node, FromEnv one for a running
// `s3kms dev` (after sourcing its dev.env).
package s3test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pki"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/s3node/s3api"
	"github.com/s3kms/s3kms/storage/blobfs"
	"github.com/s3kms/s3kms/storage/sqlite"
)

// Credentials of the user of the in-process node.
const (
	Region    = "us-east-1"
	AccessKey = "AKIAS3TEST000000000"
	Secret    = "s3test-secret-0123456789abcdef"
)

// Endpoint is an S3 endpoint and the settings to reach it.
type Endpoint struct {
	URL       string // https://127.0.0.1:port
	Region    string
	AccessKey string
	Secret    string
	CAFile    string // PEM bundle trusting the server certificate

	// KMS counts the node's calls to its KMS; KMSAdmin may do everything
	// on every key of that KMS (e.g. create SSE-KMS keys). Both are set
	// for an in-process node only (Start), nil for FromEnv.
	KMS      *KMSCounter
	KMSAdmin *kmsclient.Client
}

// Env returns the endpoint as the environment variables read by the AWS
// SDKs and CLI (AWS_ENDPOINT_URL, AWS_CA_BUNDLE, ...).
func (e Endpoint) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + e.URL,
		"S3KMS_S3_ENDPOINT=" + e.URL,
		"AWS_ACCESS_KEY_ID=" + e.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + e.Secret,
		"AWS_DEFAULT_REGION=" + e.Region,
		"AWS_REGION=" + e.Region,
		"AWS_CA_BUNDLE=" + e.CAFile,
	}
}

// FromEnv returns the endpoint named by the variables `s3kms dev` writes
// to dev.env (S3KMS_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_DEFAULT_REGION, AWS_CA_BUNDLE); ok is false unless
// S3KMS_S3_ENDPOINT is set.
func FromEnv() (e Endpoint, ok bool) {
	e = Endpoint{
		URL:       os.Getenv("S3KMS_S3_ENDPOINT"),
		Region:    os.Getenv("AWS_DEFAULT_REGION"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		Secret:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		CAFile:    os.Getenv("AWS_CA_BUNDLE"),
	}
	if e.Region == "" {
		e.Region = Region
	}
	return e, e.URL != ""
}

// Loopback reports whether the endpoint's host is a loopback address (or
// localhost): load tests refuse anything else.
func (e Endpoint) Loopback() bool {
	u, err := url.Parse(e.URL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Option adjusts the node Start runs.
type Option func(*options)

type options struct {
	bucketKeyTTL time.Duration
}

// BucketKeyTTL turns bucket keys on in the node (s3api.Config.BucketKeyTTL).
func BucketKeyTTL(d time.Duration) Option { return func(o *options) { o.bucketKeyTTL = d } }

// Start runs an in-process S3 node for the duration of the test and
// returns its endpoint. The CA bundle is written to a temporary file. The
// node's KMS is a real one (api/apitest) behind a KMSCounter.
func Start(t testing.TB, opts ...Option) Endpoint {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "s3.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := blobfs.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	kmsEnv, nodeKMS := startKMS(t)
	counter := NewKMSCounter(nodeKMS)
	s, err := s3api.New(s3api.Config{
		Meta: db.S3Store(), Data: data, Region: Region, KMS: counter, BucketKeyTTL: o.bucketKeyTTL,
		Users: s3api.StaticUsers{AccessKey: {
			Secret: Secret, CanonicalID: "s3test-canonical", DisplayName: "s3test",
		}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("s3test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("s3test", []string{"127.0.0.1", "localhost"}, false)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("s3test: serve: %v", err)
		}
	})
	return Endpoint{
		URL: "https://" + ln.Addr().String(), Region: Region,
		AccessKey: AccessKey, Secret: Secret, CAFile: caFile,
		KMS: counter, KMSAdmin: kmsEnv.Client(t, kmsEnv.Admin),
	}
}

// CertPool loads the endpoint's CA bundle (nil, nil without one: the
// system roots).
func (e Endpoint) CertPool() (*x509.CertPool, error) {
	if e.CAFile == "" {
		return nil, nil
	}
	pemData, err := os.ReadFile(e.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("s3test: no certificate in " + e.CAFile)
	}
	return pool, nil
}
