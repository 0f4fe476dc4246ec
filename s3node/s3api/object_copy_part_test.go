package s3api

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3kms/s3kms/s3node"
)

// copyPart sends UploadPartCopy; rng "" omits x-amz-copy-source-range.
func copyPart(c *s3.Client, bucket, key, id string, n int32, source, rng string, opt func(*s3.UploadPartCopyInput)) (*s3.UploadPartCopyOutput, error) {
	in := &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(n), CopySource: aws.String(source)}
	if rng != "" {
		in.CopySourceRange = aws.String(rng)
	}
	if opt != nil {
		opt(in)
	}
	return c.UploadPartCopy(context.Background(), in)
}

func mustCopyPart(t *testing.T, c *s3.Client, bucket, key, id string, n int32, source, rng string, want []byte) types.CompletedPart {
	t.Helper()
	out, err := copyPart(c, bucket, key, id, n, source, rng, nil)
	if err != nil {
		t.Fatalf("UploadPartCopy %d (%s %s): %v", n, source, rng, err)
	}
	r := out.CopyPartResult
	if r == nil || aws.ToString(r.ETag) != quotedMD5(want) || r.LastModified == nil || r.LastModified.IsZero() {
		t.Fatalf("UploadPartCopy %d result = %+v, want ETag %s", n, r, quotedMD5(want))
	}
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: r.ETag}
}

// wantMessage fails unless err is an S3 error whose message is msg.
func wantMessage(t *testing.T, err error, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorMessage() != msg {
		t.Fatalf("want message %q, got %v", msg, err)
	}
}

func TestUploadPartCopy(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "upc-src")
	mustCreateBucket(t, c, "upc-dst")
	src := randomBytes(t, 6<<20)
	mustPut(t, c, "upc-src", "big", src)
	head := randomBytes(t, 5<<20)

	// An uploaded part, then two ranges of the source (5 MiB + the rest).
	id := mustCreateUpload(t, c, "upc-dst", "assembled")
	p1 := mustUploadPart(t, c, "upc-dst", "assembled", id, 1, head)
	p2 := mustCopyPart(t, c, "upc-dst", "assembled", id, 2, "upc-src/big", "bytes=0-5242879", src[:5<<20])
	p3 := mustCopyPart(t, c, "upc-dst", "assembled", id, 3, "/upc-src/big", "bytes=5242880-6291455", src[5<<20:])
	out, err := complete(c, "upc-dst", "assembled", id, p1, p2, p3)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if got, want := aws.ToString(out.ETag), multipartETag(head, src[:5<<20], src[5<<20:]); got != want {
		t.Fatalf("ETag = %s, want %s", got, want)
	}
	assembled := append(append([]byte{}, head...), src...)
	if _, got := getBytes(t, c, "upc-dst", "assembled"); !bytes.Equal(got, assembled) {
		t.Fatalf("assembled object differs (%d bytes)", len(got))
	}

	// Whole-object copy without a range, from a multipart source (several
	// segments), into the same bucket; a part copied twice is replaced.
	blobs := e.blobCount(t)
	id = mustCreateUpload(t, c, "upc-dst", "whole")
	mustCopyPart(t, c, "upc-dst", "whole", id, 1, "upc-src/big", "bytes=0-9", src[:10])
	if n := e.blobCount(t); n != blobs+1 {
		t.Fatalf("blobs = %d, want %d", n, blobs+1)
	}
	p1 = mustCopyPart(t, c, "upc-dst", "whole", id, 1, "upc-dst/assembled", "", assembled)
	if n := e.blobCount(t); n != blobs+1 {
		t.Fatalf("blobs after replacing the part = %d, want %d", n, blobs+1)
	}
	// A range across segment boundaries of the multipart source.
	p2 = mustCopyPart(t, c, "upc-dst", "whole", id, 2, "upc-dst/assembled", "bytes=5242870-5242890", assembled[5242870:5242891])
	if _, err := complete(c, "upc-dst", "whole", id, p1, p2); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if _, got := getBytes(t, c, "upc-dst", "whole"); !bytes.Equal(got, append(append([]byte{}, assembled...), assembled[5242870:5242891]...)) {
		t.Fatalf("whole copy differs (%d bytes)", len(got))
	}
}

func TestUploadPartCopyVersioned(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "upc-ver")
	setVersioning(t, c, "upc-ver", types.BucketVersioningStatusEnabled)
	v1 := mustPut(t, c, "upc-ver", "k", []byte("first version"))
	mustPut(t, c, "upc-ver", "k", []byte("second version"))
	id := mustCreateUpload(t, c, "upc-ver", "dst")

	out, err := copyPart(c, "upc-ver", "dst", id, 1, "upc-ver/k?versionId="+aws.ToString(v1.VersionId), "bytes=0-4", nil)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CopySourceVersionId) != aws.ToString(v1.VersionId) || aws.ToString(out.CopyPartResult.ETag) != quotedMD5([]byte("first")) {
		t.Fatalf("out = %+v %+v", out, out.CopyPartResult)
	}
	out, err = copyPart(c, "upc-ver", "dst", id, 2, "upc-ver/k", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToString(out.CopySourceVersionId); v == "" || v == aws.ToString(v1.VersionId) {
		t.Fatalf("copy source version id = %q", v)
	}

	_, err = copyPart(c, "upc-ver", "dst", id, 1, "upc-ver/k?versionId="+s3node.NewVersionID(), "", nil)
	wantCode(t, err, "NoSuchVersion", 404)
}

