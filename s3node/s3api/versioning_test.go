package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func setVersioning(t *testing.T, c *s3.Client, bucket string, st types.BucketVersioningStatus) {
	t.Helper()
	_, err := c.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: aws.String(bucket), VersioningConfiguration: &types.VersioningConfiguration{Status: st},
	})
	if err != nil {
		t.Fatalf("PutBucketVersioning %s: %v", st, err)
	}
}

// errHeader returns a header of the HTTP response behind an SDK error.
func errHeader(t *testing.T, err error, name string) string {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("no HTTP response in %v", err)
	}
	return re.Response.Header.Get(name)
}

func getBody(t *testing.T, c *s3.Client, bucket, key, vid string) (string, *s3.GetObjectOutput) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if vid != "" {
		in.VersionId = aws.String(vid)
	}
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("GetObject %s?versionId=%s: %v", key, vid, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), out
}

func TestBucketVersioningConfig(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "vbk")

	got, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("vbk")})
	if err != nil || got.Status != "" {
		t.Fatalf("never versioned: status %q, %v", got.Status, err)
	}
	resp, body := e.raw(t, alice(), http.MethodGet, "/vbk?versioning", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<VersioningConfiguration xmlns") || strings.Contains(string(body), "Status") {
		t.Fatalf("empty configuration: %d %s", resp.StatusCode, body)
	}
	for _, st := range []types.BucketVersioningStatus{types.BucketVersioningStatusEnabled, types.BucketVersioningStatusSuspended, types.BucketVersioningStatusEnabled} {
		setVersioning(t, c, "vbk", st)
		got, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("vbk")})
		if err != nil || got.Status != st {
			t.Fatalf("status %q, %v; want %s", got.Status, err, st)
		}
	}

	md5Hdr := func(b string) http.Header { return http.Header{"Content-Md5": {md5B64([]byte(b))}} }
	for _, tc := range []struct {
		name, body, code string
	}{
		{"bad status", `<VersioningConfiguration><Status>On</Status></VersioningConfiguration>`, "IllegalVersioningConfigurationException"},
		{"not xml", `<VersioningConfiguration><Status>`, "MalformedXML"},
		{"wrong root", `<Versioning><Status>Enabled</Status></Versioning>`, "MalformedXML"},
		{"empty", ``, "MalformedXML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, alice(), http.MethodPut, "/vbk?versioning", []byte(tc.body), md5Hdr(tc.body))
			if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") {
				t.Fatalf("got %d %s, want %s", resp.StatusCode, body, tc.code)
			}
		})
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("vbk"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: "Disabled"}})
	wantCode(t, err, "IllegalVersioningConfigurationException", 400)
	_, err = e.client(bob()).GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("vbk")})
	wantCode(t, err, "AccessDenied", 403)
}

func TestVersioningLifecycle(t *testing.T) { forEachBackend(t, testVersioningLifecycle) }

