package rotation

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/s3node"
)

// loadConc is the number of workers that load and verify the data set.
const loadConc = 8

// TestRotationE2E is issue 7's end-to-end test on PostgreSQL, with the KMS
// and the S3 node as separate processes: the S3 node is killed with
// SIGKILL during the rewrap job.
func TestRotationE2E(t *testing.T) {
	t.Parallel() // see the package doc
	if !rotateHasBucket(t, s3kmsBinary(t)) {
		t.Skip("`s3kms admin key rotate` has no --bucket flag yet: the rotation slices (kms, job) are not merged")
	}
	rotationScenario(t, newServeStack(t, pgtest.Shared(t), nil), *objectsFlag)
}

// TestRotationE2EDev is the same on the all-in-one `s3kms dev` (SQLite)
// with a fifth of the objects: killing dev kills the KMS with the node.
func TestRotationE2EDev(t *testing.T) {
	t.Parallel()
	if !rotateHasBucket(t, s3kmsBinary(t)) {
		t.Skip("`s3kms admin key rotate` has no --bucket flag yet: the rotation slices (kms, job) are not merged")
	}
	rotationScenario(t, newDevStack(t), max(*objectsFlag/5, 200))
}

// rotationScenario loads n SSE-S3 object versions (and the rest of the
// data set), rotates the bucket's key, kills the S3 node while the job
// runs, restarts it, runs concurrent writers until the job ends, proves
// that no sealed key depends on version 1, rotates the SSE-KMS key, then
// deactivates and destroys version 1; every object is read back
// byte-identical after the job and after the destruction.
func rotationScenario(t *testing.T, st *stack, n int) {
	ctx := context.Background()
	for _, path := range []string{"admin job list", "admin job show", "admin key show", "admin key version destroy"} {
		requireCommand(t, st, path, "--config")
	}
	requireCommand(t, st, "admin key rotate", "--bucket", "--config", "--wait")
	requireCommand(t, st, "admin key version deactivate", "--bucket", "--version", "--force")
	requireCommand(t, st, "admin key version activate", "--bucket", "--version")

	const namedKey = "rotation-named"
	if _, err := st.cli("key", "create", namedKey); err != nil {
		t.Fatal(err)
	}
	d := newDataset("rotation-e2e", namedKey)
	c := s3Client(t, st)
	start := time.Now()
	if err := d.load(ctx, c, n, loadConc); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d object versions (%+v) and %d uploads in %v", len(d.Objects), planFor(n), len(d.Uploads), time.Since(start).Round(time.Millisecond))

	meta := metaStore(t, st.store)
	keyID := bucketKeyID(t, meta, d.Bucket)
	if below, counts := sealedBelow(t, meta, keyID, 2); below < int64(planFor(n).total()-planFor(n).SSEC-planFor(n).SSEKMS) {
		t.Fatalf("%s before rotation: %d sealed under version 1, want every SSE-S3 object: %+v", keyID, below, counts)
	}

	// Rotate; the job appears in the job list.
	before := jobIDs(t, st)
	out, err := st.cli("key", "rotate", "--bucket", d.Bucket, "--config", st.s3Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("admin key rotate --bucket: %s", strings.TrimSpace(out))
	j := newestJob(t, st, keyID, before)
	t.Logf("job %s: %+v", j.ID, j.Raw)
	// While objects depend on version 1, it cannot be deactivated
	// without --force. (The count only falls: if it is above zero after
	// the command, it was during it.)
	_, err = st.cli("key", "version", "deactivate", "--bucket", d.Bucket, "--version", "1", "--config", st.s3Config)
	if below, _ := sealedBelow(t, meta, keyID, 2); err == nil && below > 0 {
		t.Errorf("version 1 was deactivated while %d sealed keys depend on it", below)
	}

	// Kill the S3 node with SIGKILL once the job has done some but not
	// all of its work.
	killed := false
	start = time.Now()
	j = waitJob(t, st, j.ID, 2*time.Minute, func(j job) {
		if !killed && j.Done > 0 && j.Done < j.Total {
			st.node().kill(t)
			killed = true
			t.Logf("killed %s with SIGKILL at %d/%d", st.node().name, j.Done, j.Total)
			st.restart()
		}
	})
	if !killed {
		t.Errorf("job %s ended (%d/%d) before the S3 node could be killed during it: raise S3KMS_ROTATION_N", j.ID, j.Done, j.Total)
	}
	if _, ok := j.finished(); !ok {
		t.Fatalf("job %s failed: %+v\nS3 node log:\n%s", j.ID, j.Raw, st.node().logTail())
	}
	t.Logf("job %s done in %v: %+v", j.ID, time.Since(start).Round(time.Millisecond), j.Raw)
	verifyAll(t, d, c, "after the job")
	checkNoneBelow(t, st, meta, keyID, d.Bucket, 2)

	// Concurrent writers during a second job (rotation to version 3);
	// afterwards nothing depends on versions 1 and 2, and no write is lost.
	before = jobIDs(t, st)
	wctx, stopWriters := context.WithCancel(ctx)
	type result struct {
		last map[string]latest
		ops  writerOps
		err  error
	}
	done := make(chan result, 1)
	go func() {
		last, ops, err := d.runWriters(wctx, c, 4)
		done <- result{last, ops, err}
	}()
	time.Sleep(time.Second) // writers before, during and after the rotation
	if _, err := st.cli("key", "rotate", "--bucket", d.Bucket, "--config", st.s3Config); err != nil {
		stopWriters()
		<-done
		t.Fatal(err)
	}
	j = newestJob(t, st, keyID, before)
	j = waitJob(t, st, j.ID, 2*time.Minute, nil)
	time.Sleep(time.Second)
	stopWriters()
	w := <-done
	if w.err != nil {
		t.Fatalf("concurrent writers: %v", w.err)
	}
	t.Logf("writers during job %s: %v", j.ID, w.ops)
	if _, ok := j.finished(); !ok {
		t.Fatalf("job %s failed: %+v", j.ID, j.Raw)
	}
	verifyAll(t, d, c, "after the job with writers")
	if bad := d.verifyLatest(ctx, c, w.last); len(bad) > 0 {
		t.Errorf("%d keys lost their last write, e.g. %v", len(bad), bad[:min(len(bad), 5)])
	}
	checkNoneBelow(t, st, meta, keyID, d.Bucket, 3)

	// SSE-KMS objects are rewrapped when their named key rotates.
	if _, err := st.cli("key", "rotate", namedKey, "--config", st.s3Config, "--wait"); err != nil {
		t.Fatal(err)
	}
	if below, counts := sealedBelow(t, meta, namedKey, 2); below != 0 {
		t.Errorf("%s after rotate --wait: %d sealed under version 1: %+v", namedKey, below, counts)
	}

	// Retire versions 1 and 2 of the bucket key: the current one cannot
	// be; the old ones can, and everything still reads.
	for _, v := range []string{"1", "2"} {
		if _, err := st.cli("key", "version", "deactivate", "--bucket", d.Bucket, "--version", v, "--config", st.s3Config); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.cli("key", "version", "deactivate", "--bucket", d.Bucket, "--version", "3", "--config", st.s3Config); err == nil {
		t.Error("the current version 3 was deactivated")
	}
	// A retired version is never used for a new seal.
	for i := range 20 {
		o, err := d.put(ctx, c, "after-deactivate/"+strconv.Itoa(i), sseS3, body(100))
		if err != nil {
			t.Fatal(err)
		}
		d.Objects = append(d.Objects, o)
	}
	checkNoneBelow(t, st, meta, keyID, d.Bucket, 3)
	for _, v := range []string{"1", "2"} {
		if _, err := st.cli("key", "version", "destroy", "--bucket", d.Bucket, "--version", v, "--config", st.s3Config); err != nil {
			t.Fatal(err)
		}
	}
	out, err = st.cli("key", "show", "--bucket", d.Bucket, "--config", st.s3Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("admin key show --bucket after destroy:\n%s", out)
	out, err = st.cli("key", "show", "--bucket", d.Bucket, "--config", st.s3Config, "--json")
	if err != nil {
		t.Fatal(err)
	}
	states, err := versionStates([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int]string{1: "destroyed", 2: "destroyed", 3: "active"}; !maps.Equal(states, want) {
		t.Errorf("version states after destroy: %v, want %v", states, want)
	}
	if err := d.completeUploads(ctx, c); err != nil {
		t.Fatalf("uploads begun before the rotation: %v", err)
	}
	verifyAll(t, d, c, "after destroying versions 1 and 2")
	forceDeactivate(t, st, meta, c)
}

// forceDeactivate checks what --force means: on a bucket whose objects
// still depend on version 1 (its key rotated by id without --config: the
// KMS only, no job), deactivate refuses, --force deactivates and the
// objects no longer read; activate makes them readable again. The node's
// sweeper may start a job of its own between the rotation and the
// deactivation and re-seal the objects first; that attempt then proves
// nothing, and the check runs again on a new bucket (a sweep runs once a
// minute, the window is about a second).
func forceDeactivate(t *testing.T, st *stack, meta s3node.MetadataStore, c *s3.Client) {
	for attempt := 1; attempt <= 3; attempt++ {
		if forceDeactivateOnce(t, st, meta, c, attempt) {
			return
		}
		t.Logf("attempt %d: the node's sweeper re-sealed the objects first; again on a new bucket", attempt)
	}
	t.Fatal("the sweeper re-sealed the objects before deactivate in 3 attempts running")
}

// forceDeactivateOnce is one attempt of forceDeactivate; it reports false
// when a sweep of the node re-sealed the objects in the meantime.
func forceDeactivateOnce(t *testing.T, st *stack, meta s3node.MetadataStore, c *s3.Client, attempt int) bool {
	ctx := context.Background()
	d := newDataset("rotation-force-"+strconv.Itoa(attempt), "")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &d.Bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &d.Bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		o, err := d.put(ctx, c, "f/"+strconv.Itoa(i), sseS3, body(100))
		if err != nil {
			t.Fatal(err)
		}
		d.Objects = append(d.Objects, o)
	}
	keyID := bucketKeyID(t, meta, d.Bucket)
	if _, err := st.cli("key", "rotate", keyID); err != nil {
		t.Fatal(err)
	}
	swept := func() bool { n, _ := sealedBelow(t, meta, keyID, 2); return n == 0 }
	deactivate := []string{"key", "version", "deactivate", "--bucket", d.Bucket, "--version", "1", "--config", st.s3Config}
	if _, err := st.cli(deactivate...); err == nil {
		if swept() {
			return false
		}
		t.Fatal("version 1 was deactivated without --force while 3 objects depend on it")
	}
	out, err := st.cli(append(deactivate, "--force")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deactivate --force:\n%s", out)
	if failed, _ := d.verify(ctx, c, 1); failed != len(d.Objects) {
		if swept() {
			return false
		}
		t.Errorf("%d of %d objects sealed under a deactivated version still read", len(d.Objects)-failed, len(d.Objects))
	}
	if _, err := st.cli("key", "version", "activate", "--bucket", d.Bucket, "--version", "1", "--config", st.s3Config); err != nil {
		t.Fatal(err)
	}
	verifyAll(t, d, c, "after activating version 1 again")
	return true
}

// s3Client returns an SDK client for the stack's S3 node.
func s3Client(t testing.TB, st *stack) *s3.Client {
	t.Helper()
	c, err := st.s3.client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verifyAll reads back the whole data set.
func verifyAll(t *testing.T, d *dataset, c *s3.Client, when string) {
	t.Helper()
	start := time.Now()
	failed, first := d.verify(context.Background(), c, loadConc)
	if failed > 0 {
		t.Fatalf("%s: %d of %d object versions do not read back as written, e.g.:\n%s", when, failed, len(d.Objects), strings.Join(first, "\n"))
	}
	t.Logf("%s: %d object versions read back byte-identical in %v", when, len(d.Objects), time.Since(start).Round(time.Millisecond))
}

// checkNoneBelow proves, from the database and from `admin key show
// --bucket`, that no object version or upload of keyID depends on a
// version below current, and that every sealed key is attributed.
func checkNoneBelow(t *testing.T, st *stack, meta s3node.MetadataStore, keyID, bucket string, current int) {
	t.Helper()
	if below, counts := sealedBelow(t, meta, keyID, current); below != 0 {
		t.Errorf("%s: %d sealed keys still depend on a version below %d: %+v", keyID, below, current, counts)
	}
	if o, u, err := meta.CountUnattributed(context.Background()); err != nil || o+u != 0 {
		t.Errorf("unattributed sealed keys: %d objects, %d uploads (%v)", o, u, err)
	}
	out, err := st.cli("key", "show", "--bucket", bucket, "--config", st.s3Config, "--json")
	if err != nil {
		t.Fatal(err)
	}
	counts, err := versionCounts([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) == 0 {
		t.Errorf("admin key show --bucket --json shows no per-version count (fields %v):\n%s", countFields, out)
	}
	for v, n := range counts {
		if v < current && n != 0 {
			t.Errorf("admin key show --bucket: version %d still has %d sealed", v, n)
		}
	}
}
