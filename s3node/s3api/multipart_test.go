package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/s3node"
)

const mib = 1 << 20

// multipartETag is S3's ETag of an object made of parts.
func multipartETag(parts ...[]byte) string {
	all := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		all.Write(s[:])
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(all.Sum(nil)), len(parts))
}

func crc32Bytes(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b))
}

func crc32Base64(b []byte) string { return base64.StdEncoding.EncodeToString(crc32Bytes(b)) }

// compositeCRC32 is the COMPOSITE CRC32 of an object made of parts.
func compositeCRC32(parts ...[]byte) string {
	var all []byte
	for _, p := range parts {
		all = append(all, crc32Bytes(p)...)
	}
	return fmt.Sprintf("%s-%d", crc32Base64(all), len(parts))
}

func mustCreateUpload(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	return aws.ToString(out.UploadId)
}

func uploadPart(c *s3.Client, bucket, key, id string, n int32, data []byte) (types.CompletedPart, error) {
	out, err := c.UploadPart(context.Background(), &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: aws.String(id), PartNumber: aws.Int32(n), Body: bytes.NewReader(data)})
	if err != nil {
		return types.CompletedPart{}, err
	}
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}, nil
}

func mustUploadPart(t *testing.T, c *s3.Client, bucket, key, id string, n int32, data []byte) types.CompletedPart {
	t.Helper()
	p, err := uploadPart(c, bucket, key, id, n, data)
	if err != nil {
		t.Fatalf("UploadPart %d: %v", n, err)
	}
	if aws.ToString(p.ETag) != quotedMD5(data) {
		t.Fatalf("UploadPart %d ETag = %s, want %s", n, aws.ToString(p.ETag), quotedMD5(data))
	}
	return p
}

func complete(c *s3.Client, bucket, key, id string, parts ...types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return c.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket),
		Key: aws.String(key), UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
}

