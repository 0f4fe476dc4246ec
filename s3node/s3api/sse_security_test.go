package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/s3node/objcrypt"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// sseWorkload writes and reads objects in every encrypted mode through
// PUT, GET, CopyObject, UploadPartCopy and multipart uploads, plus
// requests that fail (wrong key, bad key MD5), all with plaintext made of
// marker. It returns the keys written to bucket.
func sseWorkload(t *testing.T, e *env, bucket string, marker []byte, k1, k2 customerKey) []string {
	t.Helper()
	ctx := context.Background()
	ce := &sseCopyEnv{e: e, c: e.client(alice()), k1: k1, k2: k2}
	data := bytes.Repeat(marker, (200000/len(marker))+1) // several 64 KiB packages
	ce.put(t, bucket, "s3", data, modeS3)
	ce.put(t, bucket, "kms", data, modeKMS)
	ce.put(t, bucket, "c", data, modeC)
	for _, k := range []struct {
		key string
		ck  *customerKey
	}{{"s3", nil}, {"kms", nil}, {"c", &k1}} {
		if _, body, err := ce.get(bucket, k.key, k.ck); err != nil || !bytes.Equal(body, data) {
			t.Fatalf("GET %s: %v", k.key, err)
		}
	}
	// Failing requests.
	if _, _, err := ce.get(bucket, "c", &k2); err == nil {
		t.Fatal("GET with the wrong key succeeded")
	}
	bad := trio(&k1)
	bad.md5 = aws.String(k2.md5)
	if _, err := ce.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("bad"), Body: bytes.NewReader(data),
		SSECustomerAlgorithm: bad.alg, SSECustomerKey: bad.key, SSECustomerKeyMD5: bad.md5}); err == nil {
		t.Fatal("PUT with a bad key MD5 succeeded")
	}
	if _, err := ce.copyObject(bucket, "bad", bucket+"/c", copyReq{src: trio(&k2)}, nil); err == nil {
		t.Fatal("copy with the wrong source key succeeded")
	}
	// Copies and multipart.
	if _, err := ce.copyObject(bucket, "c-to-c", bucket+"/c", copyReq{src: trio(&k1), dst: modeC, dstKey: &k2}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ce.copyObject(bucket, "c-to-s3", bucket+"/c", copyReq{src: trio(&k1), dst: modeS3}, nil); err != nil {
		t.Fatal(err)
	}
	keys := []string{"s3", "kms", "c", "c-to-c", "c-to-s3"}
	for _, m := range []struct {
		key string
		r   copyReq
	}{{"mpu-c", copyReq{src: trio(&k1), dst: modeC, dstKey: &k2}}, {"mpu-s3", copyReq{src: trio(&k1), dst: modeS3}}} {
		up := ce.createUpload(t, bucket, m.key, m.r)
		id := aws.ToString(up.UploadId)
		d := trio(m.r.dstKey)
		p1, err := ce.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(m.key), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(bytes.Repeat(marker, (5<<20)/len(marker)+1)),
			SSECustomerAlgorithm: d.alg, SSECustomerKey: d.key, SSECustomerKeyMD5: d.md5})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ce.copyPart(bucket, m.key, id, 2, bucket+"/c", "", copyReq{src: trio(&k2), dstKey: m.r.dstKey}); err == nil {
			t.Fatal("UploadPartCopy with the wrong source key succeeded")
		}
		p2, err := ce.copyPart(bucket, m.key, id, 2, bucket+"/c", "bytes=10-150000", m.r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ce.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(m.key),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
				{PartNumber: aws.Int32(1), ETag: p1.ETag}, {PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag}}}}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, m.key)
	}
	return keys
}

