package rewrap_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node/rewrap"
)

func body(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// written is an object version the test wrote and reads back.
type written struct {
	client    *s3.Client
	key       string
	versionID string
	data      []byte
	sseC      func(*s3.GetObjectInput)
}

// TestJobRewrapsEveryKind writes objects of every kind that depends on a
// KMS key (SSE-S3, SSE-KMS with and without a client context, bucket-key
// envelopes of both, several versions, a completed multipart upload and
// one in progress) plus SSE-C and plain ones, rotates the bucket's root
// key and the named key, runs the jobs, and checks that no row is left
// under an old version and every object reads back byte-identical.
func TestJobRewrapsEveryKind(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		if _, err := h.admin.CreateKey(ctx, wire.CreateKeyRequest{ID: "app-key"}); err != nil {
			t.Fatal(err)
		}
		const bucket = "rot"
		rootKey := h.bucket(t, bucket, true)
		var objs []written
		put := func(c *s3.Client, key string, data []byte, opt func(*s3.PutObjectInput)) {
			t.Helper()
			in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}
			if opt != nil {
				opt(in)
			}
			out, err := c.PutObject(ctx, in)
			if err != nil {
				t.Fatalf("PUT %s: %v", key, err)
			}
			objs = append(objs, written{client: c, key: key, versionID: aws.ToString(out.VersionId), data: data})
		}
		sses3 := func(in *s3.PutObjectInput) { in.ServerSideEncryption = s3types.ServerSideEncryptionAes256 }
		ssekms := func(bk bool, ec string) func(*s3.PutObjectInput) {
			return func(in *s3.PutObjectInput) {
				in.ServerSideEncryption, in.SSEKMSKeyId, in.BucketKeyEnabled = s3types.ServerSideEncryptionAwsKms, aws.String("app-key"), aws.Bool(bk)
				if ec != "" {
					in.SSEKMSEncryptionContext = aws.String(base64.StdEncoding.EncodeToString([]byte(ec)))
				}
			}
		}
		for i := range 3 {
			put(h.plain, "sse-s3/versioned", body(100+i), sses3) // three versions
		}
		put(h.plain, "sse-s3/other", body(5000), sses3)
		put(h.plain, "sse-kms/plain", body(300), ssekms(false, ""))
		put(h.plain, "sse-kms/context", body(300), ssekms(false, `{"app":"billing"}`))
		put(h.bk, "bucket-key/sse-s3-a", body(200), sses3) // two envelopes sharing a BDK
		put(h.bk, "bucket-key/sse-s3-b", body(200), sses3)
		put(h.bk, "bucket-key/sse-kms", body(200), ssekms(true, ""))
		put(h.plain, "clear", body(10), nil)
		customer := body(32)
		sum := md5.Sum(customer)
		ck, ckMD5 := base64.StdEncoding.EncodeToString(customer), base64.StdEncoding.EncodeToString(sum[:])
		put(h.plain, "sse-c", body(10), func(in *s3.PutObjectInput) {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(ck), aws.String(ckMD5)
		})
		objs[len(objs)-1].sseC = func(in *s3.GetObjectInput) {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(ck), aws.String(ckMD5)
		}
		// A completed multipart upload and one left in progress.
		part := body(5 << 20)
		multipart := func(key string, opt func(*s3.CreateMultipartUploadInput), complete bool) string {
			t.Helper()
			in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}
			opt(in)
			up, err := h.plain.CreateMultipartUpload(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			p, err := h.plain.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
				UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part)})
			if err != nil {
				t.Fatal(err)
			}
			if !complete {
				return aws.ToString(up.UploadId)
			}
			out, err := h.plain.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
				UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: p.ETag, PartNumber: aws.Int32(1)}}}})
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, written{client: h.plain, key: key, versionID: aws.ToString(out.VersionId), data: part})
			return ""
		}
		multipart("multipart/done", func(in *s3.CreateMultipartUploadInput) { in.ServerSideEncryption = s3types.ServerSideEncryptionAes256 }, true)
		pending := multipart("multipart/pending", func(in *s3.CreateMultipartUploadInput) {
			in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String("app-key")
		}, false)

		targets := map[string]int{rootKey: h.rotate(t, rootKey), "app-key": h.rotate(t, "app-key")}
		for keyID, target := range targets {
			if n := h.below(t, keyID, target); n == 0 {
				t.Fatalf("%s: no row below version %d before the job", keyID, target)
			}
			j, created, err := rewrap.CreateJob(ctx, h.meta, keyID, target)
			if err != nil || !created || j.Total != h.below(t, keyID, target) {
				t.Fatalf("CreateJob(%s) = %+v, %v, %v", keyID, j, created, err)
			}
		}
		drain(t, h.worker("node1", 2))

		jobs, err := h.meta.ListJobs(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.State != rewrap.Done || j.Done != j.Total || j.Failed != 0 || j.Done == 0 {
				t.Errorf("job %s: %+v; want done, every row rewrapped", j.KeyID, j)
			}
		}
		for keyID, target := range targets {
			if n := h.below(t, keyID, target); n != 0 {
				t.Errorf("%s: %d rows still below version %d", keyID, n, target)
			}
		}
		for _, o := range objs {
			get(t, o.client, bucket, o.key, o.versionID, o.data, o.sseC)
		}
		// The upload in progress completes under its rewrapped key.
		p, err := h.plain.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("multipart/pending"),
			UploadId: aws.String(pending), PartNumber: aws.Int32(2), Body: bytes.NewReader([]byte("tail"))})
		if err != nil {
			t.Fatal(err)
		}
		parts, err := h.plain.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("multipart/pending"), UploadId: aws.String(pending)})
		if err != nil || len(parts.Parts) != 2 {
			t.Fatalf("ListParts = %v, %v", parts, err)
		}
		if _, err := h.plain.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("multipart/pending"),
			UploadId: aws.String(pending), MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{
				{ETag: parts.Parts[0].ETag, PartNumber: aws.Int32(1)}, {ETag: p.ETag, PartNumber: aws.Int32(2)}}}}); err != nil {
			t.Fatal(err)
		}
		get(t, h.plain, bucket, "multipart/pending", "", append(append([]byte{}, part...), "tail"...), nil)
	})
}

