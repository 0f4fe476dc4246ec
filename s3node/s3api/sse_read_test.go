package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/wire"
)

// Response header names of SSE-SPEC §2.1.
const (
	hSSE  = "x-amz-server-side-encryption"
	hKID  = "x-amz-server-side-encryption-aws-kms-key-id"
	hCTX  = "x-amz-server-side-encryption-context"
	hBKE  = "x-amz-server-side-encryption-bucket-key-enabled"
	hCALG = "x-amz-server-side-encryption-customer-algorithm"
	hCMD5 = "x-amz-server-side-encryption-customer-key-MD5"
)

// wantHeaders fails unless h has exactly the given values for every
// encryption response header ("" or absent from want: not present).
func wantHeaders(t *testing.T, step string, h http.Header, want map[string]string) {
	t.Helper()
	for _, k := range []string{hSSE, hKID, hCTX, hBKE, hCALG, hCMD5} {
		if got := h.Get(k); got != want[k] {
			t.Fatalf("%s: %s = %q, want %q", step, k, got, want[k])
		}
	}
}

// createKMSKey creates the named SSE-KMS key in e's KMS.
func createKMSKey(t *testing.T, e *env, id string) {
	t.Helper()
	if _, err := e.kms.Client(t, e.kms.Admin).CreateKey(context.Background(), wire.CreateKeyRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
}

// TestSSEObjectHeadersAndETags checks, per mode, the encryption headers of
// PutObject, GetObject and HeadObject (SSE-SPEC §2.1), the ETag rules of
// §2.2 (stable across PUT, HEAD, GET, ListObjectsV2 and
// GetObjectAttributes, unquoted there) and plaintext sizes (§2.3).
func TestSSEObjectHeadersAndETags(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.client(alice())
		mustCreateBucket(t, c, "hdr")
		createKMSKey(t, e, "app-key")
		ctxJSON, _ := json.Marshal(map[string]string{"team": "s3"})
		ctxB64 := base64.StdEncoding.EncodeToString(ctxJSON)
		k := newCustomerKey(21)
		data := bytes.Repeat([]byte("encrypted headers "), 5000) // 90000 bytes, 2 packages
		for _, tc := range []struct {
			name          string
			put, read     http.Header
			wantPut, want map[string]string
			md5ETag       bool
		}{
			{"plain", nil, nil, nil, nil, true},
			{"SSE-S3", hdr(hSSE, "AES256"), nil, map[string]string{hSSE: "AES256"}, map[string]string{hSSE: "AES256"}, true},
			{"SSE-KMS", hdr(hSSE, "aws:kms", hKID, "app-key", hCTX, ctxB64, hBKE, "true"), nil,
				map[string]string{hSSE: "aws:kms", hKID: "app-key", hCTX: ctxB64, hBKE: "true"},
				map[string]string{hSSE: "aws:kms", hKID: "app-key", hBKE: "true"}, false},
			{"SSE-KMS without bucket key", hdr(hSSE, "aws:kms", hKID, "app-key", hBKE, "false"), nil,
				map[string]string{hSSE: "aws:kms", hKID: "app-key"}, map[string]string{hSSE: "aws:kms", hKID: "app-key"}, false},
			{"SSE-C", k.trio(), k.trio(), map[string]string{hCALG: "AES256", hCMD5: k.md5}, map[string]string{hCALG: "AES256", hCMD5: k.md5}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := strings.ReplaceAll(tc.name, " ", "-")
				resp, body := e.raw(t, alice(), http.MethodPut, "/hdr/"+key, data, tc.put)
				if resp.StatusCode != 200 {
					t.Fatalf("PUT: %d %s", resp.StatusCode, body)
				}
				wantHeaders(t, "PUT", resp.Header, tc.wantPut)
				etag := resp.Header.Get("ETag")
				if (etag == md5hex(data)) != tc.md5ETag || len(strings.Trim(etag, `"`)) != 32 {
					t.Fatalf("PUT ETag %s, plaintext MD5 %s, want MD5: %v", etag, md5hex(data), tc.md5ETag)
				}
				for _, m := range []string{http.MethodHead, http.MethodGet} {
					resp, body := e.raw(t, alice(), m, "/hdr/"+key, nil, tc.read)
					if resp.StatusCode != 200 || resp.Header.Get("ETag") != etag || resp.Header.Get("Content-Length") != strconv.Itoa(len(data)) {
						t.Fatalf("%s: %d ETag %s Content-Length %s", m, resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Content-Length"))
					}
					if m == http.MethodGet && !bytes.Equal(body, data) {
						t.Fatal("GET body differs")
					}
					wantHeaders(t, m, resp.Header, tc.want)
				}
				list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("hdr"), Prefix: aws.String(key)})
				if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].ETag) != etag || aws.ToInt64(list.Contents[0].Size) != int64(len(data)) {
					t.Fatalf("ListObjectsV2: %+v %v", list, err)
				}
				h := tc.read.Clone()
				if h == nil {
					h = http.Header{}
				}
				h.Set("x-amz-object-attributes", "ETag,ObjectSize")
				resp, body = e.raw(t, alice(), http.MethodGet, "/hdr/"+key+"?attributes", nil, h)
				want := fmt.Sprintf("<ETag>%s</ETag>", strings.Trim(etag, `"`))
				if resp.StatusCode != 200 || !strings.Contains(string(body), want) || !strings.Contains(string(body), fmt.Sprintf("<ObjectSize>%d</ObjectSize>", len(data))) {
					t.Fatalf("GetObjectAttributes: %d %s, want %s", resp.StatusCode, body, want)
				}
				wantHeaders(t, "GetObjectAttributes", resp.Header, nil)
			})
		}
	})
}

