package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/s3node"
)

func getBytes(t *testing.T, c *s3.Client, bucket, key string) (*s3.GetObjectOutput, []byte) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

// putMultipart stores a completed multipart object directly through the
// stores (the multipart API is served elsewhere): one blob per part.
func putMultipart(t *testing.T, e *env, bucket, key string, parts [][]byte) s3node.ObjectVersion {
	t.Helper()
	ctx := context.Background()
	uploadID := s3node.NewID()
	if err := e.s.meta.CreateUpload(ctx, s3node.MultipartUpload{Bucket: bucket, Key: key, UploadID: uploadID,
		Initiated: time.Now(), Owner: "alice-canonical", ContentType: "text/plain",
		UserMetadata: map[string]string{"origin": "mp"}}); err != nil {
		t.Fatal(err)
	}
	var cps []s3node.CompletePart
	var md5s []byte
	for i, p := range parts {
		bw, err := e.s.data.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bw.Write(p); err != nil {
			t.Fatal(err)
		}
		id, err := bw.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(p)
		md5s = append(md5s, sum[:]...)
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		if _, err := e.s.meta.PutPart(ctx, bucket, key, uploadID, s3node.Part{PartNumber: i + 1, BlobID: id,
			Size: int64(len(p)), StoredSize: int64(len(p)), ETag: etag, LastModified: time.Now()}); err != nil {
			t.Fatal(err)
		}
		cps = append(cps, s3node.CompletePart{PartNumber: i + 1, ETag: etag})
	}
	all := md5.Sum(md5s)
	if _, err := e.s.meta.CompleteUpload(ctx, s3node.CompleteRequest{Bucket: bucket, Key: key, UploadID: uploadID, Parts: cps,
		Object: s3node.ObjectVersion{ETag: fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(all[:]), len(parts)), LastModified: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	v, err := e.s.meta.GetObject(ctx, bucket, key, "")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCopyObject(t *testing.T) { forEachBackend(t, testCopyObject) }

func testCopyObject(t *testing.T, e *env) {
	c := e.client(alice())
	ctx := context.Background()
	mustCreateBucket(t, c, "src")
	mustCreateBucket(t, c, "dst")
	data := []byte("hello copy")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("a b+c"),
		Body: bytes.NewReader(data), ContentType: aws.String("text/plain"), CacheControl: aws.String("max-age=1"),
		Metadata: map[string]string{"color": "red"}, Tagging: aws.String("k=v")}); err != nil {
		t.Fatal(err)
	}
	srcPath := "src/" + url.PathEscape("a b+c")
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("a b+c")})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("cross-bucket copy keeps metadata", func(t *testing.T) {
		out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String(srcPath)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.CopyObjectResult.ETag) != quotedMD5(data) || out.CopyObjectResult.LastModified == nil {
			t.Fatalf("result %+v", out.CopyObjectResult)
		}
		got, b := getBytes(t, c, "dst", "copy")
		if !bytes.Equal(b, data) || aws.ToString(got.ContentType) != "text/plain" || got.Metadata["color"] != "red" ||
			aws.ToString(got.CacheControl) != "max-age=1" || aws.ToInt32(got.TagCount) != 1 {
			t.Fatalf("got %q %+v", b, got)
		}
		// Copies own their blob: deleting the source keeps the copy.
		v, _ := e.s.meta.GetObject(ctx, "dst", "copy", "")
		sv, _ := e.s.meta.GetObject(ctx, "src", "a b+c", "")
		if v.BlobID == sv.BlobID {
			t.Fatal("copy shares the source blob")
		}
	})
	t.Run("leading slash", func(t *testing.T) {
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("slash"), CopySource: aws.String("/" + srcPath)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("REPLACE metadata", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced"), CopySource: aws.String(srcPath),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("application/json"),
			Metadata: map[string]string{"shape": "round"}, TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("a=1&b=2")})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := getBytes(t, c, "dst", "replaced")
		if aws.ToString(got.ContentType) != "application/json" || got.Metadata["shape"] != "round" || got.Metadata["color"] != "" ||
			got.CacheControl != nil || aws.ToInt32(got.TagCount) != 2 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("bad directive", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String(srcPath),
			MetadataDirective: "MERGE"})
		wantCode(t, err, "InvalidArgument", 400)
	})
	t.Run("in place without change is illegal", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a b+c"), CopySource: aws.String(srcPath)})
		wantCode(t, err, "InvalidRequest", 400)
		if !strings.Contains(err.Error(), "copy an object to itself") {
			t.Fatal(err)
		}
	})
	t.Run("in place with REPLACE metadata", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a b+c"), CopySource: aws.String(srcPath),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"color": "blue"}, ContentType: aws.String("text/plain")})
		if err != nil {
			t.Fatal(err)
		}
		got, b := getBytes(t, c, "src", "a b+c")
		if !bytes.Equal(b, data) || got.Metadata["color"] != "blue" {
			t.Fatalf("got %q %+v", b, got)
		}
	})
	t.Run("in place with storage class change", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a b+c"), CopySource: aws.String(srcPath),
			StorageClass: types.StorageClassStandardIa})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("conditionals", func(t *testing.T) {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("a b+c")})
		if err != nil {
			t.Fatal(err)
		}
		etag, mod := aws.ToString(h.ETag), aws.ToTime(h.LastModified)
		before, after := mod.Add(-time.Hour), mod.Add(time.Hour)
		cases := []struct {
			name string
			in   s3.CopyObjectInput
			ok   bool
		}{
			{"if-match ok", s3.CopyObjectInput{CopySourceIfMatch: aws.String(etag)}, true},
			{"if-match fails", s3.CopyObjectInput{CopySourceIfMatch: aws.String(`"nope"`)}, false},
			{"if-none-match fails", s3.CopyObjectInput{CopySourceIfNoneMatch: aws.String(etag)}, false},
			{"if-none-match ok", s3.CopyObjectInput{CopySourceIfNoneMatch: aws.String(`"nope"`)}, true},
			{"modified-since fails", s3.CopyObjectInput{CopySourceIfModifiedSince: aws.Time(after)}, false},
			{"modified-since ok", s3.CopyObjectInput{CopySourceIfModifiedSince: aws.Time(before)}, true},
			{"unmodified-since fails", s3.CopyObjectInput{CopySourceIfUnmodifiedSince: aws.Time(before)}, false},
			{"if-match true wins over unmodified-since false", s3.CopyObjectInput{CopySourceIfMatch: aws.String(etag), CopySourceIfUnmodifiedSince: aws.Time(before)}, true},
			{"if-none-match false and modified-since true", s3.CopyObjectInput{CopySourceIfNoneMatch: aws.String(etag), CopySourceIfModifiedSince: aws.Time(before)}, false},
		}
		for _, tc := range cases {
			in := tc.in
			in.Bucket, in.Key, in.CopySource = aws.String("dst"), aws.String("cond"), aws.String(srcPath)
			_, err := c.CopyObject(ctx, &in)
			if tc.ok && err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !tc.ok {
				wantCode(t, err, "PreconditionFailed", 412)
			}
		}
	})
	t.Run("missing source", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
		wantCode(t, err, "NoSuchKey", 404)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nobucket/k")})
		wantCode(t, err, "NoSuchBucket", 404)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nokey")})
		wantCode(t, err, "InvalidArgument", 400)
	})
	t.Run("source of another user", func(t *testing.T) {
		bc := e.client(bob())
		mustCreateBucket(t, bc, "bobs")
		mustPut(t, bc, "bobs", "secret", []byte("s"))
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("bobs/secret")})
		wantCode(t, err, "AccessDenied", 403)
		_, err = bc.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("bobs/secret")})
		wantCode(t, err, "AccessDenied", 403)
	})
	t.Run("6 MiB object", func(t *testing.T) {
		big := randomBytes(t, 6<<20)
		mustPut(t, c, "src", "big", big)
		out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("big"), CopySource: aws.String("src/big")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.CopyObjectResult.ETag) != quotedMD5(big) {
			t.Fatalf("etag %s", aws.ToString(out.CopyObjectResult.ETag))
		}
		_, b := getBytes(t, c, "dst", "big")
		if !bytes.Equal(b, big) {
			t.Fatal("copy differs")
		}
	})
	t.Run("multipart source", func(t *testing.T) {
		p1, p2 := randomBytes(t, 5<<20), randomBytes(t, 1000)
		putMultipart(t, e, "src", "mp", [][]byte{p1, p2})
		all := append(append([]byte(nil), p1...), p2...)
		out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("mp"), CopySource: aws.String("src/mp")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.CopyObjectResult.ETag) != quotedMD5(all) {
			t.Fatalf("etag %s", aws.ToString(out.CopyObjectResult.ETag))
		}
		got, b := getBytes(t, c, "dst", "mp")
		if !bytes.Equal(b, all) || got.Metadata["origin"] != "mp" || got.PartsCount != nil {
			t.Fatalf("copy differs: %d bytes %+v", len(b), got)
		}
	})
	_ = head
}

func TestCopyObjectRaw(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "bkt")
	mustPut(t, c, "bkt", "k", []byte("x"))
	resp, body := e.raw(t, alice(), http.MethodPut, "/bkt/k2", nil, http.Header{"X-Amz-Copy-Source": {"/bkt/k"}})
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<CopyObjectResult") || !strings.Contains(string(body), "<LastModified>") {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	resp, body = e.raw(t, alice(), http.MethodPut, "/bkt/k2", nil, http.Header{"X-Amz-Copy-Source": {"/bkt/k?versionId=nope"}})
	if resp.StatusCode != 404 || !strings.Contains(string(body), "<Code>NoSuchVersion</Code>") {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}
