package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Messages of SSE-SPEC Appendix B, as the tests expect them.
const (
	wantMsgIncompatible  = "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
	wantMsgNeedAlgorithm = "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
	wantMsgBadAlgorithm  = "The Encryption request you specified is not valid. Supported value: AES256."
	wantMsgNeedKey       = "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
	wantMsgInvalidKey    = "The secret key was invalid for the specified algorithm."
	wantMsgMD5Mismatch   = "The calculated MD5 hash of the key did not match the hash that was provided."
	wantMsgNeedMD5       = "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
	wantMsgInsecure      = "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
	wantMsgNeedParams    = "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
	wantMsgWrongKey      = "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."
	wantMsgNotApplicable = "The encryption parameters are not applicable to this object."
	wantMsgSSEOnRead     = "x-amz-server-side-encryption header is not supported for this operation."
	wantMsgUploadEnc     = "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters."
	wantMsgKeyMismatch   = "The provided encryption parameters did not match the ones used originally."
	wantMsgUnsupported   = "The encryption method specified is not supported"
	wantMsgKMSRequired   = "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
	wantMsgNotSigned     = "There were headers present in the request which were not signed"
)

// s3Error is the parsed <Error> body of a raw response.
type s3Error struct {
	Code, Message, ArgumentName, ArgumentValue string
}

// sseErr is an expected error: status, code, message and, when argName is
// set, the ArgumentName/ArgumentValue elements. An empty msg or code is
// not checked.
type sseErr struct {
	status            int
	code, msg         string
	argName, argValue string
}

// checkRaw fails unless resp/body is the error want. HEAD responses must
// have no body; only their status is checked.
func checkRaw(t *testing.T, method string, resp *http.Response, body []byte, want sseErr) {
	t.Helper()
	if resp.StatusCode != want.status {
		t.Fatalf("%s: status %d, want %d (%s)", method, resp.StatusCode, want.status, body)
	}
	if method == http.MethodHead {
		if len(body) != 0 {
			t.Fatalf("HEAD error with a body: %q", body)
		}
		return
	}
	var got s3Error
	if err := xml.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: error body %q: %v", method, body, err)
	}
	if (want.code != "" && got.Code != want.code) || (want.msg != "" && got.Message != want.msg) {
		t.Fatalf("%s: got %s %q, want %s %q", method, got.Code, got.Message, want.code, want.msg)
	}
	if want.argName != "" && (got.ArgumentName != want.argName || got.ArgumentValue != want.argValue) {
		t.Fatalf("%s: argument %q=%q, want %q=%q", method, got.ArgumentName, got.ArgumentValue, want.argName, want.argValue)
	}
}

// hdr builds a header from name/value pairs; a value may be empty.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[http.CanonicalHeaderKey(kv[i])] = append(h[http.CanonicalHeaderKey(kv[i])], kv[i+1])
	}
	return h
}

// trio is the SSE-C header trio of k, plus extra name/value pairs.
func (k customerKey) trio(extra ...string) http.Header {
	return hdr(append([]string{
		"x-amz-server-side-encryption-customer-algorithm", "AES256",
		"x-amz-server-side-encryption-customer-key", k.b64,
		"x-amz-server-side-encryption-customer-key-MD5", k.md5,
	}, extra...)...)
}

// ssecGet is a GetObjectInput for bucket/key with k's trio (k nil: none).
func ssecGet(bucket, key string, k *customerKey) *s3.GetObjectInput {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if k != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
	}
	return in
}

func b64md5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// headerErrCase is one malformed set of encryption headers (SSE-SPEC
// §1.3 W1–W8, §4.1) with the error every write and read answers.
type headerErrCase struct {
	name string
	h    http.Header
	want sseErr
}

const argSSE = "x-amz-server-side-encryption"

