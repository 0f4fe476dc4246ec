package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var (
	testCreds = aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	testNow   = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
)

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// req describes a request to sign with the SDK.
type req struct {
	method, url string
	header      http.Header
	body        []byte
	payload     string // x-amz-content-sha256; default: SHA-256 of body
	creds       aws.Credentials
	region      string
	at          time.Time
	presign     bool
	expires     string // X-Amz-Expires for presigned requests
}

// sign builds the request and signs it with aws-sdk-go-v2.
func (c req) sign(t *testing.T) *http.Request {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.url == "" {
		c.url = "http://bucket.s3.example.com/dir/object.txt"
	}
	if c.creds.AccessKeyID == "" {
		c.creds = testCreds
	}
	if c.region == "" {
		c.region = testRegion
	}
	if c.at.IsZero() {
		c.at = testNow
	}
	if c.payload == "" {
		c.payload = hashHex(c.body)
	}
	r, err := http.NewRequest(c.method, c.url, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		r.Header[k] = v
	}
	ctx := context.Background()
	// A fresh signer each time, configured as the S3 client configures it
	// (a shared one would cache the signing key of the first secret).
	sdkSigner := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if c.presign {
		if c.expires == "" {
			c.expires = "900"
		}
		q := r.URL.Query()
		q.Set("X-Amz-Expires", c.expires)
		r.URL.RawQuery = q.Encode()
		signed, hdr, err := sdkSigner.PresignHTTP(ctx, c.creds, r, c.payload, "s3", c.region, c.at)
		if err != nil {
			t.Fatal(err)
		}
		out, err := http.NewRequest(c.method, signed, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if !strings.EqualFold(k, "host") {
				out.Header[k] = v
			}
		}
		return out
	}
	r.Header.Set("X-Amz-Content-Sha256", c.payload)
	if err := sdkSigner.SignHTTP(ctx, c.creds, r, c.payload, "s3", c.region, c.at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifySDK(t *testing.T) {
	opts := Options{Region: testRegion, Now: fixedNow(testNow)}
	body := []byte("hello, s3kms")
	meta := http.Header{"X-Amz-Meta-Color": {"blue"}, "Content-Type": {"text/plain"}}
	tests := []struct {
		name   string
		req    req
		mutate func(*http.Request)
		opts   *Options
		code   string
		mode   PayloadMode
	}{
		{name: "header GET", req: req{}, mode: PayloadSHA256},
		{name: "header PUT sha256", req: req{method: "PUT", body: body, header: meta}, mode: PayloadSHA256},
		{name: "header PUT unsigned payload", req: req{method: "PUT", body: body, payload: UnsignedPayload}, mode: PayloadUnsigned},
		{name: "header PUT sha256 mismatch", req: req{method: "PUT", body: body, payload: hashHex([]byte("other"))}, code: "XAmzContentSHA256Mismatch"},
		{name: "invalid payload hash", req: req{method: "PUT", body: body, payload: "abc"}, code: "InvalidArgument"},
		{name: "escaped key and query", req: req{url: "http://s3.example.com/bucket/a%20b/%C3%A9t%C3%A9~x.txt?list-type=2&prefix=a%2Fb&delimiter=%2F&empty"}, mode: PayloadSHA256},
		{name: "multiple header values and spaces", req: req{header: http.Header{"X-Amz-Meta-A": {"  x   y  ", "z"}}}, mode: PayloadSHA256},
		{name: "wrong secret", req: req{creds: aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "wrong"}}, code: "SignatureDoesNotMatch"},
		{name: "unknown access key", req: req{creds: aws.Credentials{AccessKeyID: "AKIANOBODY", SecretAccessKey: "x"}}, code: "InvalidAccessKeyId"},
		{name: "tampered header", req: req{method: "PUT", body: body, header: meta}, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Color", "red") }, code: "SignatureDoesNotMatch"},
		{name: "tampered content-type", req: req{method: "PUT", body: body, header: meta}, mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, code: "SignatureDoesNotMatch"},
		{name: "tampered path", req: req{}, mutate: func(r *http.Request) { r.URL.Path = "/dir/other.txt" }, code: "SignatureDoesNotMatch"},
		{name: "tampered method", req: req{}, mutate: func(r *http.Request) { r.Method = http.MethodDelete }, code: "SignatureDoesNotMatch"},
		{name: "tampered query", req: req{url: "http://b.s3.example.com/?prefix=a"}, mutate: func(r *http.Request) { r.URL.RawQuery = "prefix=b" }, code: "SignatureDoesNotMatch"},
		{name: "added query", req: req{url: "http://b.s3.example.com/?prefix=a"}, mutate: func(r *http.Request) { r.URL.RawQuery += "&versionId=1" }, code: "SignatureDoesNotMatch"},
		{name: "tampered host", req: req{}, mutate: func(r *http.Request) { r.Host = "evil.s3.example.com" }, code: "SignatureDoesNotMatch"},
		{name: "unsigned x-amz-meta header", req: req{}, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Extra", "1") }, code: "AccessDenied"},
		{name: "missing x-amz-content-sha256", req: req{}, mutate: func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, code: "InvalidRequest"},
		{name: "skew past", req: req{at: testNow.Add(-16 * time.Minute)}, code: "RequestTimeTooSkewed"},
		{name: "skew future", req: req{at: testNow.Add(16 * time.Minute)}, code: "RequestTimeTooSkewed"},
		{name: "skew within limit", req: req{at: testNow.Add(-14 * time.Minute)}, mode: PayloadSHA256},
		{name: "custom skew", req: req{at: testNow.Add(-2 * time.Minute)}, opts: &Options{Region: testRegion, Now: fixedNow(testNow), MaxSkew: time.Minute}, code: "RequestTimeTooSkewed"},
		{name: "wrong region", req: req{region: "eu-west-1"}, code: "AuthorizationHeaderMalformed"},
		{name: "any region", req: req{region: "eu-west-1"}, opts: &Options{Now: fixedNow(testNow)}, mode: PayloadSHA256},
		{name: "security token", req: req{creds: aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret, SessionToken: "tok"}}, code: "InvalidToken"},
		{name: "both mechanisms", req: req{}, mutate: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" }, code: "InvalidArgument"},
		{name: "no auth", req: req{}, mutate: func(r *http.Request) { r.Header.Del("Authorization") }, code: "AccessDenied"},

		{name: "presigned GET", req: req{presign: true, payload: UnsignedPayload}, mode: PayloadUnsigned},
		{name: "presigned PUT with signed meta", req: req{method: "PUT", presign: true, payload: UnsignedPayload, body: body, header: meta}, mode: PayloadUnsigned},
		{name: "presigned unsigned x-amz-meta", req: req{presign: true, payload: UnsignedPayload}, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Extra", "1") }, code: "AccessDenied"},
		{name: "presigned tampered meta", req: req{method: "PUT", presign: true, payload: UnsignedPayload, header: meta}, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Color", "red") }, code: "SignatureDoesNotMatch"},
		{name: "presigned tampered path", req: req{presign: true, payload: UnsignedPayload}, mutate: func(r *http.Request) { r.URL.Path = "/dir/x" }, code: "SignatureDoesNotMatch"},
		{name: "presigned expired", req: req{presign: true, payload: UnsignedPayload, at: testNow.Add(-901 * time.Second)}, code: "AccessDenied"},
		{name: "presigned long-lived still valid", req: req{presign: true, payload: UnsignedPayload, expires: "604800", at: testNow.Add(-6 * 24 * time.Hour)}, mode: PayloadUnsigned},
		{name: "presigned expires over 7 days", req: req{presign: true, payload: UnsignedPayload, expires: "604801"}, code: "AuthorizationQueryParametersError"},
		{name: "presigned negative expires", req: req{presign: true, payload: UnsignedPayload, expires: "-1"}, code: "AuthorizationQueryParametersError"},
		{name: "presigned not yet valid", req: req{presign: true, payload: UnsignedPayload, at: testNow.Add(time.Hour)}, code: "AccessDenied"},
		{name: "presigned wrong region", req: req{presign: true, payload: UnsignedPayload, region: "eu-west-1"}, code: "AuthorizationQueryParametersError"},
		{name: "presigned wrong secret", req: req{presign: true, payload: UnsignedPayload, creds: aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "x"}}, code: "SignatureDoesNotMatch"},
		{name: "presigned missing signature", req: req{presign: true, payload: UnsignedPayload}, mutate: func(r *http.Request) {
			q := r.URL.Query()
			q.Del("X-Amz-Signature")
			r.URL.RawQuery = q.Encode()
		}, code: "AuthorizationQueryParametersError"},
		{name: "presigned duplicate signature", req: req{presign: true, payload: UnsignedPayload}, mutate: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=" + strings.Repeat("0", 64) }, code: "AuthorizationQueryParametersError"},
		{name: "presigned with signed sha256 header", req: req{method: "PUT", presign: true, body: body, header: http.Header{"X-Amz-Content-Sha256": {hashHex(body)}}}, mode: PayloadSHA256},
		{name: "presigned sha256 mismatch", req: req{method: "PUT", presign: true, body: body, payload: hashHex(nil), header: http.Header{"X-Amz-Content-Sha256": {hashHex(nil)}}}, code: "XAmzContentSHA256Mismatch"},
		{name: "presigned sha256 without header", req: req{method: "PUT", presign: true, body: body}, code: "SignatureDoesNotMatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req.sign(t)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			o := opts
			if tc.opts != nil {
				o = *tc.opts
			}
			out := serveOnce(t, r, o)
			wantCode(t, out.err, tc.code)
			if tc.code != "" {
				return
			}
			if out.res.Payload != tc.mode {
				t.Errorf("payload mode %v, want %v", out.res.Payload, tc.mode)
			}
			if out.res.AccessKeyID != testAccessKey || out.res.Region != tc.req.regionOr() {
				t.Errorf("result %+v", out.res)
			}
			if !bytes.Equal(out.body, tc.req.body) {
				t.Errorf("body %q", out.body)
			}
		})
	}
}

func (c req) regionOr() string {
	if c.region == "" {
		return testRegion
	}
	return c.region
}

func TestVerifyNoAuthSentinel(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://b.example.com/k", nil)
	_, err := Verify(context.Background(), r, testLookup, Options{})
	if !errors.Is(err, ErrNoAuth) {
		t.Fatalf("err = %v", err)
	}
	r = req{creds: aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "x"}}.sign(t)
	_, err = Verify(context.Background(), r, testLookup, Options{Now: fixedNow(testNow)})
	if !errors.Is(err, ErrSignatureDoesNotMatch) || errors.Is(err, ErrNoAuth) || errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifyLookupError(t *testing.T) {
	boom := errors.New("db down")
	lookup := CredentialsFunc(func(context.Context, string) ([]byte, error) { return nil, boom })
	r := req{}.sign(t)
	_, err := Verify(context.Background(), r, lookup, Options{Now: fixedNow(testNow)})
	var e *Error
	if !errors.Is(err, boom) || errors.As(err, &e) {
		t.Fatalf("err = %v, want the lookup error unchanged", err)
	}
}

func TestVerifySecretWiped(t *testing.T) {
	var secret []byte
	lookup := CredentialsFunc(func(context.Context, string) ([]byte, error) {
		secret = []byte(testSecret)
		return secret, nil
	})
	if _, err := Verify(context.Background(), req{}.sign(t), lookup, Options{Now: fixedNow(testNow)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(secret, make([]byte, len(testSecret))) {
		t.Fatal("secret not wiped")
	}
}

func TestErrorsCarryNoSecrets(t *testing.T) {
	r := req{creds: aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "other"}}.sign(t)
	_, err := Verify(context.Background(), r, testLookup, Options{Now: fixedNow(testNow)})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	all := e.Error()
	for _, v := range e.Extra {
		all += v
	}
	sig := r.Header.Get("Authorization")
	sig = sig[strings.LastIndex(sig, "=")+1:]
	for _, s := range []string{testSecret, sig, "AWS4-HMAC-SHA256\n"} {
		if strings.Contains(all, s) {
			t.Fatalf("error %q leaks %q", all, s)
		}
	}
}

func TestParseQueryKeepsEncodedSlash(t *testing.T) {
	u, _ := url.Parse("http://h/bucket/a%2Fb/c")
	if got := canonicalURI(u); got != "/bucket/a%2Fb/c" {
		t.Fatalf("canonicalURI = %s", got)
	}
	u, _ = url.Parse("http://h/bucket/test$file.text")
	if got := canonicalURI(u); got != "/bucket/test%24file.text" {
		t.Fatalf("canonicalURI = %s", got)
	}
}
