package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// TestHarness runs the parts of the end-to-end tests that do not need the
// rotation contract, so that they are known to work before it is merged:
// both stacks start as real processes, a small data set loads, concurrent
// writers run, the S3 node is killed with SIGKILL and restarted, and
// everything reads back as written.
func TestHarness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *stack
	}{
		{"serve-postgres", func(t *testing.T) *stack { return newServeStack(t, pgtest.Shared(t), nil) }},
		{"dev-sqlite", func(t *testing.T) *stack { return newDevStack(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := tc.start(t)
			if _, err := st.cli("key", "create", "harness-named"); err != nil {
				t.Fatal(err)
			}
			d := newDataset("harness", "harness-named")
			c := s3Client(t, st)
			const n = 300
			if err := d.load(ctx, c, n, loadConc); err != nil {
				t.Fatal(err)
			}
			if got, want := len(d.Objects), planFor(n).total(); got != want {
				t.Fatalf("loaded %d object versions, want %d", got, want)
			}
			meta := metaStore(t, st.store)
			keyID := bucketKeyID(t, meta, d.Bucket)
			if below, counts := sealedBelow(t, meta, keyID, 2); below != int64(n+planFor(n).Uploads) {
				t.Errorf("%s: %d sealed under version 1, want %d SSE-S3 versions and uploads: %+v", keyID, below, n+planFor(n).Uploads, counts)
			}
			if below, _ := sealedBelow(t, meta, "harness-named", 2); below != int64(planFor(n).SSEKMS) {
				t.Errorf("named key: %d sealed, want %d", below, planFor(n).SSEKMS)
			}

			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			last, ops, err := d.runWriters(wctx, c, 4)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if ops.Put == 0 || ops.Copy == 0 || ops.Get == 0 || ops.Delete == 0 || ops.DeleteVersion == 0 {
				t.Errorf("the writers did not try every operation: %v", ops)
			}
			t.Logf("writers: %v", ops)
			verifyAll(t, d, c, "after the writers")
			if bad := d.verifyLatest(ctx, c, last); len(bad) > 0 {
				t.Errorf("before the kill, %d keys lost their last write, e.g. %v", len(bad), bad[:min(len(bad), 5)])
			}

			st.node().kill(t)
			if _, err := st.s3.client(); err != nil {
				t.Fatal(err)
			}
			st.restart()
			c = s3Client(t, st)
			verifyAll(t, d, c, "after SIGKILL and restart")
			if bad := d.verifyLatest(ctx, c, last); len(bad) > 0 {
				t.Errorf("%d keys lost their last write, e.g. %v", len(bad), bad[:min(len(bad), 5)])
			}
			if err := d.completeUploads(ctx, c); err != nil {
				t.Fatal(err)
			}
			verifyAll(t, d, c, "after completing the uploads")
		})
	}
}
