package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

// testKeyARN is a KMS key given as an ARN, which S3 stores as given.
const testKeyARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// sseRule builds a rule for the SDK's PutBucketEncryption.
func sseRule(alg types.ServerSideEncryption, keyID string, bke *bool, blocked ...types.EncryptionType) types.ServerSideEncryptionRule {
	r := types.ServerSideEncryptionRule{
		ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: alg},
		BucketKeyEnabled:                   bke,
	}
	if keyID != "" {
		r.ApplyServerSideEncryptionByDefault.KMSMasterKeyID = aws.String(keyID)
	}
	if blocked != nil {
		r.BlockedEncryptionTypes = &types.BlockedEncryptionTypes{EncryptionType: blocked}
	}
	return r
}

// putEncryption calls PutBucketEncryption with the given rules.
func putEncryption(c *s3.Client, bucket string, rules ...types.ServerSideEncryptionRule) error {
	_, err := c.PutBucketEncryption(context.Background(), &s3.PutBucketEncryptionInput{
		Bucket:                            aws.String(bucket),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: rules},
	})
	return err
}

// gotEncryption is GetBucketEncryption's rule flattened for comparison.
type gotEncryption struct {
	alg, keyID string
	keyIDSet   bool
	bke        *bool
	blocked    []types.EncryptionType
}

// getEncryption calls GetBucketEncryption and flattens its one rule.
func getEncryption(t *testing.T, c *s3.Client, bucket string) gotEncryption {
	t.Helper()
	out, err := c.GetBucketEncryption(context.Background(), &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("GetBucketEncryption: %v", err)
	}
	rules := out.ServerSideEncryptionConfiguration.Rules
	if len(rules) != 1 || rules[0].ApplyServerSideEncryptionByDefault == nil {
		t.Fatalf("rules: %+v", rules)
	}
	r := rules[0]
	g := gotEncryption{
		alg:      string(r.ApplyServerSideEncryptionByDefault.SSEAlgorithm),
		keyID:    aws.ToString(r.ApplyServerSideEncryptionByDefault.KMSMasterKeyID),
		keyIDSet: r.ApplyServerSideEncryptionByDefault.KMSMasterKeyID != nil,
		bke:      r.BucketKeyEnabled,
	}
	if r.BlockedEncryptionTypes != nil {
		g.blocked = r.BlockedEncryptionTypes.EncryptionType
	}
	return g
}

// checkEncryption fails unless bucket's configuration is alg/keyID/bke/blocked.
func checkEncryption(t *testing.T, c *s3.Client, bucket, alg, keyID string, bke bool, blocked ...types.EncryptionType) {
	t.Helper()
	g := getEncryption(t, c, bucket)
	if g.alg != alg || g.keyID != keyID || g.keyIDSet != (keyID != "") || g.bke == nil || *g.bke != bke ||
		!reflect.DeepEqual(g.blocked, blocked) {
		t.Fatalf("got %+v (bke %v), want %s %q %v %v", g, aws.ToBool(g.bke), alg, keyID, bke, blocked)
	}
}

// TestBucketEncryption drives the three operations through the SDK.
func TestBucketEncryption(t *testing.T) { forEachBackend(t, testBucketEncryption) }