func getRange(t *testing.T, c *s3.Client, bucket, key, rng string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(rng)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", rng, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobCount counts the blobs in the data store.
func (e *env) blobCount(t *testing.T) int {
	t.Helper()
	n := 0
	if err := e.s.data.List(context.Background(), func(s3node.BlobInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMultipartRoundTrip(t *testing.T) { forEachBackend(t, testMultipartRoundTrip) }

func testMultipartRoundTrip(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "mpu-rt")
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu-rt"), Key: aws.String("dir/big"),
		ContentType: aws.String("video/mp4"), Metadata: map[string]string{"color": "blue"}, Tagging: aws.String("a=1&b=2")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(create.Bucket) != "mpu-rt" || aws.ToString(create.Key) != "dir/big" || aws.ToString(create.UploadId) == "" {
		t.Fatalf("create = %+v", create)
	}
	id := aws.ToString(create.UploadId)
	const P, L = 5 * mib, 1234567
	data := [][]byte{randomBytes(t, P), randomBytes(t, P), randomBytes(t, L)}
	whole := bytes.Join(data, nil)
	var parts []types.CompletedPart
	for i, d := range data {
		parts = append(parts, mustUploadPart(t, c, "mpu-rt", "dir/big", id, int32(i+1), d))
	}
	done, err := complete(c, "mpu-rt", "dir/big", id, parts...)
	if err != nil {
		t.Fatal(err)
	}
	wantETag := multipartETag(data...)
	if aws.ToString(done.ETag) != wantETag {
		t.Errorf("complete ETag = %s, want %s", aws.ToString(done.ETag), wantETag)
	}
	if aws.ToString(done.Bucket) != "mpu-rt" || aws.ToString(done.Key) != "dir/big" || aws.ToString(done.Location) != e.srv.URL+"/mpu-rt/dir/big" {
		t.Errorf("complete = bucket %q key %q location %q", aws.ToString(done.Bucket), aws.ToString(done.Key), aws.ToString(done.Location))
	}
	if want := compositeCRC32(data...); done.ChecksumType != types.ChecksumTypeComposite || aws.ToString(done.ChecksumCRC32) != want {
		t.Errorf("complete checksum %q type %q, want %q COMPOSITE", aws.ToString(done.ChecksumCRC32), done.ChecksumType, want)
	}

	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu-rt"), Key: aws.String("dir/big"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, whole) {
		t.Fatalf("GetObject: %d bytes differ from the %d uploaded", len(body), len(whole))
	}
	if aws.ToString(got.ETag) != wantETag || aws.ToString(got.ContentType) != "video/mp4" || got.Metadata["color"] != "blue" ||
		aws.ToInt32(got.TagCount) != 2 || aws.ToInt32(got.PartsCount) != 3 {
		t.Errorf("GetObject: ETag %s type %s meta %v tags %d parts %d", aws.ToString(got.ETag), aws.ToString(got.ContentType),
			got.Metadata, aws.ToInt32(got.TagCount), aws.ToInt32(got.PartsCount))
	}

	// GET and HEAD by part number.
	for i, d := range data {
		n := int32(i + 1)
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu-rt"), Key: aws.String("dir/big"), PartNumber: aws.Int32(n),
			ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("GetObject part %d: %v", n, err)
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ChecksumCRC32) != crc32Base64(d) {
			t.Errorf("part %d: CRC32 %q, want the part's %q", n, aws.ToString(out.ChecksumCRC32), crc32Base64(d))
		}
		if !bytes.Equal(b, d) || aws.ToString(out.ETag) != wantETag || aws.ToInt32(out.PartsCount) != 3 {
			t.Errorf("part %d: %d bytes (want %d), ETag %s, parts %d", n, len(b), len(d), aws.ToString(out.ETag), aws.ToInt32(out.PartsCount))
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu-rt"), Key: aws.String("dir/big"), PartNumber: aws.Int32(n)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt64(head.ContentLength) != int64(len(d)) || aws.ToInt32(head.PartsCount) != 3 {
			t.Errorf("HEAD part %d: length %d parts %d", n, aws.ToInt64(head.ContentLength), aws.ToInt32(head.PartsCount))
		}
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu-rt"), Key: aws.String("dir/big"), PartNumber: aws.Int32(4)})
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu-rt"), Key: aws.String("dir/big"), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-1")})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)

	// Ranges at every part boundary ±1 byte.
	N := int64(len(whole))
	var ranges [][2]int64
	for _, b := range []int64{P, 2 * P} {
		for _, a := range []int64{b - 2, b - 1, b, b + 1} {
			for _, z := range []int64{b - 1, b, b + 1, b + 2} {
				if z >= a {
					ranges = append(ranges, [2]int64{a, z})
				}
			}
		}
	}
	ranges = append(ranges, [2]int64{0, P - 1}, [2]int64{P, 2*P - 1}, [2]int64{2 * P, N - 1}, [2]int64{P - 1, 2 * P},
		[2]int64{0, N - 1}, [2]int64{N - 1, N - 1}, [2]int64{N - 2, N + 10})
	for _, r := range ranges {
		got := getRange(t, c, "mpu-rt", "dir/big", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if want := whole[r[0]:min(r[1]+1, N)]; !bytes.Equal(got, want) {
			t.Errorf("range %d-%d: got %d bytes, want %d (content differs: %v)", r[0], r[1], len(got), len(want), len(got) == len(want))
		}
	}
	if got := getRange(t, c, "mpu-rt", "dir/big", fmt.Sprintf("bytes=-%d", L+1)); !bytes.Equal(got, whole[N-L-1:]) {
		t.Errorf("suffix range: %d bytes", len(got))
	}

	// The upload is gone.
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpu-rt"), Key: aws.String("dir/big"), UploadId: aws.String(id)})
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	_, err = complete(c, "mpu-rt", "dir/big", id, parts...)
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
}

