package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// getWithAdminCert GETs url with the dev admin client certificate and
// the dev CA of env (dev.env) and returns the status and body.
func getWithAdminCert(t *testing.T, env map[string]string, url string) (int, []byte) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(env["S3KMS_CLIENT_CERT"], env["S3KMS_CLIENT_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(env["S3KMS_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// wantReady fails unless the KMS of env answers /readyz with 200 and the
// given check (e.g. `"protector":"ok"`) in its body.
func wantReady(t *testing.T, env map[string]string, check string) {
	t.Helper()
	code, b := getWithAdminCert(t, env, env["S3KMS_KMS_ENDPOINT"]+"/readyz")
	if code != 200 || !bytes.Contains(b, []byte(check)) {
		t.Fatalf("KMS /readyz = %d %s; want 200 with %s", code, b, check)
	}
}