// customerHeaderErrors are the W rows that concern the SSE-C trio itself:
// a read answers them as a write does.
func customerHeaderErrors() []headerErrCase {
	k := newCustomerKey(1)
	short := []byte("0123456789")
	const alg, key, kmd5 = "x-amz-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-key", "x-amz-server-side-encryption-customer-key-MD5"
	return []headerErrCase{
		{"W2 key and MD5 without algorithm", hdr(key, k.b64, kmd5, k.md5), sseErr{400, "InvalidArgument", wantMsgNeedAlgorithm, argSSE, "null"}},
		{"W3 algorithm AES128", hdr(alg, "AES128", key, k.b64, kmd5, k.md5), sseErr{400, "InvalidEncryptionAlgorithmError", wantMsgBadAlgorithm, argSSE, "AES128"}},
		{"W4 no key", hdr(alg, "AES256", kmd5, k.md5), sseErr{400, "InvalidArgument", wantMsgNeedKey, "", ""}},
		{"W5 key not base64", hdr(alg, "AES256", key, "not base64!", kmd5, k.md5), sseErr{400, "InvalidArgument", wantMsgInvalidKey, argSSE, "null"}},
		{"W7 MD5 of another key", hdr(alg, "AES256", key, k.b64, kmd5, newCustomerKey(2).md5), sseErr{400, "InvalidArgument", wantMsgMD5Mismatch, argSSE, "null"}},
		{"W7 MD5 of the base64 text", hdr(alg, "AES256", key, k.b64, kmd5, b64md5([]byte(k.b64))), sseErr{400, "InvalidArgument", wantMsgMD5Mismatch, argSSE, "null"}},
		{"W8 MD5 missing", hdr(alg, "AES256", key, k.b64), sseErr{400, "InvalidArgument", wantMsgNeedMD5, "", ""}},
		{"W6 10-byte key", hdr(alg, "AES256", key, base64.StdEncoding.EncodeToString(short), kmd5, b64md5(short)), sseErr{400, "InvalidArgument", wantMsgInvalidKey, argSSE, "null"}},
	}
}

// writeHeaderErrors are all the header errors of a write: the SSE-C rows,
// W1, and the SSE-S3/SSE-KMS header errors of §4.1 and §5.
func writeHeaderErrors() []headerErrCase {
	k := newCustomerKey(1)
	return append(customerHeaderErrors(),
		headerErrCase{"W1 SSE-C with AES256", k.trio(argSSE, "AES256"), sseErr{400, "InvalidArgument", wantMsgIncompatible, argSSE, "AES256"}},
		headerErrCase{"W1 SSE-C with aws:kms", k.trio(argSSE, "aws:kms"), sseErr{400, "InvalidArgument", wantMsgIncompatible, argSSE, "aws:kms"}},
		headerErrCase{"SSE empty", hdr(argSSE, ""), sseErr{400, "InvalidArgument", wantMsgUnsupported, argSSE, ""}},
		headerErrCase{"SSE aes:kms", hdr(argSSE, "aes:kms"), sseErr{400, "InvalidArgument", wantMsgUnsupported, argSSE, "aes:kms"}},
		headerErrCase{"SSE AES128", hdr(argSSE, "AES128"), sseErr{400, "InvalidArgument", wantMsgUnsupported, argSSE, "AES128"}},
		headerErrCase{"AES256 with a KMS key id", hdr(argSSE, "AES256", "x-amz-server-side-encryption-aws-kms-key-id", "app-key"),
			sseErr{400, "InvalidArgument", wantMsgKMSRequired, "x-amz-server-side-encryption-aws-kms-key-id", "app-key"}},
		headerErrCase{"KMS key id without aws:kms", hdr("x-amz-server-side-encryption-aws-kms-key-id", "app-key"),
			sseErr{400, "InvalidArgument", wantMsgKMSRequired, "x-amz-server-side-encryption-aws-kms-key-id", "app-key"}},
		headerErrCase{"bad SSE-KMS context", hdr(argSSE, "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id", "app-key", "x-amz-server-side-encryption-context", "bm90IGpzb24="),
			sseErr{400, "InvalidArgument", "", "x-amz-server-side-encryption-context", "bm90IGpzb24="}},
	)
}