func TestPartNumberSinglePartObject(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "single")
	data := randomBytes(t, 1000)
	mustPut(t, c, "single", "k", data)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("single"), Key: aws.String("k"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(b, data) || aws.ToString(out.ETag) != quotedMD5(data) {
		t.Errorf("partNumber=1: %d bytes, ETag %s", len(b), aws.ToString(out.ETag))
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("single"), Key: aws.String("k"), PartNumber: aws.Int32(2)})
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)
	resp, _ := e.raw(t, alice(), http.MethodGet, "/single/k?partNumber=0", nil, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("partNumber=0: status %d", resp.StatusCode)
	}
}

func TestMultipartErrors(t *testing.T) { forEachBackend(t, testMultipartErrors) }

func testMultipartErrors(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "err")
	id := mustCreateUpload(t, c, "err", "k")
	small := randomBytes(t, 100)
	p1 := mustUploadPart(t, c, "err", "k", id, 1, small)
	p2 := mustUploadPart(t, c, "err", "k", id, 2, small)

	_, err := complete(c, "err", "k", id, p1, p2)
	wantCode(t, err, "EntityTooSmall", http.StatusBadRequest)
	_, err = complete(c, "err", "k", id, p2, p1)
	wantCode(t, err, "InvalidPartOrder", http.StatusBadRequest)
	_, err = complete(c, "err", "k", id, types.CompletedPart{PartNumber: aws.Int32(1), ETag: aws.String(quotedMD5([]byte("other")))})
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)
	_, err = complete(c, "err", "k", id, types.CompletedPart{PartNumber: aws.Int32(3), ETag: p1.ETag})
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)
	_, err = uploadPart(c, "err", "k", id, 10001, small)
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
	_, err = uploadPart(c, "err", "other-key", id, 1, small)
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	resp, body := e.raw(t, alice(), http.MethodPost, "/err/k?uploadId="+id, []byte("<CompleteMultipartUpload><Part>"), nil)
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("MalformedXML")) {
		t.Errorf("malformed XML: %d %s", resp.StatusCode, body)
	}

	// ETag without quotes is accepted; a single small part is fine.
	out, err := complete(c, "err", "k", id, types.CompletedPart{PartNumber: aws.Int32(2), ETag: aws.String(hex.EncodeToString(func() []byte { s := md5.Sum(small); return s[:] }()))})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != multipartETag(small) {
		t.Errorf("ETag %s", aws.ToString(out.ETag))
	}
	if n := e.blobCount(t); n != 1 {
		t.Errorf("%d blobs after completing with one of two parts, want 1", n)
	}

	// Abort.
	id = mustCreateUpload(t, c, "err", "k2")
	mustUploadPart(t, c, "err", "k2", id, 1, small)
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("err"), Key: aws.String("k2"), UploadId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if n := e.blobCount(t); n != 1 {
		t.Errorf("%d blobs after abort, want 1", n)
	}
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("err"), Key: aws.String("k2"), UploadId: aws.String(id)})
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	_, err = uploadPart(c, "err", "k2", id, 1, small)
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	_, err = complete(c, "err", "k2", id, p1)
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
}

func TestUploadPartReplaceAndList(t *testing.T) { forEachBackend(t, testUploadPartReplaceAndList) }

