package s3api

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
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

// dependency is the KMS key and root-key version a row's sealed key
// depends on, as the metadata store records it.
type dependency struct {
	keyID   string
	version int
}

// recordedDependencies returns, by object key, what the store records
// for the object versions and the multipart uploads of bucket whose
// sealed key depends on one of keyIDs.
func recordedDependencies(t *testing.T, e *env, bucket string, keyIDs ...string) (objects, uploads map[string]dependency) {
	t.Helper()
	objects, uploads = map[string]dependency{}, map[string]dependency{}
	for _, keyID := range keyIDs {
		for kind, into := range map[s3node.SealedKind]map[string]dependency{s3node.SealedObject: objects, s3node.SealedUpload: uploads} {
			var after s3node.SealedCursor
			for {
				rows, err := e.s.meta.ListSealed(context.Background(), kind, keyID, 1<<30, after, 3)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if r.Bucket != bucket {
						continue
					}
					if _, dup := into[r.Key]; dup {
						t.Fatalf("%s %s listed twice", kind, r.Key)
					}
					into[r.Key] = dependency{r.KeyID, r.KeyVersion}
				}
				if len(rows) < 3 {
					break
				}
				after = rows[len(rows)-1].Cursor()
			}
		}
	}
	return objects, uploads
}

// TestSealedKeyDependencyRecorded checks that every write path that
// stores a sealed key (PUT, POST, CopyObject, CreateMultipartUpload,
// CompleteMultipartUpload) records the KMS key and root-key version the
// key depends on, with and without bucket keys (an envelope depends on
// the version of its bucket data key), and that SSE-C and plain objects
// record none; then that writes after a rotation record the new version.
func TestSealedKeyDependencyRecorded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.client(alice())
		admin := e.kms.Client(t, e.kms.Admin)
		if _, err := admin.CreateKey(ctx, wire.CreateKeyRequest{ID: "app-key"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name       string
			bucketKeys bool
		}{{"without bucket keys", false}, {"with bucket keys", true}} {
			t.Run(tc.name, func(t *testing.T) {
				var cache *bucketkey.Cache
				if tc.bucketKeys {
					var err error
					if cache, err = bucketkey.New(bucketkey.Config{KMS: e.s.kms, TTL: time.Hour}); err != nil {
						t.Fatal(err)
					}
					e.s.bucketKeys = cache
					t.Cleanup(func() { e.s.bucketKeys = nil })
				}
				bucket := "dep"
				if tc.bucketKeys {
					bucket = "dep-bk"
				}
				mustCreateBucket(t, c, bucket)
				b, err := e.s.meta.GetBucket(ctx, bucket)
				if err != nil {
					t.Fatal(err)
				}
				bucketKey := kms.BucketKeyID(b.ID)
				// Rotate both keys once, so that the versions recorded are
				// not merely the first.
				for _, id := range []string{bucketKey, "app-key"} {
					if _, err := admin.RotateKey(ctx, id); err != nil {
						t.Fatalf("rotate %s: %v", id, err)
					}
				}
				app, err := admin.GetKey(ctx, "app-key")
				if err != nil {
					t.Fatal(err)
				}
				bk, err := admin.GetKey(ctx, bucketKey)
				if err != nil {
					t.Fatal(err)
				}
				if bk.CurrentVersion < 2 || app.CurrentVersion < 2 {
					t.Fatalf("current versions %d, %d after rotating", bk.CurrentVersion, app.CurrentVersion)
				}
				onBucket := dependency{bucketKey, bk.CurrentVersion}
				onApp := dependency{"app-key", app.CurrentVersion}
				data := []byte("the sealed key of this object depends on a root-key version")
				put := func(key string, in *s3.PutObjectInput) {
					t.Helper()
					in.Bucket, in.Key, in.Body = aws.String(bucket), aws.String(key), bytes.NewReader(data)
					if _, err := c.PutObject(ctx, in); err != nil {
						t.Fatalf("put %s: %v", key, err)
					}
				}
				copyTo := func(key, source string, in *s3.CopyObjectInput) {
					t.Helper()
					in.Bucket, in.Key, in.CopySource = aws.String(bucket), aws.String(key), aws.String(bucket+"/"+source)
					if _, err := c.CopyObject(ctx, in); err != nil {
						t.Fatalf("copy %s: %v", key, err)
					}
				}
				ck := newCustomerKey(7)

				put("put-s3", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256})
				put("put-kms", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms,
					SSEKMSKeyId: aws.String("app-key"), BucketKeyEnabled: aws.Bool(tc.bucketKeys)})
				put("put-kms-context", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms,
					SSEKMSKeyId: aws.String("app-key"), SSEKMSEncryptionContext: aws.String(b64JSON(map[string]string{"app": "x"}))})
				put("plain", &s3.PutObjectInput{})
				if resp, body := e.raw(t, alice(), http.MethodPut, "/"+bucket+"/ssec", data, ck.trio()); resp.StatusCode != 200 {
					t.Fatalf("SSE-C PUT: %d %s", resp.StatusCode, body)
				}

				pol := signedPolicy(t, aliceKey, aliceSecret, time.Now().Add(time.Hour), []any{
					map[string]string{"bucket": bucket}, []any{"starts-with", "$key", ""},
					[]any{"starts-with", "$x-amz-server-side-encryption", ""}})
				if resp, body := e.postForm(t, "/"+bucket, fieldList(pol, "key", "post-s3", "x-amz-server-side-encryption", "AES256"), "f", data); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("POST: %d %s", resp.StatusCode, body)
				}

				copyTo("copy-to-kms", "put-s3", &s3.CopyObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms,
					SSEKMSKeyId: aws.String("app-key"), BucketKeyEnabled: aws.Bool(tc.bucketKeys)})
				copyTo("copy-to-s3", "put-kms", &s3.CopyObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256})
				copyTo("copy-to-plain", "put-s3", &s3.CopyObjectInput{})
				h := ck.trio("x-amz-copy-source", "/"+bucket+"/put-s3")
				if resp, body := e.raw(t, alice(), http.MethodPut, "/"+bucket+"/copy-to-ssec", nil, h); resp.StatusCode != 200 {
					t.Fatalf("copy to SSE-C: %d %s", resp.StatusCode, body)
				}

				// Multipart: one upload completed, one left in progress,
				// and an SSE-C upload.
				upload := func(key string, in *s3.CreateMultipartUploadInput) string {
					t.Helper()
					in.Bucket, in.Key = aws.String(bucket), aws.String(key)
					out, err := c.CreateMultipartUpload(ctx, in)
					if err != nil {
						t.Fatalf("create upload %s: %v", key, err)
					}
					return aws.ToString(out.UploadId)
				}
				id := upload("mpu-s3", &s3.CreateMultipartUploadInput{ServerSideEncryption: types.ServerSideEncryptionAes256})
				part, err := uploadPart(c, bucket, "mpu-s3", id, 1, data)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := complete(c, bucket, "mpu-s3", id, part); err != nil {
					t.Fatal(err)
				}
				upload("mpu-kms", &s3.CreateMultipartUploadInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms,
					SSEKMSKeyId: aws.String("app-key"), BucketKeyEnabled: aws.Bool(tc.bucketKeys)})
				upload("mpu-s3-open", &s3.CreateMultipartUploadInput{ServerSideEncryption: types.ServerSideEncryptionAes256})
				if resp, body := e.raw(t, alice(), http.MethodPost, "/"+bucket+"/mpu-ssec?uploads", nil, ck.trio()); resp.StatusCode != 200 {
					t.Fatalf("SSE-C CreateMultipartUpload: %d %s", resp.StatusCode, body)
				}

				wantObjects := map[string]dependency{
					"put-s3": onBucket, "put-kms": onApp, "put-kms-context": onApp, "post-s3": onBucket,
					"copy-to-kms": onApp, "copy-to-s3": onBucket, "mpu-s3": onBucket,
				}
				wantUploads := map[string]dependency{"mpu-kms": onApp, "mpu-s3-open": onBucket}
				objects, uploads := recordedDependencies(t, e, bucket, bucketKey, "app-key", "sse-c", bucketkey.BucketKeyID, "claimed")
				if !reflect.DeepEqual(objects, wantObjects) {
					t.Errorf("objects:\n got %v\nwant %v", objects, wantObjects)
				}
				if !reflect.DeepEqual(uploads, wantUploads) {
					t.Errorf("uploads:\n got %v\nwant %v", uploads, wantUploads)
				}

				// The paths above did go through bucket keys when on: an
				// SSE-S3 object holds an envelope.
				v, err := e.s.meta.GetObject(ctx, bucket, "put-s3", "")
				if err != nil {
					t.Fatal(err)
				}
				if bucketkey.IsEnvelope(v.Encryption.SealedKey) != tc.bucketKeys {
					t.Fatalf("bucket keys %v, but the SSE-S3 object's key is an envelope: %v", tc.bucketKeys, !tc.bucketKeys)
				}

				counts, err := e.s.meta.CountSealed(ctx, bucketKey)
				if err != nil {
					t.Fatal(err)
				}
				want := []s3node.SealedCount{{Version: onBucket.version, Objects: 4, Uploads: 1}}
				if !reflect.DeepEqual(counts, want) {
					t.Fatalf("CountSealed(%s) = %v, want %v", bucketKey, counts, want)
				}

				// After a rotation (and, with bucket keys, once the cached
				// bucket data key is gone) new writes record the new
				// version; the old rows keep theirs.
				if _, err := admin.RotateKey(ctx, bucketKey); err != nil {
					t.Fatal(err)
				}
				if cache != nil {
					cache.Flush()
				}
				put("after-rotation", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256})
				counts, err = e.s.meta.CountSealed(ctx, bucketKey)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, s3node.SealedCount{Version: onBucket.version + 1, Objects: 1})
				if !reflect.DeepEqual(counts, want) {
					t.Fatalf("CountSealed(%s) after rotating = %v, want %v", bucketKey, counts, want)
				}
				old, err := e.s.meta.ListSealed(ctx, s3node.SealedObject, bucketKey, onBucket.version+1, s3node.SealedCursor{}, 100)
				if err != nil || len(old) != 4 {
					t.Fatalf("objects below the new version: %d, %v", len(old), err)
				}
			})
		}
	})
}
