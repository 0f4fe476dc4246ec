package sigv4

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

const validAuthz = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"

func TestParseAuthorization(t *testing.T) {
	sig := "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	cred := "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	sh := "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"
	tests := []struct{ name, h, code string }{
		{"valid with spaces", validAuthz, ""},
		{"valid without spaces", "AWS4-HMAC-SHA256 " + cred + "," + sh + ",Signature=" + sig, ""},
		{"components reordered", "AWS4-HMAC-SHA256 Signature=" + sig + ", " + sh + ", " + cred, ""},
		{"access key with slash", "AWS4-HMAC-SHA256 Credential=AK/IA/20130524/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig, ""},
		{"sigv2", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "InvalidRequest"},
		{"sigv4a", "AWS4-ECDSA-P256-SHA256 Credential=x", "InvalidRequest"},
		{"unknown algorithm", "Bearer abc", "InvalidArgument"},
		{"algorithm only", "AWS4-HMAC-SHA256", "AuthorizationHeaderMalformed"},
		{"missing signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh, "AuthorizationHeaderMalformed"},
		{"missing signed headers", "AWS4-HMAC-SHA256 " + cred + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"missing credential", "AWS4-HMAC-SHA256 " + sh + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"duplicate credential", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + sh + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"unknown component", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + sig + ", Foo=bar", "AuthorizationHeaderMalformed"},
		{"component without =", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature", "AuthorizationHeaderMalformed"},
		{"short signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=abc", "AuthorizationHeaderMalformed"},
		{"non-hex signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("z", 64), "AuthorizationHeaderMalformed"},
		{"credential too short", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3, " + sh + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"credential bad date", "AWS4-HMAC-SHA256 Credential=AK/2013-05-24/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"credential wrong service", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/ec2/aws4_request, " + sh + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"credential wrong terminal", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, " + sh + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"credential empty key", "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, " + sh + ", Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"signed headers unsorted", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=range;host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"signed headers upper case", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"signed headers empty name", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;range, Signature=" + sig, "AuthorizationHeaderMalformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAuthorization(tc.h)
			if err == nil {
				wantCode(t, nil, tc.code)
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

// TestVerifyHeaderRules covers request-level rules on top of a valid
// Authorization header (the AWS GetObject example).
func TestVerifyHeaderRules(t *testing.T) {
	base := func() *http.Request {
		r, _ := http.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.Header.Set("Range", "bytes=0-9")
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("Authorization", validAuthz)
		return r
	}
	opts := Options{Region: testRegion, Now: fixedNow(awsDocTime)}
	tests := []struct {
		name   string
		mutate func(*http.Request)
		code   string
	}{
		{"valid", func(*http.Request) {}, ""},
		{"missing date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, "AccessDenied"},
		{"bad date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "2013-05-24T00:00:00Z") }, "AccessDenied"},
		{"credential date differs", func(r *http.Request) { r.Header.Set("X-Amz-Date", "20130523T235959Z") }, "AuthorizationHeaderMalformed"},
		{"host not signed", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(validAuthz, "host;", "", 1))
		}, "AuthorizationHeaderMalformed"},
		{"date not signed", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(validAuthz, ";x-amz-date", "", 1))
		}, "AuthorizationHeaderMalformed"},
		{"signed header missing", func(r *http.Request) { r.Header.Del("Range") }, "SignatureDoesNotMatch"},
		{"value with folded spaces", func(r *http.Request) { r.Header.Set("Range", "  bytes=0-9 ") }, ""},
		{"streaming without decoded length", func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", StreamingSignedPayload)
		}, "MissingContentLength"},
		{"sigv4a streaming", func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
		}, "NotImplemented"},
		{"upper-case sha256", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", strings.ToUpper(emptySHA256Hex)) }, "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mutate(r)
			_, err := Verify(context.Background(), r, testLookup, opts)
			wantCode(t, err, tc.code)
		})
	}
}