func testVersioningLifecycle(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "vbk")

	// Unversioned: no version id anywhere.
	p0 := mustPut(t, c, "vbk", "k", []byte("v0"))
	if p0.VersionId != nil {
		t.Fatalf("unversioned put: version id %q", *p0.VersionId)
	}
	setVersioning(t, c, "vbk", types.BucketVersioningStatusEnabled)
	p1 := mustPut(t, c, "vbk", "k", []byte("v1"))
	p2 := mustPut(t, c, "vbk", "k", []byte("v2"))
	v1, v2 := aws.ToString(p1.VersionId), aws.ToString(p2.VersionId)
	if !validVersionID(v1) || !validVersionID(v2) || v1 == v2 || v1 == "null" {
		t.Fatalf("version ids %q %q", v1, v2)
	}
	for _, tc := range []struct{ vid, want string }{{"", "v2"}, {v1, "v1"}, {v2, "v2"}, {"null", "v0"}} {
		body, out := getBody(t, c, "vbk", "k", tc.vid)
		if body != tc.want {
			t.Errorf("get %q = %q, want %q", tc.vid, body, tc.want)
		}
		if want := tc.vid; want != "" && aws.ToString(out.VersionId) != want {
			t.Errorf("get %q: version id %q", tc.vid, aws.ToString(out.VersionId))
		}
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil || aws.ToString(h.VersionId) != v1 || aws.ToInt64(h.ContentLength) != 2 {
		t.Fatalf("head v1: %+v %v", h, err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String(strings.Repeat("0", 32))})
	wantCode(t, err, "NoSuchVersion", 404)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String("bogus")})
	wantCode(t, err, "InvalidArgument", 400)
	if !strings.Contains(err.Error(), "Invalid version id specified") {
		t.Errorf("message: %v", err)
	}

	// Delete without a version id: a delete marker.
	d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(d.DeleteMarker) || !validVersionID(aws.ToString(d.VersionId)) {
		t.Fatalf("delete: %+v %v", d, err)
	}
	marker := aws.ToString(d.VersionId)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchKey", 404)
	if errHeader(t, err, "x-amz-delete-marker") != "true" || errHeader(t, err, "x-amz-version-id") != marker {
		t.Errorf("marker headers missing on NoSuchKey")
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String(marker)})
	wantCode(t, err, "MethodNotAllowed", 405)
	if errHeader(t, err, "x-amz-delete-marker") != "true" {
		t.Errorf("marker header missing on MethodNotAllowed")
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k")})
	wantCode(t, err, "", 404)
	if errHeader(t, err, "x-amz-delete-marker") != "true" {
		t.Errorf("marker header missing on HEAD")
	}
	if body, _ := getBody(t, c, "vbk", "k", v1); body != "v1" {
		t.Errorf("old version after delete: %q", body)
	}
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("vbk")})
	if err != nil || len(lo.Contents) != 0 {
		t.Fatalf("deleted key listed: %+v %v", lo.Contents, err)
	}

	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("vbk")})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.DeleteMarkers) != 1 || aws.ToString(lv.DeleteMarkers[0].VersionId) != marker || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
		t.Fatalf("delete markers: %+v", lv.DeleteMarkers)
	}
	if lv.DeleteMarkers[0].Owner == nil || aws.ToString(lv.DeleteMarkers[0].Owner.ID) != "alice-canonical" {
		t.Errorf("marker owner: %+v", lv.DeleteMarkers[0].Owner)
	}
	var ids []string
	for _, v := range lv.Versions {
		ids = append(ids, aws.ToString(v.VersionId))
		if aws.ToBool(v.IsLatest) || v.Owner == nil || aws.ToString(v.ETag) == "" || v.StorageClass != "STANDARD" {
			t.Errorf("version %+v", v)
		}
	}
	if fmt.Sprint(ids) != fmt.Sprint([]string{v2, v1, "null"}) {
		t.Fatalf("versions %v, want %v", ids, []string{v2, v1, "null"})
	}

	// Removing the marker restores v2; removing v2 promotes v1.
	d, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String(marker)})
	if err != nil || !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != marker {
		t.Fatalf("delete marker: %+v %v", d, err)
	}
	if body, _ := getBody(t, c, "vbk", "k", ""); body != "v2" {
		t.Fatalf("after marker removal: %q", body)
	}
	d, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String(v2)})
	if err != nil || aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != v2 {
		t.Fatalf("delete v2: %+v %v", d, err)
	}
	if body, out := getBody(t, c, "vbk", "k", ""); body != "v1" || aws.ToString(out.VersionId) != v1 {
		t.Fatalf("after v2 removal: %q %s", body, aws.ToString(out.VersionId))
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String("nope")})
	wantCode(t, err, "InvalidArgument", 400)

	// The bucket is not empty while any version or marker remains.
	for _, vid := range []string{v1, "null"} {
		_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("vbk")})
		wantCode(t, err, "BucketNotEmpty", 409)
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("k"), VersionId: aws.String(vid)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("vbk")})
	wantCode(t, err, "BucketNotEmpty", 409) // the marker of "gone"
	lv, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("vbk")})
	if err != nil || len(lv.DeleteMarkers) != 1 || len(lv.Versions) != 0 {
		t.Fatalf("only the marker should remain: %+v %v", lv, err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vbk"), Key: aws.String("gone"), VersionId: lv.DeleteMarkers[0].VersionId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("vbk")}); err != nil {
		t.Fatalf("empty bucket: %v", err)
	}
}

func TestSuspendedVersioning(t *testing.T) { forEachBackend(t, testSuspendedVersioning) }

