package s3api

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestGetObjectAttributes(t *testing.T) { forEachBackend(t, testGetObjectAttributes) }

func testGetObjectAttributes(t *testing.T, e *env) {
	c := e.client(alice())
	ctx := context.Background()
	mustCreateBucket(t, c, "attrs")
	data := []byte("attribute data")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("attrs"), Key: aws.String("k"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatal(err)
	}
	all := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum,
		types.ObjectAttributesObjectParts, types.ObjectAttributesStorageClass, types.ObjectAttributesObjectSize}

	out, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("k"), ObjectAttributes: all})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != strings.Trim(quotedMD5(data), `"`) || aws.ToInt64(out.ObjectSize) != int64(len(data)) ||
		out.StorageClass != types.StorageClassStandard || out.ObjectParts != nil || out.LastModified == nil {
		t.Fatalf("got %+v", out)
	}
	if out.Checksum == nil || aws.ToString(out.Checksum.ChecksumSHA256) == "" {
		t.Fatalf("checksum %+v", out.Checksum)
	}

	out, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("k"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	if err != nil {
		t.Fatal(err)
	}
	if out.ETag != nil || out.Checksum != nil || aws.ToInt64(out.ObjectSize) != int64(len(data)) {
		t.Fatalf("only size asked: %+v", out)
	}

	_, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("missing"), ObjectAttributes: all})
	wantCode(t, err, "NoSuchKey", 404)

	t.Run("multipart parts", func(t *testing.T) {
		putMultipart(t, e, "attrs", "mp", [][]byte{randomBytes(t, 100), randomBytes(t, 200), randomBytes(t, 300)})
		out, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("mp"), ObjectAttributes: all})
		if err != nil {
			t.Fatal(err)
		}
		if out.ObjectParts == nil || aws.ToInt32(out.ObjectParts.TotalPartsCount) != 3 || len(out.ObjectParts.Parts) != 0 ||
			aws.ToInt64(out.ObjectSize) != 600 || !strings.HasSuffix(aws.ToString(out.ETag), "-3") {
			t.Fatalf("got %+v %+v", out, out.ObjectParts)
		}
		out, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("attrs"), Key: aws.String("mp"),
			ObjectAttributes: all, MaxParts: aws.Int32(1), PartNumberMarker: aws.String("1")})
		if err != nil {
			t.Fatal(err)
		}
		op := out.ObjectParts
		if op == nil || len(op.Parts) != 1 || aws.ToInt32(op.Parts[0].PartNumber) != 2 || aws.ToInt64(op.Parts[0].Size) != 200 ||
			!aws.ToBool(op.IsTruncated) || aws.ToString(op.NextPartNumberMarker) != "2" || aws.ToInt32(op.MaxParts) != 1 {
			t.Fatalf("parts %+v", op)
		}
	})
	t.Run("raw: bad and missing attribute names", func(t *testing.T) {
		resp, body := e.raw(t, alice(), http.MethodGet, "/attrs/k?attributes", nil, http.Header{"X-Amz-Object-Attributes": {"ETag,Bogus"}})
		if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>InvalidArgument</Code>") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		resp, body = e.raw(t, alice(), http.MethodGet, "/attrs/k?attributes", nil, nil)
		if resp.StatusCode != 400 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}
