package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/sse"
	"github.com/s3kms/s3kms/storage/blobfs"
)

// newSSEEnv is an env on SQLite whose server Config is adjusted by cfg
// and whose KMS logs to kmsLog (nil: discarded); the KMS policy is
// newTestKMS's.
func newSSEEnv(t *testing.T, cfg func(*Config), kmsLog *slog.Logger) *env {
	t.Helper()
	dir := t.TempDir()
	meta := metaStore(t, sqliteBackend, dir)
	data, err := blobfs.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	kmsEnv, nodeKMS := apitest.NewForS3Node(t, apitest.Options{Logger: kmsLog})
	c := Config{
		Meta: meta, Data: data, Users: testUsers, Region: region,
		Logger: slog.New(slog.DiscardHandler),
		KMS:    nodeKMS,
	}
	if cfg != nil {
		cfg(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, backend: sqliteBackend, payloads: map[string]bool{}, kms: kmsEnv, dataDir: filepath.Join(dir, "data")}
	e.srv = httptest.NewTLSServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// createKMSKeys creates the named keys with the KMS admin identity.
func createKMSKeys(t *testing.T, e *env, ids ...string) {
	t.Helper()
	admin := e.kms.Client(t, e.kms.Admin)
	for _, id := range ids {
		if _, err := admin.CreateKey(context.Background(), wire.CreateKeyRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

// kmsPut is PutObject in SSE-KMS mode with key id (may be empty) and
// optional context header value.
func kmsPut(c *s3.Client, bucket, key, id, ctxHdr string, data []byte) (*s3.PutObjectOutput, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms}
	if id != "" {
		in.SSEKMSKeyId = aws.String(id)
	}
	if ctxHdr != "" {
		in.SSEKMSEncryptionContext = aws.String(ctxHdr)
	}
	return c.PutObject(context.Background(), in)
}

// b64JSON is the base64 of the JSON of m, as the context header carries it.
func b64JSON(m map[string]string) string {
	b, _ := json.Marshal(m)
	return base64.StdEncoding.EncodeToString(b)
}

// TestSSEKMSKeys checks the SSE-KMS key errors and key resolution of
// SSE-SPEC §5 and D6: unknown, disabled, pending-deletion and reserved
// keys; ARNs; the bucket and server default keys; the context and
// bucket-key headers; the bucket default on PUT, POST, CreateMultipartUpload
// and CopyObject.
func TestSSEKMSKeys(t *testing.T) {
	ctx := context.Background()
	e := newSSEEnv(t, nil, nil)
	c := e.client(alice())
	admin := e.kms.Client(t, e.kms.Admin)
	createKMSKeys(t, e, "app-key", "dis-key", "del-key", "def-key")
	mustCreateBucket(t, c, "kms")
	mustCreateBucket(t, c, "kms-def")
	if err := putEncryption(c, "kms-def", sseRule(types.ServerSideEncryptionAwsKms, "def-key", aws.Bool(true))); err != nil {
		t.Fatal(err)
	}
	data := []byte("sse-kms test data")
	for _, id := range []string{"dis-key", "del-key"} {
		if _, err := kmsPut(c, "kms", id, id, "", data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.DisableKey(ctx, "dis-key"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ScheduleDeletion(ctx, "del-key", 7); err != nil {
		t.Fatal(err)
	}
	b, err := e.s.meta.GetBucket(ctx, "kms")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "kms", "plain", data)

	t.Run("key errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, id, code, msg string
		}{
			{"unknown", "no-such-key", "KMS.NotFoundException", "Invalid keyId 'no-such-key'"},
			{"unknown ARN", "arn:aws:kms:us-east-1:000000000000:key/no-such-key", "KMS.NotFoundException", "Invalid keyId 'no-such-key'"},
			{"bucket root key", kms.BucketKeyID(b.ID), "KMS.NotFoundException", "Invalid keyId '" + kms.BucketKeyID(b.ID) + "'"},
			{"bucket root key ARN", "arn:aws:kms:us-east-1:000000000000:key/" + kms.BucketKeyID(b.ID), "KMS.NotFoundException",
				"Invalid keyId 'arn:aws:kms:us-east-1:000000000000:key/" + kms.BucketKeyID(b.ID) + "'"},
			{"node key", "s3node/anything", "KMS.NotFoundException", "Invalid keyId 's3node/anything'"},
			{"disabled", "dis-key", "KMS.DisabledException", "dis-key is disabled."},
			{"pending deletion", "del-key", "KMS.KMSInvalidStateException", "del-key is pending deletion."},
		} {
			t.Run("PutObject/"+tc.name, func(t *testing.T) {
				_, err := kmsPut(c, "kms", "x", tc.id, "", data)
				wantCode(t, err, tc.code, 400)
				wantMessage(t, err, tc.msg)
			})
			t.Run("CreateMultipartUpload/"+tc.name, func(t *testing.T) {
				_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("kms"), Key: aws.String("x"),
					ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(tc.id)})
				wantCode(t, err, tc.code, 400)
				wantMessage(t, err, tc.msg)
			})
			t.Run("CopyObject/"+tc.name, func(t *testing.T) {
				_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("kms"), Key: aws.String("x"), CopySource: aws.String("kms/plain"),
					ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(tc.id)})
				wantCode(t, err, tc.code, 400)
				wantMessage(t, err, tc.msg)
			})
		}
		// Reads of objects under unusable keys.
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("kms"), Key: aws.String("dis-key")})
		wantCode(t, err, "KMS.DisabledException", 400)
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("kms"), Key: aws.String("del-key")})
		wantCode(t, err, "KMS.KMSInvalidStateException", 400)
		wantMessage(t, err, "del-key is pending deletion.")
		if _, err := e.s.meta.GetObject(ctx, "kms", "x", ""); s3node.ErrorReason(err) != s3node.NoSuchKey {
			t.Fatalf("an object was written: %v", err)
		}
	})

	t.Run("ARN key id", func(t *testing.T) {
		out, err := kmsPut(c, "kms", "arn", "arn:aws:kms:us-east-1:000000000000:key/app-key", "", data)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.SSEKMSKeyId) != "app-key" {
			t.Fatalf("key id echoed %q", aws.ToString(out.SSEKMSKeyId))
		}
		if _, body := getBytes(t, c, "kms", "arn"); !bytes.Equal(body, data) {
			t.Fatal("read back differs")
		}
	})

	t.Run("default key resolution", func(t *testing.T) {
		out, err := kmsPut(c, "kms-def", "d", "", "", data)
		if err != nil || aws.ToString(out.SSEKMSKeyId) != "def-key" {
			t.Fatalf("bucket default key: %v %+v", err, out)
		}
		_, err = kmsPut(c, "kms", "d", "", "", data)
		wantCode(t, err, "InvalidArgument", 400)
		wantMessage(t, err, msgNoDefaultKey)
		// A server default key.
		e2 := newSSEEnv(t, func(c *Config) { c.DefaultKMSKeyID = "srv-key" }, nil)
		createKMSKeys(t, e2, "srv-key")
		c2 := e2.client(alice())
		mustCreateBucket(t, c2, "srv")
		out, err = kmsPut(c2, "srv", "d", "", "", data)
		if err != nil || aws.ToString(out.SSEKMSKeyId) != "srv-key" {
			t.Fatalf("server default key: %v %+v", err, out)
		}
		if _, body := getBytes(t, c2, "srv", "d"); !bytes.Equal(body, data) {
			t.Fatal("read back differs")
		}
	})

	t.Run("encryption context", func(t *testing.T) {
		ec := map[string]string{"team": "storage", "purpose": "test"}
		out, err := kmsPut(c, "kms", "ctx", "app-key", b64JSON(ec), data)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.SSEKMSEncryptionContext))
		var got map[string]string
		if err != nil || json.Unmarshal(raw, &got) != nil || len(got) != 2 || got["team"] != "storage" || got["purpose"] != "test" {
			t.Fatalf("context echoed %q", aws.ToString(out.SSEKMSEncryptionContext))
		}
		resp, body := e.raw(t, alice(), http.MethodGet, "/kms/ctx", nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get(sse.HeaderContext) != "" {
			t.Fatalf("GET: %d, equal %v, context %q", resp.StatusCode, bytes.Equal(body, data), resp.Header.Get(sse.HeaderContext))
		}
		_, err = kmsPut(c, "kms", "ctx2", "app-key", b64JSON(map[string]string{"s3kms:bucket": "other"}), data)
		wantCode(t, err, "InvalidArgument", 400)
		wantMessage(t, err, msgReservedContext)
	})

	t.Run("bucket key enabled", func(t *testing.T) {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kms"), Key: aws.String("bke"), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("app-key"), BucketKeyEnabled: aws.Bool(true)})
		if err != nil || !aws.ToBool(out.BucketKeyEnabled) {
			t.Fatalf("request BKE: %v %+v", err, out)
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("kms"), Key: aws.String("bke")})
		if err != nil || !aws.ToBool(h.BucketKeyEnabled) {
			t.Fatalf("HEAD BKE: %v", err)
		}
		if out := mustPut(t, c, "kms-def", "bke", data); !aws.ToBool(out.BucketKeyEnabled) {
			t.Fatal("bucket default BKE not echoed")
		}
		out, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kms-def"), Key: aws.String("bke2"), Body: bytes.NewReader(data),
			BucketKeyEnabled: aws.Bool(false)})
		if err != nil || out.BucketKeyEnabled != nil {
			t.Fatalf("BKE false over a true default: %v %v", err, out.BucketKeyEnabled)
		}
		if out := mustPut(t, c, "kms", "nobke", data); out.BucketKeyEnabled != nil {
			t.Fatal("BKE on a plain object")
		}
	})

	t.Run("bucket default applies to every write", func(t *testing.T) {
		check := func(what, key, sseHdr, kid string) {
			t.Helper()
			if sseHdr != "aws:kms" || kid != "def-key" {
				t.Fatalf("%s: sse %q key %q", what, sseHdr, kid)
			}
			v, err := e.s.meta.GetObject(ctx, "kms-def", key, "")
			if err != nil || v.Encryption == nil || v.Encryption.Type != s3node.SSEKMS || v.Encryption.KeyID != "def-key" {
				t.Fatalf("%s: stored %v %+v", what, err, v.Encryption)
			}
		}
		out := mustPut(t, c, "kms-def", "put", data)
		check("PUT", "put", string(out.ServerSideEncryption), aws.ToString(out.SSEKMSKeyId))

		pol := signedPolicy(t, aliceKey, aliceSecret, time.Now().Add(time.Hour), []any{
			map[string]string{"bucket": "kms-def"}, []any{"starts-with", "$key", ""}})
		resp, body := e.postForm(t, "/kms-def", fieldList(pol, "key", "post"), "f.txt", data)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		check("POST", "post", resp.Header.Get("X-Amz-Server-Side-Encryption"), resp.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))

		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("kms-def"), Key: aws.String("mpu")})
		if err != nil || up.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(up.SSEKMSKeyId) != "def-key" {
			t.Fatalf("CreateMultipartUpload: %v %+v", err, up)
		}
		part, err := uploadPart(c, "kms-def", "mpu", aws.ToString(up.UploadId), 1, data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := complete(c, "kms-def", "mpu", aws.ToString(up.UploadId), part); err != nil {
			t.Fatal(err)
		}
		g, got := getBytes(t, c, "kms-def", "mpu")
		if !bytes.Equal(got, data) {
			t.Fatal("multipart read back differs")
		}
		check("multipart", "mpu", string(g.ServerSideEncryption), aws.ToString(g.SSEKMSKeyId))

		cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("kms-def"), Key: aws.String("copy"), CopySource: aws.String("kms/plain")})
		if err != nil {
			t.Fatal(err)
		}
		check("copy", "copy", string(cp.ServerSideEncryption), aws.ToString(cp.SSEKMSKeyId))
	})
}