// testBucketEncryption is TestBucketEncryption on one backend.
func testBucketEncryption(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "enc")

	t.Run("fresh bucket has none", func(t *testing.T) {
		_, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("enc")})
		wantCode(t, err, "ServerSideEncryptionConfigurationNotFoundError", 404)
		resp, body := e.raw(t, alice(), http.MethodGet, "/enc?encryption", nil, nil)
		if resp.StatusCode != 404 || !strings.Contains(string(body), "<BucketName>enc</BucketName>") ||
			!strings.Contains(string(body), "<Message>The server side encryption configuration was not found</Message>") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})

	roundTrips := []struct {
		name    string
		rule    types.ServerSideEncryptionRule
		alg     string
		keyID   string
		bke     bool
		blocked []types.EncryptionType
	}{
		{"AES256", sseRule("AES256", "", nil), "AES256", "", false, nil},
		{"AES256 bucket key", sseRule("AES256", "", aws.Bool(true)), "AES256", "", true, nil},
		{"kms without key", sseRule("aws:kms", "", nil), "aws:kms", "", false, nil},
		{"kms key and bucket key", sseRule("aws:kms", "1234abcd-12ab-34cd-56ef-1234567890ab", aws.Bool(true)), "aws:kms", "1234abcd-12ab-34cd-56ef-1234567890ab", true, nil},
		{"kms key ARN", sseRule("aws:kms", testKeyARN, aws.Bool(false)), "aws:kms", testKeyARN, false, nil},
		{"kms alias", sseRule("aws:kms", "alias/my-key", nil), "aws:kms", "alias/my-key", false, nil},
		{"block SSE-C", sseRule("AES256", "", nil, "SSE-C"), "AES256", "", false, []types.EncryptionType{"SSE-C"}},
		{"unblock", sseRule("AES256", "", nil, "NONE"), "AES256", "", false, []types.EncryptionType{"NONE"}},
		{"kms blocking SSE-C", sseRule("aws:kms", "k1", aws.Bool(true), "SSE-C", "SSE-C"), "aws:kms", "k1", true, []types.EncryptionType{"SSE-C"}},
		{"empty block list", sseRule("AES256", "", nil, []types.EncryptionType{}...), "AES256", "", false, nil},
	}
	for _, tc := range roundTrips {
		t.Run("round trip "+tc.name, func(t *testing.T) {
			if err := putEncryption(c, "enc", tc.rule); err != nil {
				t.Fatal(err)
			}
			checkEncryption(t, c, "enc", tc.alg, tc.keyID, tc.bke, tc.blocked...)
		})
	}

	// The last round trip left AES256; failed puts must not change it.
	// (The SDK itself refuses zero rules and a missing SSEAlgorithm: the
	// raw test sends them.)
	invalid := []struct {
		name   string
		rules  []types.ServerSideEncryptionRule
		code   string
		status int
	}{
		{"two rules", []types.ServerSideEncryptionRule{sseRule("AES256", "", nil), sseRule("aws:kms", "", nil)}, "MalformedXML", 400},
		{"no default", []types.ServerSideEncryptionRule{{BlockedEncryptionTypes: &types.BlockedEncryptionTypes{EncryptionType: []types.EncryptionType{"NONE"}}}}, "MalformedXML", 400},
		{"unknown algorithm", []types.ServerSideEncryptionRule{sseRule("SSE-KMS", "", nil)}, "MalformedXML", 400},
		{"lower-case algorithm", []types.ServerSideEncryptionRule{sseRule("aes256", "", nil)}, "MalformedXML", 400},
		{"DSSE", []types.ServerSideEncryptionRule{sseRule("aws:kms:dsse", "k1", nil)}, "NotImplemented", 501},
		{"AES256 with key", []types.ServerSideEncryptionRule{sseRule("AES256", "k1", nil)}, "InvalidArgument", 400},
		{"bad encryption type", []types.ServerSideEncryptionRule{sseRule("AES256", "", nil, "SSE-KMS")}, "MalformedXML", 400},
		{"NONE and SSE-C", []types.ServerSideEncryptionRule{sseRule("AES256", "", nil, "NONE", "SSE-C")}, "InvalidArgument", 400},
	}
	for _, tc := range invalid {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			wantCode(t, putEncryption(c, "enc", tc.rules...), tc.code, tc.status)
			checkEncryption(t, c, "enc", "AES256", "", false)
		})
	}

	t.Run("delete twice", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			resp, body := e.raw(t, alice(), http.MethodDelete, "/enc?encryption", nil, nil)
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("delete %d: %d %s", i, resp.StatusCode, body)
			}
			_, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("enc")})
			wantCode(t, err, "ServerSideEncryptionConfigurationNotFoundError", 404)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		_, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("no-such-enc")})
		wantCode(t, err, "NoSuchBucket", 404)
		wantCode(t, putEncryption(c, "no-such-enc", sseRule("AES256", "", nil)), "NoSuchBucket", 404)
		// The bucket is checked before the body.
		wantCode(t, putEncryption(c, "no-such-enc", sseRule("AES256", "k1", nil), sseRule("bad", "", nil)), "NoSuchBucket", 404)
		_, err = c.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: aws.String("no-such-enc")})
		wantCode(t, err, "NoSuchBucket", 404)
	})

	t.Run("other user's bucket", func(t *testing.T) {
		if err := putEncryption(c, "enc", sseRule("aws:kms", "k1", nil)); err != nil {
			t.Fatal(err)
		}
		b := e.client(bob())
		_, err := b.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("enc")})
		wantCode(t, err, "AccessDenied", 403)
		wantCode(t, putEncryption(b, "enc", sseRule("AES256", "", nil)), "AccessDenied", 403)
		_, err = b.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: aws.String("enc")})
		wantCode(t, err, "AccessDenied", 403)
		checkEncryption(t, c, "enc", "aws:kms", "k1", false)
	})
}

