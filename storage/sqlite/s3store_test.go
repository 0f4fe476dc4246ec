package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/s3node"
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
