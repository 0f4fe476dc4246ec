package metatimeout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStalledDatabase: while another session holds an exclusive lock on
// the metadata tables (a database that does not answer), bounded calls
// fail with EUnavailable after the timeout; once the lock is gone they
// succeed. A caller's own cancellation is not reported as a timeout.
func TestStalledDatabase(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t)
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	store := db.S3Store()
	meta := Wrap(store, timeout)
	if Wrap(store, 0) != s3node.MetadataStore(store) {
		t.Error("Wrap with no timeout must return the store itself")
	}
	if err := meta.CreateBucket(ctx, s3node.Bucket{ID: s3node.NewID(), Name: "b", Owner: "o", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetBucket", func(ctx context.Context) error { _, err := meta.GetBucket(ctx, "b"); return err }},
		{"GetObject", func(ctx context.Context) error { _, err := meta.GetObject(ctx, "b", "k", ""); return err }},
		{"ListObjects", func(ctx context.Context) error {
			_, err := meta.ListObjects(ctx, "b", s3node.ListObjectsOptions{MaxKeys: 10})
			return err
		}},
		{"ListUploads", func(ctx context.Context) error {
			_, err := meta.ListUploads(ctx, "b", s3node.ListUploadsOptions{MaxUploads: 10})
			return err
		}},
		{"GetUser", func(ctx context.Context) error { _, err := meta.GetUser(ctx, "AKIANOBODY000000"); return err }},
		{"BlobReferenced", func(ctx context.Context) error { _, err := meta.BlobReferenced(ctx, s3node.NewID()); return err }},
	}

	lock, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE s3_buckets, s3_objects, s3_uploads, s3_users, s3_segments, s3_parts IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call(ctx)
		if s3node.ErrorCode(err) != s3node.EUnavailable || !strings.Contains(s3node.ErrorMessage(err), "did not answer within 300ms") {
			t.Errorf("%s on a locked database: %v, want EUnavailable after the timeout", c.name, err)
		}
		t.Logf("%s failed after %v", c.name, time.Since(start).Round(time.Millisecond))
		// The caller's own deadline is the caller's business.
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err = c.call(cctx)
		cancel()
		if err == nil || strings.Contains(s3node.ErrorMessage(err), "did not answer within") {
			t.Errorf("%s with the caller's context ended: %v, want the store's own error", c.name, err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		err := c.call(ctx)
		if code := s3node.ErrorCode(err); code != "" && code != s3node.ENotFound {
			t.Errorf("%s after the lock: %v", c.name, err)
		}
	}
}