// TestSSEWriteHeaderErrors checks every header error of SSE-SPEC §1.3
// (W1–W8) and §4.1 on PutObject and CreateMultipartUpload: status, Code,
// Message, ArgumentName/Value, and that nothing was stored.
func TestSSEWriteHeaderErrors(t *testing.T) {
	e := newEnv(t, "")
	mustCreateBucket(t, e.client(alice()), "werr")
	for _, tc := range writeHeaderErrors() {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, alice(), http.MethodPut, "/werr/obj", []byte("data"), tc.h)
			checkRaw(t, http.MethodPut, resp, body, tc.want)
			resp, body = e.raw(t, alice(), http.MethodPost, "/werr/mpu?uploads", nil, tc.h)
			checkRaw(t, http.MethodPost, resp, body, tc.want)
		})
	}
	if resp, _ := e.raw(t, alice(), http.MethodHead, "/werr/obj", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("a refused PUT stored the object: HEAD %d", resp.StatusCode)
	}
	out, err := e.client(alice()).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("werr")})
	if err != nil || len(out.Uploads) != 0 {
		t.Fatalf("refused CreateMultipartUpload left uploads: %v %v", out, err)
	}
}

// TestSSEReadErrors checks R1–R6 and the SSE-C header rows on GetObject,
// HeadObject (status only) and GetObjectAttributes, for an SSE-C, a plain
// and an SSE-S3 object.
func TestSSEReadErrors(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	mustCreateBucket(t, c, "rerr")
	k := newCustomerKey(1)
	for _, p := range []struct {
		key string
		h   http.Header
	}{{"c", k.trio()}, {"plain", nil}, {"s3", hdr(argSSE, "AES256")}} {
		if resp, body := e.raw(t, alice(), http.MethodPut, "/rerr/"+p.key, []byte("secret data"), p.h); resp.StatusCode != 200 {
			t.Fatalf("PUT %s: %d %s", p.key, resp.StatusCode, body)
		}
	}
	// R3: a 16-byte key sent with its own MD5 (botocore's double encoding
	// gives a 44-byte one; any length other than 32 is the same row).
	short := bytes.Repeat([]byte{1}, 16)
	r3 := hdr("x-amz-server-side-encryption-customer-algorithm", "AES256",
		"x-amz-server-side-encryption-customer-key", base64.StdEncoding.EncodeToString(short),
		"x-amz-server-side-encryption-customer-key-MD5", b64md5(short))
	cases := []struct {
		name, key string
		h         http.Header
		want      sseErr
	}{
		{"R1 SSE-C object without headers", "c", nil, sseErr{400, "InvalidRequest", wantMsgNeedParams, "", ""}},
		{"R2 SSE-C object with another key", "c", newCustomerKey(2).trio(), sseErr{403, "AccessDenied", wantMsgWrongKey, "", ""}},
		{"R3 key of the wrong length, consistent MD5", "c", r3, sseErr{403, "AccessDenied", wantMsgWrongKey, "", ""}},
		{"R4 plain object with SSE-C headers", "plain", k.trio(), sseErr{400, "InvalidRequest", wantMsgNotApplicable, "", ""}},
		{"R4 SSE-S3 object with SSE-C headers", "s3", k.trio(), sseErr{400, "InvalidRequest", wantMsgNotApplicable, "", ""}},
		{"R5 algorithm AES128", "c", hdr("x-amz-server-side-encryption-customer-algorithm", "AES128", "x-amz-server-side-encryption-customer-key", k.b64,
			"x-amz-server-side-encryption-customer-key-MD5", k.md5), sseErr{400, "InvalidEncryptionAlgorithmError", wantMsgBadAlgorithm, argSSE, "AES128"}},
		{"R6 AES256 on a plain object", "plain", hdr(argSSE, "AES256"), sseErr{400, "InvalidArgument", wantMsgSSEOnRead, argSSE, "AES256"}},
		{"R6 AES256 on an SSE-S3 object", "s3", hdr(argSSE, "AES256"), sseErr{400, "InvalidArgument", wantMsgSSEOnRead, argSSE, "AES256"}},
		{"R6 aws:kms on an SSE-C object with its key", "c", k.trio(argSSE, "aws:kms"), sseErr{400, "InvalidArgument", wantMsgSSEOnRead, argSSE, "aws:kms"}},
		{"R6 KMS key id", "plain", hdr("x-amz-server-side-encryption-aws-kms-key-id", "app-key"), sseErr{400, "InvalidArgument", wantMsgSSEOnRead, argSSE, "app-key"}},
	}
	for _, tc := range customerHeaderErrors() {
		if strings.HasPrefix(tc.name, "W6") {
			// R3 on a read of an SSE-C object (above).
			tc.want = sseErr{403, "AccessDenied", wantMsgWrongKey, "", ""}
		}
		cases = append(cases, struct {
			name, key string
			h         http.Header
			want      sseErr
		}{tc.name, "c", tc.h, tc.want})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{http.MethodGet, http.MethodHead} {
				resp, body := e.raw(t, alice(), m, "/rerr/"+tc.key, nil, tc.h)
				checkRaw(t, m, resp, body, tc.want)
			}
			h := tc.h.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set("x-amz-object-attributes", "ETag,ObjectSize")
			resp, body := e.raw(t, alice(), http.MethodGet, "/rerr/"+tc.key+"?attributes", nil, h)
			checkRaw(t, "GetObjectAttributes", resp, body, tc.want)
		})
	}
	t.Run("right key reads", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			if resp, body := e.raw(t, alice(), m, "/rerr/c", nil, k.trio()); resp.StatusCode != 200 || (m == http.MethodGet && string(body) != "secret data") {
				t.Fatalf("%s with the key: %d %q", m, resp.StatusCode, body)
			}
		}
	})
}

