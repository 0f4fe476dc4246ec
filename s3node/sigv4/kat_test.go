package sigv4

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Known-answer tests from the AWS documentation ("Signature Calculations for
// the Authorization Header", "Authenticating Requests: Using Query
// Parameters", "Signature Calculations for the Authorization Header:
// Transferring Payload in Multiple Chunks" and its trailer variant), all
// with AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, us-east-1.

var awsDocTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func docRequest(t *testing.T, method, target, host string, headers map[string]string, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, "http://"+host+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Host = host
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestAWSDocumentationExamples(t *testing.T) {
	const host = "examplebucket.s3.amazonaws.com"
	auth := func(signed, sig string) string {
		return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=" + signed + ",Signature=" + sig
	}
	tests := []struct {
		name    string
		method  string
		target  string
		headers map[string]string
		body    string
	}{
		{"GetObject with Range", "GET", "/test.txt", map[string]string{
			"Range":                "bytes=0-9",
			"X-Amz-Content-Sha256": emptySHA256Hex,
			"X-Amz-Date":           "20130524T000000Z",
			"Authorization":        auth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
		}, ""},
		{"PutObject", "PUT", "/test$file.text", map[string]string{
			"Date":                 "Fri, 24 May 2013 00:00:00 GMT",
			"X-Amz-Date":           "20130524T000000Z",
			"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
			"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			"Authorization":        auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
		}, "Welcome to Amazon S3."},
		{"GetBucketLifecycle", "GET", "/?lifecycle", map[string]string{
			"X-Amz-Content-Sha256": emptySHA256Hex,
			"X-Amz-Date":           "20130524T000000Z",
			"Authorization":        auth("host;x-amz-content-sha256;x-amz-date", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
		}, ""},
		{"ListObjects", "GET", "/?max-keys=2&prefix=J", map[string]string{
			"X-Amz-Content-Sha256": emptySHA256Hex,
			"X-Amz-Date":           "20130524T000000Z",
			"Authorization":        auth("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
		}, ""},
		{"Presigned GetObject", "GET", "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Region: testRegion, Now: fixedNow(awsDocTime)}
			out := serveOnce(t, docRequest(t, tc.method, tc.target, host, tc.headers, tc.body), opts)
			if out.err != nil {
				t.Fatalf("verify: %v", out.err)
			}
			if string(out.body) != tc.body || out.res.AccessKeyID != testAccessKey {
				t.Fatalf("body %q, key %q", out.body, out.res.AccessKeyID)
			}
			// One bit less in the signature must fail.
			h := tc.headers["Authorization"]
			target := tc.target
			if h != "" {
				tc.headers["Authorization"] = h[:len(h)-1] + "0"
			} else {
				target = target[:len(target)-1] + "0"
			}
			out = serveOnce(t, docRequest(t, tc.method, target, host, tc.headers, tc.body), opts)
			wantCode(t, out.err, "SignatureDoesNotMatch")
		})
	}
}

// chunkedDocBody is the body of the AWS chunked-upload examples: 66560
// bytes of 'a' in a 65536-byte and a 1024-byte chunk.
func chunkedDocBody(sigs []string, trailer string) string {
	var b strings.Builder
	for i, n := range []int{65536, 1024, 0} {
		b.WriteString(strconv.FormatInt(int64(n), 16) + ";chunk-signature=" + sigs[i] + "\r\n")
		if n > 0 {
			b.WriteString(strings.Repeat("a", n) + "\r\n")
		}
	}
	b.WriteString(trailer)
	b.WriteString("\r\n")
	return b.String()
}

func TestAWSDocumentationChunkedUpload(t *testing.T) {
	sigs := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	body := chunkedDocBody(sigs, "")
	if len(body) != 66824 {
		t.Fatalf("encoded length %d, AWS says 66824", len(body))
	}
	headers := map[string]string{
		"X-Amz-Date":                   "20130524T000000Z",
		"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
		"Content-Encoding":             "aws-chunked",
		"X-Amz-Decoded-Content-Length": "66560",
		"X-Amz-Content-Sha256":         StreamingSignedPayload,
		"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class," +
			"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
	}
	opts := Options{Region: testRegion, Now: fixedNow(awsDocTime)}
	out := serveOnce(t, docRequest(t, "PUT", "/examplebucket/chunkObject.txt", "s3.amazonaws.com", headers, body), opts)
	if out.err != nil {
		t.Fatalf("verify: %v", out.err)
	}
	if string(out.body) != strings.Repeat("a", 66560) || out.res.DecodedContentLength != 66560 {
		t.Fatalf("decoded %d bytes", len(out.body))
	}
	// Swap the first chunk signature for the second: the chain breaks.
	bad := chunkedDocBody([]string{sigs[1], sigs[1], sigs[2]}, "")
	out = serveOnce(t, docRequest(t, "PUT", "/examplebucket/chunkObject.txt", "s3.amazonaws.com", headers, bad), opts)
	wantCode(t, out.err, "SignatureDoesNotMatch")
}

// TestAWSDocumentationChunkedTrailer checks the chunk chain, the trailer
// signature and the CRC32C trailer of the AWS example "Signature
// calculation for streaming uploads with trailers" from its seed signature.
func TestAWSDocumentationChunkedTrailer(t *testing.T) {
	sigs := []string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
	trailer := "x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
	res := &Result{
		Payload:              PayloadStreamingSignedTrailer,
		DecodedContentLength: 66560,
		Trailer:              "x-amz-checksum-crc32c",
		signingKey:           signingKey([]byte(testSecret), "20130524", testRegion, service),
		signature:            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
		timestamp:            "20130524T000000Z",
		scope:                "20130524/us-east-1/s3/aws4_request",
		maxChunk:             DefaultMaxChunkSize,
	}
	got, err := io.ReadAll(res.Body(io.NopCloser(strings.NewReader(chunkedDocBody(sigs, trailer)))))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 66560 || res.Trailers().Get("x-amz-checksum-crc32c") != "sOO8/Q==" {
		t.Fatalf("decoded %d bytes, trailers %v", len(got), res.Trailers())
	}
}