// TestJobConcurrentWrites runs a job while clients overwrite, delete and
// copy the objects being rewrapped: no row is left under the old version
// and every key reads back as its last write.
func TestJobConcurrentWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const bucket, n = "busy", 120
		rootKey := h.bucket(t, bucket, false)
		var mu sync.Mutex
		want := map[string][]byte{}
		putKey := func(key string, data []byte) error {
			_, err := h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
				ServerSideEncryption: s3types.ServerSideEncryptionAes256})
			return err
		}
		for i := range n {
			key := fmt.Sprintf("k%03d", i)
			data := body(64)
			if err := putKey(key, data); err != nil {
				t.Fatal(err)
			}
			want[key] = data
		}
		target := h.rotate(t, rootKey)
		if _, _, err := rewrap.CreateJob(ctx, h.meta, rootKey, target); err != nil {
			t.Fatal(err)
		}
		w := rewrap.NewWorker(rewrap.Config{Store: h.meta, KMS: h.kms, Owner: "node1", Rate: 400, Batch: 10, PassDelay: 10 * time.Millisecond})
		done := make(chan error, 1)
		go func() { _, err := w.RunOnce(ctx); done <- err }()
		// Writers: overwrite, delete, copy, one key at a time per writer.
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Go(func() {
				for i := g; i < n; i += 3 {
					key := fmt.Sprintf("k%03d", i)
					var err error
					switch i % 3 {
					case 0:
						data := body(70)
						if err = putKey(key, data); err == nil {
							mu.Lock()
							want[key] = data
							mu.Unlock()
						}
					case 1:
						if _, err = h.plain.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
							mu.Lock()
							delete(want, key)
							mu.Unlock()
						}
					case 2:
						dst := key + "-copy"
						if _, err = h.plain.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(dst),
							CopySource: aws.String(bucket + "/" + key), ServerSideEncryption: s3types.ServerSideEncryptionAes256}); err == nil {
							mu.Lock()
							want[dst] = want[key]
							mu.Unlock()
						}
					}
					if err != nil {
						t.Errorf("%s: %v", key, err)
					}
				}
			})
		}
		wg.Wait()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		drain(t, w)
		if left := h.below(t, rootKey, target); left != 0 {
			t.Fatalf("%d rows left below version %d", left, target)
		}
		for key, data := range want {
			get(t, h.plain, bucket, key, "", data, nil)
		}
		list, err := h.plain.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil || len(list.Contents) != len(want) {
			t.Fatalf("%d objects listed, want %d (%v)", len(list.Contents), len(want), err)
		}
	})
}

