package s3api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func objIDs(keys ...string) []types.ObjectIdentifier {
	out := make([]types.ObjectIdentifier, len(keys))
	for i, k := range keys {
		out[i] = types.ObjectIdentifier{Key: aws.String(k)}
	}
	return out
}

func currentKeys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func TestDeleteObjects(t *testing.T) { forEachBackend(t, testDeleteObjects) }

func testDeleteObjects(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "multi")

	tests := []struct {
		name      string
		put       []string
		del       []types.ObjectIdentifier
		quiet     bool
		deleted   int
		remaining []string
	}{
		{"normal", []string{"a", "b", "c"}, objIDs("a", "b", "missing"), false, 3, []string{"c"}},
		{"quiet", []string{"d", "e"}, objIDs("d", "e", "c"), true, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range tc.put {
				mustPut(t, c, "multi", k, []byte(k))
			}
			out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"),
				Delete: &types.Delete{Objects: tc.del, Quiet: aws.Bool(tc.quiet)}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Deleted) != tc.deleted || len(out.Errors) != 0 {
				t.Fatalf("deleted %d errors %v, want %d deleted", len(out.Deleted), out.Errors, tc.deleted)
			}
			for _, d := range out.Deleted {
				if aws.ToBool(d.DeleteMarker) || d.VersionId != nil {
					t.Errorf("unversioned delete: %+v", d)
				}
			}
			if got := currentKeys(t, c, "multi"); fmt.Sprint(got) != fmt.Sprint(tc.remaining) {
				t.Fatalf("remaining %v, want %v", got, tc.remaining)
			}
		})
	}

	// The limit of 1000 keys is the handler's, whatever the backend: it
	// is checked on PostgreSQL only. On SQLite, 1000 deletions (one write
	// transaction each) take 2 s, but 2 minutes under the race detector.
	if e.backend == postgresBackend {
		var many []types.ObjectIdentifier
		for i := 0; i < 1001; i++ {
			many = append(many, types.ObjectIdentifier{Key: aws.String(fmt.Sprint(i))})
		}
		_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"), Delete: &types.Delete{Objects: many}})
		wantCode(t, err, "MalformedXML", 400)
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"), Delete: &types.Delete{Objects: many[:1000]}})
		if err != nil || len(out.Deleted) != 1000 {
			t.Fatalf("1000 keys: %d %v", len(out.Deleted), err)
		}
	}

	// Integrity headers, with raw requests.
	body := `<Delete><Object><Key>x</Key></Object></Delete>`
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		status int
		code   string
	}{
		{"content-md5", http.Header{"Content-Md5": {md5B64([]byte(body))}}, 200, ""},
		{"crc32", http.Header{"X-Amz-Checksum-Crc32": {crc32B64([]byte(body))}}, 200, ""},
		{"none", nil, 400, "InvalidRequest"},
		{"wrong md5", http.Header{"Content-Md5": {md5B64([]byte("other"))}}, 400, "BadDigest"},
		{"bad md5", http.Header{"Content-Md5": {"nope"}}, 400, "InvalidDigest"},
		{"wrong crc32", http.Header{"X-Amz-Checksum-Crc32": {crc32B64([]byte("other"))}}, 400, "BadDigest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.raw(t, alice(), http.MethodPost, "/multi?delete", []byte(body), tc.hdr)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.code) {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, b, tc.status, tc.code)
			}
			if tc.code == "InvalidRequest" && !strings.Contains(string(b), "Missing required header for this request: Content-MD5") {
				t.Fatalf("message: %s", b)
			}
		})
	}
	for _, bad := range []string{`<Delete></Delete>`, `<Delete><Object>`, `<Remove><Object><Key>x</Key></Object></Remove>`} {
		resp, b := e.raw(t, alice(), http.MethodPost, "/multi?delete", []byte(bad), http.Header{"Content-Md5": {md5B64([]byte(bad))}})
		if resp.StatusCode != 400 || !strings.Contains(string(b), "MalformedXML") {
			t.Fatalf("%s: %d %s", bad, resp.StatusCode, b)
		}
	}
	_, err := e.client(bob()).DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"), Delete: &types.Delete{Objects: objIDs("c")}})
	wantCode(t, err, "AccessDenied", 403)
}

func TestDeleteObjectsVersioned(t *testing.T) { forEachBackend(t, testDeleteObjectsVersioned) }

func testDeleteObjectsVersioned(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "multi")
	setVersioning(t, c, "multi", types.BucketVersioningStatusEnabled)
	a1 := aws.ToString(mustPut(t, c, "multi", "a", []byte("a1")).VersionId)
	a2 := aws.ToString(mustPut(t, c, "multi", "a", []byte("a2")).VersionId)
	b1 := aws.ToString(mustPut(t, c, "multi", "b", []byte("b1")).VersionId)
	dm, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("multi"), Key: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	cMarker := aws.ToString(dm.VersionId)
	unknown := strings.Repeat("f", 32)

	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a"), VersionId: aws.String(a1)},      // a version, for good
		{Key: aws.String("b")},                                 // a new marker
		{Key: aws.String("c"), VersionId: aws.String(cMarker)}, // a marker, for good
		{Key: aws.String("d"), VersionId: aws.String("bogus")}, // error
		{Key: aws.String("a"), VersionId: aws.String(unknown)}, // absent: succeeds
	}}})
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		key, vid, markerVid string
		marker              bool
	}
	var got []res
	for _, d := range out.Deleted {
		got = append(got, res{aws.ToString(d.Key), aws.ToString(d.VersionId), aws.ToString(d.DeleteMarkerVersionId), aws.ToBool(d.DeleteMarker)})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].key+got[i].vid < got[j].key+got[j].vid })
	var bMarker string
	for _, g := range got {
		if g.key == "b" {
			bMarker = g.markerVid
		}
	}
	want := []res{
		{"a", a1, "", false},
		{"a", unknown, "", false},
		{"b", "", bMarker, true},
		{"c", cMarker, cMarker, true},
	}
	sort.Slice(want, func(i, j int) bool { return want[i].key+want[i].vid < want[j].key+want[j].vid })
	if fmt.Sprint(got) != fmt.Sprint(want) || !validVersionID(bMarker) || bMarker == "null" {
		t.Fatalf("deleted %+v\nwant %+v", got, want)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "d" || aws.ToString(out.Errors[0].Code) != "NoSuchVersion" || aws.ToString(out.Errors[0].VersionId) != "bogus" {
		t.Fatalf("errors %+v", out.Errors)
	}

	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, v := range lv.Versions {
		vs = append(vs, aws.ToString(v.Key)+":"+aws.ToString(v.VersionId))
	}
	if fmt.Sprint(vs) != fmt.Sprint([]string{"a:" + a2, "b:" + b1}) || len(lv.DeleteMarkers) != 1 || aws.ToString(lv.DeleteMarkers[0].VersionId) != bMarker {
		t.Fatalf("versions %v markers %+v", vs, lv.DeleteMarkers)
	}

	// Quiet with a mix: only errors come back.
	out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{
		{Key: aws.String("a"), VersionId: aws.String(a2)},
		{Key: aws.String("b"), VersionId: aws.String(b1)},
		{Key: aws.String("b"), VersionId: aws.String(bMarker)},
		{Key: aws.String("x"), VersionId: aws.String("bad")},
	}}})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 1 {
		t.Fatalf("quiet: %+v %+v %v", out.Deleted, out.Errors, err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("multi")}); err != nil {
		t.Fatalf("every version removed, bucket still not deletable: %v", err)
	}
}

func crc32B64(b []byte) string {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(s[:])
}
