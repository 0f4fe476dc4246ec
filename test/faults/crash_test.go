package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/postgres"
)

// EnvSeed names the environment variable that fixes the crash test's seed.
const EnvSeed = "S3KMS_FAULTS_SEED"

// crashMix is the load the S3 node is killed under.
var crashMix = mix{put: 40, multipart: 6, copy: 15, del: 10, delMany: 5, get: 10,
	sse: []sseKind{plain, sseS3, sseKMS, sseC}, maxSize: 4 << 20}

const (
	crashRounds  = 3
	crashWorkers = 6
)

// TestCrashConsistency kills the S3 node (SIGKILL) at seeded random
// moments under a mixed load, restarts it on the same database and data
// directory, and checks everything the tests know against what it
// serves. After the last round the node runs with a short sweep grace:
// uploads in progress are aborted and the data directory must end up
// holding exactly the blobs the metadata references.
func TestCrashConsistency(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv(EnvSeed), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (%s=%d repeats the kill moments and the operations picked)", seed, EnvSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	pg := pgtest.Shared(t)
	st := newStack(t, stackOptions{s3PG: pg, kmsPG: pg})
	ctx := context.Background()
	c := st.ep.client(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	m := newModel("crash")
	for round := range crashRounds {
		rec := &recorder{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		workers := make([]*worker, crashWorkers)
		for i := range workers {
			workers[i] = newWorker(i, fmt.Sprintf("r%d/w%d", round, i), c, m, seed+uint64(round), crashMix, rec)
			wg.Go(func() { workers[i].run(stop) })
		}
		delay := 500*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second)))
		time.Sleep(delay)
		killAt := time.Now()
		st.s3.signal(t, syscall.SIGKILL)
		close(stop)
		wg.Wait()
		events := rec.snapshot()
		unacked := map[string]int{}
		for _, e := range events {
			switch {
			case e.out == nil:
			case e.end.Before(killAt) || e.out.Status != 0:
				t.Errorf("round %d: %s failed before the kill: %s %s", round, e.op, e.out.key(), e.out.Message)
			default:
				unacked[e.op]++
			}
		}
		for _, w := range workers {
			for _, s := range w.corrupt {
				t.Errorf("round %d: during the load: %s", round, s)
			}
		}
		t.Logf("round %d: SIGKILL after %v; %d requests (%s); in flight at the kill: %v", round, delay.Round(time.Millisecond), len(events), tally(events), unacked)

		if round == crashRounds-1 {
			orphans, temps := plantOrphans(t, st)
			t.Logf("before the last restart: %d unreferenced blobs and %d temp files (one of each planted, an hour old)", orphans, temps)
			cfg := st.s3cfg
			cfg.SweepGrace, cfg.SweepInterval = 2*time.Second, 500*time.Millisecond
			st.writeS3Config(cfg)
		}
		restart := time.Now()
		st.startS3()
		t.Logf("round %d: restarted in %v", round, time.Since(restart).Round(time.Millisecond))
		c = st.ep.client(t)
		vs, bad := m.verify(ctx, c)
		for _, b := range bad {
			t.Errorf("round %d, after the restart: %s", round, b)
		}
		t.Logf("round %d: verified %d keys (%d present, %d absent, %d whose last request was not acknowledged), %d MiB", round,
			vs.Keys, vs.Present, vs.Absent, vs.Ambiguous, vs.Bytes>>20)
		if t.Failed() {
			t.FailNow()
		}
	}

	// Uploads in progress abort; then the sweep leaves exactly the
	// referenced blobs.
	uploads, err := listUploads(ctx, c, m.bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uploads {
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(m.bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Errorf("abort upload %s of %s: %v", aws.ToString(u.UploadId), aws.ToString(u.Key), err)
		}
		if r := m.keys[aws.ToString(u.Key)]; r != nil {
			r.aborted = true
		}
	}
	if left, err := listUploads(ctx, c, m.bucket); err != nil || len(left) > 0 {
		t.Fatalf("after aborting %d uploads, %d are listed (%v)", len(uploads), len(left), err)
	}
	sweepStart := time.Now()
	var blobs, unref, temps int
	for {
		blobs, unref, temps = dataDirState(t, st)
		if unref == 0 && temps == 0 {
			break
		}
		if time.Since(sweepStart) > 30*time.Second {
			t.Fatalf("30 s after the restart with sweep_grace 2s and sweep_interval 500ms: %d blobs, %d unreferenced, %d temp files", blobs, unref, temps)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d uploads aborted; %v later the data directory holds %d blobs, all referenced, and no temp file", len(uploads), time.Since(sweepStart).Round(time.Millisecond), blobs)
	vs, bad := m.verify(ctx, c)
	for _, b := range bad {
		t.Errorf("after the sweep: %s", b)
	}
	t.Logf("after the sweep: verified %d keys (%d present, %d MiB)", vs.Keys, vs.Present, vs.Bytes>>20)
}

// plantOrphans adds an unreferenced blob and a temp file, both an hour
// old, to the data directory of the stopped node (so that the sweep has
// something to remove whatever the kill left), and returns the
// unreferenced blobs and temp files then present.
func plantOrphans(t *testing.T, st *stack) (orphans, temps int) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	id := s3node.NewID()
	for _, p := range []string{filepath.Join(st.s3cfg.DataDir, id[:2], id), filepath.Join(st.s3cfg.DataDir, "tmp", "blob-planted")} {
		writeFile(t, p, "orphan")
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	_, orphans, temps = dataDirState(t, st)
	return orphans, temps
}

// dataDirState counts the blobs of the node's data directory, those the
// metadata does not reference, and the temp files.
func dataDirState(t *testing.T, st *stack) (blobs, unreferenced, temps int) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, st.s3cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	meta := db.S3Store()
	dir := st.s3cfg.DataDir
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	temps = len(entries)
	fanout, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range fanout {
		if !d.IsDir() || d.Name() == "tmp" {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			blobs++
			ref, err := meta.BlobReferenced(ctx, f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !ref {
				unreferenced++
			}
		}
	}
	return blobs, unreferenced, temps
}