// TestSSEBucketRootKeys checks the bucket root keys (SSE-S3): made by
// CreateBucket as bucket/<id>, used for SSE-S3 objects, made on first use
// when missing, scheduled for deletion by DeleteBucket.
func TestSSEBucketRootKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.client(alice())
		admin := e.kms.Client(t, e.kms.Admin)
		mustCreateBucket(t, c, "roots")
		b, err := e.s.meta.GetBucket(ctx, "roots")
		if err != nil {
			t.Fatal(err)
		}
		k, err := admin.GetKey(ctx, kms.BucketKeyID(b.ID))
		if err != nil || k.DeletionDate != nil {
			t.Fatalf("bucket key after CreateBucket: %v %+v", err, k)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("roots"), Key: aws.String("o"),
			Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
			t.Fatal(err)
		}
		v, err := e.s.meta.GetObject(ctx, "roots", "o", "")
		if err != nil || v.Encryption == nil || v.Encryption.KeyID != kms.BucketKeyID(b.ID) {
			t.Fatalf("SSE-S3 object sealed under %+v (%v)", v.Encryption, err)
		}

		// A bucket without its key (created behind the node's back, as
		// when the KMS was down) gets it on the first SSE-S3 write.
		nb := s3node.Bucket{ID: s3node.NewID(), Name: "nokey", Owner: "alice-canonical", CreatedAt: time.Now().UTC()}
		if err := e.s.meta.CreateBucket(ctx, nb); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.GetKey(ctx, kms.BucketKeyID(nb.ID)); kms.ErrorCode(err) != kms.ENotFound {
			t.Fatalf("key of a bucket made without one: %v", err)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nokey"), Key: aws.String("o"),
			Body: strings.NewReader("late key"), ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.GetKey(ctx, kms.BucketKeyID(nb.ID)); err != nil {
			t.Fatalf("key not made on first use: %v", err)
		}
		if _, body := getBytes(t, c, "nokey", "o"); string(body) != "late key" {
			t.Fatalf("read back %q", body)
		}

		// DeleteBucket schedules the key for deletion.
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("roots"), Key: aws.String("o")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("roots")}); err != nil {
			t.Fatal(err)
		}
		k, err = admin.GetKey(ctx, kms.BucketKeyID(b.ID))
		if err != nil || k.DeletionDate == nil || k.DeletionDate.Before(time.Now().Add(6*24*time.Hour)) {
			t.Fatalf("bucket key after DeleteBucket: %v %+v", err, k)
		}
	})
}

