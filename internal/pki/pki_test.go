package pki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestSetIssuesAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	s, err := OpenSet(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s.Ensure("server", []string{"localhost", "127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := s.Ensure("client", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.CA.Cert)
	if _, err := srv.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("server cert does not verify for 127.0.0.1: %v", err)
	}
	if _, err := cli.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert does not verify for client auth: %v", err)
	}
	_, keyFile := s.Files("client")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}

	// Reopening keeps the CA and the certificates.
	s2, err := OpenSet(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	if !s2.CA.Cert.Equal(s.CA.Cert) {
		t.Error("CA changed on reopen")
	}
	cli2, err := s2.Ensure("client", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if !cli2.Leaf.Equal(cli.Leaf) {
		t.Error("client certificate changed on reopen")
	}
	if _, err := tls.LoadX509KeyPair(s.Files("server")); err != nil {
		t.Error(err)
	}
	if c, err := LoadCertificate(s.CAFile()); err != nil || !c.IsCA {
		t.Errorf("LoadCertificate(ca) = %v, %v", c, err)
	}
}
