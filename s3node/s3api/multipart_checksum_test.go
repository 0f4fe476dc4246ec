package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

func checksumOf(t *testing.T, alg string, data []byte) string {
	t.Helper()
	h, _, ok := sigv4.NewChecksum("x-amz-checksum-" + strings.ToLower(alg))
	if !ok {
		t.Fatalf("no checksum %s", alg)
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// The full-object CRC combined from parts is the CRC of the whole data,
// for every split, empty parts included.
func TestCombineFullObjectCRC(t *testing.T) {
	data := randomBytes(t, 100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for alg := range fullObjectCRCs {
		want := checksumOf(t, alg, data)
		for range 50 {
			var parts []s3node.Part
			for rest := data; len(rest) > 0; {
				n := min(len(rest), rng.IntN(30_000))
				parts = append(parts, s3node.Part{Size: int64(n), Checksums: map[string]string{alg: checksumOf(t, alg, rest[:n])}})
				rest = rest[n:]
			}
			got, ok := combineChecksums(alg, s3node.ChecksumFullObject, parts)
			if !ok || got != want {
				t.Fatalf("%s over %d parts: %q, want %q", alg, len(parts), got, want)
			}
		}
	}
}

func TestMultipartFullObjectChecksum(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "full")
	data := [][]byte{randomBytes(t, 5*mib), randomBytes(t, 5*mib+3), randomBytes(t, 4321)}
	whole := bytes.Join(data, nil)
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme} {
		t.Run(string(alg), func(t *testing.T) {
			key := "obj-" + string(alg)
			create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String(key),
				ChecksumAlgorithm: alg, ChecksumType: types.ChecksumTypeFullObject})
			if err != nil {
				t.Fatal(err)
			}
			var parts []types.CompletedPart
			for i, d := range data {
				out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("full"), Key: aws.String(key), UploadId: create.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(d), ChecksumAlgorithm: alg})
				if err != nil {
					t.Fatal(err)
				}
				parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
			}
			want := checksumOf(t, string(alg), whole)
			in := &s3.CompleteMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String(key), UploadId: create.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ChecksumType: types.ChecksumTypeFullObject}
			wrong := checksumOf(t, string(alg), whole[1:])
			setFull := func(v string) {
				switch alg {
				case types.ChecksumAlgorithmCrc32:
					in.ChecksumCRC32 = aws.String(v)
				case types.ChecksumAlgorithmCrc32c:
					in.ChecksumCRC32C = aws.String(v)
				default:
					in.ChecksumCRC64NVME = aws.String(v)
				}
			}
			setFull(wrong)
			_, err = c.CompleteMultipartUpload(ctx, in)
			wantCode(t, err, "BadDigest", http.StatusBadRequest)
			setFull(want)
			done, err := c.CompleteMultipartUpload(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got := map[types.ChecksumAlgorithm]*string{types.ChecksumAlgorithmCrc32: done.ChecksumCRC32,
				types.ChecksumAlgorithmCrc32c: done.ChecksumCRC32C, types.ChecksumAlgorithmCrc64nvme: done.ChecksumCRC64NVME}[alg]
			if aws.ToString(got) != want || done.ChecksumType != types.ChecksumTypeFullObject {
				t.Errorf("complete %s = %q type %q, want %q FULL_OBJECT", alg, aws.ToString(got), done.ChecksumType, want)
			}
			// The SDK validates a full-object checksum against the body.
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("full"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil || !bytes.Equal(b, whole) {
				t.Fatalf("GetObject: %d bytes, %v", len(b), err)
			}
			if obj.ChecksumType != types.ChecksumTypeFullObject {
				t.Errorf("GetObject checksum type %q", obj.ChecksumType)
			}
		})
	}
	_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String("x"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeFullObject})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)

	// A part with another algorithm than the upload's is refused.
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("full"), Key: aws.String("x"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("full"), Key: aws.String("x"), UploadId: create.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("data")), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
}