// interruptingKMS is the real KMS client that cancels the worker's
// context after its second batch, before that page is re-sealed: a node
// stopped mid-job.
type interruptingKMS struct {
	rewrap.KMS
	cancel context.CancelFunc
	calls  int
}

func (k *interruptingKMS) RewrapBatch(ctx context.Context, items []kms.RewrapItem) ([]kms.RewrapResult, error) {
	k.calls++
	res, err := k.KMS.RewrapBatch(ctx, items)
	if k.calls == 2 {
		k.cancel()
	}
	return res, err
}

// TestJobResumesAndIsTakenOver checks that a job interrupted mid-pass
// resumes from the database in another worker, at its cursor, and that a
// job whose node holds its lease without working is taken over only after
// the lease expires.
func TestJobResumesAndIsTakenOver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		const bucket, n = "resume", 30
		rootKey := h.bucket(t, bucket, false)
		for i := range n {
			if _, err := h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("k%02d", i)),
				Body: bytes.NewReader([]byte("x")), ServerSideEncryption: s3types.ServerSideEncryptionAes256}); err != nil {
				t.Fatal(err)
			}
		}
		target := h.rotate(t, rootKey)
		j, _, err := rewrap.CreateJob(ctx, h.meta, rootKey, target)
		if err != nil {
			t.Fatal(err)
		}

		// Interrupted: node1 stops during its second page.
		wctx, cancel := context.WithCancel(ctx)
		w1 := rewrap.NewWorker(rewrap.Config{Store: h.meta, KMS: &interruptingKMS{KMS: h.kms, cancel: cancel}, Owner: "node1", Rate: 1e6, Batch: 7})
		if ran, err := w1.RunOnce(wctx); !ran || err == nil {
			t.Fatalf("interrupted RunOnce = %v, %v; want an error", ran, err)
		}
		mid, err := h.meta.GetJob(ctx, j.ID)
		if err != nil || mid.State != rewrap.Running || mid.Done != 7 || mid.Cursor.Kind != "object" || mid.Pass != 1 {
			t.Fatalf("interrupted job = %+v, %v; want running, 7 done, cursor saved", mid, err)
		}

		// Resumed at its cursor by node2: the same pass, nothing done twice.
		drain(t, h.worker("node2", 7))
		end, err := h.meta.GetJob(ctx, j.ID)
		if err != nil || end.State != rewrap.Done || end.Done != n || end.Pass != 1 || end.Skipped != 0 {
			t.Fatalf("resumed job = %+v, %v; want done in one pass, %d rows", end, err, n)
		}

		// Taken over: node3 claims a job and dies holding its lease.
		target = h.rotate(t, rootKey)
		j, _, err = rewrap.CreateJob(ctx, h.meta, rootKey, target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.meta.ClaimJob(ctx, "node3", time.Now(), rewrap.DefaultLease); err != nil {
			t.Fatal(err)
		}
		w4 := h.worker("node4", 10)
		if ran, err := w4.RunOnce(ctx); ran || err != nil {
			t.Fatalf("RunOnce under a live lease = %v, %v; want nothing to claim", ran, err)
		}
		late := rewrap.NewWorker(rewrap.Config{Store: h.meta, KMS: h.kms, Owner: "node4", Rate: 1e6, Batch: 10,
			Now: func() time.Time { return time.Now().Add(rewrap.DefaultLease + time.Second) }})
		drain(t, late)
		end, err = h.meta.GetJob(ctx, j.ID)
		if err != nil || end.State != rewrap.Done || end.LeaseOwner != "node4" || end.Done != n {
			t.Fatalf("taken-over job = %+v, %v", end, err)
		}
		if left := h.below(t, rootKey, target); left != 0 {
			t.Fatalf("%d rows left below version %d", left, target)
		}
	})
}