// rangeObject is an object of the range tests: its plaintext, where its
// parts end, and the headers a read needs.
type rangeObject struct {
	key       string
	data      []byte
	partEnds  []int // exclusive end offset of each part; one for a single-part object
	read      http.Header
	multipart bool
}

// rangesFor returns the Range headers and plaintext [start, end) of the
// boundary sweep of o (SSE-SPEC §2.3, §3.6): every part boundary and the
// 64 KiB package boundaries around it, ±1, single bytes and small spans,
// spans across boundaries, suffix and open-ended ranges, the last byte.
func rangesFor(o rangeObject) map[string][2]int {
	n := len(o.data)
	out := map[string][2]int{}
	add := func(a, b int) { // inclusive a..b, clipped
		a, b = max(a, 0), min(b, n-1)
		if a <= b {
			out[fmt.Sprintf("bytes=%d-%d", a, b)] = [2]int{a, b + 1}
		}
	}
	points := []int{0, n - 1}
	for _, end := range o.partEnds {
		pkg := end / 65536 * 65536
		points = append(points, end, pkg, pkg+65536, pkg-65536)
		add(end-65537, end+65537) // a span over the boundary and two packages
		out[fmt.Sprintf("bytes=%d-", end)] = [2]int{min(end, n), n}
	}
	for _, p := range points {
		for d := -1; d <= 1; d++ {
			add(p+d, p+d)
			add(p+d-2, p+d+2)
		}
	}
	last := n // the last part's size
	if len(o.partEnds) > 1 {
		last = n - o.partEnds[len(o.partEnds)-2]
	}
	for _, s := range []int{1, 7, 8, last, last + 1, 65537} {
		if s <= n {
			out[fmt.Sprintf("bytes=-%d", s)] = [2]int{n - s, n}
		}
	}
	delete(out, fmt.Sprintf("bytes=%d-", n)) // unsatisfiable
	out[fmt.Sprintf("bytes=%d-", n-7)] = [2]int{n - 7, n}
	return out
}