func testUploadPartReplaceAndList(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "list-parts")
	id := mustCreateUpload(t, c, "list-parts", "k")
	for n := int32(1); n <= 5; n++ {
		mustUploadPart(t, c, "list-parts", "k", id, n, randomBytes(t, int(n)))
	}
	repl := randomBytes(t, 42)
	mustUploadPart(t, c, "list-parts", "k", id, 3, repl)
	if n := e.blobCount(t); n != 5 {
		t.Errorf("%d blobs after replacing a part, want 5", n)
	}

	var got []int32
	var marker *string
	for page := 0; ; page++ {
		out, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("list-parts"), Key: aws.String("k"), UploadId: aws.String(id),
			MaxParts: aws.Int32(2), PartNumberMarker: marker})
		if err != nil {
			t.Fatal(err)
		}
		if page > 5 {
			t.Fatal("ListParts does not end")
		}
		for _, p := range out.Parts {
			got = append(got, aws.ToInt32(p.PartNumber))
			if aws.ToInt32(p.PartNumber) == 3 && (aws.ToInt64(p.Size) != 42 || aws.ToString(p.ETag) != quotedMD5(repl)) {
				t.Errorf("part 3 = size %d ETag %s", aws.ToInt64(p.Size), aws.ToString(p.ETag))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		marker = out.NextPartNumberMarker
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("ListParts pages gave %v", got)
	}
}

func TestListMultipartUploads(t *testing.T) { forEachBackend(t, testListMultipartUploads) }

func testListMultipartUploads(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "list-uploads")
	for _, k := range []string{"a/1", "a/2", "b", "b", "c/d/e"} {
		mustCreateUpload(t, c, "list-uploads", k)
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("list-uploads"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var keys, prefixes []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if fmt.Sprint(keys) != "[b b]" || fmt.Sprint(prefixes) != "[a/ c/]" {
		t.Errorf("delimiter listing: uploads %v prefixes %v", keys, prefixes)
	}

	// Paging, one upload a page.
	keys = nil
	var km, im *string
	for page := 0; ; page++ {
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("list-uploads"), MaxUploads: aws.Int32(1),
			KeyMarker: km, UploadIdMarker: im})
		if err != nil {
			t.Fatal(err)
		}
		if page > 6 {
			t.Fatal("ListMultipartUploads does not end")
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
			if u.Initiator == nil || aws.ToString(u.Initiator.ID) != "alice-canonical" || u.Initiated == nil {
				t.Errorf("upload %+v", u)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		km, im = out.NextKeyMarker, out.NextUploadIdMarker
	}
	if fmt.Sprint(keys) != "[a/1 a/2 b b c/d/e]" {
		t.Errorf("paged uploads %v", keys)
	}
	out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("list-uploads"), Prefix: aws.String("a/")})
	if err != nil || len(out.Uploads) != 2 {
		t.Errorf("prefix listing: %v %v", out, err)
	}
}

func TestUploadPartConcurrent(t *testing.T) { forEachBackend(t, testUploadPartConcurrent) }

func testUploadPartConcurrent(t *testing.T, e *env) {
	c := e.client(alice())
	mustCreateBucket(t, c, "concurrent")
	id := mustCreateUpload(t, c, "concurrent", "k")
	data := [][]byte{randomBytes(t, 5*mib), randomBytes(t, 5*mib), randomBytes(t, 5*mib), randomBytes(t, 777)}
	parts := make([]types.CompletedPart, len(data))
	errs := make([]error, len(data))
	var wg sync.WaitGroup
	for i := range data {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i], errs[i] = uploadPart(c, "concurrent", "k", id, int32(i+1), data[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
	}
	if _, err := complete(c, "concurrent", "k", id, parts...); err != nil {
		t.Fatal(err)
	}
	if got := getRange(t, c, "concurrent", "k", "bytes=0-"); !bytes.Equal(got, bytes.Join(data, nil)) {
		t.Errorf("object differs: %d bytes", len(got))
	}
}

// TestTransferManager uploads a 12 MiB object in 5 MiB parts with the
// SDK's transfer manager and downloads it back part by part (GET
// ?partNumber) and by ranges.
func TestTransferManager(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "transfer")
	data := randomBytes(t, 12*mib)
	tm := transfermanager.New(c, func(o *transfermanager.Options) {
		o.PartSizeBytes = 5 * mib
		o.MultipartUploadThreshold = 5 * mib
	})
	out, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String("transfer"), Key: aws.String("big"), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	want := multipartETag(data[:5*mib], data[5*mib:10*mib], data[10*mib:])
	if aws.ToString(out.ETag) != want {
		t.Errorf("ETag %s, want %s", aws.ToString(out.ETag), want)
	}
	for _, typ := range []tmtypes.GetObjectType{tmtypes.GetObjectParts, tmtypes.GetObjectRanges} {
		got, err := tm.GetObject(ctx, &transfermanager.GetObjectInput{Bucket: aws.String("transfer"), Key: aws.String("big")},
			func(o *transfermanager.Options) { o.GetObjectType = typ; o.PartSizeBytes = 5 * mib })
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		b, err := io.ReadAll(got.Body)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !bytes.Equal(b, data) {
			t.Errorf("%s download: %d bytes differ from the %d uploaded", typ, len(b), len(data))
		}
	}
}

