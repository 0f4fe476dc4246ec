package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/bucketkey"
)

// customerKey is an SSE-C key with its header values.
type customerKey struct {
	raw      []byte
	b64, md5 string
}

func newCustomerKey(seed byte) customerKey {
	raw := bytes.Repeat([]byte{seed}, 32)
	raw[0] = seed ^ 0x5a
	sum := md5.Sum(raw)
	return customerKey{raw: raw, b64: base64.StdEncoding.EncodeToString(raw), md5: base64.StdEncoding.EncodeToString(sum[:])}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

// TestSSEModesRoundTrip writes and reads an object in each mode and checks
// the response headers and ETag rules of SSE-SPEC §2.1–2.2.
func TestSSEModesRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.client(alice())
		mustCreateBucket(t, c, "enc")
		if _, err := e.kms.Client(t, e.kms.Admin).CreateKey(ctx, wire.CreateKeyRequest{ID: "app-key"}); err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("0123456789abcdef"), 70000) // 1.1 MB, several packages
		ck := newCustomerKey(7)

		// SSE-S3
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("s3"),
			Body: bytes.NewReader(data), ServerSideEncryption: types.ServerSideEncryptionAes256})
		if err != nil {
			t.Fatal(err)
		}
		if out.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToString(out.ETag) != md5hex(data) {
			t.Fatalf("SSE-S3 put: sse %q etag %s", out.ServerSideEncryption, aws.ToString(out.ETag))
		}
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("s3")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(g.Body)
		g.Body.Close()
		if !bytes.Equal(got, data) || g.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToInt64(g.ContentLength) != int64(len(data)) {
			t.Fatalf("SSE-S3 get: %d bytes, sse %q", len(got), g.ServerSideEncryption)
		}
		if r := getRange(t, c, "enc", "s3", "bytes=65530-65545"); !bytes.Equal(r, data[65530:65546]) {
			t.Fatalf("SSE-S3 range: %q", r)
		}

		// SSE-KMS
		kout, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("kms"),
			Body: bytes.NewReader(data), ServerSideEncryption: types.ServerSideEncryptionAwsKms,
			SSEKMSKeyId: aws.String("app-key"), BucketKeyEnabled: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if kout.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(kout.SSEKMSKeyId) != "app-key" ||
			!aws.ToBool(kout.BucketKeyEnabled) || aws.ToString(kout.ETag) == md5hex(data) {
			t.Fatalf("SSE-KMS put: %+v", kout)
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("enc"), Key: aws.String("kms")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(h.ETag) != aws.ToString(kout.ETag) || aws.ToString(h.SSEKMSKeyId) != "app-key" {
			t.Fatalf("SSE-KMS head: %+v", h)
		}

		// SSE-C
		cout, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("c"),
			Body: bytes.NewReader(data), SSECustomerAlgorithm: aws.String("AES256"),
			SSECustomerKey: aws.String(ck.b64), SSECustomerKeyMD5: aws.String(ck.md5)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(cout.SSECustomerKeyMD5) != ck.md5 || cout.ServerSideEncryption != "" || aws.ToString(cout.ETag) == md5hex(data) {
			t.Fatalf("SSE-C put: %+v", cout)
		}
		cg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("c"),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(ck.b64), SSECustomerKeyMD5: aws.String(ck.md5),
			Range: aws.String("bytes=100000-300000")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(cg.Body)
		cg.Body.Close()
		if !bytes.Equal(got, data[100000:300001]) {
			t.Fatal("SSE-C range read differs")
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("c")})
		wantCode(t, err, "InvalidRequest", 400)
		other := newCustomerKey(9)
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("enc"), Key: aws.String("c"),
			SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(other.b64), SSECustomerKeyMD5: aws.String(other.md5)})
		wantCode(t, err, "AccessDenied", 403)
	})
}

// TestCopySourceKeyWithoutCopy checks that the copy-source SSE-C trio on
// a request that copies nothing is refused (SSE-SPEC §3.1).
func TestCopySourceKeyWithoutCopy(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "bkt")
	ck := newCustomerKey(3)
	hdr := http.Header{
		"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm": {"AES256"},
		"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key":       {ck.b64},
		"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key-Md5":   {ck.md5},
	}
	for _, tc := range []struct{ method, path string }{{"PUT", "/bkt/k"}, {"POST", "/bkt/k?uploads"}} {
		resp, body := e.raw(t, alice(), tc.method, tc.path, []byte("x"), hdr)
		if resp.StatusCode != 400 || !bytes.Contains(body, []byte("The encryption parameters are not applicable to this object.")) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}