// TestSSERanges reads SSE-S3, SSE-KMS and SSE-C objects, single-part and
// multipart with unaligned parts (5 MiB + 1, 5 MiB + 1, 7 bytes), by
// ranges at every part and package boundary (SSE-SPEC §2.3, §3.6),
// by part number (whole-object ETag, x-amz-mp-parts-count), and HEAD with
// Range. SQLite only: the reads do not depend on the metadata backend.
func TestSSERanges(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "rng")
	createKMSKey(t, e, "app-key")
	k := newCustomerKey(31)
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	modes := []struct {
		name       string
		write      http.Header
		read       http.Header
		create     func(*s3.CreateMultipartUploadInput)
		partCustom *customerKey
	}{
		{"SSE-S3", hdr(hSSE, "AES256"), nil, func(in *s3.CreateMultipartUploadInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 }, nil},
		{"SSE-KMS", hdr(hSSE, "aws:kms", hKID, "app-key"), nil, func(in *s3.CreateMultipartUploadInput) {
			in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String("app-key")
		}, nil},
		{"SSE-C", k.trio(), k.trio(), func(in *s3.CreateMultipartUploadInput) {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
		}, &k},
	}
	var objects []rangeObject
	for _, m := range modes {
		single := random(3*65536 + 5)
		if resp, body := e.raw(t, alice(), http.MethodPut, "/rng/"+m.name+"-single", single, m.write); resp.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
		objects = append(objects, rangeObject{key: m.name + "-single", data: single, partEnds: []int{len(single)}, read: m.read})

		in := &s3.CreateMultipartUploadInput{Bucket: aws.String("rng"), Key: aws.String(m.name + "-multi")}
		m.create(in)
		up, err := c.CreateMultipartUpload(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var all []byte
		var parts []types.CompletedPart
		var ends []int
		for i, size := range []int{5*mib + 1, 5*mib + 1, 7} {
			p := random(size)
			parts = append(parts, ssecUploadPart(t, c, "rng", m.name+"-multi", aws.ToString(up.UploadId), int32(i+1), p, m.partCustom))
			all = append(all, p...)
			ends = append(ends, len(all))
		}
		if _, err := complete(c, "rng", m.name+"-multi", aws.ToString(up.UploadId), parts...); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, rangeObject{key: m.name + "-multi", data: all, partEnds: ends, read: m.read, multipart: true})
	}

	for _, o := range objects {
		t.Run(o.key, func(t *testing.T) {
			resp, _ := e.raw(t, alice(), http.MethodHead, "/rng/"+o.key, nil, o.read)
			etag := resp.Header.Get("ETag")
			for rng, want := range rangesFor(o) {
				h := o.read.Clone()
				if h == nil {
					h = http.Header{}
				}
				h.Set("Range", rng)
				resp, body := e.raw(t, alice(), http.MethodGet, "/rng/"+o.key, nil, h)
				wantCR := fmt.Sprintf("bytes %d-%d/%d", want[0], want[1]-1, len(o.data))
				if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != wantCR || !bytes.Equal(body, o.data[want[0]:want[1]]) {
					t.Fatalf("%s: %d %s, %d bytes, want %s, %d bytes (equal: %v)", rng, resp.StatusCode, resp.Header.Get("Content-Range"),
						len(body), wantCR, want[1]-want[0], bytes.Equal(body, o.data[want[0]:want[1]]))
				}
			}
			t.Run("HEAD with Range", func(t *testing.T) {
				h := o.read.Clone()
				if h == nil {
					h = http.Header{}
				}
				h.Set("Range", "bytes=65535-65536")
				resp, _ := e.raw(t, alice(), http.MethodHead, "/rng/"+o.key, nil, h)
				if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Length") != "2" {
					t.Fatalf("got %d Content-Length %s", resp.StatusCode, resp.Header.Get("Content-Length"))
				}
				h.Set("Range", fmt.Sprintf("bytes=%d-", len(o.data)))
				if resp, _ := e.raw(t, alice(), http.MethodHead, "/rng/"+o.key, nil, h); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
					t.Fatalf("unsatisfiable: %d", resp.StatusCode)
				}
			})
			t.Run("partNumber", func(t *testing.T) {
				start := 0
				for i, end := range o.partEnds {
					resp, body := e.raw(t, alice(), http.MethodGet, fmt.Sprintf("/rng/%s?partNumber=%d", o.key, i+1), nil, o.read)
					if resp.StatusCode/100 != 2 || !bytes.Equal(body, o.data[start:end]) || resp.Header.Get("ETag") != etag {
						t.Fatalf("part %d: %d, %d bytes, ETag %s want %s", i+1, resp.StatusCode, len(body), resp.Header.Get("ETag"), etag)
					}
					if o.multipart && resp.Header.Get("x-amz-mp-parts-count") != strconv.Itoa(len(o.partEnds)) {
						t.Fatalf("part %d: x-amz-mp-parts-count %q", i+1, resp.Header.Get("x-amz-mp-parts-count"))
					}
					start = end
				}
			})
		})
	}
}
