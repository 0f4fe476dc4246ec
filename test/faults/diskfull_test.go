package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// tmpfsSize is the size of the data directory of TestDiskFull.
const tmpfsSize = "32m"

// mountTmpfs mounts a tmpfs of tmpfsSize on a new directory and unmounts
// it when the test ends (after the processes started later have
// stopped). Without the right to mount it skips the test, or fails it
// under CI=true.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+tmpfsSize+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "TestDiskFull mounts a " + tmpfsSize + " tmpfs as the S3 node's data directory and needs root (or CAP_SYS_ADMIN) on Linux: `mount -t tmpfs` failed: " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFull fills the node's data directory (a tmpfs) with PUTs: once
// it is full, writes get 503 ServiceUnavailable with Retry-After and a
// message saying so, no temp file or unreferenced blob stays, what was
// stored reads back, and after deleting objects writes succeed again
// without a restart.
func TestDiskFull(t *testing.T) {
	dataDir := mountTmpfs(t)
	pg := pgtest.Shared(t)
	st := newStack(t, stackOptions{s3PG: pg, kmsPG: pg, dataDir: dataDir})
	m := createBucket(t, st, "full")
	ctx := context.Background()
	c := st.ep.client(t)
	rec := &recorder{}
	w := newWorker(0, "fill", c, m, 1, mix{put: 1, sse: []sseKind{plain, sseS3, sseKMS, sseC}, maxSize: 1 << 20}, rec)

	// last returns the outcome of the worker's last request.
	last := func() *outcome { ev := rec.snapshot(); return ev[len(ev)-1].out }
	checkFull := func(what string, o *outcome) {
		t.Helper()
		switch {
		case o == nil:
			t.Errorf("%s succeeded on a full data directory", what)
		case o.Status != 503 || o.Code != "ServiceUnavailable" || o.RetryAfter == "" || !strings.Contains(o.Message, "storage space"):
			t.Errorf("%s on a full data directory: %s %q (Retry-After %q), want 503 ServiceUnavailable saying the storage is full, with Retry-After", what, o.key(), o.Message, o.RetryAfter)
		}
	}
	var failedKey *keyRec
	for i := 0; i < 500 && failedKey == nil; i++ {
		w.put()
		if o := last(); o != nil {
			keys := m.sorted() // fill/00001-…: in the order written
			failedKey = keys[len(keys)-1]
			checkFull("PUT "+string(failedKey.sse), o)
		}
	}
	if failedKey == nil {
		t.Fatalf("500 PUTs of up to 1 MiB fit into a %s tmpfs", tmpfsSize)
	}
	// Fill what is left with smaller and smaller objects, down to a
	// page: then any write of more than a few KiB fails.
	for _, n := range []int64{256 << 10, 64 << 10, 16 << 10, 4 << 10} {
		for i := 0; i < 200; i++ {
			w.putSize(plain, n)
			if o := last(); o != nil {
				checkFull(fmt.Sprintf("PUT of %d bytes", n), o)
				break
			}
		}
	}
	var stored int64
	for _, r := range w.pool {
		s, _ := r.acked()
		stored += s.size
	}
	t.Logf("data directory full after %d objects (%d MiB of bodies): %s", len(w.pool), stored>>20, tally(rec.snapshot()))

	// Other writes fail the same way: a 5 MiB part, a copy of the
	// largest object, a large PUT.
	var big *keyRec
	var bigSize int64 = -1
	for _, r := range w.pool {
		if s, _ := r.acked(); s.size > bigSize {
			big, bigSize = r, s.size
		}
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(m.bucket), Key: aws.String("full/multipart")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(m.bucket), Key: aws.String("full/multipart"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(body("part", 5<<20))})
	checkFull("UploadPart", classify(err))
	in := &s3.CopyObjectInput{Bucket: aws.String(m.bucket), Key: aws.String("full/copy"), CopySource: aws.String(m.bucket + "/" + big.key)}
	if big.ckey != nil {
		in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = aws.String("AES256"), aws.String(big.ckey.Key), aws.String(big.ckey.MD5)
	}
	_, err = c.CopyObject(ctx, in)
	checkFull("CopyObject", classify(err))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.bucket), Key: aws.String("full/big"), Body: bytes.NewReader(body("big", 4<<20))})
	checkFull("PUT 4 MiB", classify(err))

	// Nothing half written: no temp file, no unreferenced blob, and the
	// failed writes left no object.
	if blobs, unref, temps := dataDirState(t, st); unref > 0 || temps > 0 {
		t.Errorf("after the failed writes: %d blobs, %d unreferenced, %d temp files", blobs, unref, temps)
	}
	failed := []*keyRec{{key: "full/copy"}, {key: "full/big"}}
	for _, r := range m.sorted() {
		if len(r.states) > 1 {
			failed = append(failed, r)
		}
	}
	for _, r := range failed {
		if s, err := readKey(ctx, c, m.bucket, r); err != nil || s.present {
			t.Errorf("%s after a failed write: %s, %v; want absent", r.key, s, err)
		}
	}
	verifyModelExcept(t, st, m, "on the full data directory", "full/multipart")

	// Deleting objects frees space: writes succeed again, no restart.
	var ids []types.ObjectIdentifier
	for _, r := range w.pool[:len(w.pool)/2] {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(r.key)})
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(m.bucket), Delete: &types.Delete{Objects: ids}})
	if err != nil || len(out.Errors) > 0 {
		t.Fatalf("DeleteObjects: %v %+v", err, out)
	}
	for _, r := range w.pool[:len(w.pool)/2] {
		r.applied(absent)
	}
	w.pool = w.pool[len(w.pool)/2:]
	before := len(rec.snapshot())
	for range 5 {
		w.put()
	}
	if after := rec.snapshot()[before:]; tally(after) != "ok: 5" {
		t.Errorf("after deleting half the objects, 5 PUTs: %s", tally(after))
	}
	if _, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(m.bucket), Key: aws.String("full/multipart"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(body("part", 5<<20))}); err != nil {
		t.Errorf("UploadPart after deleting half the objects: %v", err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(m.bucket), Key: aws.String("full/multipart"), UploadId: up.UploadId}); err != nil {
		t.Error(err)
	}
	verifyModel(t, st, m, "after deleting half the objects")
	if blobs, unref, temps := dataDirState(t, st); unref > 0 || temps > 0 {
		t.Errorf("at the end: %d blobs, %d unreferenced, %d temp files", blobs, unref, temps)
	}
}

// verifyModelExcept is verifyModel with the upload of key (not in the
// model) in progress.
func verifyModelExcept(t *testing.T, st *stack, m *model, when, key string) {
	t.Helper()
	m.add(&keyRec{key: key, multipart: true, createSent: true, states: []state{absent}})
	defer func() {
		m.mu.Lock()
		delete(m.keys, key)
		m.mu.Unlock()
	}()
	verifyModel(t, st, m, when)
}
