package s3api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/storage/blobfs"
)

// TestSSEVersioning checks SSE-SPEC §6.1: versions of one key with
// different SSE-C keys, each read with its own key; SSE-S3 versions; delete
// markers and version deletes without a key.
func TestSSEVersioning(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "ver")
	setVersioning(t, c, "ver", types.BucketVersioningStatusEnabled)
	k1, k2 := newCustomerKey(41), newCustomerKey(42)
	put := func(key, body string, h http.Header) string {
		resp, b := e.raw(t, alice(), http.MethodPut, "/ver/"+key, []byte(body), h)
		if resp.StatusCode != 200 || resp.Header.Get("x-amz-version-id") == "" {
			t.Fatalf("PUT %s: %d %s", key, resp.StatusCode, b)
		}
		return resp.Header.Get("x-amz-version-id")
	}
	v1, v2 := put("c", "version one", k1.trio()), put("c", "version two", k2.trio())
	s1, s2 := put("s", "sse-s3 one", hdr(hSSE, "AES256")), put("s", "sse-s3 two", hdr(hSSE, "AES256"))

	for _, tc := range []struct {
		name, path string
		h          http.Header
		status     int
		body, md5  string
	}{
		{"latest with v1's key", "/ver/c", k1.trio(), 403, "", ""},
		{"latest with v2's key", "/ver/c", k2.trio(), 200, "version two", k2.md5},
		{"v1 with v1's key", "/ver/c?versionId=" + v1, k1.trio(), 200, "version one", k1.md5},
		{"v1 with v2's key", "/ver/c?versionId=" + v1, k2.trio(), 403, "", ""},
		{"v1 without a key", "/ver/c?versionId=" + v1, nil, 400, "", ""},
		{"SSE-S3 v1", "/ver/s?versionId=" + s1, nil, 200, "sse-s3 one", ""},
		{"SSE-S3 v2", "/ver/s?versionId=" + s2, nil, 200, "sse-s3 two", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, alice(), http.MethodGet, tc.path, nil, tc.h)
			if resp.StatusCode != tc.status || (tc.status == 200 && (string(body) != tc.body || resp.Header.Get(hCMD5) != tc.md5)) {
				t.Fatalf("got %d %q C-MD5 %q", resp.StatusCode, body, resp.Header.Get(hCMD5))
			}
		})
	}
	t.Run("deletes need no key", func(t *testing.T) {
		resp, _ := e.raw(t, alice(), http.MethodDelete, "/ver/c", nil, nil)
		if resp.StatusCode != 204 || resp.Header.Get("x-amz-delete-marker") != "true" {
			t.Fatalf("delete marker: %d %v", resp.StatusCode, resp.Header)
		}
		if resp, _ := e.raw(t, alice(), http.MethodDelete, "/ver/c?versionId="+v1, nil, nil); resp.StatusCode != 204 {
			t.Fatalf("version delete: %d", resp.StatusCode)
		}
		resp, body := e.raw(t, alice(), http.MethodGet, "/ver/c?versionId="+v2, nil, k2.trio())
		if resp.StatusCode != 200 || string(body) != "version two" {
			t.Fatalf("v2 after the deletes: %d %q", resp.StatusCode, body)
		}
		list, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("ver"), Prefix: aws.String("c")})
		if err != nil || len(list.Versions) != 1 || len(list.DeleteMarkers) != 1 || aws.ToInt64(list.Versions[0].Size) != int64(len("version two")) {
			t.Fatalf("ListObjectVersions: %+v %v", list, err)
		}
	})
}

