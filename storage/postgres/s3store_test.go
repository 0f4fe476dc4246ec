package postgres

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/internal/pgtest"

	"github.com/s3kms/s3kms/migrations"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/rewrap"
	"github.com/s3kms/s3kms/storage/internal/rows"
	"github.com/s3kms/s3kms/storage/storagetest"
)

func TestS3Store(t *testing.T) {
	storagetest.ExerciseS3Store(t, func(t *testing.T) s3node.MetadataStore {
		return migrated(t).S3Store()
	})
}

// bulkLoad inserts n current objects "d<i%100>/o<i>" into a new bucket in
// one statement, plus an older version of every other one, for plan and
// benchmark tests, and returns the bucket.
func bulkLoad(t testing.TB, db *DB, n int) s3node.Bucket {
	t.Helper()
	ctx := context.Background()
	b := s3node.Bucket{ID: s3node.NewID(), Name: "bulk", CreatedAt: time.Now()}
	if err := db.S3Store().CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT $1, format('d%s/o%s', lpad((i % 100)::text, 2, '0'), lpad(i::text, 8, '0')), 'old', false, false,
			100, 100, 'etag', now(), '', '', '', '', '', '', '', NULL, NULL, 'STANDARD', NULL, '',
			md5(i::text) || 'old', 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false
		FROM generate_series(2, $2, 2) AS i`,
		`SELECT $1, format('d%s/o%s', lpad((i % 100)::text, 2, '0'), lpad(i::text, 8, '0')), 'null', true, false,
			100, 100, 'etag', now(), '', '', '', '', '', '', '', NULL, NULL, 'STANDARD', NULL, '',
			md5(i::text), 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false
		FROM generate_series(1, $2) AS i`,
	} {
		if _, err := db.pool.Exec(ctx, `INSERT INTO s3_objects (`+rows.ObjectInsertCols+`) `+q, b.ID, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE s3_objects`); err != nil {
		t.Fatal(err)
	}
	return b
}

// The listing seeks are index range scans: no sequential scan, no sort.
func TestS3ListingIsIndexDriven(t *testing.T) {
	db := migrated(t)
	b := bulkLoad(t, db, 50000)
	plans := map[string]string{
		"s3_objects_listing": `EXPLAIN SELECT ` + rows.ObjectCols + ` FROM s3_objects o
			WHERE bucket_id = $1 AND is_current AND NOT delete_marker AND key >= $3 AND key < $4
			ORDER BY key LIMIT $2`,
		"s3_objects_versions": `EXPLAIN SELECT ` + rows.ObjectCols + ` FROM s3_objects o
			WHERE bucket_id = $1 AND key >= $3 AND key < $4 ORDER BY key, id DESC LIMIT $2`,
	}
	for index, q := range plans {
		rows, err := db.pool.Query(context.Background(), q, b.ID, 1001, "d42/", "d420")
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		t.Logf("%s plan:\n%s", index, plan)
		if !strings.Contains(plan, "Index Scan using "+index) || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") {
			t.Errorf("plan does not range-scan %s:\n%s", index, plan)
		}
	}
}

// BenchmarkS3ListObjects lists pages of 1000 from S3_BENCH_OBJECTS
// objects (default 100000; the target is 1000000).
func BenchmarkS3ListObjects(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("S3_BENCH_OBJECTS")); err == nil {
		n = v
	}
	db, err := Open(context.Background(), pgtest.Shared(b).CreateDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	bk := bulkLoad(b, db, n)
	s := db.S3Store()
	for _, bc := range []struct {
		name string
		o    s3node.ListObjectsOptions
	}{
		{"plain", s3node.ListObjectsOptions{MaxKeys: 1000, After: "d50/"}},
		{"prefix", s3node.ListObjectsOptions{MaxKeys: 1000, Prefix: "d42/"}},
		{"delimiter", s3node.ListObjectsOptions{MaxKeys: 1000, Delimiter: "/"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.ListObjects(context.Background(), bk.Name, bc.o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMigrateSealedBackfill(t *testing.T) {
	storagetest.ExerciseSealedBackfill(t, func(t *testing.T) (s3node.MetadataStore, func()) {
		ctx := bg(t)
		db := open(t, pgtest.Shared(t).CreateDatabase(t))
		if err := db.migrate(ctx, migrationsBefore(t, migrations.Postgres, "_sse_kms_key_version.sql")); err != nil {
			t.Fatal(err)
		}
		return db.S3Store(), func() {
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The rewrap queries scan s3_objects_kms_key from the cursor, and the
// unattributed count its partial index: no sequential scan of s3_objects,
// no sort.
func TestSealedQueriesAreIndexDriven(t *testing.T) {
	db := migrated(t)
	ctx := bg(t)
	b := s3node.Bucket{ID: s3node.NewID(), Name: "bulk", CreatedAt: time.Now()}
	if err := db.S3Store().CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	// 20000 SSE-S3 objects with sealed keys (headers only: the columns
	// read nothing else), one in 100 under "key-a", the others under
	// "key-b", almost all at version 1.
	_, err := db.pool.Exec(ctx, `INSERT INTO s3_objects (bucket_id, key, version_id, is_current, delete_marker,
		size, stored_size, etag, last_modified, owner, content_type, content_encoding, content_disposition,
		content_language, cache_control, expires, storage_class, checksum_type, parts_count, sse_type, sse_sealed_key)
		SELECT $1, 'k' || i, 'null', true, false, 1, 1, 'e', now(), 'o', '', '', '', '', '', '', 'STANDARD', '', 0,
			'SSE-S3', decode(CASE WHEN i % 100 = 0 THEN '0101056b65792d61' ELSE '0101056b65792d62' END, 'hex')
				|| int4send(1 + (i % 1000 = 0)::int) || decode(repeat('00', 60), 'hex')
		FROM generate_series(1, 20000) AS i`, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE s3_objects`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		args  []any
		index string
	}{
		{sealedListQuery(s3node.SealedObject, "s3_objects", "id"), []any{"key-a", 3, 1, 10000, 100}, "s3_objects_kms_key"},
		{rows.SealedCountQuery("$1"), []any{"key-a"}, "s3_objects_kms_key"},
		{rows.UnattributedQuery, nil, "s3_objects_kms_unattributed"},
	} {
		rs, err := db.pool.Query(ctx, `EXPLAIN `+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rs, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, "Scan using "+tc.index) || strings.Contains(plan, "Seq Scan on s3_objects") ||
			strings.Contains(plan, "Sort") {
			t.Errorf("plan does not scan %s:\n%s", tc.index, plan)
		}
	}
}

func TestRewrapJobs(t *testing.T) {
	storagetest.ExerciseRewrapJobs(t, func(t *testing.T) rewrap.JobStore { return migrated(t).S3Store() })
}
