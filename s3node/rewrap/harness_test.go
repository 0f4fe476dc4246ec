package rewrap_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/rewrap"
	"github.com/s3kms/s3kms/s3node/s3api"
	"github.com/s3kms/s3kms/storage/blobfs"
	"github.com/s3kms/s3kms/storage/postgres"
	"github.com/s3kms/s3kms/storage/sqlite"
)

const (
	testRegion = "us-east-1"
	testAccess = "AKIAREWRAPTEST000000"
	testSecret = "rewrap-test-secret-0123456789abcdef"
)

// harness is one SQLite metadata store and blob store served by two S3
// nodes on a real KMS (api/apitest): plain writes through the first,
// bucket-key envelopes (bucket_key_ttl on) through the second.
type harness struct {
	meta  metaStore
	kms   *kmsclient.Client // the node's identity
	admin *kmsclient.Client
	plain *s3.Client
	bk    *s3.Client
}

// TestMain shares one PostgreSQL server among the tests (internal/pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }

// metaStore is the S3 metadata store with its rewrap jobs, as both
// backends implement it.
type metaStore interface {
	s3node.MetadataStore
	rewrap.Store
}

// backends are the metadata stores the worker is tested on.
var backends = map[string]func(t *testing.T) metaStore{
	"sqlite": func(t *testing.T) metaStore {
		ctx := context.Background()
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s3.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db.S3Store()
	},
	"postgres": func(t *testing.T) metaStore {
		ctx := context.Background()
		db, err := postgres.Open(ctx, pgtest.Shared(t).CreateDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db.S3Store()
	},
}

// forEachBackend runs fn on a harness of each metadata backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { fn(t, newHarnessOn(t, backends[name](t))) })
	}
}

// newHarness is a harness on SQLite.
func newHarness(t *testing.T) *harness { return newHarnessOn(t, backends["sqlite"](t)) }

func newHarnessOn(t *testing.T, meta metaStore) *harness {
	t.Helper()
	data, err := blobfs.New(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	env, nodeKMS := apitest.NewForS3Node(t, apitest.Options{})
	h := &harness{meta: meta, kms: nodeKMS, admin: env.Client(t, env.Admin)}
	for _, ttl := range []time.Duration{0, time.Hour} {
		srv, err := s3api.New(s3api.Config{
			Meta: h.meta, Data: data, Region: testRegion, KMS: nodeKMS, BucketKeyTTL: ttl,
			Users:  s3api.StaticUsers{testAccess: {Secret: testSecret, CanonicalID: "rewrap-test", DisplayName: "rewrap"}},
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewTLSServer(srv.Handler())
		t.Cleanup(ts.Close)
		c := s3.New(s3.Options{
			Region: testRegion, BaseEndpoint: aws.String(ts.URL), UsePathStyle: true, HTTPClient: ts.Client(),
			RetryMaxAttempts: 1,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: testAccess, SecretAccessKey: testSecret}, nil
			}),
		})
		if ttl == 0 {
			h.plain = c
		} else {
			h.bk = c
		}
	}
	return h
}

// bucket creates bucket name and returns its root key id.
func (h *harness) bucket(t *testing.T, name string, versioned bool) string {
	t.Helper()
	ctx := context.Background()
	if _, err := h.plain.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if versioned {
		if _, err := h.plain.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.meta.GetBucket(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return kms.BucketKeyID(b.ID)
}

// rotate rotates keyID in the KMS and returns its new current version.
func (h *harness) rotate(t *testing.T, keyID string) int {
	t.Helper()
	k, err := h.admin.RotateKey(context.Background(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	return k.CurrentVersion
}

// below counts the rows of keyID sealed below version target.
func (h *harness) below(t *testing.T, keyID string, target int) int64 {
	t.Helper()
	counts, err := h.meta.CountSealed(context.Background(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		if c.Version < target {
			n += c.Objects + c.Uploads
		}
	}
	return n
}

// get reads an object (a version if versionID is set) through c and
// fails unless its body is want.
func get(t *testing.T, c *s3.Client, bucket, key, versionID string, want []byte, opt func(*s3.GetObjectInput)) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if opt != nil {
		opt(in)
	}
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("GET %s/%s %s: %v", bucket, key, versionID, err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("GET %s/%s %s: %d bytes differ from the %d written", bucket, key, versionID, len(got), len(want))
	}
}

// worker returns a worker on h with a fast rate and small pages.
func (h *harness) worker(owner string, batch int) *rewrap.Worker {
	return rewrap.NewWorker(rewrap.Config{Store: h.meta, KMS: h.kms, Owner: owner, Rate: 1e6, Batch: batch, PassDelay: 10 * time.Millisecond})
}

// drain runs w until no job is left to claim.
func drain(t *testing.T, w *rewrap.Worker) {
	t.Helper()
	for {
		ran, err := w.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ran {
			return
		}
	}
}