// countingKeys counts the data-key calls that reach the KMS.
type countingKeys struct {
	KeyService
	gen, dec atomic.Int64
}

func (k *countingKeys) GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (kms.DataKey, error) {
	k.gen.Add(1)
	return k.KeyService.GenerateDataKey(ctx, keyID, ec)
}

func (k *countingKeys) Decrypt(ctx context.Context, s []byte, ec map[string]string) (kms.DataKey, error) {
	k.dec.Add(1)
	return k.KeyService.Decrypt(ctx, s, ec)
}

// TestBucketKeys turns bucket keys on: SSE-S3 objects and SSE-KMS objects
// with BucketKeyEnabled cost one KMS call per bucket and TTL, objects
// with an SSE-KMS context still one per object; every object reads back,
// also on a node whose cache is off.
func TestBucketKeys(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	counter := &countingKeys{KeyService: e.s.kms}
	e.s.kms = counter
	cache, err := bucketkey.New(bucketkey.Config{KMS: counter, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.s.bucketKeys = cache
	c := e.client(alice())
	mustCreateBucket(t, c, "bkeys")
	if _, err := e.kms.Client(t, e.kms.Admin).CreateKey(ctx, wire.CreateKeyRequest{ID: "app-key"}); err != nil {
		t.Fatal(err)
	}
	data := []byte("bucket keys keep the KMS off the data path")
	put := func(key string, in *s3.PutObjectInput) *s3.PutObjectOutput {
		t.Helper()
		in.Bucket, in.Key, in.Body = aws.String("bkeys"), aws.String(key), bytes.NewReader(data)
		out, err := c.PutObject(ctx, in)
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return out
	}
	for i := range 10 {
		put(fmt.Sprintf("s3-%d", i), &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256})
		out := put(fmt.Sprintf("kms-%d", i), &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms,
			SSEKMSKeyId: aws.String("app-key"), BucketKeyEnabled: aws.Bool(true)})
		if !aws.ToBool(out.BucketKeyEnabled) {
			t.Fatal("BucketKeyEnabled not echoed")
		}
	}
	if n := counter.gen.Load(); n != 2 {
		t.Fatalf("%d GenerateDataKey calls for 20 objects in 2 bucket keys, want 2", n)
	}
	put("ctx", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("app-key"),
		BucketKeyEnabled: aws.Bool(true), SSEKMSEncryptionContext: aws.String(base64.StdEncoding.EncodeToString([]byte(`{"app":"x"}`)))})
	if n := counter.gen.Load(); n != 3 {
		t.Fatalf("an object with an SSE-KMS context used a bucket key (%d calls)", n)
	}
	v, err := e.s.meta.GetObject(ctx, "bkeys", "s3-0", "")
	if err != nil || !bucketkey.IsEnvelope(v.Encryption.SealedKey) {
		t.Fatalf("SSE-S3 object not sealed under a bucket key: %v", err)
	}
	read := func(label string) {
		t.Helper()
		for _, key := range []string{"s3-0", "s3-9", "kms-3", "ctx"} {
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkeys"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("%s: get %s: %v", label, key, err)
			}
			got, _ := io.ReadAll(g.Body)
			g.Body.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("%s: %s reads back wrong", label, key)
			}
		}
	}
	cache.Flush()
	before := counter.dec.Load()
	read("cached")
	if n := counter.dec.Load() - before; n != 3 {
		t.Fatalf("%d Decrypt calls for 4 reads (2 bucket keys + 1 per-object key), want 3", n)
	}
	e.s.bucketKeys = nil // a node with bucket keys off still reads them
	read("uncached")
	// An envelope moved to another object does not open.
	if _, err := e.s.meta.UpdateObject(ctx, "bkeys", "s3-1", "", s3node.ObjectUpdate{SetEncryption: true, Encryption: v.Encryption}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkeys"), Key: aws.String("s3-1")})
	wantCode(t, err, "InternalError", 500)
}
