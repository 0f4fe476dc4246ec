package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/wire"
)

// ssecUploadPart uploads part n with k's trio (nil: none) and checks that
// the response echoes the trio.
func ssecUploadPart(t *testing.T, c *s3.Client, bucket, key, id string, n int32, data []byte, k *customerKey) types.CompletedPart {
	t.Helper()
	in := &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(n), Body: bytes.NewReader(data)}
	if k != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
	}
	out, err := c.UploadPart(context.Background(), in)
	if err != nil {
		t.Fatalf("UploadPart %d: %v", n, err)
	}
	if k != nil && (aws.ToString(out.SSECustomerAlgorithm) != "AES256" || aws.ToString(out.SSECustomerKeyMD5) != k.md5) {
		t.Fatalf("UploadPart %d does not echo the trio: %q %q", n, aws.ToString(out.SSECustomerAlgorithm), aws.ToString(out.SSECustomerKeyMD5))
	}
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}
}

// compositeETag is the multipart ETag made of the given part ETags
// (SSE-SPEC §2.2): MD5 of the binary part ETags, "-N".
func compositeETag(t *testing.T, parts []types.CompletedPart) string {
	t.Helper()
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
		if err != nil || len(b) != md5.Size {
			t.Fatalf("part ETag %s is not 32 hex digits", aws.ToString(p.ETag))
		}
		h.Write(b)
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(parts))
}

// completeRaw sends CompleteMultipartUpload with the given headers.
func (e *env) completeRaw(t *testing.T, path, id string, h http.Header, parts []types.CompletedPart) (*http.Response, []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString("<CompleteMultipartUpload>")
	for _, p := range parts {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", aws.ToInt32(p.PartNumber), aws.ToString(p.ETag))
	}
	b.WriteString("</CompleteMultipartUpload>")
	return e.raw(t, alice(), http.MethodPost, path+"?uploadId="+url.QueryEscape(id), []byte(b.String()), h)
}

// completeETag is the ETag of a CompleteMultipartUploadResult.
func completeETag(t *testing.T, body []byte) string {
	t.Helper()
	var res struct{ ETag string }
	if err := xml.Unmarshal(body, &res); err != nil {
		t.Fatalf("Complete body %q: %v", body, err)
	}
	return res.ETag
}