// TestSSEAtRest checks that the data store holds no plaintext of
// encrypted objects and that their stored size is the objcrypt one.
func TestSSEAtRest(t *testing.T) {
	ctx := context.Background()
	e := newSSEEnv(t, nil, nil)
	createKMSKeys(t, e, "src-key")
	mustCreateBucket(t, e.client(alice()), "rest")
	marker := []byte("PLAINTEXT-MARKER-7f3a9c1e-must-never-reach-the-disk|")
	keys := sseWorkload(t, e, "rest", marker, newCustomerKey(0x61), newCustomerKey(0x62))

	stored := map[int64]bool{}
	for _, k := range keys {
		v, err := e.s.meta.GetObject(ctx, "rest", k, "")
		if err != nil {
			t.Fatal(err)
		}
		if v.Encryption == nil {
			t.Fatalf("%s is not encrypted", k)
		}
		if len(v.Parts) == 0 {
			if v.StoredSize != objcrypt.EncryptedSize(v.Size) {
				t.Fatalf("%s: stored size %d, want %d", k, v.StoredSize, objcrypt.EncryptedSize(v.Size))
			}
			stored[v.StoredSize] = true
		}
	}
	files := 0
	err := filepath.WalkDir(e.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		delete(stored, int64(len(b)))
		// Any 24 bytes of the marker would betray plaintext.
		if bytes.Contains(b, marker[:24]) {
			t.Errorf("plaintext in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < len(keys) || len(stored) != 0 {
		t.Fatalf("%d blobs for %d objects; stored sizes without a blob: %v", files, len(keys), stored)
	}
}

// TestSSENoKeyMaterialInLogs runs the SSE workload with the node and the
// KMS logging at debug level, then checks that the logs hold neither the
// SSE-C keys, nor any object key, nor the secret access keys, in raw,
// hex or base64 form.
func TestSSENoKeyMaterialInLogs(t *testing.T) {
	ctx := context.Background()
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newSSEEnv(t, func(c *Config) { c.Logger = log }, log)
	createKMSKeys(t, e, "src-key")
	mustCreateBucket(t, e.client(alice()), "logs")
	k1, k2 := newCustomerKey(0x71), newCustomerKey(0x72)
	keys := sseWorkload(t, e, "logs", []byte("log test data|"), k1, k2)
	// A request with a bad signature is logged too.
	bad := &aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: "not-" + aliceSecret}
	if _, err := e.client(bad).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("logs")}); err == nil {
		t.Fatal("bad signature accepted")
	}

	secrets := map[string][]byte{"k1": k1.raw, "k2": k2.raw, "alice secret": []byte(aliceSecret), "bob secret": []byte(bobSecret)}
	admin := e.kms.Client(t, e.kms.Admin)
	b, err := e.s.meta.GetBucket(ctx, "logs")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		v, err := e.s.meta.GetObject(ctx, "logs", k, "")
		if err != nil {
			t.Fatal(err)
		}
		ec := objectContext(b, k, v.Encryption.Context)
		switch v.Encryption.KeyID {
		case objcrypt.CustomerKeyID:
			for _, ck := range []customerKey{k1, k2} {
				if oek, err := objcrypt.OpenCustomer(ck.raw, v.Encryption.SealedKey, ec); err == nil {
					secrets["OEK of "+k] = bytes.Clone(oek.Bytes())
					oek.Wipe()
				}
			}
		default:
			dk, err := admin.Decrypt(ctx, v.Encryption.SealedKey, ec)
			if err != nil {
				t.Fatalf("admin Decrypt of %s: %v", k, err)
			}
			secrets["OEK of "+k] = dk.Plaintext
		}
		if _, ok := secrets["OEK of "+k]; !ok {
			t.Fatalf("no OEK for %s", k)
		}
	}
	// With the KMS down, the node logs the KMS client's errors.
	e.kms.HTTP.Close()
	if _, _, err := (&sseCopyEnv{c: e.client(alice())}).get("logs", "s3", nil); err == nil {
		t.Fatal("GET of an SSE-S3 object with the KMS down succeeded")
	}
	out := logs.Bytes()
	if !bytes.Contains(out, []byte("KMS unavailable")) {
		t.Fatalf("the KMS outage was not logged: %s", out)
	}
	for name, s := range secrets {
		for form, v := range map[string]string{
			"raw": string(s), "hex": hex.EncodeToString(s), "base64": base64.StdEncoding.EncodeToString(s),
			"base64url": base64.RawURLEncoding.EncodeToString(s),
		} {
			if bytes.Contains(out, []byte(v)) {
				t.Errorf("%s (%s) found in the logs", name, form)
			}
		}
	}
	t.Logf("%d bytes of logs checked for %d secrets", len(out), len(secrets))
}