func testSuspendedVersioning(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "sbk")
	setVersioning(t, c, "sbk", types.BucketVersioningStatusEnabled)
	v1 := aws.ToString(mustPut(t, c, "sbk", "k", []byte("v1")).VersionId)
	setVersioning(t, c, "sbk", types.BucketVersioningStatusSuspended)

	for i, data := range []string{"n1", "n2"} {
		p := mustPut(t, c, "sbk", "k", []byte(data))
		if aws.ToString(p.VersionId) != "null" {
			t.Fatalf("put %d in suspended bucket: version id %q", i, aws.ToString(p.VersionId))
		}
	}
	body, out := getBody(t, c, "sbk", "k", "")
	if body != "n2" || aws.ToString(out.VersionId) != "null" {
		t.Fatalf("current: %q %q", body, aws.ToString(out.VersionId))
	}
	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("sbk")})
	if err != nil || len(lv.Versions) != 2 || aws.ToString(lv.Versions[0].VersionId) != "null" || aws.ToString(lv.Versions[1].VersionId) != v1 {
		t.Fatalf("the null version replaces itself: %+v %v", lv.Versions, err)
	}

	d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("sbk"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != "null" {
		t.Fatalf("suspended delete: %+v %v", d, err)
	}
	lv, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("sbk")})
	if err != nil || len(lv.Versions) != 1 || len(lv.DeleteMarkers) != 1 || aws.ToString(lv.DeleteMarkers[0].VersionId) != "null" {
		t.Fatalf("null marker replaces the null version: %+v %v", lv, err)
	}
	if body, _ := getBody(t, c, "sbk", "k", v1); body != "v1" {
		t.Fatalf("v1 kept: %q", body)
	}
}

func TestListObjectVersionsPaging(t *testing.T) { forEachBackend(t, testListObjectVersionsPaging) }

func testListObjectVersionsPaging(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "pbk")
	setVersioning(t, c, "pbk", types.BucketVersioningStatusEnabled)
	type entry struct{ key, vid string }
	var want []entry
	for _, k := range []string{"a", "b/x", "b/y", "c d", "e"} {
		var ids []string
		for i := 0; i < 2; i++ {
			ids = append(ids, aws.ToString(mustPut(t, c, "pbk", k, []byte(k)).VersionId))
		}
		if k == "e" {
			d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pbk"), Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, aws.ToString(d.VersionId))
		}
		for i := len(ids) - 1; i >= 0; i-- {
			want = append(want, entry{k, ids[i]})
		}
	}

	for _, max := range []int32{1, 2, 3, 1000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			var got []entry
			in := &s3.ListObjectVersionsInput{Bucket: aws.String("pbk"), MaxKeys: aws.Int32(max)}
			for page := 0; ; page++ {
				if page > 20 {
					t.Fatal("too many pages")
				}
				out, err := c.ListObjectVersions(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				n := len(out.Versions) + len(out.DeleteMarkers)
				if n > int(max) {
					t.Fatalf("page of %d > %d", n, max)
				}
				// Versions and markers come as separate lists from the
				// SDK; merge them back in key, newest-first order using
				// the expected sequence.
				seen := map[entry]bool{}
				for _, v := range out.Versions {
					seen[entry{aws.ToString(v.Key), aws.ToString(v.VersionId)}] = true
				}
				for _, m := range out.DeleteMarkers {
					seen[entry{aws.ToString(m.Key), aws.ToString(m.VersionId)}] = true
				}
				for _, w := range want {
					if seen[w] {
						got = append(got, w)
					}
				}
				if !aws.ToBool(out.IsTruncated) {
					break
				}
				in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}

	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("pbk"), Delimiter: aws.String("/")})
	if err != nil || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "b/" || len(out.Versions) != 6 {
		t.Fatalf("delimiter: %+v %v", out, err)
	}
	out, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("pbk"), Prefix: aws.String("b/")})
	if err != nil || len(out.Versions) != 4 || aws.ToString(out.Prefix) != "b/" {
		t.Fatalf("prefix: %+v %v", out, err)
	}
	// The raw document interleaves Version and DeleteMarker in order and
	// url-encodes keys on request.
	resp, body := e.raw(t, alice(), http.MethodGet, "/pbk?versions&encoding-type=url&prefix=c", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Key>c+d</Key>") || !strings.Contains(string(body), "<EncodingType>url</EncodingType>") {
		t.Fatalf("encoding-type=url: %s", body)
	}
	resp, body = e.raw(t, alice(), http.MethodGet, "/pbk?versions&prefix=e", nil, nil)
	s := string(body)
	if resp.StatusCode != 200 || strings.Index(s, "<DeleteMarker>") > strings.Index(s, "<Version>") || strings.Count(s, "<IsLatest>true</IsLatest>") != 1 {
		t.Fatalf("marker first and latest: %s", body)
	}
	_, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("pbk"), VersionIdMarker: aws.String(want[0].vid)})
	wantCode(t, err, "InvalidArgument", 400)
	_, err = c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("pbk"), KeyMarker: aws.String("a"), VersionIdMarker: aws.String("zz")})
	wantCode(t, err, "InvalidArgument", 400)
}

func md5B64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}
