package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func quotedMD5(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

func TestPutGetRoundTrip(t *testing.T) { forEachBackend(t, testPutGetRoundTrip) }

func testPutGetRoundTrip(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "data")
	for _, size := range []int{0, 1, 5 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randomBytes(t, size)
			key := fmt.Sprintf("dir/obj-%d", size)
			put := mustPut(t, c, "data", key, data)
			if aws.ToString(put.ETag) != quotedMD5(data) {
				t.Errorf("put ETag = %s, want %s", aws.ToString(put.ETag), quotedMD5(data))
			}
			crc := make([]byte, 4)
			v := crc32.ChecksumIEEE(data)
			crc[0], crc[1], crc[2], crc[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
			wantCRC := base64.StdEncoding.EncodeToString(crc)
			if aws.ToString(put.ChecksumCRC32) != wantCRC {
				t.Errorf("put CRC32 = %s, want %s (from the trailer)", aws.ToString(put.ChecksumCRC32), wantCRC)
			}

			got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, data) {
				t.Fatalf("GetObject returned %d bytes, not the %d put", len(body), len(data))
			}
			if aws.ToString(got.ETag) != quotedMD5(data) || aws.ToInt64(got.ContentLength) != int64(size) {
				t.Errorf("GetObject ETag %s length %d", aws.ToString(got.ETag), aws.ToInt64(got.ContentLength))
			}
			if aws.ToString(got.ChecksumCRC32) != wantCRC {
				t.Errorf("GetObject CRC32 = %q, want %q", aws.ToString(got.ChecksumCRC32), wantCRC)
			}
			if aws.ToString(got.ContentType) != "application/octet-stream" { // as the SDK sent it
				t.Errorf("Content-Type = %q", aws.ToString(got.ContentType))
			}

			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(head.ContentLength) != int64(size) || aws.ToString(head.ETag) != quotedMD5(data) {
				t.Errorf("HeadObject = %d %s", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag))
			}
			if head.LastModified == nil || time.Since(*head.LastModified) > time.Minute {
				t.Errorf("LastModified = %v", head.LastModified)
			}
		})
	}

	// Over TLS the SDK streams with an unsigned payload and a CRC32
	// trailer, verified by the sigv4 body reader.
	if !e.sawPayload("STREAMING-UNSIGNED-PAYLOAD-TRAILER") {
		t.Errorf("the SDK did not use STREAMING-UNSIGNED-PAYLOAD-TRAILER: %v", e.payloads)
	}

	// Overwrite: the last write wins.
	mustPut(t, c, "data", "over", []byte("one"))
	mustPut(t, c, "data", "over", []byte("two"))
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("over")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != "two" {
		t.Errorf("after overwrite got %q", b)
	}

	// Delete is idempotent.
	for range 2 {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("data"), Key: aws.String("over")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("over")})
	wantCode(t, err, "NoSuchKey", http.StatusNotFound)
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String("over")})
	wantCode(t, err, "", http.StatusNotFound)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nope"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nope"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
}

func TestContentMD5(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "md5")
	data := []byte("hello, world")
	sum := md5.Sum(data)
	good := base64.StdEncoding.EncodeToString(sum[:])
	other := md5.Sum([]byte("something else"))
	for _, tc := range []struct {
		md5, code string
	}{
		{good, ""},
		{base64.StdEncoding.EncodeToString(other[:]), "BadDigest"},
		{"not base64!", "InvalidDigest"},
		{base64.StdEncoding.EncodeToString([]byte("short")), "InvalidDigest"},
	} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("md5"), Key: aws.String("k-" + tc.code),
			Body: bytes.NewReader(data), ContentMD5: aws.String(tc.md5)})
		if tc.code == "" {
			if err != nil {
				t.Fatalf("good Content-MD5: %v", err)
			}
			continue
		}
		wantCode(t, err, tc.code, http.StatusBadRequest)
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("md5"), Key: aws.String("k-" + tc.code)})
		wantCode(t, err, "", http.StatusNotFound)
	}
	// A wrong checksum header is refused and nothing is stored.
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("md5"), Key: aws.String("crc"),
		Body: bytes.NewReader(data), ChecksumCRC32: aws.String("AAAAAA==")})
	wantCode(t, err, "BadDigest", http.StatusBadRequest)
}

func TestRanges(t *testing.T) { forEachBackend(t, testRanges) }