// TestJobFailsWithoutProgress: rows the KMS refuses to rewrap (the node
// may not use the key any more) end the job failed, with a reason.
func TestJobFailsWithoutProgress(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	rootKey := h.bucket(t, "stuck", false)
	if _, err := h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("stuck"), Key: aws.String("k"),
		Body: bytes.NewReader([]byte("x")), ServerSideEncryption: s3types.ServerSideEncryptionAes256}); err != nil {
		t.Fatal(err)
	}
	target := h.rotate(t, rootKey)
	if _, err := h.admin.DisableKey(ctx, rootKey); err != nil {
		t.Fatal(err)
	}
	j, _, err := rewrap.CreateJob(ctx, h.meta, rootKey, target)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := rewrap.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, rewrap.NewWorker(rewrap.Config{Store: h.meta, KMS: h.kms, Owner: "node1", Metrics: metrics}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var failedJobs float64
	for _, mf := range mfs {
		if mf.GetName() == "s3kms_rewrap_jobs_finished_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "failed" {
					failedJobs = m.GetCounter().GetValue()
				}
			}
		}
	}
	if failedJobs != 1 {
		t.Fatalf("s3kms_rewrap_jobs_finished_total{state=\"failed\"} = %v, want 1", failedJobs)
	}
	end, err := h.meta.GetJob(ctx, j.ID)
	if err != nil || end.State != rewrap.Failed || end.Failed == 0 || end.LastError == "" || end.FinishedAt.IsZero() {
		t.Fatalf("job = %+v, %v; want failed with a reason", end, err)
	}
}

// TestSweeperCreatesJobs: after a rotation nobody followed with a job,
// the sweeper creates one for that key only, and none while it is active.
func TestSweeperCreatesJobs(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	keyA, keyB := h.bucket(t, "sweep-a", false), h.bucket(t, "sweep-b", false)
	for _, b := range []string{"sweep-a", "sweep-b"} {
		if _, err := h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("k"),
			Body: bytes.NewReader([]byte("x")), ServerSideEncryption: s3types.ServerSideEncryptionAes256}); err != nil {
			t.Fatal(err)
		}
	}
	oldest, err := h.meta.OldestSealed(ctx)
	if err != nil || len(oldest) != 2 || oldest[keyA] != 1 || oldest[keyB] != 1 {
		t.Fatalf("OldestSealed = %v, %v", oldest, err)
	}
	target := h.rotate(t, keyA)
	s := rewrap.NewSweeper(rewrap.SweeperConfig{Store: h.meta, Current: func(ctx context.Context, keyID string) (int, error) {
		k, err := h.kms.GetKey(ctx, keyID)
		return k.CurrentVersion, err
	}})
	for i, want := range []int{1, 0} {
		jobs, err := s.Sweep(ctx)
		if err != nil || len(jobs) != want {
			t.Fatalf("sweep %d created %+v, %v; want %d jobs", i, jobs, err, want)
		}
		if want == 1 && (jobs[0].KeyID != keyA || jobs[0].TargetVersion != target || jobs[0].Total != 1) {
			t.Fatalf("sweep created %+v", jobs[0])
		}
	}
	drain(t, h.worker("node1", 10))
	if jobs, err := s.Sweep(ctx); err != nil || len(jobs) != 0 {
		t.Fatalf("sweep after the job = %+v, %v", jobs, err)
	}
}

