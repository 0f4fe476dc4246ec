package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pgtest"
)

// TestTwoNodes runs two S3 nodes and two KMS processes on one PostgreSQL
// and one data directory, with bucket keys on (encryption.bucket_key_ttl),
// and checks that what one node does the other sees.
func TestTwoNodes(t *testing.T) {
	c := newCluster(t, pgtest.Shared(t), options{startS3: 1, s3: func(cfg *config.S3) {
		cfg.Encryption.BucketKeyTTL = time.Minute
		cfg.Rewrap.Rate, cfg.Rewrap.Batch = 100, 10
	}})
	ctx := context.Background()

	// First, while only node 0 runs: node 1's start-up sweep must spare
	// node 0's upload in flight, however old its temp file looks.
	t.Run("start-up sweep spares the other node's upload", func(t *testing.T) {
		testSweepSparesUpload(t, c)
	})
	a, b := c.clients[0], c.clients[1]
	if _, err := c.cli("key", "create", "cluster-kms"); err != nil {
		t.Fatal(err)
	}

	t.Run("put on one node, get on the other", func(t *testing.T) {
		mustBucket(t, a, "across")
		for _, e := range []sse{plain, sseS3, sseKMS("cluster-kms", false), sseKMS("cluster-kms", true), sseC()} {
			for dir, pair := range [][2]*s3.Client{{a, b}, {b, a}} {
				key := fmt.Sprintf("%s-%d", e.name, dir)
				body := randomBytes(t, 100_000)
				if _, err := put(ctx, pair[0], "across", key, body, e); err != nil {
					t.Fatal(err)
				}
				got, err := get(ctx, pair[1], "across", key, nil, e)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("%s written on one node, read on the other: %v", key, err)
				}
			}
		}
	})

	t.Run("multipart started on one node, parts on both, completed on the other", func(t *testing.T) {
		mustBucket(t, a, "mpu")
		for _, e := range []sse{plain, sseS3, sseC()} {
			key := "big-" + e.name
			in := &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: &key}
			if e.kind == "AES256" {
				in.ServerSideEncryption = types.ServerSideEncryptionAes256
			}
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
			up, err := a.CreateMultipartUpload(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			parts := [][]byte{randomBytes(t, 5<<20), randomBytes(t, 5<<20), randomBytes(t, 1000)}
			var done []types.CompletedPart
			for i, p := range parts {
				pin := &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: &key, UploadId: up.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)}
				pin.SSECustomerAlgorithm, pin.SSECustomerKey, pin.SSECustomerKeyMD5 = e.customer()
				out, err := c.clients[i%2].UploadPart(ctx, pin)
				if err != nil {
					t.Fatalf("%s part %d on node %d: %v", e.name, i+1, i%2, err)
				}
				done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
			}
			if _, err := b.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: &key,
				UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
				t.Fatalf("%s complete on node 1: %v", e.name, err)
			}
			want := bytes.Join(parts, nil)
			for i, cl := range c.clients {
				got, err := get(ctx, cl, "mpu", key, nil, e)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s read on node %d: %v (%d bytes)", e.name, i, err, len(got))
				}
			}
		}
	})

	t.Run("versioning", func(t *testing.T) {
		mustBucket(t, a, "versions")
		if _, err := b.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("versions"),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
		var ids []*string
		var bodies [][]byte
		for i := range 4 {
			body := randomBytes(t, 1000+i)
			id, err := put(ctx, c.clients[i%2], "versions", "k", body, sseS3)
			if err != nil {
				t.Fatal(err)
			}
			ids, bodies = append(ids, id), append(bodies, body)
		}
		for n, cl := range c.clients {
			out, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("versions")})
			if err != nil || len(out.Versions) != 4 {
				t.Fatalf("node %d lists %d versions: %v", n, len(out.Versions), err)
			}
			for i, id := range ids {
				got, err := get(ctx, cl, "versions", "k", id, sseS3)
				if err != nil || !bytes.Equal(got, bodies[i]) {
					t.Fatalf("node %d, version %d: %v", n, i, err)
				}
			}
		}
		if _, err := a.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("versions"), Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		if _, err := get(ctx, b, "versions", "k", nil, sseS3); s3Code(err) != "NoSuchKey" {
			t.Fatalf("after a delete marker on node 0, node 1 reads: %v", err)
		}
	})

	t.Run("concurrent puts of one key from both nodes", func(t *testing.T) {
		mustBucket(t, a, "race")
		const workers, each = 8, 6
		written := map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					body := []byte(fmt.Sprintf("worker %d write %d %s", w, i, bytes.Repeat([]byte{'x'}, 1000*(w+1))))
					mu.Lock()
					written[md5hex(body)] = true
					mu.Unlock()
					e := sseS3
					if i%2 == 1 {
						e = plain
					}
					if _, err := put(ctx, c.clients[w%2], "race", "same", body, e); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var seen []string
		for n, cl := range c.clients {
			out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("race"), Key: aws.String("same")})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !written[md5hex(got)] || `"`+md5hex(got)+`"` != aws.ToString(out.ETag) {
				t.Fatalf("node %d reads a body that was never written whole (ETag %s): %v", n, aws.ToString(out.ETag), err)
			}
			seen = append(seen, md5hex(got))
		}
		if seen[0] != seen[1] {
			t.Errorf("the nodes read different last writes: %v", seen)
		}
		orphans := c.blobCheck(t)
		t.Logf("%d PUTs of one key from 2 nodes: one winner, no blob referenced twice, %d unreferenced blobs left", workers*each, orphans)
	})

	t.Run("delete on one node while the other reads", func(t *testing.T) {
		mustBucket(t, a, "delget")
		for i := range 10 {
			body := randomBytes(t, 256<<10)
			key := fmt.Sprintf("k%d", i)
			if _, err := put(ctx, a, "delget", key, body, sseS3); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := get(ctx, b, "delget", key, nil, sseS3)
					if err != nil && s3Code(err) != "NoSuchKey" {
						t.Errorf("GET during a delete: %v", err)
					}
					if err == nil && !bytes.Equal(got, body) {
						t.Errorf("GET during a delete returned %d bytes that differ from the object", len(got))
					}
				}()
			}
			if _, err := a.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("delget"), Key: &key}); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if _, err := get(ctx, b, "delget", key, nil, sseS3); s3Code(err) != "NoSuchKey" {
				t.Fatalf("after the delete: %v", err)
			}
		}
		c.blobCheck(t)
	})

	t.Run("disabled SSE-KMS key refused on both nodes at once without bucket keys", func(t *testing.T) {
		if _, err := c.cli("key", "create", "cluster-off"); err != nil {
			t.Fatal(err)
		}
		mustBucket(t, a, "off")
		if _, err := put(ctx, b, "off", "before", []byte("x"), sseKMS("cluster-off", false)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.cli("key", "disable", "cluster-off"); err != nil {
			t.Fatal(err)
		}
		for n, cl := range c.clients {
			_, err := put(ctx, cl, "off", "after", []byte("x"), sseKMS("cluster-off", false))
			if s3Code(err) != "KMS.DisabledException" {
				t.Errorf("node %d: PUT with a disabled key: %v", n, err)
			}
			if _, err := get(ctx, cl, "off", "before", nil, sse{}); s3Code(err) != "KMS.DisabledException" {
				t.Errorf("node %d: GET under a disabled key: %v", n, err)
			}
		}
	})

	t.Run("rewrap job while both nodes run: one lease holder", func(t *testing.T) {
		testRewrapOneHolder(t, c)
	})
}