func testRanges(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "ranges")
	data := randomBytes(t, 1000)
	mustPut(t, c, "ranges", "obj", data)
	for _, tc := range []struct {
		rng        string
		from, to   int // inclusive; to < 0: 416
		full       bool
		wantStatus int
	}{
		{rng: "bytes=0-0", from: 0, to: 0},
		{rng: "bytes=999-999", from: 999, to: 999},
		{rng: "bytes=-1", from: 999, to: 999},
		{rng: "bytes=-100", from: 900, to: 999},
		{rng: "bytes=-5000", from: 0, to: 999},
		{rng: "bytes=100-", from: 100, to: 999},
		{rng: "bytes=10-19", from: 10, to: 19},
		{rng: "bytes=990-5000", from: 990, to: 999},
		{rng: "bytes=1000-", to: -1},
		{rng: "bytes=5000-6000", to: -1},
		{rng: "bytes=-0", to: -1},
		{rng: "bytes=5-2", full: true},
		{rng: "chars=0-1", full: true},
	} {
		t.Run(tc.rng, func(t *testing.T) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("obj"), Range: aws.String(tc.rng)})
			if tc.to < 0 && !tc.full {
				wantCode(t, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer out.Body.Close()
			body, err := io.ReadAll(out.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := data
			if !tc.full {
				want = data[tc.from : tc.to+1]
				if cr := fmt.Sprintf("bytes %d-%d/1000", tc.from, tc.to); aws.ToString(out.ContentRange) != cr {
					t.Errorf("Content-Range = %q, want %q", aws.ToString(out.ContentRange), cr)
				}
			} else if out.ContentRange != nil {
				t.Errorf("Content-Range %q on a full response", *out.ContentRange)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("got %d bytes, want %d", len(body), len(want))
			}
		})
	}
	// An empty object has no satisfiable range.
	mustPut(t, c, "ranges", "empty", nil)
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String("empty"), Range: aws.String("bytes=0-")})
	wantCode(t, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
}

func TestConditionals(t *testing.T) { forEachBackend(t, testConditionals) }

func testConditionals(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "cond")
	put := mustPut(t, c, "cond", "obj", []byte("conditional"))
	etag := aws.ToString(put.ETag)
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cond"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	mod := *head.LastModified
	before, after := mod.Add(-time.Hour), mod.Add(time.Hour)
	for _, tc := range []struct {
		name                     string
		ifMatch, ifNoneMatch     string
		ifModSince, ifUnmodSince *time.Time
		status                   int // 200, 304 or 412
	}{
		{name: "if-match hit", ifMatch: etag, status: 200},
		{name: "if-match star", ifMatch: "*", status: 200},
		{name: "if-match miss", ifMatch: `"nope"`, status: 412},
		{name: "if-none-match hit", ifNoneMatch: etag, status: 304},
		{name: "if-none-match miss", ifNoneMatch: `"nope"`, status: 200},
		{name: "if-modified-since past", ifModSince: &before, status: 200},
		{name: "if-modified-since future", ifModSince: &after, status: 304},
		{name: "if-unmodified-since past", ifUnmodSince: &before, status: 412},
		{name: "if-unmodified-since future", ifUnmodSince: &after, status: 200},
		// AWS precedence: If-Match true wins over If-Unmodified-Since false.
		{name: "if-match true + unmodified false", ifMatch: etag, ifUnmodSince: &before, status: 200},
		// If-None-Match false (matches) with If-Modified-Since true: 304.
		{name: "if-none-match hit + modified since past", ifNoneMatch: etag, ifModSince: &before, status: 304},
		// If-None-Match true (no match) ignores If-Modified-Since.
		{name: "if-none-match miss + modified since future", ifNoneMatch: `"nope"`, ifModSince: &after, status: 200},
		// 412 before 304.
		{name: "if-match miss + if-none-match hit", ifMatch: `"nope"`, ifNoneMatch: etag, status: 412},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &s3.GetObjectInput{Bucket: aws.String("cond"), Key: aws.String("obj"), IfModifiedSince: tc.ifModSince, IfUnmodifiedSince: tc.ifUnmodSince}
			hin := &s3.HeadObjectInput{Bucket: aws.String("cond"), Key: aws.String("obj"), IfModifiedSince: tc.ifModSince, IfUnmodifiedSince: tc.ifUnmodSince}
			if tc.ifMatch != "" {
				in.IfMatch, hin.IfMatch = aws.String(tc.ifMatch), aws.String(tc.ifMatch)
			}
			if tc.ifNoneMatch != "" {
				in.IfNoneMatch, hin.IfNoneMatch = aws.String(tc.ifNoneMatch), aws.String(tc.ifNoneMatch)
			}
			out, err := c.GetObject(ctx, in)
			_, herr := c.HeadObject(ctx, hin)
			switch tc.status {
			case 200:
				if err != nil || herr != nil {
					t.Fatalf("want 200, got %v / %v", err, herr)
				}
				out.Body.Close()
			case 304:
				wantCode(t, err, "", http.StatusNotModified)
				wantCode(t, herr, "", http.StatusNotModified)
			case 412:
				wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
				wantCode(t, herr, "", http.StatusPreconditionFailed)
			}
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) { forEachBackend(t, testMetadataRoundTrip) }