func TestUploadPartChecksums(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "sums")
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("sums"), Key: aws.String("k"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	id := create.UploadId
	data := [][]byte{randomBytes(t, 5*mib), randomBytes(t, 10)}

	// A wrong Content-MD5 or checksum stores nothing.
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("sums"), Key: aws.String("k"), UploadId: id,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(data[1]), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 16))),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	wantCode(t, err, "BadDigest", http.StatusBadRequest)
	resp, body := e.raw(t, alice(), http.MethodPut, "/sums/k?partNumber=1&uploadId="+aws.ToString(id), data[1],
		http.Header{"X-Amz-Checksum-Sha256": {base64.StdEncoding.EncodeToString(make([]byte, 32))}})
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("BadDigest")) {
		t.Errorf("wrong SHA256: %d %s", resp.StatusCode, body)
	}
	if n := e.blobCount(t); n != 0 {
		t.Errorf("%d blobs after failed parts", n)
	}

	var parts []types.CompletedPart
	var raw []byte
	for i, d := range data {
		sum := sha256.Sum256(d)
		raw = append(raw, sum[:]...)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("sums"), Key: aws.String("k"), UploadId: id,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(d), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ChecksumSHA256) != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Errorf("part %d SHA256 %q", i+1, aws.ToString(out.ChecksumSHA256))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("sums"), Key: aws.String("k"), UploadId: id})
	if err != nil {
		t.Fatal(err)
	}
	if lp.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 || len(lp.Parts) != 2 || aws.ToString(lp.Parts[1].ChecksumSHA256) != aws.ToString(parts[1].ChecksumSHA256) {
		t.Errorf("ListParts: algorithm %q parts %d", lp.ChecksumAlgorithm, len(lp.Parts))
	}

	// A checksum in the request that is not the part's is InvalidPart.
	bad := parts[1]
	bad.ChecksumSHA256 = parts[0].ChecksumSHA256
	_, err = complete(c, "sums", "k", aws.ToString(id), parts[0], bad)
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)

	done, err := complete(c, "sums", "k", aws.ToString(id), parts...)
	if err != nil {
		t.Fatal(err)
	}
	total := sha256.Sum256(raw)
	if want := base64.StdEncoding.EncodeToString(total[:]) + "-2"; aws.ToString(done.ChecksumSHA256) != want || done.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("complete SHA256 %q type %q, want %q", aws.ToString(done.ChecksumSHA256), done.ChecksumType, want)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ChecksumSHA256) != aws.ToString(done.ChecksumSHA256) || head.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("HEAD SHA256 %q type %q", aws.ToString(head.ChecksumSHA256), head.ChecksumType)
	}
}