func TestUploadPartCopyErrors(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "upc-err")
	put := mustPut(t, c, "upc-err", "src", []byte("0123456789"))
	id := mustCreateUpload(t, c, "upc-err", "dst")

	for _, rng := range []string{"0-5", "bytes=0-", "bytes=-5", "bytes=5-1", "bytes=a-b", "bytes=0-1,3-4", "bytes= 0-1"} {
		_, err := copyPart(c, "upc-err", "dst", id, 1, "upc-err/src", rng, nil)
		wantCode(t, err, "InvalidRequest", 400)
		wantMessage(t, err, msgCopyRangeSyntax)
	}
	for _, rng := range []string{"bytes=0-10", "bytes=10-10", "bytes=5-100"} {
		_, err := copyPart(c, "upc-err", "dst", id, 1, "upc-err/src", rng, nil)
		wantCode(t, err, "InvalidRequest", 400)
		wantMessage(t, err, "Range specified is not valid for source object of size: 10")
	}
	mustCopyPart(t, c, "upc-err", "dst", id, 1, "upc-err/src", "bytes=9-9", []byte("9"))

	_, err := copyPart(c, "upc-err", "dst", id, 1, "upc-err/missing", "", nil)
	wantCode(t, err, "NoSuchKey", 404)
	_, err = copyPart(c, "upc-err", "dst", id, 1, "no-such-bucket/src", "", nil)
	wantCode(t, err, "NoSuchBucket", 404)
	_, err = copyPart(c, "upc-err", "dst", id, 1, "upc-err", "", nil)
	wantCode(t, err, "InvalidArgument", 400)
	_, err = copyPart(c, "upc-err", "dst", "no-such-upload", 1, "upc-err/src", "", nil)
	wantCode(t, err, "NoSuchUpload", 404)
	_, err = copyPart(c, "upc-err", "dst", id, 10001, "upc-err/src", "", nil)
	wantCode(t, err, "InvalidArgument", 400)

	// Conditionals on the source.
	_, err = copyPart(c, "upc-err", "dst", id, 2, "upc-err/src", "", func(in *s3.UploadPartCopyInput) {
		in.CopySourceIfMatch = aws.String(`"0123"`)
	})
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = copyPart(c, "upc-err", "dst", id, 2, "upc-err/src", "", func(in *s3.UploadPartCopyInput) {
		in.CopySourceIfNoneMatch = put.ETag
	})
	wantCode(t, err, "PreconditionFailed", 412)
	if _, err := copyPart(c, "upc-err", "dst", id, 2, "upc-err/src", "", func(in *s3.UploadPartCopyInput) {
		in.CopySourceIfMatch = put.ETag
	}); err != nil {
		t.Fatalf("if-match on the source's ETag: %v", err)
	}

	// Another user's source, and another user's upload.
	b := e.client(bob())
	mustCreateBucket(t, b, "upc-bob")
	bid := mustCreateUpload(t, b, "upc-bob", "dst")
	_, err = copyPart(b, "upc-bob", "dst", bid, 1, "upc-err/src", "", nil)
	wantCode(t, err, "AccessDenied", 403)
	_, err = copyPart(b, "upc-err", "dst", id, 1, "upc-err/src", "", nil)
	wantCode(t, err, "AccessDenied", 403)
	mustPut(t, b, "upc-bob", "mine", []byte("bob's"))
	_, err = copyPart(c, "upc-err", "dst", id, 1, "upc-bob/mine", "", nil)
	wantCode(t, err, "AccessDenied", 403)

	// The parts listed are the copies.
	parts, err := c.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String("upc-err"), Key: aws.String("dst"), UploadId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Parts) != 2 || aws.ToInt64(parts.Parts[0].Size) != 1 || aws.ToInt64(parts.Parts[1].Size) != 10 ||
		!strings.EqualFold(aws.ToString(parts.Parts[1].ETag), aws.ToString(put.ETag)) {
		t.Fatalf("parts = %+v", parts.Parts)
	}
}

// A part copied into an upload with a checksum algorithm carries that
// checksum, so the upload completes with one.
func TestUploadPartCopyChecksum(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "upc-sum")
	data := []byte("checksummed source bytes")
	mustPut(t, c, "upc-sum", "src", data)
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("upc-sum"), Key: aws.String("dst"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(create.UploadId)
	out, err := copyPart(c, "upc-sum", "dst", id, 1, "upc-sum/src", "bytes=3-10", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.CopyPartResult.ChecksumCRC32), crc32Base64(data[3:11]); got != want {
		t.Fatalf("ChecksumCRC32 = %q, want %q", got, want)
	}
	done, err := complete(c, "upc-sum", "dst", id, types.CompletedPart{PartNumber: aws.Int32(1), ETag: out.CopyPartResult.ETag,
		ChecksumCRC32: out.CopyPartResult.ChecksumCRC32})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if got, want := aws.ToString(done.ChecksumCRC32), compositeCRC32(data[3:11]); got != want {
		t.Fatalf("object ChecksumCRC32 = %q, want %q", got, want)
	}
	if _, got := getBytes(t, c, "upc-sum", "dst"); !bytes.Equal(got, data[3:11]) {
		t.Fatalf("object = %q", got)
	}
}
