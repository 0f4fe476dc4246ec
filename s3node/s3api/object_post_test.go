package s3api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signedPolicy returns the form fields of a POST policy signed with the
// documented SigV4 algorithm: the signature is the hex HMAC-SHA256 of the
// base64 policy under the signing key.
func signedPolicy(t *testing.T, accessKey, secret string, expires time.Time, conditions []any) map[string]string {
	t.Helper()
	now := time.Now().UTC()
	date := now.Format("20060102")
	cred := accessKey + "/" + date + "/" + region + "/s3/aws4_request"
	amzDate := now.Format("20060102T150405Z")
	conds := append([]any{
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": cred},
		map[string]string{"x-amz-date": amzDate},
	}, conditions...)
	doc, err := json.Marshal(map[string]any{"expiration": expires.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		t.Fatal(err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	k := hmacSum([]byte("AWS4"+secret), date)
	k = hmacSum(k, region)
	k = hmacSum(k, "s3")
	k = hmacSum(k, "aws4_request")
	return map[string]string{
		"policy": policy, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": cred,
		"x-amz-date": amzDate, "x-amz-signature": hex.EncodeToString(hmacSum(k, policy)),
	}
}

// postForm sends a multipart form: fields in order (name, value pairs),
// then the file, unless file is nil.
func (e *env) postForm(t *testing.T, path string, fields [][2]string, filename string, file []byte) (*http.Response, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		w, err := mw.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(file)
	}
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	client := e.srv.Client()
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func fieldList(m map[string]string, extra ...string) [][2]string {
	var out [][2]string
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out = append(out, [2]string{extra[i], extra[i+1]})
	}
	return out
}

func TestPostObject(t *testing.T) {
	e := newEnv(t, "")
	c := e.client(alice())
	ctx := context.Background()
	mustCreateBucket(t, c, "forms")
	hour := time.Now().Add(time.Hour)
	conds := []any{
		map[string]string{"bucket": "forms"},
		[]any{"starts-with", "$key", "uploads/"},
		[]any{"starts-with", "$Content-Type", "text/"},
		[]any{"starts-with", "$x-amz-meta-tag", ""},
		[]any{"starts-with", "$success_action_status", ""},
		[]any{"content-length-range", 1, 100},
	}
	pol := signedPolicy(t, aliceKey, aliceSecret, hour, conds)
	good := func(extra ...string) [][2]string {
		base := []string{"key", "uploads/${filename}", "Content-Type", "text/plain", "x-amz-meta-tag", "t1", "success_action_status", "201"}
		return fieldList(pol, append(base, extra...)...)
	}

	t.Run("201 with PostResponse", func(t *testing.T) {
		resp, body := e.postForm(t, "/forms", good(), "hello.txt", []byte("hello post"))
		if resp.StatusCode != 201 || !strings.Contains(string(body), "<Key>uploads/hello.txt</Key>") ||
			!strings.Contains(string(body), "<Bucket>forms</Bucket>") || resp.Header.Get("ETag") != quotedMD5([]byte("hello post")) {
			t.Fatalf("got %d %s %v", resp.StatusCode, body, resp.Header)
		}
		got, b := getBytes(t, c, "forms", "uploads/hello.txt")
		if string(b) != "hello post" || aws.ToString(got.ContentType) != "text/plain" || got.Metadata["tag"] != "t1" {
			t.Fatalf("got %q %+v", b, got)
		}
	})
	t.Run("default 204 and 200", func(t *testing.T) {
		p := signedPolicy(t, aliceKey, aliceSecret, hour, []any{[]any{"starts-with", "$key", ""}})
		resp, body := e.postForm(t, "/forms", fieldList(p, "key", "plain"), "x", []byte("x"))
		if resp.StatusCode != 204 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("plain")}); err != nil {
			t.Fatal(err)
		}
		resp, body = e.postForm(t, "/forms", good("key", "uploads/two"), "", []byte("x"))
		_ = body
		if resp.StatusCode != 400 { // duplicate key field
			t.Fatalf("duplicate field: %d", resp.StatusCode)
		}
		resp, body = e.postForm(t, "/forms", fieldList(pol, "key", "uploads/ok", "Content-Type", "text/x", "x-amz-meta-tag", "", "success_action_status", "200"), "", []byte("x"))
		if resp.StatusCode != 200 || len(body) != 0 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		p := signedPolicy(t, aliceKey, aliceSecret, hour, []any{[]any{"starts-with", "$key", ""}, []any{"starts-with", "$success_action_redirect", "https://app.example/"}})
		resp, body := e.postForm(t, "/forms", fieldList(p, "key", "r", "success_action_redirect", "https://app.example/done?x=1"), "f", []byte("x"))
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 303 || !strings.HasPrefix(loc, "https://app.example/done?") || !strings.Contains(loc, "key=r") || !strings.Contains(loc, "bucket=forms") {
			t.Fatalf("got %d %s %s", resp.StatusCode, loc, body)
		}
	})
	for _, tc := range []struct {
		name   string
		fields [][2]string
		file   []byte
		status int
		code   string
		msg    string
	}{
		{"condition failed", fieldList(pol, "key", "other/x", "Content-Type", "text/plain", "x-amz-meta-tag", "", "success_action_status", "201"), []byte("x"), 403, "AccessDenied", "Invalid according to Policy: Policy Condition failed"},
		{"extra field", good("x-amz-meta-other", "1"), []byte("x"), 403, "AccessDenied", "Extra input fields"},
		{"too large", good(), bytes.Repeat([]byte("x"), 101), 400, "EntityTooLarge", ""},
		{"too small", good(), []byte{}, 400, "EntityTooSmall", ""},
		{"bad signature", fieldList(map[string]string{"policy": pol["policy"], "x-amz-algorithm": pol["x-amz-algorithm"], "x-amz-credential": pol["x-amz-credential"],
			"x-amz-date": pol["x-amz-date"], "x-amz-signature": strings.Repeat("0", 64)}, "key", "uploads/a", "Content-Type", "text/plain", "x-amz-meta-tag", "", "success_action_status", "201"), []byte("x"), 403, "SignatureDoesNotMatch", ""},
		{"no policy", [][2]string{{"key", "uploads/a"}}, []byte("x"), 403, "AccessDenied", ""},
		{"no file", good(), nil, 400, "InvalidArgument", "exactly one file"},
		{"expired", fieldList(signedPolicy(t, aliceKey, aliceSecret, time.Now().Add(-time.Minute), conds), "key", "uploads/a", "Content-Type", "text/plain", "x-amz-meta-tag", "", "success_action_status", "201"), []byte("x"), 403, "AccessDenied", "Policy expired"},
		{"other user's bucket", fieldList(signedPolicy(t, bobKey, bobSecret, hour, conds), "key", "uploads/a", "Content-Type", "text/plain", "x-amz-meta-tag", "", "success_action_status", "201"), []byte("x"), 403, "AccessDenied", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.postForm(t, "/forms", tc.fields, "a", tc.file)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") || !strings.Contains(string(body), tc.msg) {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("missing bucket", func(t *testing.T) {
		resp, body := e.postForm(t, "/nobucket", good(), "a", []byte("x"))
		if resp.StatusCode != 404 || !strings.Contains(string(body), "<Code>NoSuchBucket</Code>") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("not a form", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/forms", strings.NewReader("x"))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("unauthenticated form cannot reach other routes", func(t *testing.T) {
		resp, body := e.postForm(t, "/forms?delete", good(), "a", []byte("x"))
		if resp.StatusCode != 403 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}