// withMD5 returns headers carrying body's Content-MD5.
func withMD5(body string) http.Header {
	sum := md5.Sum([]byte(body))
	return http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}
}

// TestBucketEncryptionRaw sends PutBucketEncryption documents the SDK
// cannot produce.
func TestBucketEncryptionRaw(t *testing.T) { forEachBackend(t, testBucketEncryptionRaw) }

// testBucketEncryptionRaw is TestBucketEncryptionRaw on one backend.
func testBucketEncryptionRaw(t *testing.T, e *env) {
	if resp, body := e.raw(t, alice(), http.MethodPut, "/rawenc", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	const (
		docOpen  = `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`
		docClose = `</ServerSideEncryptionConfiguration>`
		aes      = `<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>`
	)
	crc := func(body string) http.Header {
		h, _, _ := sigv4.NewChecksum("x-amz-checksum-crc32")
		h.Write([]byte(body))
		return http.Header{"X-Amz-Checksum-Crc32": {base64.StdEncoding.EncodeToString(h.Sum(nil))}}
	}
	for _, tc := range []struct {
		name, path, body string
		hdr              http.Header // nil: Content-MD5 of body
		status           int
		code             string // "" for success
		want             string // in the error body
	}{
		{name: "no namespace", body: `<ServerSideEncryptionConfiguration><Rule>` + aes + `</Rule>` + docClose, status: 200},
		{name: "x-amz-checksum-crc32", body: docOpen + `<Rule>` + aes + `</Rule>` + docClose, hdr: crc(docOpen + `<Rule>` + aes + `</Rule>` + docClose), status: 200},
		{name: "bucket key true", body: docOpen + `<Rule>` + aes + `<BucketKeyEnabled>true</BucketKeyEnabled></Rule>` + docClose, status: 200},
		{name: "not XML", body: `not xml`, status: 400, code: "MalformedXML",
			want: "<Message>The XML you provided was not well-formed or did not validate against our published schema</Message>"},
		{name: "truncated", body: docOpen + `<Rule>` + aes, status: 400, code: "MalformedXML"},
		{name: "empty", body: ``, status: 400, code: "MalformedXML"},
		{name: "wrong root", body: `<Tagging><Rule>` + aes + `</Rule></Tagging>`, status: 400, code: "MalformedXML"},
		{name: "no rule", body: docOpen + docClose, status: 400, code: "MalformedXML"},
		{name: "two rules", body: docOpen + `<Rule>` + aes + `</Rule><Rule>` + aes + `</Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "empty rule", body: docOpen + `<Rule></Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "only blocked types", body: docOpen + `<Rule><BlockedEncryptionTypes><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes></Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "two defaults", body: docOpen + `<Rule>` + aes + aes + `</Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "no algorithm", body: docOpen + `<Rule><ApplyServerSideEncryptionByDefault></ApplyServerSideEncryptionByDefault></Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "two algorithms", body: docOpen + `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "bad algorithm", body: docOpen + `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>SSE-KMS</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "bucket key yes", body: docOpen + `<Rule>` + aes + `<BucketKeyEnabled>yes</BucketKeyEnabled></Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "bad encryption type", body: docOpen + `<Rule>` + aes + `<BlockedEncryptionTypes><EncryptionType>SSE-S3</EncryptionType></BlockedEncryptionTypes></Rule>` + docClose, status: 400, code: "MalformedXML"},
		{name: "AES256 with key", body: docOpen + `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k1</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule>` + docClose,
			status: 400, code: "InvalidArgument",
			want: "<Message>" + errKeyIDNotApplicable + "</Message><ArgumentName>ApplyServerSideEncryptionByDefault</ArgumentName>"},
		{name: "DSSE", body: docOpen + `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms:dsse</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>` + docClose, status: 501, code: "NotImplemented", want: "aws:kms:dsse"},
		{name: "no checksum", body: docOpen + `<Rule>` + aes + `</Rule>` + docClose, hdr: http.Header{}, status: 400, code: "InvalidRequest", want: "Content-MD5"},
		{name: "wrong Content-MD5", body: docOpen + `<Rule>` + aes + `</Rule>` + docClose, hdr: withMD5("other"), status: 400, code: "BadDigest"},
		{name: "missing bucket wins over a bad body", path: "/no-such-rawenc?encryption", body: `not xml`, status: 404, code: "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, hdr := tc.path, tc.hdr
			if path == "" {
				path = "/rawenc?encryption"
			}
			if hdr == nil {
				hdr = withMD5(tc.body)
			}
			resp, body := e.raw(t, alice(), http.MethodPut, path, []byte(tc.body), hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.code == "" {
				if len(body) != 0 {
					t.Fatalf("success with body %s", body)
				}
				return
			}
			if !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") || !strings.Contains(string(body), tc.want) {
				t.Fatalf("got %s, want %s and %q", body, tc.code, tc.want)
			}
		})
	}

	t.Run("GET document", func(t *testing.T) {
		body := docOpen + `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>` + testKeyARN +
			`</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule>` + docClose
		if resp, out := e.raw(t, alice(), http.MethodPut, "/rawenc?encryption", []byte(body), withMD5(body)); resp.StatusCode != 200 {
			t.Fatalf("put: %d %s", resp.StatusCode, out)
		}
		resp, out := e.raw(t, alice(), http.MethodGet, "/rawenc?encryption", nil, nil)
		want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + docOpen + `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>` + testKeyARN +
			`</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule>` + docClose
		if resp.StatusCode != 200 || string(out) != want || resp.Header.Get("Content-Type") != "application/xml" {
			t.Fatalf("got %d %s\nwant %s", resp.StatusCode, out, want)
		}
	})

	t.Run("corrupt stored configuration", func(t *testing.T) {
		ctx := context.Background()
		if err := e.s.meta.SetBucketEncryption(ctx, "rawenc", []byte("{not json")); err != nil {
			t.Fatal(err)
		}
		b, err := e.s.meta.GetBucket(ctx, "rawenc")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.bucketEncryption(b); s3node.ErrorCode(err) != s3node.EInternal {
			t.Fatalf("bucketEncryption: %v", err)
		}
		resp, out := e.raw(t, alice(), http.MethodGet, "/rawenc?encryption", nil, nil)
		if resp.StatusCode != 500 || !strings.Contains(string(out), "<Code>InternalError</Code>") {
			t.Fatalf("got %d %s", resp.StatusCode, out)
		}
		// Delete repairs it.
		if resp, out := e.raw(t, alice(), http.MethodDelete, "/rawenc?encryption", nil, nil); resp.StatusCode != 204 {
			t.Fatalf("delete: %d %s", resp.StatusCode, out)
		}
	})
}