// TestSSEReadPrecedence checks the order of read checks (SSE-SPEC §1.3
// "Error precedence on reads"): the object first, then the part number,
// then SSE, then preconditions.
func TestSSEReadPrecedence(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	ctx := context.Background()
	mustCreateBucket(t, c, "prec")
	k := newCustomerKey(3)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("prec"), Key: aws.String("c"), Body: strings.NewReader("hello"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.b64), SSECustomerKeyMD5: aws.String(k.md5)})
	if err != nil {
		t.Fatal(err)
	}
	etag := aws.ToString(put.ETag)
	// A 2-part SSE-C object.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("prec"), Key: aws.String("mp"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.b64), SSECustomerKeyMD5: aws.String(k.md5)})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, p := range [][]byte{bytes.Repeat([]byte{'a'}, 5*mib), []byte("tail")} {
		parts = append(parts, ssecUploadPart(t, c, "prec", "mp", aws.ToString(up.UploadId), int32(i+1), p, &k))
	}
	if _, err := complete(c, "prec", "mp", aws.ToString(up.UploadId), parts...); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		h          http.Header
		want       sseErr
	}{
		{"404 before SSE-C", "/prec/missing", newCustomerKey(9).trio(), sseErr{404, "NoSuchKey", "", "", ""}},
		{"404 before R6", "/prec/missing", hdr(argSSE, "AES256"), sseErr{404, "NoSuchKey", "", "", ""}},
		{"404 before malformed trio", "/prec/missing", hdr("x-amz-server-side-encryption-customer-algorithm", "AES128"), sseErr{404, "NoSuchKey", "", "", ""}},
		// An out-of-range part number is 400 InvalidPart (SSE-SPEC §9),
		// and it comes before the key check.
		{"part number before the key", "/prec/mp?partNumber=5", nil, sseErr{400, "InvalidPart", "", "", ""}},
		{"keyless If-None-Match is R1, not 304", "/prec/c", hdr("If-None-Match", etag), sseErr{400, "InvalidRequest", wantMsgNeedParams, "", ""}},
		{"keyless If-Match mismatch is R1, not 412", "/prec/c", hdr("If-Match", `"0123"`), sseErr{400, "InvalidRequest", wantMsgNeedParams, "", ""}},
		{"wrong key with If-None-Match is R2", "/prec/c", newCustomerKey(4).trio("If-None-Match", etag), sseErr{403, "AccessDenied", wantMsgWrongKey, "", ""}},
		{"If-Match mismatch with the key is 412", "/prec/c", k.trio("If-Match", `"0123"`), sseErr{412, "PreconditionFailed", "", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{http.MethodGet, http.MethodHead} {
				resp, body := e.raw(t, alice(), m, tc.path, nil, tc.h)
				checkRaw(t, m, resp, body, tc.want)
			}
		})
	}
	t.Run("If-None-Match with the key is 304", func(t *testing.T) {
		resp, _ := e.raw(t, alice(), http.MethodGet, "/prec/c", nil, k.trio("If-None-Match", etag))
		if resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != etag {
			t.Fatalf("got %d ETag %s", resp.StatusCode, resp.Header.Get("ETag"))
		}
	})
}

