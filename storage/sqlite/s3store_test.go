package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

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

// The listing seeks search an index by key range, without a temporary
// sort.
func TestS3ListingIsIndexDriven(t *testing.T) {
	db := migrated(t)
	ctx := context.Background()
	for index, q := range map[string]string{
		"s3_objects_listing": `EXPLAIN QUERY PLAN SELECT ` + rows.ObjectCols + ` FROM s3_objects o
			WHERE bucket_id = ?1 AND is_current AND NOT delete_marker AND key >= ?3 AND key < ?4
			ORDER BY key LIMIT ?2`,
		"s3_objects_versions": `EXPLAIN QUERY PLAN SELECT ` + rows.ObjectCols + ` FROM s3_objects o
			WHERE bucket_id = ?1 AND key >= ?3 AND key < ?4 ORDER BY key, id DESC LIMIT ?2`,
	} {
		rows, err := db.read.QueryContext(ctx, q, "b", 1001, "d42/", "d420")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		t.Logf("%s plan: %s", index, p)
		if !strings.Contains(p, "USING INDEX "+index+" (bucket_id=? AND key>? AND key<?)") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("plan does not range-search %s: %s", index, p)
		}
	}
}

func TestMigrateSealedBackfill(t *testing.T) {
	storagetest.ExerciseSealedBackfill(t, func(t *testing.T) (s3node.MetadataStore, func()) {
		ctx := context.Background()
		db := open(t, filepath.Join(t.TempDir(), "s3.db"))
		if err := db.migrate(ctx, migrationsBefore(t, migrations.SQLite, "_sse_kms_key_version.sql")); err != nil {
			t.Fatal(err)
		}
		return db.S3Store(), func() {
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The rewrap queries search the *_kms_key indexes from the cursor: no
// table scan, no temporary sort.
func TestSealedQueriesAreIndexDriven(t *testing.T) {
	db := migrated(t)
	ctx := context.Background()
	objSame, objNext := sealedListQueries(s3node.SealedObject, "s3_objects", "id")
	upSame, upNext := sealedListQueries(s3node.SealedUpload, "s3_uploads", "seq")
	for _, tc := range []struct{ query, want string }{
		{objSame, "SEARCH t USING INDEX s3_objects_kms_key (kms_key_id=? AND kms_key_version=? AND id>?)"},
		{objNext, "SEARCH t USING INDEX s3_objects_kms_key (kms_key_id=? AND kms_key_version>? AND kms_key_version<?)"},
		{upSame, "SEARCH t USING INDEX s3_uploads_kms_key (kms_key_id=? AND kms_key_version=? AND seq>?)"},
		{upNext, "SEARCH t USING INDEX s3_uploads_kms_key (kms_key_id=? AND kms_key_version>? AND kms_key_version<?)"},
		{rows.SealedCountQuery("?1"), "SEARCH s3_objects USING INDEX s3_objects_kms_key (kms_key_id=?)"},
		{rows.SealedCountQuery("?1"), "SEARCH s3_uploads USING INDEX s3_uploads_kms_key (kms_key_id=?)"},
		{rows.UnattributedQuery, "INDEX s3_objects_kms_unattributed"},
		{rows.UnattributedQuery, "INDEX s3_uploads_kms_unattributed"},
	} {
		args := []any{"k", 3, 1, 10}[:strings.Count(tc.query, "?")]
		rs, err := db.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+tc.query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rs.Next() {
			var id, parent, unused int
			var detail string
			if err := rs.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rs.Close()
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, tc.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("plan:\n%s\nwant %s, no temporary b-tree", p, tc.want)
		}
	}
}

func TestRewrapJobs(t *testing.T) {
	storagetest.ExerciseRewrapJobs(t, func(t *testing.T) rewrap.JobStore { return migrated(t).S3Store() })
}

// OldestSealed seeks the *_kms_key indexes instead of scanning the tables.
func TestOldestSealedIsIndexDriven(t *testing.T) {
	db := migrated(t)
	rs, err := db.read.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+rows.OldestSealedQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var plan []string
	for rs.Next() {
		var id, parent, unused int
		var detail string
		if err := rs.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "\n")
	t.Logf("plan: %s", p)
	for _, table := range []string{"s3_objects", "s3_uploads"} {
		if strings.Contains(p, "SCAN "+table+"\n") || strings.HasSuffix(p, "SCAN "+table) || !strings.Contains(p, table+"_kms_key") {
			t.Errorf("plan scans %s: %s", table, p)
		}
	}
}
