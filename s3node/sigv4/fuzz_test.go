package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Seed corpora live under testdata/fuzz/<FuzzName>/; the seeds added with
// f.Add below cover the valid forms.

func FuzzParseAuthorization(f *testing.F) {
	f.Add(validAuthz)
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=" + strings.Repeat("a", 64))
	f.Add("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature==")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err == nil {
			if a.Credential.AccessKeyID == "" || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
				t.Fatalf("accepted incomplete header %q: %+v", h, a)
			}
		} else if err.Status == 0 || err.Code == "" {
			t.Fatalf("error without code/status: %+v", err)
		}
		// The whole verifier must not panic on it either.
		r, _ := http.NewRequest("GET", "http://b.example.com/k", nil)
		r.Header.Set("Authorization", h)
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
		_, _ = Verify(context.Background(), r, testLookup, Options{Now: fixedNow(awsDocTime)})
	})
}

func FuzzPresignedQuery(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=99999999999999999999")
	f.Add("a=%zz&&=&b")
	f.Fuzz(func(t *testing.T, q string) {
		r, err := http.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = q
		_, _ = Verify(context.Background(), r, testLookup, Options{Now: fixedNow(awsDocTime)})
		_ = canonicalQuery(parseQuery(q), "X-Amz-Signature")
	})
}

// fuzzResult is a Result for the decoder alone, with the AWS example key.
func fuzzResult(mode PayloadMode, decoded int64, trailer string) *Result {
	return &Result{
		Payload:              mode,
		DecodedContentLength: decoded,
		Trailer:              trailer,
		signingKey:           signingKey([]byte(testSecret), "20130524", testRegion, service),
		signature:            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
		timestamp:            "20130524T000000Z",
		scope:                "20130524/us-east-1/s3/aws4_request",
		maxChunk:             4096,
	}
}

func FuzzChunkedReader(f *testing.F) {
	f.Add(uint8(0), int64(5), []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"))
	f.Add(uint8(1), int64(0), []byte("0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"))
	f.Add(uint8(2), int64(3), []byte("3;chunk-signature="+strings.Repeat("0", 64)+"\r\nabc\r\n0;chunk-signature="+strings.Repeat("0", 64)+"\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:"+strings.Repeat("0", 64)+"\r\n\r\n"))
	f.Add(uint8(0), int64(1<<40), []byte("ffffffff\r\n"))
	f.Fuzz(func(t *testing.T, sel uint8, decoded int64, body []byte) {
		if decoded < 0 {
			decoded = -decoded
		}
		modes := []PayloadMode{PayloadStreamingUnsignedTrailer, PayloadStreamingSigned, PayloadStreamingSignedTrailer}
		mode := modes[int(sel)%len(modes)]
		trailer := ""
		if mode != PayloadStreamingSigned && sel&4 == 0 {
			trailer = checksumAlgos[int(sel>>3)%len(checksumAlgos)].header
		}
		res := fuzzResult(mode, decoded, trailer)
		cr := newChunkedReader(io.NopCloser(bytes.NewReader(body)), res)
		var out int64
		buf := make([]byte, 512)
		for {
			n, err := cr.Read(buf)
			out += int64(n)
			if c := cr.buf.Cap(); c > 2*res.maxChunk+4096 {
				t.Fatalf("buffer grew to %d bytes", c)
			}
			if out > decoded {
				t.Fatalf("decoded %d bytes, more than the declared %d", out, decoded)
			}
			if err == io.EOF {
				if out != decoded {
					t.Fatalf("EOF after %d bytes, declared %d", out, decoded)
				}
				return
			}
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("non-S3 error %T %v", err, err)
				}
				return
			}
		}
	})
}

func FuzzPostPolicy(f *testing.F) {
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00.000Z","conditions":[{"bucket":"b"},["starts-with","$key","u/"],["content-length-range",1,10],["eq","$acl","private"]]}`), "u/x", int64(5))
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range","1","99999999999999999999"]]}`), "", int64(0))
	f.Add([]byte(`{"conditions":[[]]}`), "k", int64(-1))
	f.Fuzz(func(t *testing.T, doc []byte, key string, size int64) {
		_, conds, err := parsePolicy(base64.StdEncoding.EncodeToString(doc))
		if err != nil {
			if err.Code != "InvalidPolicyDocument" {
				t.Fatalf("code %s", err.Code)
			}
			return
		}
		p := &PostResult{Conditions: conds}
		_ = p.CheckFields(map[string]string{"key": key, "bucket": "b", "acl": "private"})
		_ = p.CheckContentLength(size)
	})
}
