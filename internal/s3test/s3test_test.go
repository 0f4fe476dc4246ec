package s3test

import (
	"crypto/tls"
	"net/http"
	"slices"
	"testing"
)

func TestStartServesTLSWithItsCA(t *testing.T) {
	e := Start(t)
	if !e.Loopback() {
		t.Fatalf("%s is not loopback", e.URL)
	}
	pool, err := e.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := c.Get(e.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden { // anonymous ListBuckets
		t.Fatalf("anonymous GET /: %s", resp.Status)
	}
	if !slices.Contains(e.Env(), "AWS_CA_BUNDLE="+e.CAFile) {
		t.Fatalf("env: %q", e.Env())
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("S3KMS_S3_ENDPOINT", "")
	if _, ok := FromEnv(); ok {
		t.Fatal("ok without S3KMS_S3_ENDPOINT")
	}
	t.Setenv("S3KMS_S3_ENDPOINT", "https://localhost:9000")
	t.Setenv("AWS_ACCESS_KEY_ID", "id")
	t.Setenv("AWS_DEFAULT_REGION", "")
	e, ok := FromEnv()
	if !ok || e.AccessKey != "id" || e.Region != Region || !e.Loopback() {
		t.Fatalf("%+v %v", e, ok)
	}
	if (Endpoint{URL: "https://example.com"}).Loopback() {
		t.Fatal("example.com is loopback")
	}
}