// TestSSECMultipart checks SSE-SPEC §1.5 and §2.1 for an SSE-C upload:
// the headers of Create, UploadPart and Complete, the UploadPart and
// UploadPartCopy errors, Complete with and without the trio (D4), ListParts
// sizes, the composite ETag, and SSE-C headers on uploads that are not
// SSE-C.
func TestSSECMultipart(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	ctx := context.Background()
	mustCreateBucket(t, c, "mpc")
	mustPut(t, c, "mpc", "src", []byte("copy source"))
	k, other := newCustomerKey(11), newCustomerKey(12)
	part1, part2 := bytes.Repeat([]byte("0123456789abcdef"), 5*mib/16), []byte("last part")

	// start creates an SSE-C upload of key and checks Create's headers.
	start := func(key string) string {
		resp, body := e.raw(t, alice(), http.MethodPost, "/mpc/"+key+"?uploads", nil, k.trio())
		if resp.StatusCode != 200 || resp.Header.Get("x-amz-server-side-encryption-customer-algorithm") != "AES256" ||
			resp.Header.Get("x-amz-server-side-encryption-customer-key-MD5") != k.md5 || resp.Header.Get(argSSE) != "" {
			t.Fatalf("Create: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		var res struct {
			UploadID string `xml:"UploadId"`
		}
		if err := xml.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		return res.UploadID
	}
	idA := start("a")
	partPath := func(key, id string, n int) string {
		return fmt.Sprintf("/mpc/%s?partNumber=%d&uploadId=%s", key, n, url.QueryEscape(id))
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		want sseErr
	}{
		{"UploadPart without the trio", nil, sseErr{400, "InvalidRequest", wantMsgUploadEnc, "", ""}},
		{"UploadPart with another key", other.trio(), sseErr{400, "InvalidRequest", wantMsgKeyMismatch, "", ""}},
		{"UploadPart with a bad MD5", hdr("x-amz-server-side-encryption-customer-algorithm", "AES256",
			"x-amz-server-side-encryption-customer-key", k.b64, "x-amz-server-side-encryption-customer-key-MD5", other.md5),
			sseErr{400, "InvalidArgument", wantMsgMD5Mismatch, argSSE, "null"}},
		{"UploadPartCopy without the destination trio", hdr("x-amz-copy-source", "/mpc/src"), sseErr{400, "InvalidRequest", wantMsgUploadEnc, "", ""}},
		{"UploadPartCopy with another destination key", other.trio("x-amz-copy-source", "/mpc/src"), sseErr{400, "InvalidRequest", wantMsgKeyMismatch, "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, alice(), http.MethodPut, partPath("a", idA, 1), []byte("x"), tc.h)
			checkRaw(t, http.MethodPut, resp, body, tc.want)
		})
	}
	t.Run("UploadPartCopy with the destination trio", func(t *testing.T) {
		resp, body := e.raw(t, alice(), http.MethodPut, partPath("a", idA, 3), nil, k.trio("x-amz-copy-source", "/mpc/src"))
		if resp.StatusCode != 200 || resp.Header.Get("x-amz-server-side-encryption-customer-key-MD5") != k.md5 {
			t.Fatalf("got %d %v %s", resp.StatusCode, resp.Header, body)
		}
	})

	parts := []types.CompletedPart{
		ssecUploadPart(t, c, "mpc", "a", idA, 1, part1, &k),
		ssecUploadPart(t, c, "mpc", "a", idA, 2, part2, &k),
	}
	if aws.ToString(parts[0].ETag) == md5hex(part1) || aws.ToString(parts[1].ETag) == md5hex(part2) {
		t.Fatal("SSE-C part ETag is the plaintext MD5")
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpc"), Key: aws.String("a"), UploadId: aws.String(idA)})
	if err != nil {
		t.Fatalf("ListParts without the key: %v", err)
	}
	if len(lp.Parts) != 3 || aws.ToInt64(lp.Parts[0].Size) != int64(len(part1)) || aws.ToInt64(lp.Parts[1].Size) != int64(len(part2)) ||
		aws.ToString(lp.Parts[0].ETag) != aws.ToString(parts[0].ETag) {
		t.Fatalf("ListParts: %+v", lp.Parts)
	}

	resp, body := e.completeRaw(t, "/mpc/a", idA, other.trio(), parts)
	checkRaw(t, "Complete with another key", resp, body, sseErr{400, "InvalidRequest", wantMsgKeyMismatch, "", ""})
	resp, body = e.completeRaw(t, "/mpc/a", idA, hdr("x-amz-server-side-encryption-customer-algorithm", "AES256"), parts)
	checkRaw(t, "Complete with a malformed trio", resp, body, sseErr{400, "InvalidArgument", wantMsgNeedKey, "", ""})
	resp, body = e.completeRaw(t, "/mpc/a", idA, k.trio(), parts)
	if resp.StatusCode != 200 || resp.Header.Get("x-amz-server-side-encryption-customer-key-MD5") != k.md5 ||
		resp.Header.Get("x-amz-server-side-encryption-customer-algorithm") != "AES256" || completeETag(t, body) != compositeETag(t, parts) {
		t.Fatalf("Complete with the key: %d %v %s (want ETag %s)", resp.StatusCode, resp.Header, body, compositeETag(t, parts))
	}

	// Complete without the trio (D4): 200, nothing echoed.
	idB := start("b")
	partsB := []types.CompletedPart{ssecUploadPart(t, c, "mpc", "b", idB, 1, part2, &k)}
	resp, body = e.completeRaw(t, "/mpc/b", idB, nil, partsB)
	if resp.StatusCode != 200 || resp.Header.Get("x-amz-server-side-encryption-customer-algorithm") != "" ||
		resp.Header.Get("x-amz-server-side-encryption-customer-key-MD5") != "" {
		t.Fatalf("Complete without the trio: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	g, err := c.GetObject(ctx, ssecGet("mpc", "a", &k))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, append(append([]byte{}, part1...), part2...)) || aws.ToString(g.ETag) != compositeETag(t, parts) ||
		aws.ToString(g.SSECustomerKeyMD5) != k.md5 {
		t.Fatalf("GET: %d bytes, ETag %s, want %s", len(got), aws.ToString(g.ETag), compositeETag(t, parts))
	}

	t.Run("SSE-C headers on uploads that are not SSE-C", func(t *testing.T) {
		for _, h := range []http.Header{nil, hdr(argSSE, "AES256")} {
			resp, body := e.raw(t, alice(), http.MethodPost, "/mpc/p?uploads", nil, h)
			var res struct {
				UploadID string `xml:"UploadId"`
			}
			if resp.StatusCode != 200 || xml.Unmarshal(body, &res) != nil {
				t.Fatalf("Create: %d %s", resp.StatusCode, body)
			}
			resp, body = e.raw(t, alice(), http.MethodPut, partPath("p", res.UploadID, 1), []byte("x"), k.trio())
			checkRaw(t, "UploadPart", resp, body, sseErr{400, "InvalidRequest", wantMsgUploadEnc, "", ""})
		}
	})
}

// TestSSEMultipartKMSAndS3 runs an SSE-S3 and an SSE-KMS multipart upload
// on each backend: the headers of Create, UploadPart and Complete
// (SSE-SPEC §2.1: CTX on Create only, BKE only when true), SSE headers on
// UploadPart ignored (D7), part and object ETags (§2.2), plaintext sizes
// (§2.3) and the round trip.
func TestSSEMultipartKMSAndS3(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.client(alice())
		mustCreateBucket(t, c, "mpk")
		if _, err := e.kms.Client(t, e.kms.Admin).CreateKey(ctx, wire.CreateKeyRequest{ID: "app-key"}); err != nil {
			t.Fatal(err)
		}
		ctxJSON, _ := json.Marshal(map[string]string{"app": "tests"})
		ctxB64 := base64.StdEncoding.EncodeToString(ctxJSON)
		part1 := bytes.Repeat([]byte("fedcba9876543210"), 5*mib/16+1)
		part2 := []byte("12345")
		for _, tc := range []struct {
			name     string
			create   http.Header
			want     map[string]string // response headers of Create
			wantPart map[string]string // of UploadPart and Complete
			md5ETag  bool
		}{
			{"SSE-S3", hdr(argSSE, "AES256"), map[string]string{argSSE: "AES256"}, map[string]string{argSSE: "AES256"}, true},
			{"SSE-KMS", hdr(argSSE, "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id", "app-key",
				"x-amz-server-side-encryption-context", ctxB64, "x-amz-server-side-encryption-bucket-key-enabled", "true"),
				map[string]string{argSSE: "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "app-key",
					"x-amz-server-side-encryption-context": ctxB64, "x-amz-server-side-encryption-bucket-key-enabled": "true"},
				map[string]string{argSSE: "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "app-key",
					"x-amz-server-side-encryption-context": "", "x-amz-server-side-encryption-bucket-key-enabled": "true"}, false},
			{"SSE-KMS without bucket key", hdr(argSSE, "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id", "app-key"),
				map[string]string{argSSE: "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "app-key",
					"x-amz-server-side-encryption-context": "", "x-amz-server-side-encryption-bucket-key-enabled": ""},
				map[string]string{argSSE: "aws:kms", "x-amz-server-side-encryption-bucket-key-enabled": ""}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := strings.ReplaceAll(tc.name, " ", "-")
				checkHeaders := func(step string, h http.Header, want map[string]string) {
					t.Helper()
					for k, v := range want {
						if h.Get(k) != v {
							t.Fatalf("%s: %s = %q, want %q", step, k, h.Get(k), v)
						}
					}
					if h.Get("x-amz-server-side-encryption-customer-algorithm") != "" {
						t.Fatalf("%s: SSE-C header on a %s upload", step, tc.name)
					}
				}
				resp, body := e.raw(t, alice(), http.MethodPost, "/mpk/"+key+"?uploads", nil, tc.create)
				var res struct {
					UploadID string `xml:"UploadId"`
				}
				if resp.StatusCode != 200 || xml.Unmarshal(body, &res) != nil {
					t.Fatalf("Create: %d %s", resp.StatusCode, body)
				}
				checkHeaders("Create", resp.Header, tc.want)
				var parts []types.CompletedPart
				for i, data := range [][]byte{part1, part2} {
					// D7: SSE-S3/KMS headers on UploadPart are ignored,
					// even when they name another mode.
					h := hdr(argSSE, "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id", "other-key")
					if i == 1 {
						h = hdr(argSSE, "AES256")
					}
					resp, body := e.raw(t, alice(), http.MethodPut, fmt.Sprintf("/mpk/%s?partNumber=%d&uploadId=%s", key, i+1, url.QueryEscape(res.UploadID)), data, h)
					if resp.StatusCode != 200 {
						t.Fatalf("UploadPart %d: %d %s", i+1, resp.StatusCode, body)
					}
					checkHeaders("UploadPart", resp.Header, tc.wantPart)
					if et := resp.Header.Get("ETag"); (et == md5hex(data)) != tc.md5ETag {
						t.Fatalf("UploadPart ETag %s, plaintext MD5 %s, want MD5: %v", et, md5hex(data), tc.md5ETag)
					}
					parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(resp.Header.Get("ETag"))})
				}
				lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpk"), Key: aws.String(key), UploadId: aws.String(res.UploadID)})
				if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[0].Size) != int64(len(part1)) || aws.ToInt64(lp.Parts[1].Size) != int64(len(part2)) {
					t.Fatalf("ListParts: %v %v", lp, err)
				}
				resp, body = e.completeRaw(t, "/mpk/"+key, res.UploadID, hdr(argSSE, "aws:kms"), parts) // D7 on Complete
				if resp.StatusCode != 200 || completeETag(t, body) != compositeETag(t, parts) {
					t.Fatalf("Complete: %d %s", resp.StatusCode, body)
				}
				checkHeaders("Complete", resp.Header, tc.wantPart)
				resp, got := e.raw(t, alice(), http.MethodGet, "/mpk/"+key, nil, nil)
				if resp.StatusCode != 200 || !bytes.Equal(got, append(append([]byte{}, part1...), part2...)) ||
					resp.Header.Get("ETag") != compositeETag(t, parts) || resp.Header.Get("Content-Length") != fmt.Sprint(len(part1)+len(part2)) {
					t.Fatalf("GET: %d, %d bytes, %v", resp.StatusCode, len(got), resp.Header)
				}
				checkHeaders("GET", resp.Header, tc.wantPart)
			})
		}
	})
}
