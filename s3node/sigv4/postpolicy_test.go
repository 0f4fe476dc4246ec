package sigv4

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// presignPost asks aws-sdk-go-v2 for POST form fields.
func presignPost(t *testing.T, conditions []any, expires time.Duration) map[string]string {
	t.Helper()
	c := s3.New(s3.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String("https://s3.example.com"),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return testCreds, nil
		}),
	})
	p := s3.NewPresignClient(c)
	req, err := p.PresignPostObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"),
		Key:    aws.String("uploads/photo.jpg"),
	}, func(o *s3.PresignPostOptions) {
		o.Conditions = conditions
		o.Expires = expires
	})
	if err != nil {
		t.Fatal(err)
	}
	return req.Values
}

func TestPostPolicySDK(t *testing.T) {
	conds := []any{
		[]any{"starts-with", "$Content-Type", "image/"},
		[]any{"content-length-range", 1, 1024},
		map[string]string{"success_action_status": "201"},
	}
	base := presignPost(t, conds, time.Hour)
	opts := Options{Region: testRegion}
	ctx := context.Background()

	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			for k := range m {
				if strings.EqualFold(k, kv[i]) {
					delete(m, k)
				}
			}
			if kv[i+1] == "\x00" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name   string
		fields map[string]string
		opts   Options
		code   string // from VerifyPostPolicy
		check  string // from CheckFields
		size   int64
		sizeOK string
	}{
		{name: "valid", fields: with("Content-Type", "image/png", "success_action_status", "201"), size: 10},
		{name: "field names in any case", fields: with("content-type", "image/png", "Success_Action_Status", "201"), size: 1024},
		{name: "condition failed", fields: with("Content-Type", "text/html", "success_action_status", "201"), check: "AccessDenied"},
		{name: "extra field", fields: with("Content-Type", "image/png", "success_action_status", "201", "x-amz-meta-x", "1"), check: "AccessDenied"},
		{name: "x-ignore field allowed", fields: with("Content-Type", "image/png", "success_action_status", "201", "x-ignore-me", "1")},
		{name: "key changed", fields: with("key", "other", "Content-Type", "image/png", "success_action_status", "201"), check: "AccessDenied"},
		{name: "too large", fields: with("Content-Type", "image/png", "success_action_status", "201"), size: 1025, sizeOK: "EntityTooLarge"},
		{name: "too small", fields: with("Content-Type", "image/png", "success_action_status", "201"), size: 0, sizeOK: "EntityTooSmall"},
		{name: "tampered policy", fields: with("policy", base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2099-01-01T00:00:00Z","conditions":[]}`))), code: "SignatureDoesNotMatch"},
		{name: "bad signature", fields: with("x-amz-signature", "00000000000000000000000000000000000000000000000000000000000000ff"), code: "SignatureDoesNotMatch"},
		{name: "missing signature", fields: with("x-amz-signature", "\x00"), code: "InvalidArgument"},
		{name: "wrong algorithm", fields: with("x-amz-algorithm", "AWS4-HMAC-SHA1"), code: "InvalidArgument"},
		{name: "wrong region", fields: with(), opts: Options{Region: "eu-west-1"}, code: "InvalidArgument"},
		{name: "expired", fields: with(), opts: Options{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}, code: "AccessDenied"},
		{name: "duplicate field", fields: func() map[string]string { m := with(); m["POLICY"] = m["policy"]; return m }(), code: "InvalidArgument"},
		{name: "anonymous", fields: map[string]string{"key": "x"}, code: "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.opts.Region != "" || tc.opts.Now != nil {
				o = tc.opts
			}
			res, err := VerifyPostPolicy(ctx, tc.fields, testLookup, o)
			wantCode(t, err, tc.code)
			if tc.code != "" {
				return
			}
			f := map[string]string{"bucket": "bucket"}
			for k, v := range tc.fields {
				f[k] = v
			}
			wantCode(t, res.CheckFields(f), tc.check)
			if tc.check != "" {
				return
			}
			if tc.size != 0 || tc.sizeOK != "" {
				wantCode(t, res.CheckContentLength(tc.size), tc.sizeOK)
			}
		})
	}
}

func TestPostPolicyDocument(t *testing.T) {
	tests := []struct {
		name, doc, code string
		n               int
	}{
		{"aws example", `{ "expiration": "2015-12-30T12:00:00.000Z",
  "conditions": [
    {"bucket": "sigv4examplebucket"},
    ["starts-with", "$key", "user/user1/"],
    {"acl": "public-read"},
    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},
    ["starts-with", "$Content-Type", "image/"],
    {"x-amz-meta-uuid": "14365123651274"},
    {"x-amz-server-side-encryption": "AES256"},
    ["starts-with", "$x-amz-meta-tag", ""],
    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
    {"x-amz-date": "20151229T000000Z" }
  ]
}`, "", 11},
		{"range as strings", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range","1","10"]]}`, "", 1},
		{"no expiration", `{"conditions":[]}`, "InvalidPolicyDocument", 0},
		{"bad expiration", `{"expiration":"tomorrow","conditions":[]}`, "InvalidPolicyDocument", 0},
		{"no conditions", `{"expiration":"2030-01-01T00:00:00Z"}`, "InvalidPolicyDocument", 0},
		{"unknown op", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["gt","$key","a"]]}`, "InvalidPolicyDocument", 0},
		{"two properties", `{"expiration":"2030-01-01T00:00:00Z","conditions":[{"a":"1","b":"2"}]}`, "InvalidPolicyDocument", 0},
		{"inverted range", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",10,1]]}`, "InvalidPolicyDocument", 0},
		{"field without $", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","key","a"]]}`, "InvalidPolicyDocument", 0},
		{"not json", `nope`, "InvalidPolicyDocument", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, conds, err := parsePolicy(base64.StdEncoding.EncodeToString([]byte(tc.doc)))
			if err != nil {
				wantCode(t, err, tc.code)
				return
			}
			wantCode(t, nil, tc.code)
			if len(conds) != tc.n {
				t.Fatalf("%d conditions, want %d", len(conds), tc.n)
			}
		})
	}
	if _, _, err := parsePolicy("%%%"); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

func TestPostContentTypeList(t *testing.T) {
	p := &PostResult{Conditions: []Condition{{Op: "starts-with", Field: "content-type", Value: "image/"}}}
	if err := p.CheckFields(map[string]string{"Content-Type": "image/png, image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, p.CheckFields(map[string]string{"Content-Type": "image/png, text/html"}), "AccessDenied")
}
