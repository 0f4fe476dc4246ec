package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/blobfs"
	"github.com/s3kms/s3kms/storage/postgres"
	"github.com/s3kms/s3kms/storage/sqlite"
)

// The PostgreSQL backend runs on a private cluster shared by the tests
// of this package (see internal/pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	region      = "us-east-1"
	aliceKey    = "AKIAALICE0000000000"
	aliceSecret = "alice-secret-0123456789"
	bobKey      = "AKIABOB00000000000000"
	bobSecret   = "bob-secret-0123456789"
)

var testUsers = StaticUsers{
	aliceKey: {Secret: aliceSecret, CanonicalID: "alice-canonical", DisplayName: "alice"},
	bobKey:   {Secret: bobSecret, CanonicalID: "bob-canonical", DisplayName: "bob"},
}

// backend names a metadata store.
type backend string

const (
	sqliteBackend   backend = "sqlite"
	postgresBackend backend = "postgres"
)

// backends are the metadata stores the compliance tests run on.
var backends = []backend{sqliteBackend, postgresBackend}

// forEachBackend runs fn as a subtest on a fresh env (path-style, no
// domain) for every metadata backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) { fn(t, newBackendEnv(t, b, "")) })
	}
}

// env is one S3 node on a metadata backend and blobfs in a temp dir,
// behind a TLS httptest server.
type env struct {
	srv     *httptest.Server
	s       *Server
	domain  string
	backend backend

	mu       sync.Mutex
	payloads map[string]bool // x-amz-content-sha256 values of PUTs seen

	kms     *apitest.Env // the KMS the node uses, with its admin identity
	dataDir string       // the blob store's directory
}

// newTestKMS starts a real KMS (api/apitest: SQLite, software protector,
// mutual TLS) and returns it with a client for the S3 node whose policy is
// the one `s3kms dev` gives the node: bucket root keys to create, use and
// schedule for deletion, and named keys (SSE-KMS) to use.
func newTestKMS(t testing.TB) (*apitest.Env, *kmsclient.Client) {
	t.Helper()
	return apitest.NewForS3Node(t, apitest.Options{})
}

// sawPayload reports whether a PUT arrived with the payload hash mode.
func (e *env) sawPayload(mode string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.payloads[mode]
}

// newEnv is an env on SQLite.
func newEnv(t testing.TB, domain string) *env {
	t.Helper()
	return newBackendEnv(t, sqliteBackend, domain)
}

// metaStore returns a fresh, migrated metadata store of backend b, closed
// when t ends. dir is a private temp dir.
func metaStore(t testing.TB, b backend, dir string) s3node.MetadataStore {
	t.Helper()
	ctx := context.Background()
	switch b {
	case sqliteBackend:
		db, err := sqlite.Open(ctx, filepath.Join(dir, "s3.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db.S3Store()
	case postgresBackend:
		var opts []string
		if os.Getenv(pgtest.EnvDSN) == "" {
			// A linguistic default collation ("a" before "B"): S3
			// listings must still come in byte order.
			opts = []string{"TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"}
		}
		db, err := postgres.Open(ctx, pgtest.Shared(t).CreateDatabase(t, opts...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db.S3Store()
	}
	t.Fatalf("unknown backend %q", b)
	return nil
}

// newBackendEnv is an env on metadata backend b.
func newBackendEnv(t testing.TB, b backend, domain string) *env {
	t.Helper()
	dir := t.TempDir()
	meta := metaStore(t, b, dir)
	data, err := blobfs.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	kmsEnv, keys := newTestKMS(t)
	s, err := New(Config{
		Meta: meta, Data: data, Users: testUsers, Region: region, Domain: domain,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		KMS:    keys,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, domain: domain, backend: b, payloads: map[string]bool{}, kms: kmsEnv, dataDir: filepath.Join(dir, "data")}
	h := s.Handler()
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			e.mu.Lock()
			e.payloads[r.Header.Get("X-Amz-Content-Sha256")] = true
			e.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// client returns an SDK client for the given credentials (nil:
// anonymous), path-style unless the env has a domain.
func (e *env) client(creds *aws.Credentials) *s3.Client {
	o := s3.Options{
		Region:                     region,
		BaseEndpoint:               aws.String(e.srv.URL),
		UsePathStyle:               true,
		HTTPClient:                 e.srv.Client(),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	if creds != nil {
		c := *creds
		o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
	} else {
		o.Credentials = aws.AnonymousCredentials{}
	}
	if e.domain != "" {
		// Every host name of the domain dials the test server; its
		// certificate names 127.0.0.1 only.
		addr := e.srv.Listener.Addr().String()
		_, port, _ := net.SplitHostPort(addr)
		tr := e.srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test server
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		o.HTTPClient = &http.Client{Transport: tr}
		o.BaseEndpoint = aws.String("https://" + e.domain + ":" + port)
		o.UsePathStyle = false
	}
	return s3.New(o)
}

func alice() *aws.Credentials {
	return &aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret}
}

func bob() *aws.Credentials {
	return &aws.Credentials{AccessKeyID: bobKey, SecretAccessKey: bobSecret}
}

// wantCode fails unless err is an S3 error with code (and status, if not 0).
func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if code != "" && ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s (%v)", code, ae.ErrorCode(), err)
	}
	if status != 0 {
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != status {
			t.Fatalf("want status %d, got %v", status, err)
		}
	}
}

// raw sends a request signed by alice with a hex payload hash (or
// anonymous when creds is nil) and returns the response with its body read.
func (e *env) raw(t testing.TB, creds *aws.Credentials, method, path string, body []byte, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if creds != nil {
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])
		if v := hdr.Get("X-Amz-Content-Sha256"); v != "" {
			h = v // a test of a lying payload hash
		}
		req.Header.Set("X-Amz-Content-Sha256", h)
		if err := v4.NewSigner().SignHTTP(context.Background(), *creds, req, h, "s3", region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func mustCreateBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
}

func mustPut(t *testing.T, c *s3.Client, bucket, key string, data []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
	return out
}

// setEncryptByDefault puts e's server in the AWS-2023 mode, as
// Config.EncryptByDefault does (SSE-SPEC D5; TestNewEncryptByDefault
// checks that New sets the same field). Call it before e serves requests.
func (e *env) setEncryptByDefault() { e.s.encryptByDefault = true }
