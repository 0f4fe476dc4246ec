package sse

import (
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"testing"

	"github.com/s3kms/s3kms/s3node/s3err"
)

func errArg(msg, name, value string) *wantErr {
	return &wantErr{s3err.InvalidArgument, 400, msg,
		[]s3err.Field{field("ArgumentName", name), field("ArgumentValue", value)}}
}

func TestParseRequest(t *testing.T) {
	const (
		sse = "x-amz-server-side-encryption"
		kid = "x-amz-server-side-encryption-aws-kms-key-id"
		ctx = "x-amz-server-side-encryption-context"
		bke = "x-amz-server-side-encryption-bucket-key-enabled"
	)
	ctxOK := base64.StdEncoding.EncodeToString([]byte(`{"a":"b","c":"d"}`))
	badCtx := func(v string) *wantErr {
		return errArg("The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map", ctx, v)
	}
	unsupported := func(v string) *wantErr { return errArg("The encryption method specified is not supported", sse, v) }
	kmsRequired := func(name, v string) *wantErr {
		return errArg("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms", name, v)
	}
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	trioA := []string{"x-amz-server-side-encryption-customer-algorithm", "AES256", "x-amz-server-side-encryption-customer-key", keyA, "x-amz-server-side-encryption-customer-key-MD5", keyAMD5}
	with := func(a []string, kv ...string) []string { return append(append([]string{}, a...), kv...) }

	tests := []struct {
		name string
		kv   []string
		want Request
		err  *wantErr
	}{
		{name: "nothing", want: Request{Type: None}},
		{name: "SSE-S3", kv: []string{sse, "AES256"}, want: Request{Type: S3}},
		{name: "SSE-KMS default key (D6)", kv: []string{sse, "aws:kms"}, want: Request{Type: KMS}},
		{name: "SSE-KMS key, context, bucket key", kv: []string{sse, "aws:kms", kid, "testkey-1", ctx, ctxOK, bke, "TRUE"},
			want: Request{Type: KMS, KMSKeyID: "testkey-1", Context: map[string]string{"a": "b", "c": "d"}, BucketKeyEnabled: true, BucketKeySet: true}},
		{name: "empty context map", kv: []string{sse, "aws:kms", ctx, enc("{}")}, want: Request{Type: KMS, Context: map[string]string{}}},
		{name: "bucket key false with SSE-S3", kv: []string{sse, "AES256", bke, "false"}, want: Request{Type: S3, BucketKeySet: true}},
		{name: "SSE-C", kv: trioA, want: Request{Type: C}},
		{name: "empty SSE value", kv: []string{sse, ""}, err: unsupported("")},
		{name: "unknown SSE value aes:kms", kv: []string{sse, "aes:kms"}, err: unsupported("aes:kms")},
		{name: "unknown SSE value AES128", kv: []string{sse, "AES128"}, err: unsupported("AES128")},
		{name: "SSE value is case-sensitive", kv: []string{sse, "aes256"}, err: unsupported("aes256")},
		{name: "aws:kms:dsse not offered", kv: []string{sse, "aws:kms:dsse"}, err: unsupported("aws:kms:dsse")},
		{name: "W1 SSE-C + AES256", kv: with(trioA, sse, "AES256"), err: errW1("AES256")},
		{name: "W1 SSE-C + aws:kms", kv: with(trioA, sse, "aws:kms", kid, "k"), err: errW1("aws:kms")},
		{name: "W1 before unsupported value", kv: with(trioA, sse, "bogus"), err: errW1("bogus")},
		{name: "W2 via ParseRequest", kv: []string{"x-amz-server-side-encryption-customer-key", keyA}, err: errW2},
		{name: "W7 via ParseRequest", kv: []string{"x-amz-server-side-encryption-customer-algorithm", "AES256", "x-amz-server-side-encryption-customer-key", keyA, "x-amz-server-side-encryption-customer-key-MD5", keyBMD5}, err: errW7},
		{name: "copy-source trio is not the request's", kv: []string{"x-amz-copy-source-server-side-encryption-customer-algorithm", "AES128"}, want: Request{Type: None}},
		{name: "key id with AES256", kv: []string{sse, "AES256", kid, "testkey-1"}, err: kmsRequired(kid, "testkey-1")},
		{name: "key id without SSE", kv: []string{kid, "testkey-1"}, err: kmsRequired(kid, "testkey-1")},
		{name: "key id with SSE-C", kv: with(trioA, kid, "testkey-1"), err: kmsRequired(kid, "testkey-1")},
		{name: "context without aws:kms", kv: []string{sse, "AES256", ctx, ctxOK}, err: kmsRequired(ctx, ctxOK)},
		{name: "context not base64", kv: []string{sse, "aws:kms", ctx, "{\"a\":\"b\"}"}, err: badCtx("{\"a\":\"b\"}")},
		{name: "context not JSON", kv: []string{sse, "aws:kms", ctx, enc("a=b")}, err: badCtx(enc("a=b"))},
		{name: "context JSON array", kv: []string{sse, "aws:kms", ctx, enc(`["a"]`)}, err: badCtx(enc(`["a"]`))},
		{name: "context JSON null", kv: []string{sse, "aws:kms", ctx, enc(`null`)}, err: badCtx(enc(`null`))},
		{name: "context non-string value", kv: []string{sse, "aws:kms", ctx, enc(`{"a":1}`)}, err: badCtx(enc(`{"a":1}`))},
		{name: "context invalid UTF-8", kv: []string{sse, "aws:kms", ctx, enc("{\"a\":\"\xff\"}")}, err: badCtx(enc("{\"a\":\"\xff\"}"))},
		{name: "bucket key not boolean", kv: []string{sse, "aws:kms", bke, "yes"}, err: errArg("The header 'x-amz-server-side-encryption-bucket-key-enabled' shall be true or false", bke, "yes")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i+1 < len(tc.kv); i += 2 {
				h.Add(tc.kv[i], tc.kv[i+1])
			}
			got, err := ParseRequest(h)
			checkErr(t, err, tc.err)
			if tc.err != nil {
				return
			}
			if tc.want.Type == C {
				if got.CustomerKey == nil || got.CustomerKey.KeyMD5() != keyAMD5 {
					t.Fatalf("customer key = %v", got.CustomerKey)
				}
				got.CustomerKey = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[Type]string{None: "none", S3: "SSE-S3", KMS: "SSE-KMS", C: "SSE-C", 9: "invalid"} {
		if typ.String() != want {
			t.Errorf("%d: %q", int(typ), typ.String())
		}
	}
}

func TestSecure(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name      string
		tls       bool
		remote    string
		xfp       []string
		allowHTTP bool
		want      bool
	}{
		{name: "TLS", tls: true, remote: "192.0.2.1:1234", want: true},
		{name: "plain HTTP", remote: "192.0.2.1:1234"},
		{name: "allow HTTP switch", remote: "192.0.2.1:1234", allowHTTP: true, want: true},
		{name: "trusted proxy https", remote: "10.1.2.3:555", xfp: []string{"https"}, want: true},
		{name: "trusted proxy HTTPS upper case", remote: "10.1.2.3:555", xfp: []string{"HTTPS"}, want: true},
		{name: "trusted IPv6 proxy", remote: "[fd00::1]:555", xfp: []string{"https"}, want: true},
		{name: "trusted IPv4-mapped proxy", remote: "[::ffff:10.0.0.1]:555", xfp: []string{"https"}, want: true},
		{name: "trusted proxy http", remote: "10.1.2.3:555", xfp: []string{"http"}},
		{name: "trusted proxy without header", remote: "10.1.2.3:555"},
		{name: "untrusted address https", remote: "192.0.2.1:1234", xfp: []string{"https"}},
		{name: "spoofed first entry", remote: "10.1.2.3:555", xfp: []string{"https, http"}},
		{name: "spoofed first header", remote: "10.1.2.3:555", xfp: []string{"https", "http"}},
		{name: "last entry https", remote: "10.1.2.3:555", xfp: []string{"http, https"}, want: true},
		{name: "unparsable remote", remote: "somewhere", xfp: []string{"https"}},
		{name: "remote without port", remote: "10.1.2.3", xfp: []string{"https"}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("PUT", "/b/k", nil)
			r.RemoteAddr = tc.remote
			r.TLS = nil
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, v := range tc.xfp {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if got := Secure(r, proxies, tc.allowHTTP); got != tc.want {
				t.Errorf("Secure = %v, want %v", got, tc.want)
			}
		})
	}
	if Secure(&http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{"X-Forwarded-Proto": {"https"}}}, nil, false) {
		t.Error("no trusted proxies: want false")
	}
}

// TestErrInsecure is SSE-SPEC §1.3 W9 (D3).
func TestErrInsecure(t *testing.T) {
	checkErr(t, ErrInsecure(), &wantErr{s3err.InvalidRequest, 400,
		"Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.", nil})
}