// TestSSEKMSUnavailable stops the KMS: plain and SSE-C objects keep
// working, SSE-S3 and SSE-KMS answer 503 promptly, CreateBucket succeeds.
func TestSSEKMSUnavailable(t *testing.T) {
	ctx := context.Background()
	e := newSSEEnv(t, nil, nil)
	c := e.client(alice())
	createKMSKeys(t, e, "app-key")
	mustCreateBucket(t, c, "down")
	ck := newCustomerKey(0x44)
	sc := trio(&ck)
	data := []byte("written while the KMS was up")
	for _, m := range []sseMode{modeS3, modeKMS} {
		in := &s3.PutObjectInput{Bucket: aws.String("down"), Key: aws.String(string(m)), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAes256}
		if m == modeKMS {
			in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String("app-key")
		}
		if _, err := c.PutObject(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	e.kms.HTTP.Close()

	// Plain objects and SSE-C need no KMS.
	mustPut(t, c, "down", "plain", data)
	if _, body := getBytes(t, c, "down", "plain"); !bytes.Equal(body, data) {
		t.Fatal("plain read back differs")
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("down"), Key: aws.String("c"), Body: bytes.NewReader(data),
		SSECustomerAlgorithm: sc.alg, SSECustomerKey: sc.key, SSECustomerKeyMD5: sc.md5}); err != nil {
		t.Fatal(err)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("down"), Key: aws.String("c"),
		SSECustomerAlgorithm: sc.alg, SSECustomerKey: sc.key, SSECustomerKeyMD5: sc.md5})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(body, data) {
		t.Fatal("SSE-C read back differs")
	}
	if l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("down")}); err != nil || len(l.Contents) != 4 {
		t.Fatalf("list: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("down"), Key: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	mustCreateBucket(t, c, "made-while-down")

	const msg = "The key management service is unavailable. Please retry."
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"PUT SSE-S3", func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("down"), Key: aws.String("n"), Body: bytes.NewReader(data),
				ServerSideEncryption: types.ServerSideEncryptionAes256})
			return err
		}},
		{"PUT SSE-KMS", func() error { _, err := kmsPut(c, "down", "n", "app-key", "", data); return err }},
		{"GET SSE-S3", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("down"), Key: aws.String(string(modeS3))})
			return err
		}},
		{"GET SSE-KMS", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("down"), Key: aws.String(string(modeKMS))})
			return err
		}},
		{"PUT SSE-S3 to a bucket without its key", func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("made-while-down"), Key: aws.String("n"), Body: bytes.NewReader(data),
				ServerSideEncryption: types.ServerSideEncryptionAes256})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call()
			t.Logf("failed in %v", time.Since(start))
			wantCode(t, err, "ServiceUnavailable", 503)
			wantMessage(t, err, msg)
		})
	}
}

