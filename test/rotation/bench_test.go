package rotation

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/internal/s3load"
)

// TestRewrapFigures measures issue 7's figures on PostgreSQL (`kms serve`
// and `s3 serve` as processes): the rewrap rate, in object versions per
// second, of a bucket of -rewrapbench objects, and the GET latency of a
// steady GET load on those objects without the job and during it, in the
// same run. Off by default:
//
//	go test -count=1 -v -timeout 60m ./test/rotation -run TestRewrapFigures -args -rewrapbench=100000
//
// (make rewrapbench). Bodies are small: rewrap touches metadata only.
// The job runs at the node's rewrap rate limit (rewrap.rate, default
// 500 rows/s); -rewrapbench.rate=R sets it, e.g. high to find the rate
// the node and the KMS sustain, and what it costs the GETs.
func TestRewrapFigures(t *testing.T) {
	if *benchN <= 0 {
		t.Skip("figures off: run with -args -rewrapbench=100000 (make rewrapbench)")
	}
	if !rotateHasBucket(t, s3kmsBinary(t)) {
		t.Fatal("the rotation contract's command `s3kms admin key rotate --bucket NAME --config S3YAML` is missing: merge the kms and job slices first")
	}
	ctx := context.Background()
	set := map[string]any{}
	if *benchRate > 0 {
		set["rewrap.rate"] = *benchRate // the node's rewrap rate limit
	}
	st := newServeStack(t, pgtest.Shared(t), set)
	requireCommand(t, st, "admin job show", "--config")
	requireCommand(t, st, "admin job list", "--config")
	const bucket = "rewrapbench"
	base := s3load.Config{Endpoint: st.s3.URL, Region: st.s3.Region, AccessKey: st.s3.AccessKey, Secret: st.s3.Secret,
		CAFile: st.s3.CAFile, Bucket: bucket, Mode: s3load.ModeSSES3}

	// Load.
	load := base
	load.Op, load.Count, load.ObjectSize, load.Concurrency, load.Keep = s3load.OpPut, *benchN, 256, 8, true
	res, err := s3load.Run(ctx, load)
	if err != nil || res.Errors > 0 {
		t.Fatalf("load: %v %d errors, first %v", err, res.Errors, res.FirstError)
	}
	t.Logf("loaded %d SSE-S3 objects in %v (%.0f PUT/s)", res.Put.Ops, res.Elapsed.Round(time.Second), res.Put.OpsPerSec)
	keys := listKeys(t, s3Client(t, st), bucket)
	if len(keys) != *benchN {
		t.Fatalf("bucket holds %d objects, want %d", len(keys), *benchN)
	}

	// GETs without the job.
	gets := base
	gets.Op, gets.Keys, gets.Concurrency, gets.Duration = s3load.OpGet, keys, *benchConc, *benchGET
	if gets.Duration <= 0 {
		gets.Duration = 20 * time.Second
	}
	idle, err := s3load.Run(ctx, gets)
	if err != nil || idle.Errors > 0 {
		t.Fatalf("GETs without the job: %v %d errors, first %v", err, idle.Errors, idle.FirstError)
	}

	// Rotate; GETs during the job, until it ends.
	meta := metaStore(t, st.store)
	keyID := bucketKeyID(t, meta, bucket)
	before := jobIDs(t, st)
	start := time.Now()
	if _, err := st.cli("key", "rotate", "--bucket", bucket, "--config", st.s3Config); err != nil {
		t.Fatal(err)
	}
	j := newestJob(t, st, keyID, before)
	gctx, stop := context.WithCancel(ctx)
	type out struct {
		res s3load.Result
		err error
	}
	during := make(chan out, 1)
	go func() {
		g := gets
		g.Duration = time.Hour // until the job ends
		r, err := s3load.Run(gctx, g)
		during <- out{r, err}
	}()
	j = waitJob(t, st, j.ID, 5*time.Minute, nil)
	elapsed := time.Since(start)
	stop()
	busy := <-during
	if _, ok := j.finished(); !ok {
		t.Fatalf("job %s failed: %+v", j.ID, j.Raw)
	}
	if busy.err != nil || busy.res.Errors > 0 {
		t.Fatalf("GETs during the job: %v %d errors, first %v", busy.err, busy.res.Errors, busy.res.FirstError)
	}
	if below, counts := sealedBelow(t, meta, keyID, 2); below != 0 {
		t.Errorf("%d objects still sealed under version 1: %+v", below, counts)
	}
	t.Logf("\n%s", figures(len(keys), j, elapsed, idle, busy.res, *benchConc))
}

// listKeys returns every key of bucket.
func listKeys(t testing.TB, c *s3.Client, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// figures renders the measurements for the note.
func figures(objects int, j job, elapsed time.Duration, idle, busy s3load.Result, conc int) string {
	var b strings.Builder
	n := j.Total
	if n == 0 {
		n = int64(objects)
	}
	fmt.Fprintf(&b, "rewrap on PostgreSQL: %d object versions in %v (rotate to job end, polled every 100 ms) = %.0f object versions/s\n",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	if d, ok := jobDuration(j); ok {
		fmt.Fprintf(&b, "  by the job's own clock (started_at to finished_at): %v = %.0f object versions/s\n",
			d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
	fmt.Fprintf(&b, "GET latency of 256-byte SSE-S3 objects, %d workers:\n", conc)
	fmt.Fprintf(&b, "  %-12s %8s %8s %10s %10s\n", "", "GETs", "GET/s", "p50", "p99")
	for _, r := range []struct {
		name string
		res  s3load.Result
	}{{"without job", idle}, {"during job", busy}} {
		fmt.Fprintf(&b, "  %-12s %8d %8.0f %10v %10v\n", r.name, r.res.Get.Ops, r.res.Get.OpsPerSec, r.res.Get.P50.Round(time.Microsecond), r.res.Get.P99.Round(time.Microsecond))
	}
	if idle.Get.P99 > 0 && idle.Get.P50 > 0 {
		fmt.Fprintf(&b, "  ratio during/without: p50 %.2f, p99 %.2f\n",
			float64(busy.Get.P50)/float64(idle.Get.P50), float64(busy.Get.P99)/float64(idle.Get.P99))
	}
	return b.String()
}
