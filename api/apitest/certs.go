package apitest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3kms/s3kms/internal/pki"
	"github.com/s3kms/s3kms/kms"
)

// CA is a throw-away certificate authority for tests, on internal/pki (the
// same code that makes the material of `s3kms dev`).
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool
	ca   *pki.CA
}

// NewCA returns a new CA.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := pki.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &CA{Cert: ca.Cert, Pool: pool, ca: ca}
}

// Cert is a certificate issued by a CA, with its key and the identity
// the KMS derives from it.
type Cert struct {
	TLS      tls.Certificate
	Identity kms.Identity
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost.
func (ca *CA) Server(t testing.TB) Cert {
	t.Helper()
	return ca.issue(t, "localhost", []string{"127.0.0.1", "::1", "localhost"}, false)
}

// Client issues a client certificate with the common name cn.
func (ca *CA) Client(t testing.TB, cn string) Cert {
	t.Helper()
	return ca.issue(t, cn, nil, true)
}

func (ca *CA) issue(t testing.TB, cn string, hosts []string, client bool) Cert {
	t.Helper()
	c, err := ca.ca.Issue(cn, hosts, client)
	if err != nil {
		t.Fatal(err)
	}
	return Cert{TLS: c, Identity: kms.IdentityOf(c.Leaf)}
}

// WritePEM writes the CA certificate to dir/ca.pem and returns its path.
func (ca *CA) WritePEM(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// WritePEM writes the certificate and key to dir/name.pem and
// dir/name-key.pem and returns both paths.
func (c Cert) WritePEM(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+"-key.pem")
	if err := pki.WriteCert(c.TLS, certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