// TestSSEEncryptByDefault checks the AWS-2023 mode (D5): plain writes
// become SSE-S3 with an MD5 ETag, GetBucketEncryption shows the AES256
// default, explicit SSE-C stays SSE-C, and in-place copies follow §6.2
// with SSE-S3 as the default.
func TestSSEEncryptByDefault(t *testing.T) {
	ctx := context.Background()
	e := newSSEEnv(t, func(c *Config) { c.EncryptByDefault = true }, nil)
	c := e.client(alice())
	createKMSKeys(t, e, "app-key")
	mustCreateBucket(t, c, "aws2023")
	data := []byte("encrypted by default")
	out := mustPut(t, c, "aws2023", "plain", data)
	if out.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToString(out.ETag) != md5hex(data) {
		t.Fatalf("PUT: sse %q ETag %s", out.ServerSideEncryption, aws.ToString(out.ETag))
	}
	if g, body := getBytes(t, c, "aws2023", "plain"); !bytes.Equal(body, data) || g.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("GET: sse %q", g.ServerSideEncryption)
	}
	checkEncryption(t, c, "aws2023", "AES256", "", false)

	ck := newCustomerKey(0x55)
	sc := trio(&ck)
	cout, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("aws2023"), Key: aws.String("c"), Body: bytes.NewReader(data),
		SSECustomerAlgorithm: sc.alg, SSECustomerKey: sc.key, SSECustomerKeyMD5: sc.md5})
	if err != nil || cout.ServerSideEncryption != "" || aws.ToString(cout.SSECustomerKeyMD5) != ck.md5 {
		t.Fatalf("SSE-C PUT: %v %+v", err, cout)
	}
	if v, err := e.s.meta.GetObject(ctx, "aws2023", "c", ""); err != nil || v.Encryption.Type != s3node.SSEC {
		t.Fatalf("SSE-C object stored as %+v (%v)", v.Encryption, err)
	}

	// In place: an SSE-S3 object with nothing changed is illegal; an
	// SSE-KMS one becomes SSE-S3.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("aws2023"), Key: aws.String("plain"), CopySource: aws.String("aws2023/plain")})
	wantCode(t, err, "InvalidRequest", 400)
	wantMessage(t, err, msgCopyToItself)
	if _, err := kmsPut(c, "aws2023", "kms", "app-key", "", data); err != nil {
		t.Fatal(err)
	}
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("aws2023"), Key: aws.String("kms"), CopySource: aws.String("aws2023/kms")})
	if err != nil || cp.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToString(cp.CopyObjectResult.ETag) != md5hex(data) {
		t.Fatalf("SSE-KMS in place: %v %+v", err, cp)
	}
}
