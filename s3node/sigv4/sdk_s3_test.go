package sigv4

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Server runs an httptest server that verifies every request with Verify
// (real clock) and records what it saw.
type s3Server struct {
	srv  *httptest.Server
	seen chan outcome
	reqs chan *http.Request
}

func newS3Server(t *testing.T, tls bool) *s3Server {
	t.Helper()
	s := &s3Server{seen: make(chan outcome, 16), reqs: make(chan *http.Request, 16)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := verifyAndRead(r, Options{Region: testRegion})
		s.reqs <- r
		s.seen <- out
		if out.err != nil {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
		if r.Method == http.MethodGet && strings.Contains(r.URL.RawQuery, "list-type=2") {
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bucket</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`)
		}
	})
	if tls {
		s.srv = httptest.NewTLSServer(h)
	} else {
		s.srv = httptest.NewServer(h)
	}
	t.Cleanup(s.srv.Close)
	return s
}

func (s *s3Server) client() *s3.Client {
	return s3.New(s3.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(s.srv.URL),
		UsePathStyle: true,
		// The default config.LoadDefaultConfig gives; s3.New alone leaves it unset.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		HTTPClient:                 s.srv.Client(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return testCreds, nil
		}),
	})
}

func (s *s3Server) next(t *testing.T) (outcome, *http.Request) {
	t.Helper()
	select {
	case o := <-s.seen:
		return o, <-s.reqs
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the server")
	}
	return outcome{}, nil
}

// onlyReader hides Seek so the SDK cannot compute the hash up front.
type onlyReader struct{ io.Reader }

// TestS3ClientPutObject runs aws-sdk-go-v2's s3.Client against the verifier:
// whatever payload mode and checksum trailer the SDK chooses must verify.
func TestS3ClientPutObject(t *testing.T) {
	data := bytes.Repeat([]byte("s3kms sigv4 "), 20000) // 240000 bytes, several 64 KiB chunks
	tests := []struct {
		name    string
		tls     bool
		algo    types.ChecksumAlgorithm
		key     string
		body    func() io.Reader
		trailer string
	}{
		{name: "default checksum over TLS", tls: true, trailer: "x-amz-checksum-crc32"},
		{name: "SHA256", tls: true, algo: types.ChecksumAlgorithmSha256, trailer: "x-amz-checksum-sha256"},
		{name: "CRC32C", tls: true, algo: types.ChecksumAlgorithmCrc32c, trailer: "x-amz-checksum-crc32c"},
		{name: "CRC64NVME", tls: true, algo: types.ChecksumAlgorithmCrc64nvme, trailer: "x-amz-checksum-crc64nvme"},
		{name: "SHA1", tls: true, algo: types.ChecksumAlgorithmSha1, trailer: "x-amz-checksum-sha1"},
		{name: "unseekable body", tls: true, body: func() io.Reader { return onlyReader{bytes.NewReader(data)} }, trailer: "x-amz-checksum-crc32"},
		{name: "special key", tls: true, key: "dir/a b+c=ü~!'()*,;:@&$.txt", trailer: "x-amz-checksum-crc32"},
		{name: "plain HTTP", tls: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newS3Server(t, tc.tls)
			key := tc.key
			if key == "" {
				key = "dir/object.bin"
			}
			var body io.Reader = bytes.NewReader(data)
			if tc.body != nil {
				body = tc.body()
			}
			_, err := s.client().PutObject(context.Background(), &s3.PutObjectInput{
				Bucket:            aws.String("bucket"),
				Key:               aws.String(key),
				Body:              body,
				ContentLength:     aws.Int64(int64(len(data))),
				ChecksumAlgorithm: tc.algo,
				Metadata:          map[string]string{"color": "blue"},
			})
			out, r := s.next(t)
			if out.err != nil {
				t.Fatalf("verify (%s, %s): %v", r.Header.Get("X-Amz-Content-Sha256"), r.Header.Get("X-Amz-Trailer"), out.err)
			}
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if !bytes.Equal(out.body, data) {
				t.Fatalf("decoded %d bytes, want %d", len(out.body), len(data))
			}
			t.Logf("payload %v, trailer %q, checksum headers %v", out.res.Payload, out.res.Trailer, checksumHeaders(r))
			if tc.trailer != "" {
				if out.res.Trailer != tc.trailer || out.res.Trailers().Get(tc.trailer) == "" {
					t.Fatalf("trailer %q %v, want %s", out.res.Trailer, out.res.Trailers(), tc.trailer)
				}
			}
		})
	}
}

func TestS3ClientOtherOperations(t *testing.T) {
	s := newS3Server(t, true)
	c := s.client()
	ctx := context.Background()
	_, _ = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("k ü/x"), Range: aws.String("bytes=0-9")})
	if out, _ := s.next(t); out.err != nil {
		t.Fatalf("GetObject: %v", out.err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bucket"), Prefix: aws.String("a/b c"), Delimiter: aws.String("/")}); err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if out, _ := s.next(t); out.err != nil {
		t.Fatalf("ListObjectsV2: %v", out.err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bucket"), Key: aws.String("x"), VersionId: aws.String("v+1")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if out, _ := s.next(t); out.err != nil {
		t.Fatalf("DeleteObject: %v", out.err)
	}
}

func TestS3PresignClient(t *testing.T) {
	s := newS3Server(t, true)
	p := s3.NewPresignClient(s.client(), func(o *s3.PresignOptions) { o.Expires = time.Hour })
	ctx := context.Background()
	data := []byte("presigned body")

	put, err := p.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:   aws.String("bucket"),
		Key:      aws.String("dir/pre signed.txt"),
		Metadata: map[string]string{"color": "blue"},
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, u string, hdr http.Header, body []byte) outcome {
		r, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if !strings.EqualFold(k, "host") {
				r.Header[k] = v
			}
		}
		resp, err := s.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		out, _ := s.next(t)
		return out
	}
	out := send(put.Method, put.URL, put.SignedHeader, data)
	if out.err != nil {
		t.Fatalf("presigned PUT: %v (signed headers %v)", out.err, put.SignedHeader)
	}
	if !out.res.Presigned || !bytes.Equal(out.body, data) {
		t.Fatalf("result %+v body %q", out.res, out.body)
	}
	// Dropping a signed header, or adding an unsigned x-amz-* one, fails.
	hdr := put.SignedHeader.Clone()
	hdr.Set("X-Amz-Meta-Color", "red")
	wantCode(t, send(put.Method, put.URL, hdr, data).err, "SignatureDoesNotMatch")
	hdr = put.SignedHeader.Clone()
	hdr.Set("X-Amz-Meta-Extra", "1")
	wantCode(t, send(put.Method, put.URL, hdr, data).err, "AccessDenied")

	get, err := p.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("a/ü b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if out := send(get.Method, get.URL, get.SignedHeader, nil); out.err != nil {
		t.Fatalf("presigned GET: %v", out.err)
	}
}

func checksumHeaders(r *http.Request) map[string]string {
	m := map[string]string{}
	for k, v := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") || strings.EqualFold(k, "x-amz-sdk-checksum-algorithm") {
			m[k] = v[0]
		}
	}
	return m
}
