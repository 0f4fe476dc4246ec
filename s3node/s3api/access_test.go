package s3api

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/storage/blobfs"
)

// jsonLines decodes every JSON log line of s.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// obsEnv is an env whose node and KMS log JSON at debug level, with the
// access logs on and the node's metrics in reg. seen records the
// Authorization headers, X-Amz-Signature values and SSE-C key headers the
// node received: none may appear in a log.
type obsEnv struct {
	*env
	nodeLog, kmsLog syncBuffer
	reg             *prometheus.Registry

	mu   sync.Mutex
	seen []string
}

func newObsEnv(t *testing.T) *obsEnv {
	t.Helper()
	o := &obsEnv{reg: prometheus.NewRegistry()}
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	dir := t.TempDir()
	meta := metaStore(t, sqliteBackend, dir)
	data, err := blobfs.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	kmsEnv, nodeKMS := apitest.NewForS3Node(t, apitest.Options{
		Logger: slog.New(slog.NewJSONHandler(&o.kmsLog, debug)), AccessLog: true})
	s, err := New(Config{
		Meta: meta, Data: data, Users: testUsers, Region: region, KMS: nodeKMS,
		Logger:    slog.New(slog.NewJSONHandler(&o.nodeLog, debug)),
		AccessLog: true, Registerer: o.reg,
		Readiness: NewReadiness(0, 0, Check{Name: "kms", Fn: nodeKMS.Ready}),
	})
	if err != nil {
		t.Fatal(err)
	}
	o.env = &env{s: s, backend: sqliteBackend, payloads: map[string]bool{}, kms: kmsEnv, dataDir: filepath.Join(dir, "data")}
	h := s.Handler()
	o.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		for _, v := range []string{
			r.Header.Get("Authorization"), r.URL.Query().Get("X-Amz-Signature"),
			r.Header.Get("X-Amz-Server-Side-Encryption-Customer-Key"),
			r.Header.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5"),
		} {
			if v != "" {
				o.seen = append(o.seen, v)
			}
		}
		if _, sig, ok := strings.Cut(r.Header.Get("Authorization"), "Signature="); ok {
			o.seen = append(o.seen, sig)
		}
		o.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// TestAccessLogNoSecrets sends SigV4-header, presigned, SSE-C, SSE-KMS,
// SSE-S3 and wrongly signed requests, then checks that no secret reached
// the node's or the KMS's logs (secret keys, SSE-C keys and their MD5,
// signatures, Authorization headers), that each request has an access
// line with every field, that the KMS logged the node's request id, and
// that the metrics counted the requests.
func TestAccessLogNoSecrets(t *testing.T) {
	o := newObsEnv(t)
	ctx := context.Background()
	c := o.client(alice())
	mustCreateBucket(t, c, "logs")
	createKMSKeys(t, o.env, "app-key")
	k := newCustomerKey(77)
	const wrongSecret = "wrong-secret-9876543210"

	mustPut(t, c, "logs", "plain.txt", []byte("plain"))
	if resp, body := o.raw(t, alice(), http.MethodPut, "/logs/ssec.bin", []byte("customer"), k.trio()); resp.StatusCode != 200 {
		t.Fatalf("SSE-C PUT: %d %s", resp.StatusCode, body)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("logs"), Key: aws.String("ssec.bin"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.b64), SSECustomerKeyMD5: aws.String(k.md5)}); err != nil {
		t.Fatalf("SSE-C GET: %v", err)
	}
	if _, err := kmsPut(c, "logs", "kms.bin", "app-key", "", []byte("kms")); err != nil {
		t.Fatalf("SSE-KMS PUT: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("logs"), Key: aws.String("s3.bin"),
		Body: strings.NewReader("sse-s3"), ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Fatalf("SSE-S3 PUT: %v", err)
	}
	pre, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("logs"), Key: aws.String("plain.txt")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := o.srv.Client().Get(pre.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned GET: %d", resp.StatusCode)
	}
	_, err = o.client(&aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: wrongSecret}).GetObject(ctx,
		&s3.GetObjectInput{Bucket: aws.String("logs"), Key: aws.String("plain.txt")})
	wantCode(t, err, "SignatureDoesNotMatch", 403)

	// No secret anywhere in either log.
	logs := string(o.nodeLog.Bytes()) + string(o.kmsLog.Bytes())
	secrets := map[string]string{
		"alice's secret key": aliceSecret, "bob's secret key": bobSecret, "the wrong secret key": wrongSecret,
		"the SSE-C key (base64)": k.b64, "the SSE-C key MD5": k.md5,
		"the SSE-C key (hex)": hex.EncodeToString(k.raw), "the SSE-C key (base64url)": base64.RawURLEncoding.EncodeToString(k.raw),
	}
	o.mu.Lock()
	for i, v := range o.seen {
		secrets["received header or signature #"+strconv.Itoa(i)] = v
	}
	o.mu.Unlock()
	t.Logf("%d secrets checked against %d bytes of logs", len(secrets), len(logs))
	for what, v := range secrets {
		if strings.Contains(logs, v) {
			t.Errorf("%s appears in the logs", what)
		}
	}
	if strings.Contains(logs, "Credential=") || strings.Contains(logs, "X-Amz-Signature") {
		t.Error("a credential or signature parameter appears in the logs")
	}

	// One access line per request, with every field.
	fields := []string{"request_id", "remote", "access_key", "method", "op", "bucket", "key", "status",
		"error_code", "bytes_in", "bytes_out", "duration", "user_agent", "sse"}
	type line struct{ op, key, sse, code, ak, id string }
	var lines []line
	for _, m := range jsonLines(t, string(o.nodeLog.Bytes())) {
		if m["msg"] != "access" {
			continue
		}
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("access line without %s: %v", f, m)
			}
		}
		lines = append(lines, line{op: m["op"].(string), key: m["key"].(string), sse: m["sse"].(string),
			code: m["error_code"].(string), ak: m["access_key"].(string), id: m["request_id"].(string)})
	}
	find := func(op, key string) line {
		t.Helper()
		for _, l := range lines {
			if l.op == op && l.key == key {
				return l
			}
		}
		t.Fatalf("no access line for %s %s in %+v", op, key, lines)
		return line{}
	}
	for _, tc := range []struct {
		op, key, sse, code string
	}{
		{"CreateBucket", "", "none", ""},
		{"PutObject", "plain.txt", "none", ""},
		{"PutObject", "ssec.bin", "SSE-C", ""},
		{"GetObject", "ssec.bin", "SSE-C", ""},
		{"PutObject", "kms.bin", "SSE-KMS", ""},
		{"PutObject", "s3.bin", "SSE-S3", ""},
	} {
		if l := find(tc.op, tc.key); l.sse != tc.sse || l.code != tc.code || l.ak != aliceKey {
			t.Errorf("%s %s: access line %+v, want sse %s, code %q, access key %s", tc.op, tc.key, l, tc.sse, tc.code, aliceKey)
		}
	}
	var denied bool
	for _, l := range lines {
		if l.op == "GetObject" && l.code == "SignatureDoesNotMatch" && l.ak == aliceKey {
			denied = true
		}
	}
	if !denied {
		t.Errorf("no access line for the wrongly signed GetObject in %+v", lines)
	}

	// The KMS logged the node's request id of the SSE-KMS PUT.
	id := find("PutObject", "kms.bin").id
	var followed bool
	for _, m := range jsonLines(t, string(o.kmsLog.Bytes())) {
		if m["msg"] == "access" && m["client_request_id"] == id {
			followed = true
		}
	}
	if !followed {
		t.Errorf("the KMS access log has no line with client_request_id %s", id)
	}

	// Metrics.
	if n := counterValue(t, o.reg, "s3kms_s3_requests_total", map[string]string{"op": "PutObject", "code": "200"}); n != 4 {
		t.Errorf("s3kms_s3_requests_total{op=PutObject,code=200} = %v, want 4", n)
	}
	if n := counterValue(t, o.reg, "s3kms_s3_errors_total", map[string]string{"op": "GetObject", "s3_code": "SignatureDoesNotMatch"}); n != 1 {
		t.Errorf("s3kms_s3_errors_total{GetObject,SignatureDoesNotMatch} = %v, want 1", n)
	}
	if n := counterValue(t, o.reg, "s3kms_s3_received_bytes_total", map[string]string{"op": "PutObject"}); n < float64(len("plain")+len("customer")) {
		t.Errorf("s3kms_s3_received_bytes_total{PutObject} = %v", n)
	}
}

// counterValue returns the value of the counter or gauge name with
// exactly labels in reg (0 if absent).
func counterValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metric
				}
			}
			return metricValue(m)
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestExpectContinueUnreadBodyClosesConnection sends a PUT with
// "Expect: 100-continue" that is refused before its body is read (an
// anonymous request): the server must answer with Connection: close, as
// net/http does when the handler leaves such a body unread, even though
// the node counts the body's bytes for its metrics.
func TestExpectContinueUnreadBodyClosesConnection(t *testing.T) {
	o := newObsEnv(t)
	conn, err := tls.Dial("tcp", o.srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Without the Connection: close, the server would wait for the
	// body and the client for the answer.
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !resp.Close {
		t.Fatalf("status %d, close %v; want 403 with Connection: close", resp.StatusCode, resp.Close)
	}
}