func TestMultipartRequestErrors(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "reqs")
	id := mustCreateUpload(t, c, "reqs", "k")
	p1 := mustUploadPart(t, c, "reqs", "k", id, 1, []byte("one"))

	// Another user's bucket.
	_, err := uploadPart(e.client(bob()), "reqs", "k", id, 2, []byte("x"))
	wantCode(t, err, "AccessDenied", http.StatusForbidden)
	_, err = complete(e.client(bob()), "reqs", "k", id, p1)
	wantCode(t, err, "AccessDenied", http.StatusForbidden)

	for _, tc := range []struct {
		method, path string
		body         string
		status       int
		code         string
	}{
		{http.MethodPut, "/reqs/k?uploadId=" + id, "x", http.StatusBadRequest, "InvalidRequest"},
		{http.MethodPut, "/reqs/k?partNumber=0&uploadId=" + id, "x", http.StatusBadRequest, "InvalidArgument"},
		{http.MethodPut, "/reqs/k?partNumber=1&uploadId=nope", "x", http.StatusNotFound, "NoSuchUpload"},
		{http.MethodPost, "/reqs/k?uploadId=" + id, "", http.StatusBadRequest, "MalformedXML"},
		{http.MethodPost, "/reqs/k?uploadId=" + id, "<CompleteMultipartUpload></CompleteMultipartUpload>", http.StatusBadRequest, "MalformedXML"},
		{http.MethodGet, "/reqs/k?uploadId=" + id + "&max-parts=x", "", http.StatusBadRequest, "InvalidArgument"},
		{http.MethodGet, "/reqs?uploads&max-uploads=-1", "", http.StatusBadRequest, "InvalidArgument"},
		{http.MethodDelete, "/reqs/k?uploadId=nope", "", http.StatusNotFound, "NoSuchUpload"},
	} {
		resp, body := e.raw(t, alice(), tc.method, tc.path, []byte(tc.body), nil)
		if resp.StatusCode != tc.status || !bytes.Contains(body, []byte("<Code>"+tc.code+"</Code>")) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
	}
	// The upload is untouched.
	lp, err := c.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String("reqs"), Key: aws.String("k"), UploadId: aws.String(id)})
	if err != nil || len(lp.Parts) != 1 || aws.ToString(lp.Parts[0].ETag) != aws.ToString(p1.ETag) {
		t.Fatalf("ListParts: %v %v", lp, err)
	}
}

func TestListMultipartUploadsEncoding(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "enc")
	id := mustCreateUpload(t, c, "enc", "a b/c+d")
	resp, body := e.raw(t, alice(), http.MethodGet, "/enc?uploads&encoding-type=url", nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<Key>a+b/c%2Bd</Key>")) ||
		!bytes.Contains(body, []byte("<UploadId>"+id+"</UploadId>")) || !bytes.Contains(body, []byte("<EncodingType>url</EncodingType>")) {
		t.Errorf("encoded listing: %d %s", resp.StatusCode, body)
	}
}

// A GET of a multipart object that is overwritten while the body is
// being sent still returns the whole original object: every part's blob
// is opened before the status line, and an open blob stays readable after
// the overwrite deletes it.
func TestGetMultipartDuringOverwrite(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "race")
	parts := [][]byte{
		bytes.Repeat([]byte{'a'}, 5*mib),
		bytes.Repeat([]byte{'b'}, 5*mib),
		bytes.Repeat([]byte{'c'}, mib),
	}
	id := mustCreateUpload(t, c, "race", "k")
	var done []types.CompletedPart
	for i, p := range parts {
		done = append(done, mustUploadPart(t, c, "race", "k", id, int32(i+1), p))
	}
	if _, err := complete(c, "race", "k", id, done...); err != nil {
		t.Fatal(err)
	}
	want := bytes.Join(parts, nil)
	blobs := e.blobCount(t)

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("race"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	// Read a little of the first part only: the server is still inside
	// it, whatever the socket buffers hold.
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(out.Body, head); err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "race", "k", []byte("new"))
	if n := e.blobCount(t); n != blobs-len(parts)+1 {
		t.Fatalf("%d blobs after the overwrite, want %d: the old parts were not deleted", n, blobs-len(parts)+1)
	}
	rest, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("reading the rest: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want the %d original bytes", len(got), len(want))
	}
}