// TestBucketEncryptionByDefault: in the AWS-2023 mode
// (Config.EncryptByDefault) an unconfigured bucket shows, and gets, the
// SSE-S3 default.
func TestBucketEncryptionByDefault(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.setEncryptByDefault()
		c := e.client(alice())
		mustCreateBucket(t, c, "encdef")
		checkEncryption(t, c, "encdef", "AES256", "", false)
		if err := putEncryption(c, "encdef", sseRule("aws:kms", "k1", aws.Bool(true))); err != nil {
			t.Fatal(err)
		}
		checkEncryption(t, c, "encdef", "aws:kms", "k1", true)
		b, err := e.s.meta.GetBucket(context.Background(), "encdef")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.s.bucketEncryption(b); err != nil || got.SSEAlgorithm != s3node.AlgorithmKMS || got.KMSMasterKeyID != "k1" {
			t.Fatalf("bucketEncryption: %+v %v", got, err)
		}
		if _, err := c.DeleteBucketEncryption(context.Background(), &s3.DeleteBucketEncryptionInput{Bucket: aws.String("encdef")}); err != nil {
			t.Fatal(err)
		}
		checkEncryption(t, c, "encdef", "AES256", "", false)
		b, err = e.s.meta.GetBucket(context.Background(), "encdef")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.s.bucketEncryption(b); err != nil || !reflect.DeepEqual(got, &s3node.EncryptionConfig{SSEAlgorithm: s3node.AlgorithmAES256}) {
			t.Fatalf("bucketEncryption: %+v %v", got, err)
		}
	})
}

// TestBucketEncryptionNone: in the default (OVH) mode a bucket without
// configuration has no default encryption.
func TestBucketEncryptionNone(t *testing.T) {
	e := newEnv(t, "")
	got, err := e.s.bucketEncryption(s3node.Bucket{Name: "x"})
	if err != nil || got != nil {
		t.Fatalf("got %+v %v", got, err)
	}
}

// TestNewEncryptByDefault: New carries Config.EncryptByDefault to the field setEncryptByDefault sets.
func TestNewEncryptByDefault(t *testing.T) {
	for _, on := range []bool{false, true} {
		e := newEnv(t, "")
		s, err := New(Config{Meta: e.s.meta, Data: e.s.data, Users: testUsers, EncryptByDefault: on,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil || s.encryptByDefault != on {
			t.Fatalf("EncryptByDefault %v: %v %v", on, s.encryptByDefault, err)
		}
	}
}