// TestSSECPresigned checks SSE-SPEC §1.7: a presigned GET that signed the
// SSE-C trio works when the trio is sent; SSE-C headers sent with a URL
// that did not sign them are refused with 403 AccessDenied.
func TestSSECPresigned(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "pre")
	k := newCustomerKey(51)
	if resp, body := e.raw(t, alice(), http.MethodPut, "/pre/obj", []byte("presigned"), k.trio()); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	pc := s3.NewPresignClient(c)
	send := func(url string, h http.Header) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	signed, err := pc.PresignGetObject(ctx, ssecGet("pre", "obj", &k))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{hCALG, "x-amz-server-side-encryption-customer-key", hCMD5} {
		if !strings.Contains(strings.ToLower(signed.URL), "x-amz-signedheaders=") || signed.SignedHeader.Get(name) == "" {
			t.Fatalf("presigned URL does not sign %s: %s %v", name, signed.URL, signed.SignedHeader)
		}
	}
	h := signed.SignedHeader.Clone()
	h.Del("Host")
	resp, body := send(signed.URL, h)
	if resp.StatusCode != 200 || string(body) != "presigned" || resp.Header.Get(hCMD5) != k.md5 {
		t.Fatalf("signed trio: %d %q", resp.StatusCode, body)
	}

	unsigned, err := pc.PresignGetObject(ctx, ssecGet("pre", "obj", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp, body = send(unsigned.URL, k.trio())
	checkRaw(t, "unsigned trio", resp, body, sseErr{403, "AccessDenied", wantMsgNotSigned, "", ""})
	if !strings.Contains(string(body), "<HeadersNotSigned>") {
		t.Fatalf("no HeadersNotSigned element: %s", body)
	}
	resp, body = send(unsigned.URL, nil)
	checkRaw(t, "no trio", resp, body, sseErr{400, "InvalidRequest", wantMsgNeedParams, "", ""})
}

// TestSSEPostForm checks POST form uploads with SSE-C and SSE-S3 fields
// (SSE-SPEC §3.4): the response headers, the stored mode, the lower-case
// key-md5 field name, and a W7 error.
func TestSSEPostForm(t *testing.T) {
	e := newEnv(t, "")
	mustCreateBucket(t, e.client(alice()), "form")
	k := newCustomerKey(61)
	pol := signedPolicy(t, aliceKey, aliceSecret, time.Now().Add(time.Hour), []any{
		map[string]string{"bucket": "form"}, []any{"starts-with", "$key", ""},
		[]any{"starts-with", "$x-amz-server-side-encryption", ""},
		[]any{"starts-with", "$x-amz-server-side-encryption-customer-algorithm", ""},
		[]any{"starts-with", "$x-amz-server-side-encryption-customer-key", ""},
		[]any{"starts-with", "$x-amz-server-side-encryption-customer-key-md5", ""},
	})
	file := []byte("posted content")

	resp, body := e.postForm(t, "/form", fieldList(pol, "key", "c",
		"x-amz-server-side-encryption-customer-algorithm", "AES256",
		"x-amz-server-side-encryption-customer-key", k.b64,
		"x-amz-server-side-encryption-customer-key-md5", k.md5), "f", file)
	if resp.StatusCode != 204 {
		t.Fatalf("SSE-C POST: %d %s", resp.StatusCode, body)
	}
	wantHeaders(t, "SSE-C POST", resp.Header, map[string]string{hCALG: "AES256", hCMD5: k.md5})
	if resp, body := e.raw(t, alice(), http.MethodGet, "/form/c", nil, k.trio()); resp.StatusCode != 200 || string(body) != string(file) {
		t.Fatalf("GET SSE-C: %d %q", resp.StatusCode, body)
	}
	if resp, _ := e.raw(t, alice(), http.MethodHead, "/form/c", nil, nil); resp.StatusCode != 400 {
		t.Fatalf("HEAD without the key: %d", resp.StatusCode)
	}

	resp, body = e.postForm(t, "/form", fieldList(pol, "key", "s", "x-amz-server-side-encryption", "AES256"), "f", file)
	if resp.StatusCode != 204 || resp.Header.Get("ETag") != md5hex(file) {
		t.Fatalf("SSE-S3 POST: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	wantHeaders(t, "SSE-S3 POST", resp.Header, map[string]string{hSSE: "AES256"})
	resp, _ = e.raw(t, alice(), http.MethodHead, "/form/s", nil, nil)
	wantHeaders(t, "HEAD SSE-S3", resp.Header, map[string]string{hSSE: "AES256"})

	resp, body = e.postForm(t, "/form", fieldList(pol, "key", "bad",
		"x-amz-server-side-encryption-customer-algorithm", "AES256",
		"x-amz-server-side-encryption-customer-key", k.b64,
		"x-amz-server-side-encryption-customer-key-md5", newCustomerKey(62).md5), "f", file)
	checkRaw(t, "POST with a bad MD5", resp, body, sseErr{400, "InvalidArgument", wantMsgMD5Mismatch, argSSE, "null"})
}

// newHTTPEnv is an env on SQLite served over plain HTTP, its Server built
// by New from cfg (Meta, Data, Users, Region and Logger are filled in).
func newHTTPEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	data, err := blobfs.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Meta, cfg.Data, cfg.Users, cfg.Region = metaStore(t, sqliteBackend, dir), data, testUsers, region
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, backend: sqliteBackend, payloads: map[string]bool{}}
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// TestSSECOverHTTP checks D3 (SSE-SPEC §1.6, W9): SSE-C over plain HTTP
// is refused unless a trusted proxy says the client used HTTPS or the
// server allows it; requests without SSE-C are unaffected.
func TestSSECOverHTTP(t *testing.T) {
	k := newCustomerKey(71)
	insecure := sseErr{400, "InvalidRequest", wantMsgInsecure, "", ""}
	for _, tc := range []struct {
		name    string
		cfg     Config
		xfp     []string // X-Forwarded-Proto values sent
		allowed bool
	}{
		{"plain HTTP", Config{}, nil, false},
		{"X-Forwarded-Proto without trusted proxies", Config{}, []string{"https"}, false},
		{"trusted proxy says https", Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, []string{"https"}, true},
		{"trusted proxy says http", Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, []string{"http"}, false},
		{"trusted proxy appends http to a client's https", Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, []string{"https", "http"}, false},
		{"untrusted proxy says https", Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, []string{"https"}, false},
		{"AllowSSECOverHTTP", Config{AllowSSECOverHTTP: true}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newHTTPEnv(t, tc.cfg)
			if resp, body := e.raw(t, alice(), http.MethodPut, "/plain", nil, nil); resp.StatusCode != 200 {
				t.Fatalf("CreateBucket: %d %s", resp.StatusCode, body)
			}
			with := func(h http.Header) http.Header {
				for _, v := range tc.xfp {
					h.Add("X-Forwarded-Proto", v)
				}
				return h
			}
			if resp, body := e.raw(t, alice(), http.MethodPut, "/plain/p", []byte("no sse-c"), with(http.Header{})); resp.StatusCode != 200 {
				t.Fatalf("PUT without SSE-C: %d %s", resp.StatusCode, body)
			}
			resp, body := e.raw(t, alice(), http.MethodPut, "/plain/c", []byte("sse-c"), with(k.trio()))
			if tc.allowed {
				if resp.StatusCode != 200 {
					t.Fatalf("PUT SSE-C: %d %s", resp.StatusCode, body)
				}
				if resp, body := e.raw(t, alice(), http.MethodGet, "/plain/c", nil, with(k.trio())); resp.StatusCode != 200 || string(body) != "sse-c" {
					t.Fatalf("GET SSE-C: %d %q", resp.StatusCode, body)
				}
				return
			}
			checkRaw(t, http.MethodPut, resp, body, insecure)
			for _, m := range []string{http.MethodGet, http.MethodHead} {
				resp, body := e.raw(t, alice(), m, "/plain/p", nil, with(k.trio()))
				checkRaw(t, m, resp, body, insecure)
			}
			// Copy-source SSE-C headers count too.
			resp, body = e.raw(t, alice(), http.MethodPut, "/plain/copy", nil, with(hdr("x-amz-copy-source", "/plain/p",
				"x-amz-copy-source-server-side-encryption-customer-algorithm", "AES256")))
			checkRaw(t, "CopyObject", resp, body, insecure)
			pol := signedPolicy(t, aliceKey, aliceSecret, time.Now().Add(time.Hour), []any{
				map[string]string{"bucket": "plain"}, []any{"starts-with", "$key", ""},
				[]any{"starts-with", "$x-amz-server-side-encryption-customer-algorithm", ""},
				[]any{"starts-with", "$x-amz-server-side-encryption-customer-key", ""},
				[]any{"starts-with", "$x-amz-server-side-encryption-customer-key-md5", ""},
			})
			if tc.xfp == nil {
				resp, body = e.postForm(t, "/plain", fieldList(pol, "key", "posted",
					"x-amz-server-side-encryption-customer-algorithm", "AES256",
					"x-amz-server-side-encryption-customer-key", k.b64,
					"x-amz-server-side-encryption-customer-key-md5", k.md5), "f", []byte("x"))
				checkRaw(t, "POST", resp, body, insecure)
			}
		})
	}
}
