package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/s3node/rewrap"
)

// TestAdminKeyRotateWait rotates a bucket's root key with --config and
// --wait against `s3kms dev`: the dev node's worker re-seals the objects,
// the command prints progress and the finished job, `admin job list|show`
// and the node's admin API show it, and the objects still read.
func TestAdminKeyRotateWait(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := startDev(t, dir)
	c := devS3(t, env)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("rot")}); err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{"a": []byte("alpha"), "b": bytes.Repeat([]byte("b"), 100000)}
	for k, v := range data {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rot"), Key: aws.String(k), Body: bytes.NewReader(v),
			ServerSideEncryption: s3types.ServerSideEncryptionAes256}); err != nil {
			t.Fatal(err)
		}
	}
	s3yaml := filepath.Join(dir, "s3.yaml")

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bucket without config", []string{"key", "rotate", "--bucket", "rot"}, 1, "need --config"},
		{"both id and bucket", []string{"key", "rotate", "x", "--bucket", "rot", "--config", s3yaml}, 1, "key ID or --bucket"},
		{"job without config", []string{"job", "list"}, 1, "--config"},
		{"unknown job", []string{"job", "show", "999", "--config", s3yaml}, 1, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := admin(t, env, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.msg)
			}
		})
	}

	out, errOut, code := admin(t, env, "key", "rotate", "--bucket", "rot", "--config", s3yaml, "--wait", "--poll", "100ms", "--json")
	if code != 0 {
		t.Fatalf("rotate --wait: exit %d: %s", code, errOut)
	}
	var j rewrap.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if j.State != rewrap.Done || j.Done != 2 || j.Total != 2 || j.TargetVersion != 2 || !strings.HasPrefix(j.KeyID, "bucket/") {
		t.Fatalf("job = %+v", j)
	}
	if !strings.Contains(errOut, "2/2 rows") {
		t.Fatalf("no progress line in stderr %q", errOut)
	}
	var jobs []rewrap.Job
	adminJSON(t, env, &jobs, "job", "list", "--config", s3yaml)
	if len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("job list = %+v", jobs)
	}
	show, _, code := admin(t, env, "job", "show", "1", "--config", s3yaml)
	if code != 0 || !strings.Contains(show, "State:") || !strings.Contains(show, "done") {
		t.Fatalf("job show: %d %s", code, show)
	}

	// The node's admin API, with the admin certificate.
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
	for path, want := range map[string]int{"/v1/jobs": 200, "/v1/jobs/1": 200, "/v1/jobs/7": 404, "/v1/jobs/x": 400} {
		resp, err := hc.Get(env["S3KMS_S3_ADMIN_ENDPOINT"] + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && !bytes.Contains(b, []byte(`"state":"done"`))) {
			t.Fatalf("GET %s = %d %s; want %d", path, resp.StatusCode, b, want)
		}
	}
	resp, err := hc.Get(env["S3KMS_S3_ADMIN_ENDPOINT"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// One registry: the rewrap, S3, KMS client and sweeper metrics.
	for _, want := range []string{`s3kms_rewrap_rows_total{result="done"} 2`, `s3kms_rewrap_jobs_finished_total{state="done"} 1`,
		`s3kms_s3_requests_total{code="200",op="PutObject"}`, `s3kms_kmsclient_calls_total{method="GenerateDataKey",outcome="ok"}`,
		`s3kms_sweep_last_success_timestamp_seconds`, `s3kms_s3_requests_in_flight`, `go_goroutines`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("GET /metrics: %d: no %s in\n%s", resp.StatusCode, want, b)
		}
	}
	// Health on the admin listener and on the S3 listener (no signature).
	for _, u := range []string{env["S3KMS_S3_ADMIN_ENDPOINT"] + "/healthz", env["S3KMS_S3_ADMIN_ENDPOINT"] + "/readyz",
		env["S3KMS_S3_ENDPOINT"] + "/-/healthz", env["S3KMS_S3_ENDPOINT"] + "/-/readyz"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.HasSuffix(u, "readyz") && !bytes.Contains(b, []byte(`"checks":{"data_dir":"ok","database":"ok","kms":"ok"}`)) {
			t.Fatalf("GET %s = %d %s", u, resp.StatusCode, b)
		}
	}
	// Without a client certificate: refused at the handshake.
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	if resp, err := anon.Get(env["S3KMS_S3_ADMIN_ENDPOINT"] + "/v1/jobs"); err == nil {
		resp.Body.Close()
		t.Fatalf("GET without a client certificate = %d", resp.StatusCode)
	}

	for k, v := range data {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rot"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(o.Body)
		o.Body.Close()
		if !bytes.Equal(got, v) {
			t.Fatalf("%s changed", k)
		}
	}
}