func testMetadataRoundTrip(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "meta")
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("meta"), Key: aws.String("doc.txt"), Body: bytes.NewReader([]byte("text")),
		ContentType: aws.String("text/plain; charset=utf-8"), CacheControl: aws.String("max-age=60"),
		ContentDisposition: aws.String(`attachment; filename="doc.txt"`), ContentLanguage: aws.String("fr"),
		ContentEncoding: aws.String("identity"), Expires: &expires,
		Metadata: map[string]string{"color": "blue", "Mixed-Case": "Value 2"},
		Tagging:  aws.String("a=1&b=2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc.txt")})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("Content-Type", aws.ToString(head.ContentType), "text/plain; charset=utf-8")
	check("Cache-Control", aws.ToString(head.CacheControl), "max-age=60")
	check("Content-Disposition", aws.ToString(head.ContentDisposition), `attachment; filename="doc.txt"`)
	check("Content-Language", aws.ToString(head.ContentLanguage), "fr")
	check("Content-Encoding", aws.ToString(head.ContentEncoding), "identity")
	check("Expires", aws.ToString(head.ExpiresString), expires.Format(http.TimeFormat))
	check("meta color", head.Metadata["color"], "blue")
	check("meta mixed-case", head.Metadata["mixed-case"], "Value 2")
	check("tag count", fmt.Sprint(aws.ToInt32(head.TagCount)), "2")

	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc.txt"),
		ResponseContentType: aws.String("application/json"), ResponseContentDisposition: aws.String("inline"),
		ResponseCacheControl: aws.String("no-cache")})
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	check("override Content-Type", aws.ToString(got.ContentType), "application/json")
	check("override Content-Disposition", aws.ToString(got.ContentDisposition), "inline")
	check("override Cache-Control", aws.ToString(got.CacheControl), "no-cache")
	check("GET meta color", got.Metadata["color"], "blue")
}

func TestVirtualHosted(t *testing.T) {
	e := newEnv(t, "s3.test")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "vhost")
	mustPut(t, c, "vhost", "a/b c.txt", []byte("virtual"))
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("a/b c.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != "virtual" {
		t.Fatalf("got %q", b)
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("vhost")})
	if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "a/b c.txt" {
		t.Fatalf("ListObjectsV2 = %+v, %v", l, err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("vhost")}); err != nil {
		t.Fatal(err)
	}
}

func TestPresignedGet(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "pre")
	mustPut(t, c, "pre", "shared.txt", []byte("presigned"))
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("shared.txt")},
		s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned" {
		t.Fatalf("presigned GET: %d %q", resp.StatusCode, b)
	}
}

// Concurrent writers of one key and readers: every read sees one whole
// version (blobs are immutable), and the key ends with one of the writes.
func TestConcurrentPutGet(t *testing.T) { forEachBackend(t, testConcurrentPutGet) }

func testConcurrentPutGet(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "conc")
	versions := make([][]byte, 4)
	for i := range versions {
		versions[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
	}
	mustPut(t, c, "conc", "k", versions[0])
	errs := make(chan error, 16)
	for i := range 8 {
		go func() {
			if i%2 == 0 {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("conc"), Key: aws.String("k"), Body: bytes.NewReader(versions[i/2])})
				errs <- err
				return
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("conc"), Key: aws.String("k")})
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err == nil && !bytes.Equal(b, bytes.Repeat(b[:1], len(versions[0]))) {
				err = fmt.Errorf("read a mixed object")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
