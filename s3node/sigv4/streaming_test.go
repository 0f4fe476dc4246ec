package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// stream describes an aws-chunked request to build and sign.
type stream struct {
	mode        string // x-amz-content-sha256
	data        []byte
	chunks      []int // chunk sizes; the rest of data goes in a last chunk
	trailer     string
	trailerVal  string // override the computed checksum
	decodedLen  int64  // override x-amz-decoded-content-length
	truncate    int    // drop this many bytes from the end of the body
	corruptAt   int    // flip a data byte of this chunk after signing (1-based)
	badTrailSig bool
}

func (s stream) signed() bool { return strings.HasPrefix(s.mode, "STREAMING-AWS4-HMAC") }

func (s stream) split() [][]byte {
	var out [][]byte
	rest := s.data
	for _, n := range s.chunks {
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	if len(rest) > 0 {
		out = append(out, rest)
	}
	return append(out, nil)
}

// encode writes the aws-chunked body. Chunk signatures come from the SDK's
// StreamSigner (its event-stream string to sign with empty headers is the
// S3 chunk string to sign); the SDK has no trailer signer, so the trailer
// signature is computed here as the AWS documentation describes (and as the
// AWS example checked in TestAWSDocumentationChunkedTrailer confirms).
func (s stream) encode(t *testing.T, seed string) []byte {
	t.Helper()
	seedBytes, _ := hex.DecodeString(seed)
	signer := v4.NewStreamSigner(testCreds, "s3", testRegion, seedBytes)
	var b bytes.Buffer
	prev := seed
	for i, c := range s.split() {
		fmt.Fprintf(&b, "%x", len(c))
		if s.signed() {
			sig, err := signer.GetSignature(context.Background(), nil, c, testNow)
			if err != nil {
				t.Fatal(err)
			}
			prev = hex.EncodeToString(sig)
			b.WriteString(";chunk-signature=" + prev)
		}
		b.WriteString("\r\n")
		if len(c) > 0 {
			if s.corruptAt == i+1 {
				c = append([]byte{c[0] ^ 1}, c[1:]...)
			}
			b.Write(c)
			b.WriteString("\r\n")
		}
	}
	if s.trailer != "" {
		v := s.trailerVal
		if v == "" {
			h, _, _ := NewChecksum(s.trailer)
			h.Write(s.data)
			v = base64.StdEncoding.EncodeToString(h.Sum(nil))
		}
		line := s.trailer + ":" + v
		b.WriteString(line + "\r\n")
		if s.signed() {
			sum := sha256.Sum256([]byte(line + "\n"))
			sts := "AWS4-HMAC-SHA256-TRAILER\n" + testNow.Format("20060102T150405Z") + "\n" +
				testNow.Format("20060102") + "/" + testRegion + "/s3/aws4_request\n" + prev + "\n" + hex.EncodeToString(sum[:])
			sig := docHMAC(docSigningKey(), sts)
			if s.badTrailSig {
				sig[0] ^= 1
			}
			b.WriteString("x-amz-trailer-signature:" + hex.EncodeToString(sig) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func docHMAC(k []byte, s string) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func docSigningKey() []byte {
	k := docHMAC([]byte("AWS4"+testSecret), testNow.Format("20060102"))
	for _, s := range []string{testRegion, "s3", "aws4_request"} {
		k = docHMAC(k, s)
	}
	return k
}

// request signs the headers with the SDK, then encodes the body with the
// resulting seed signature.
func (s stream) request(t *testing.T) *http.Request {
	t.Helper()
	n := len(s.encode(t, strings.Repeat("0", 64))) - s.truncate
	r, err := http.NewRequest("PUT", "http://bucket.s3.example.com/big.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.ContentLength = int64(n)
	decoded := int64(len(s.data))
	if s.decodedLen != 0 {
		decoded = s.decodedLen
	}
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(decoded, 10))
	r.Header.Set("X-Amz-Content-Sha256", s.mode)
	if s.trailer != "" {
		r.Header.Set("X-Amz-Trailer", s.trailer)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), testCreds, r, s.mode, "s3", testRegion, testNow); err != nil {
		t.Fatal(err)
	}
	a := r.Header.Get("Authorization")
	body := s.encode(t, a[strings.LastIndex(a, "=")+1:])
	body = body[:len(body)-s.truncate]
	r.Body = httpBody(body)
	return r
}

func httpBody(b []byte) *nopCloser { return &nopCloser{bytes.NewReader(b)} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func TestStreaming(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 9000) // 144000 bytes
	const (
		signed   = StreamingSignedPayload
		signedTr = StreamingSignedPayloadTrailer
		unsTr    = StreamingUnsignedPayloadTrailer
	)
	tests := []struct {
		name string
		s    stream
		opts Options
		code string
	}{
		{name: "signed", s: stream{mode: signed, data: data, chunks: []int{65536, 65536}}},
		{name: "signed single chunk", s: stream{mode: signed, data: data[:10]}},
		{name: "signed empty", s: stream{mode: signed}},
		{name: "signed bad chunk signature", s: stream{mode: signed, data: data, chunks: []int{65536}, corruptAt: 2}, code: "SignatureDoesNotMatch"},
		{name: "signed truncated", s: stream{mode: signed, data: data, chunks: []int{65536}, truncate: 100}, code: "IncompleteBody"},
		{name: "signed truncated in final chunk", s: stream{mode: signed, data: data, truncate: 40}, code: "IncompleteBody"},
		{name: "decoded length too large", s: stream{mode: signed, data: data, decodedLen: int64(len(data)) + 1}, code: "IncompleteBody"},
		{name: "decoded length too small", s: stream{mode: signed, data: data, decodedLen: int64(len(data)) - 1}, code: "InvalidRequest"},
		{name: "chunk over the limit", s: stream{mode: signed, data: data}, opts: Options{MaxChunkSize: 65536}, code: "InvalidRequest"},
		{name: "signed with trailer header refused", s: stream{mode: signed, data: data, trailer: "x-amz-checksum-crc32"}, code: "InvalidRequest"},
		{name: "signed trailer crc32c", s: stream{mode: signedTr, data: data, chunks: []int{8192}, trailer: "x-amz-checksum-crc32c"}},
		{name: "signed trailer sha256", s: stream{mode: signedTr, data: data, trailer: "x-amz-checksum-sha256"}},
		{name: "signed trailer checksum mismatch", s: stream{mode: signedTr, data: data, trailer: "x-amz-checksum-crc32c", trailerVal: "AAAAAA=="}, code: "BadDigest"},
		{name: "signed trailer bad signature", s: stream{mode: signedTr, data: data, trailer: "x-amz-checksum-crc32c", badTrailSig: true}, code: "SignatureDoesNotMatch"},
		{name: "signed trailer bad chunk", s: stream{mode: signedTr, data: data, trailer: "x-amz-checksum-crc32", corruptAt: 1}, code: "SignatureDoesNotMatch"},
		{name: "unsigned trailer crc32", s: stream{mode: unsTr, data: data, chunks: []int{65536}, trailer: "x-amz-checksum-crc32"}},
		{name: "unsigned trailer crc32c", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-crc32c"}},
		{name: "unsigned trailer crc64nvme", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-crc64nvme"}},
		{name: "unsigned trailer sha1", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-sha1"}},
		{name: "unsigned trailer sha256", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-sha256"}},
		{name: "unsigned trailer mismatch", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-crc64nvme", trailerVal: "AAAAAAAAAAA="}, code: "BadDigest"},
		{name: "unsigned trailer invalid base64", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-crc32", trailerVal: "!!"}, code: "InvalidRequest"},
		{name: "unsigned trailer truncated", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-crc32", truncate: 30}, code: "IncompleteBody"},
		{name: "unknown trailer", s: stream{mode: unsTr, data: data, trailer: "x-amz-checksum-md5", trailerVal: "AAAA"}, code: "InvalidRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Region, tc.opts.Now = testRegion, fixedNow(testNow)
			out := serveOnce(t, tc.s.request(t), tc.opts)
			wantCode(t, out.err, tc.code)
			if tc.code != "" {
				return
			}
			if !bytes.Equal(out.body, tc.s.data) {
				t.Fatalf("decoded %d bytes, want %d", len(out.body), len(tc.s.data))
			}
			if tc.s.trailer != "" && out.res.Trailers().Get(tc.s.trailer) == "" {
				t.Fatalf("trailers %v", out.res.Trailers())
			}
		})
	}
}

// TestStreamingNoDataBeforeVerification checks that bytes of a chunk whose
// signature fails never reach the caller.
func TestStreamingNoDataBeforeVerification(t *testing.T) {
	data := bytes.Repeat([]byte{'x'}, 3000)
	r := stream{mode: StreamingSignedPayload, data: data, chunks: []int{1000}, corruptAt: 2}.request(t)
	res, err := Verify(context.Background(), r, testLookup, Options{Now: fixedNow(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	body := res.Body(r.Body)
	got := 0
	buf := make([]byte, 100)
	for {
		n, err := body.Read(buf)
		got += n
		if err != nil {
			wantCode(t, err, "SignatureDoesNotMatch")
			break
		}
	}
	if got != 1000 {
		t.Fatalf("read %d bytes before the error, want 1000", got)
	}
	// The error is sticky.
	if _, err := body.Read(buf); err == nil {
		t.Fatal("read after error succeeded")
	}
}
