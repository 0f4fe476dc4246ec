package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pki"
)

func TestIssue(t *testing.T) {
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	if _, err := NewCA(Request{Out: caDir}); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCertificate(CAFiles(caDir).Cert)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.Subject.CommonName != "s3kms CA" || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA = %+v", ca.Subject)
	}
	if d := ca.NotAfter.Sub(ca.NotBefore); d < 3649*24*time.Hour || d > 3651*24*time.Hour {
		t.Errorf("CA validity = %v, want 3650 days", d)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	tests := []struct {
		name    string
		client  bool
		req     Request
		days    int
		usage   x509.ExtKeyUsage
		dns     []string
		ips     []string
		wantErr string
	}{
		{name: "server", req: Request{Name: "kms", DNS: []string{"kms-a", "kms.example.com"}, IPs: []net.IP{net.ParseIP("10.0.0.1")}}, days: 365, usage: x509.ExtKeyUsageServerAuth, dns: []string{"kms-a", "kms.example.com"}, ips: []string{"10.0.0.1"}},
		{name: "server ip only, 30 days", req: Request{Name: "s3", IPs: []net.IP{net.ParseIP("::1")}, Days: 30}, days: 30, usage: x509.ExtKeyUsageServerAuth, ips: []string{"::1"}},
		{name: "client", client: true, req: Request{Name: "s3node"}, days: 365, usage: x509.ExtKeyUsageClientAuth},
		{name: "server without names", req: Request{Name: "x"}, wantErr: "at least one"},
		{name: "ip as dns", req: Request{Name: "x", DNS: []string{"1.2.3.4"}}, wantErr: "--ip"},
		{name: "bad name", client: true, req: Request{Name: "../evil"}, wantErr: "--name"},
		{name: "name ca", client: true, req: Request{Name: "ca"}, wantErr: "--name"},
		{name: "outlives CA", client: true, req: Request{Name: "long", Days: 4000}, wantErr: "outlives the CA"},
		{name: "negative days", client: true, req: Request{Name: "neg", Days: -1}, wantErr: "--days"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Out = filepath.Join(dir, "out")
			var f Files
			var cert *x509.Certificate
			var err error
			if tc.client {
				f, cert, err = Client(caDir, tc.req)
			} else {
				f, cert, err = Server(caDir, tc.req)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{tc.usage}) || cert.KeyUsage != x509.KeyUsageDigitalSignature || cert.IsCA {
				t.Errorf("usages = %v / %v, CA %v", cert.ExtKeyUsage, cert.KeyUsage, cert.IsCA)
			}
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(cert.DNSNames, tc.dns) || !slices.Equal(ips, tc.ips) {
				t.Errorf("SANs = %v %v, want %v %v", cert.DNSNames, ips, tc.dns, tc.ips)
			}
			if d := cert.NotAfter.Sub(cert.NotBefore).Hours() / 24; d < float64(tc.days) || d > float64(tc.days)+1 {
				t.Errorf("validity = %.1f days, want %d", d, tc.days)
			}
			pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Errorf("key is %T, want ECDSA P-256", cert.PublicKey)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
				t.Errorf("verify: %v", err)
			}
			if _, err := tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
				t.Errorf("key pair: %v", err)
			}
			checkModes(t, f)
		})
	}
}

func checkModes(t *testing.T, f Files) {
	t.Helper()
	for p, want := range map[string]os.FileMode{f.Key: 0o600, f.Cert: 0o644, filepath.Dir(f.Key): 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
}

func TestOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	ca1, err := NewCA(Request{Out: dir, Name: "first"})
	if err != nil {
		t.Fatal(err)
	}
	checkModes(t, ca1)
	before, _ := os.ReadFile(ca1.Key)
	if _, err := NewCA(Request{Out: dir}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second CA: err = %v, want a refusal naming --force", err)
	}
	if after, _ := os.ReadFile(ca1.Key); string(after) != string(before) {
		t.Fatal("refused CA changed the key file")
	}
	if _, _, err := Client(dir, Request{Out: dir, Name: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Client(dir, Request{Out: dir, Name: "c"}); err == nil {
		t.Fatal("client certificate overwritten without --force")
	}
	if _, _, err := Client(dir, Request{Out: dir, Name: "c", Force: true}); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if _, err := NewCA(Request{Out: dir, Name: "second", Days: 10, Force: true}); err != nil {
		t.Fatalf("--force CA: %v", err)
	}
	ca, err := pki.LoadCertificate(ca1.Cert)
	if err != nil || ca.Subject.CommonName != "second" {
		t.Fatalf("replaced CA = %v, %v", ca, err)
	}
	checkModes(t, ca1)
	if _, _, err := Client(filepath.Join(dir, "missing"), Request{Out: dir, Name: "d"}); err == nil || !strings.Contains(err.Error(), "loading the CA") {
		t.Fatalf("missing CA: err = %v", err)
	}
}