// TestSSECBlockedBucket checks W10 (SSE-SPEC §1.8, D8): a bucket whose
// default encryption blocks SSE-C refuses SSE-C PUT, POST and
// CreateMultipartUpload with 403, still serves existing SSE-C objects and
// accepts other writes.
func TestSSECBlockedBucket(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	ctx := context.Background()
	mustCreateBucket(t, c, "blk")
	k := newCustomerKey(5)
	if resp, body := e.raw(t, alice(), http.MethodPut, "/blk/old", []byte("old data"), k.trio()); resp.StatusCode != 200 {
		t.Fatalf("PUT before blocking: %d %s", resp.StatusCode, body)
	}
	if err := putEncryption(c, "blk", sseRule(types.ServerSideEncryptionAes256, "", nil, types.EncryptionTypeSseC)); err != nil {
		t.Fatal(err)
	}
	denied := sseErr{403, "AccessDenied", "", "", ""}
	resp, body := e.raw(t, alice(), http.MethodPut, "/blk/new", []byte("x"), k.trio())
	checkRaw(t, "PUT", resp, body, denied)
	if !strings.Contains(string(body), "blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C)") {
		t.Fatalf("message does not name the block: %s", body)
	}
	resp, body = e.raw(t, alice(), http.MethodPost, "/blk/new?uploads", nil, k.trio())
	checkRaw(t, "CreateMultipartUpload", resp, body, denied)

	pol := signedPolicy(t, aliceKey, aliceSecret, time.Now().Add(time.Hour), []any{
		map[string]string{"bucket": "blk"}, []any{"starts-with", "$key", ""},
		[]any{"starts-with", "$x-amz-server-side-encryption-customer-algorithm", ""},
		[]any{"starts-with", "$x-amz-server-side-encryption-customer-key", ""},
		[]any{"starts-with", "$x-amz-server-side-encryption-customer-key-md5", ""},
	})
	resp, body = e.postForm(t, "/blk", fieldList(pol, "key", "posted",
		"x-amz-server-side-encryption-customer-algorithm", "AES256",
		"x-amz-server-side-encryption-customer-key", k.b64,
		"x-amz-server-side-encryption-customer-key-md5", k.md5), "f", []byte("x"))
	checkRaw(t, "POST", resp, body, denied)

	if resp, body := e.raw(t, alice(), http.MethodGet, "/blk/old", nil, k.trio()); resp.StatusCode != 200 || string(body) != "old data" {
		t.Fatalf("reading an existing SSE-C object: %d %q", resp.StatusCode, body)
	}
	out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("blk"), Key: aws.String("plain"), Body: strings.NewReader("p")})
	if err != nil || out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("a write without SSE-C: %v %v", out, err)
	}
}
