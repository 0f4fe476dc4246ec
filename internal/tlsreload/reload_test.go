package tlsreload

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pki"
)

// files are a test's certificate, key and CA file paths.
type files struct{ cert, key, ca string }

func newFiles(t *testing.T) files {
	d := t.TempDir()
	return files{filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"), filepath.Join(d, "ca.crt")}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(t *testing.T, c tls.Certificate) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writeMode says how a test replaces a file.
type writeMode int

const (
	inPlace writeMode = iota // truncate and write the same inode
	rename                   // write a temporary file and rename it over
)

func writeFile(t *testing.T, path string, data []byte, mode writeMode) {
	t.Helper()
	if mode == rename {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePair(t *testing.T, f files, c tls.Certificate, mode writeMode) {
	t.Helper()
	writeFile(t, f.key, pemKey(t, c), mode)
	writeFile(t, f.cert, pemCert(c.Certificate[0]), mode)
}

func newCA(t *testing.T, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *pki.CA, cn string, hosts []string, client bool) tls.Certificate {
	t.Helper()
	c, err := ca.Issue(cn, hosts, client)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serial(c tls.Certificate) *big.Int {
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		panic(err)
	}
	return x.SerialNumber
}

// logBuffer collects log lines safely.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve runs a TLS echo-less server with cfg and returns its address; each
// connection completes its handshake and is closed.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects with cfg and returns the server's leaf serial.
func dial(addr string, cfg *tls.Config) (*big.Int, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// With TLS 1.3 a refused client certificate shows on the first read.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func TestServerCertificateReload(t *testing.T) {
	ca := newCA(t, "test CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	client := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	for _, tc := range []struct {
		name  string
		mode  writeMode
		watch bool // Run polls instead of the test calling Reload
	}{
		{"rename", rename, false},
		{"in place", inPlace, false},
		{"rename, polled", rename, true},
		{"in place, polled", inPlace, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFiles(t)
			a, b := issue(t, ca, "a", []string{"localhost"}, false), issue(t, ca, "b", []string{"localhost"}, false)
			writePair(t, f, a, rename)
			r, err := New(Config{Name: "test", CertFile: f.cert, KeyFile: f.key, Interval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			addr := serve(t, r.ServerConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
			if got, err := dial(addr, client); err != nil || got.Cmp(serial(a)) != 0 {
				t.Fatalf("before: serial %v, %v; want A %v", got, err, serial(a))
			}
			if tc.watch {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go r.Run(ctx)
			}
			writePair(t, f, b, tc.mode)
			if !tc.watch {
				if ok, err := r.Reload(false); !ok || err != nil {
					t.Fatalf("Reload = %v, %v", ok, err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, err := dial(addr, client)
				if err == nil && got.Cmp(serial(b)) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after: serial %v, %v; want B %v", got, err, serial(b))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !r.NotAfter().Equal(r.cur.Load().leaf.NotAfter) || r.NotAfter().IsZero() {
				t.Errorf("NotAfter = %v", r.NotAfter())
			}
		})
	}
}

func TestBrokenFilesKeepServing(t *testing.T) {
	ca := newCA(t, "test CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	client := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	other := issue(t, ca, "other", []string{"localhost"}, false)
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, f files)
	}{
		{"garbage certificate", func(t *testing.T, f files) { writeFile(t, f.cert, []byte("not PEM"), inPlace) }},
		{"empty key", func(t *testing.T, f files) { writeFile(t, f.key, nil, inPlace) }},
		{"key of another certificate", func(t *testing.T, f files) { writeFile(t, f.key, pemKey(t, other), rename) }},
		{"certificate removed", func(t *testing.T, f files) { os.Remove(f.cert) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFiles(t)
			a := issue(t, ca, "a", []string{"localhost"}, false)
			writePair(t, f, a, rename)
			var logs logBuffer
			r, err := New(Config{Name: "test", CertFile: f.cert, KeyFile: f.key,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			addr := serve(t, r.ServerConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
			tc.break_(t, f)
			for range 3 {
				if ok, err := r.Reload(false); ok || err == nil {
					t.Fatalf("Reload of broken files = %v, %v", ok, err)
				}
			}
			if got, err := dial(addr, client); err != nil || got.Cmp(serial(a)) != 0 {
				t.Fatalf("serial %v, %v; want A %v", got, err, serial(a))
			}
			if n := strings.Count(logs.String(), "do not load"); n != 1 {
				t.Errorf("%d warnings for one change, want 1:\n%s", n, logs.String())
			}
			if strings.Contains(logs.String(), "PRIVATE KEY") {
				t.Errorf("key material in the log:\n%s", logs.String())
			}
			// Repaired files are picked up.
			b := issue(t, ca, "b", []string{"localhost"}, false)
			writePair(t, f, b, rename)
			if ok, err := r.Reload(false); !ok || err != nil {
				t.Fatalf("Reload of repaired files = %v, %v", ok, err)
			}
			if got, err := dial(addr, client); err != nil || got.Cmp(serial(b)) != 0 {
				t.Fatalf("serial %v, %v; want B %v", got, err, serial(b))
			}
		})
	}
}

func TestStartRequiresValidFiles(t *testing.T) {
	f := newFiles(t)
	writeFile(t, f.cert, []byte("x"), inPlace)
	writeFile(t, f.key, []byte("x"), inPlace)
	for _, cfg := range []Config{
		{},
		{CertFile: f.cert, KeyFile: f.key},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestClientCARotation: a client certificate from a new CA is refused
// until the client CA file gains that CA.
func TestClientCARotation(t *testing.T) {
	old, next := newCA(t, "old CA"), newCA(t, "new CA")
	f := newFiles(t)
	writePair(t, f, issue(t, old, "server", []string{"localhost"}, false), rename)
	writeFile(t, f.ca, pemCert(old.Cert.Raw), rename)
	r, err := New(Config{Name: "test", CertFile: f.cert, KeyFile: f.key, CAFile: f.ca})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.ServerConfig(&tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert}))
	roots := x509.NewCertPool()
	roots.AddCert(old.Cert)
	clientOf := func(ca *pki.CA) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: "localhost",
			Certificates: []tls.Certificate{issue(t, ca, "client", nil, true)}}
	}
	for _, step := range []struct {
		name          string
		ca            string // new content of the CA file, or ""
		oldOK, nextOK bool
	}{
		{"before", "", true, false},
		{"both CAs", string(pemCert(old.Cert.Raw)) + string(pemCert(next.Cert.Raw)), true, true},
		{"new CA only", string(pemCert(next.Cert.Raw)), false, true},
	} {
		if step.ca != "" {
			writeFile(t, f.ca, []byte(step.ca), inPlace)
			if ok, err := r.Reload(false); !ok || err != nil {
				t.Fatalf("%s: Reload = %v, %v", step.name, ok, err)
			}
		}
		for _, c := range []struct {
			ca   *pki.CA
			want bool
		}{{old, step.oldOK}, {next, step.nextOK}} {
			_, err := dial(addr, clientOf(c.ca))
			if (err == nil) != c.want {
				t.Errorf("%s: client of %s: err %v, want accepted=%v", step.name, c.ca.Cert.Subject.CommonName, err, c.want)
			}
		}
	}
}

// TestClientConfig: the client presents its current certificate and
// trusts the current CA bundle, for DNS names and IP addresses.
func TestClientConfig(t *testing.T) {
	old, next := newCA(t, "old CA"), newCA(t, "new CA")
	// The server is signed by the new CA and requires clients of the old.
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(old.Cert)
	addr := serve(t, &tls.Config{
		Certificates: []tls.Certificate{issue(t, next, "server", []string{"localhost", "127.0.0.1"}, false)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: clientCAs,
	})
	f := newFiles(t)
	writePair(t, f, issue(t, old, "client", nil, true), rename)
	writeFile(t, f.ca, pemCert(old.Cert.Raw), rename)
	r, err := New(Config{Name: "test", CertFile: f.cert, KeyFile: f.key, CAFile: f.ca})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := dial(addr, r.ClientConfig(name)); err == nil {
			t.Errorf("%s: server of an untrusted CA accepted", name)
		}
	}
	writeFile(t, f.ca, append(pemCert(old.Cert.Raw), pemCert(next.Cert.Raw)...), rename)
	if _, err := r.Reload(false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"localhost", true}, {"127.0.0.1", true}, {"example.com", false}, {"10.0.0.1", false}} {
		if _, err := dial(addr, r.ClientConfig(tc.name)); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	// A client certificate from another CA is refused by the server.
	writePair(t, f, issue(t, next, "client", nil, true), rename)
	if _, err := r.Reload(false); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, r.ClientConfig("localhost")); err == nil {
		t.Error("client certificate of the new CA accepted by a server trusting the old")
	}
}