// testSweepSparesUpload starts an upload on node 0 that pauses, makes its
// temp file look two hours old, starts node 1 (which sweeps the shared
// data directory as it starts) and then finishes the upload.
func testSweepSparesUpload(t *testing.T, c *cluster) {
	ctx := context.Background()
	mustBucket(t, c.clients[0], "sweep")
	first, second := randomBytes(t, 64<<10), randomBytes(t, 64<<10)
	ps := s3.NewPresignClient(c.clients[0])
	req, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sweep"), Key: aws.String("slow")})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	hreq, err := http.NewRequest(http.MethodPut, req.URL, pr)
	if err != nil {
		t.Fatal(err)
	}
	hreq.ContentLength = int64(len(first) + len(second))
	for k, v := range req.SignedHeader {
		hreq.Header[k] = v
	}
	res := make(chan error, 1)
	go func() {
		resp, err := c.http.Do(hreq)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
			}
		}
		res <- err
	}()
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	tmpDir := filepath.Join(c.dataDir, "tmp")
	var tmp string
	c.waitFor("the upload's temp file", func() error {
		entries, err := os.ReadDir(tmpDir)
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("%d temp files (%v)", len(entries), err)
		}
		tmp = filepath.Join(tmpDir, entries[0].Name())
		return nil
	})
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	c.startS3Node(1)
	// The sweep runs as the node starts; give it time to reach the file.
	time.Sleep(time.Second)
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("node 1's sweep removed node 0's upload in flight: %v", err)
	}
	if _, err := pw.Write(second); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-res; err != nil {
		t.Fatalf("the paused upload: %v", err)
	}
	got, err := get(ctx, c.clients[1], "sweep", "slow", nil, plain)
	if err != nil || !bytes.Equal(got, append(first, second...)) {
		t.Fatalf("the paused upload reads back wrong: %v", err)
	}
}

// testRewrapOneHolder rotates a bucket's root key with both nodes running
// (both run a rewrap worker) and watches the job's lease: exactly one
// node holds it from start to end.
func testRewrapOneHolder(t *testing.T, c *cluster) {
	ctx := context.Background()
	mustBucket(t, c.clients[0], "rewrap")
	const n = 120
	bodies := map[string][]byte{}
	for i := range n {
		key := fmt.Sprintf("o%03d", i)
		bodies[key] = randomBytes(t, 500)
		if _, err := put(ctx, c.clients[i%2], "rewrap", key, bodies[key], sseS3); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, c.s3DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := c.cli("key", "rotate", "--bucket", "rewrap", "--config", c.s3Conf[0]); err != nil {
		t.Fatal(err)
	}
	owners := map[string]bool{}
	var state string
	var total, done, failed int64
	deadline := time.Now().Add(time.Minute)
	for state != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("rewrap job still %q after a minute (%d/%d)", state, done, total)
		}
		var owner string
		err := conn.QueryRow(ctx, `SELECT state, lease_owner, total, done, failed FROM s3_rewrap_jobs
			WHERE key_id = (SELECT key_id FROM s3_rewrap_jobs ORDER BY id DESC LIMIT 1) ORDER BY id DESC LIMIT 1`).
			Scan(&state, &owner, &total, &done, &failed)
		if err != nil && err != pgx.ErrNoRows {
			t.Fatal(err)
		}
		if state == "running" && owner != "" {
			owners[owner] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(owners) != 1 || failed != 0 || done < n {
		t.Errorf("job done: %d of %d rows, %d failed, lease holders seen %v; want all by one holder", done, total, failed, owners)
	}
	t.Logf("rewrap job: %d rows by %v", done, owners)
	for i, cl := range c.clients {
		for key, body := range bodies {
			got, err := get(ctx, cl, "rewrap", key, nil, sseS3)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("node %d, %s after the rewrap: %v", i, key, err)
			}
		}
	}
}