// TestJobFollowsBucketKeyCache: with bucket keys, a node keeps sealing
// new objects under the version it cached until the cache entry expires.
// A job running meanwhile keeps passing while it makes progress, and rows
// written after it ended are found by the sweeper, whose job re-seals
// them: in the end no row is left under the old version.
func TestJobFollowsBucketKeyCache(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	const bucket = "cached"
	rootKey := h.bucket(t, bucket, false)
	want := map[string][]byte{}
	put := func(key string) {
		data := body(50)
		if _, err := h.bk.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
			ServerSideEncryption: s3types.ServerSideEncryptionAes256}); err != nil {
			t.Error(err)
			return
		}
		want[key] = data
	}
	for i := range 20 {
		put(fmt.Sprintf("before%02d", i))
	}
	target := h.rotate(t, rootKey)
	if _, _, err := rewrap.CreateJob(ctx, h.meta, rootKey, target); err != nil {
		t.Fatal(err)
	}
	w := rewrap.NewWorker(rewrap.Config{Store: h.meta, KMS: h.kms, Owner: "node1", Rate: 200, Batch: 5, PassDelay: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() { _, err := w.RunOnce(ctx); done <- err }()
	for i := range 30 { // still sealed under the cached, old version
		put(fmt.Sprintf("during%02d", i))
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := rewrap.NewSweeper(rewrap.SweeperConfig{Store: h.meta, Current: func(ctx context.Context, keyID string) (int, error) {
		k, err := h.kms.GetKey(ctx, keyID)
		return k.CurrentVersion, err
	}})
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	drain(t, w)
	if left := h.below(t, rootKey, target); left != 0 {
		t.Fatalf("%d rows left below version %d", left, target)
	}
	jobs, err := h.meta.ListJobs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.State != rewrap.Done {
			t.Fatalf("job %+v not done", j)
		}
	}
	for key, data := range want {
		get(t, h.bk, bucket, key, "", data, nil)
		get(t, h.plain, bucket, key, "", data, nil)
	}
}

// TestWorkersCooperate runs two nodes' workers (Run) on jobs of several
// keys at once: every job ends done, each claimed by one node at a time.
func TestWorkersCooperate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		targets := map[string]int{}
		for i := range 4 {
			bucket := fmt.Sprintf("coop-%d", i)
			keyID := h.bucket(t, bucket, false)
			for k := range 15 {
				if _, err := h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprint(k)),
					Body: bytes.NewReader([]byte("x")), ServerSideEncryption: s3types.ServerSideEncryptionAes256}); err != nil {
					t.Fatal(err)
				}
			}
			targets[keyID] = h.rotate(t, keyID)
			if _, _, err := rewrap.CreateJob(ctx, h.meta, keyID, targets[keyID]); err != nil {
				t.Fatal(err)
			}
		}
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, owner := range []string{"node1", "node2"} {
			w := rewrap.NewWorker(rewrap.Config{Store: h.meta, KMS: h.kms, Owner: owner, Rate: 1e6, Batch: 4, Poll: 20 * time.Millisecond})
			wg.Go(func() { w.Run(rctx) })
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			jobs, err := h.meta.ListJobs(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			active := 0
			for _, j := range jobs {
				if j.State.Active() {
					active++
				} else if j.State != rewrap.Done || j.Done != 15 || j.Skipped != 0 {
					t.Errorf("job %+v", j)
				}
			}
			if active == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d jobs still active", active)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		for keyID, target := range targets {
			if left := h.below(t, keyID, target); left != 0 {
				t.Errorf("%s: %d rows left", keyID, left)
			}
		}
	})
}
