package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCertsForKMS makes a CA, a KMS server certificate and two client
// certificates with `s3kms certs`, runs `kms serve` with them (the policy
// names the identity `certs client` printed) and connects over mutual TLS:
// the admin client may create keys, a client outside the policy may not, a
// client of another CA fails the handshake, and the health routes answer
// without a client certificate.
func TestCertsForKMS(t *testing.T) {
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	certs := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"certs"}, args...), nil, &out, &errOut); code != 0 {
			t.Fatalf("certs %v: exit %d: %s", args, code, errOut.String())
		}
		if s := out.String(); strings.Contains(s, "PRIVATE KEY") {
			t.Fatalf("certs %v printed key material", args)
		}
		return out.String()
	}
	certs("ca", "--out", tlsDir, "--name", "test CA")
	certs("server", "--ca", tlsDir, "--name", "kms", "--dns", "localhost", "--ip", "127.0.0.1", "--out", tlsDir)
	out := certs("client", "--ca", tlsDir, "--name", "admin", "--out", tlsDir)
	m := regexp.MustCompile(`identity: +([0-9a-f]{64})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("certs client printed no identity: %q", out)
	}
	certs("client", "--ca", tlsDir, "--name", "stranger", "--out", tlsDir)
	otherCA := filepath.Join(dir, "other")
	certs("ca", "--out", otherCA)
	certs("client", "--ca", otherCA, "--name", "admin", "--out", otherCA)

	t.Setenv("TEST_S3KMS_MASTER", strings.Repeat("cd", 32))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "kms.yaml")
	f := func(name string) string { return filepath.Join(tlsDir, name) }
	if err := os.WriteFile(conf, []byte(`
listen: `+addr+`
tls: {cert: `+f("kms.crt")+`, key: `+f("kms.key")+`, client_ca: `+f("ca.crt")+`}
store: {driver: sqlite, path: `+filepath.Join(dir, "kms.db")+`}
protector: {kind: software, master_key_env: TEST_S3KMS_MASTER}
policies: [{name: admin, identities: [`+m[1]+`], allow: [{ops: ["*"], keys: ["*"]}]}]
log: {level: error}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"kms", "serve", "--config", conf}, nil, io.Discard, &errOut) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, errOut.String())
		}
	}()

	env := func(dir, name string) map[string]string {
		return map[string]string{
			"S3KMS_KMS_ENDPOINT": "https://localhost:" + addr[strings.LastIndexByte(addr, ':')+1:],
			"S3KMS_CA_FILE":      f("ca.crt"),
			"S3KMS_CLIENT_CERT":  filepath.Join(dir, name+".crt"),
			"S3KMS_CLIENT_KEY":   filepath.Join(dir, name+".key"),
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, code := admin(t, env(tlsDir, "admin"), "key", "create", "via-certs")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kms serve never answered: %s / %s", stderr, errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	tests := []struct {
		name, dir, cert string
		want            string // in stderr; "" = success
	}{
		{"admin in policy", tlsDir, "admin", ""},
		{"client outside the policy", tlsDir, "stranger", "not in the policy"},
		{"client of another CA", otherCA, "admin", "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := admin(t, env(tc.dir, tc.cert), "key", "list")
			if tc.want == "" && code != 0 || tc.want != "" && (code == 0 || !strings.Contains(strings.ToLower(stderr), tc.want)) {
				t.Errorf("exit %d, stderr %q; want %q", code, stderr, tc.want)
			}
		})
	}
	pem, err := os.ReadFile(f("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := hc.Get("https://127.0.0.1:" + addr[strings.LastIndexByte(addr, ':')+1:] + p)
		if err != nil {
			t.Fatalf("%s without a client certificate: %v", p, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", p, resp.Status)
		}
	}
}
