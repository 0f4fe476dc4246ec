package s3api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func tagList(m map[string]string) []types.Tag {
	var out []types.Tag
	for k, v := range m {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].Key < *out[j].Key })
	return out
}

func tagString(tags []types.Tag) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return strings.Join(parts, "&")
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
	}
	return m
}

func TestObjectTagging(t *testing.T) { forEachBackend(t, testObjectTagging) }

func testObjectTagging(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "tags")
	mustPut(t, c, "tags", "k", []byte("data"))

	tests := []struct {
		name string
		tags []types.Tag
		code string // "" for success
	}{
		{"one", tagList(map[string]string{"a": "1"}), ""},
		{"ten", tagList(manyTags(10)), ""},
		{"unicode limits", tagList(map[string]string{strings.Repeat("é", 128): strings.Repeat("ü", 256)}), ""},
		{"empty value", tagList(map[string]string{"a": ""}), ""},
		{"eleven", tagList(manyTags(11)), "InvalidTag"},
		{"key too long", tagList(map[string]string{strings.Repeat("k", 129): "v"}), "InvalidTag"},
		{"value too long", tagList(map[string]string{"k": strings.Repeat("v", 257)}), "InvalidTag"},
		{"empty key", []types.Tag{{Key: aws.String(""), Value: aws.String("v")}}, "InvalidTag"},
		{"duplicate", []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("2")}}, "InvalidTag"},
		{"aws prefix", tagList(map[string]string{"aws:x": "1"}), "InvalidTag"},
		{"none", []types.Tag{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: tc.tags}})
			if tc.code != "" {
				wantCode(t, err, tc.code, 400)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
			if err != nil {
				t.Fatal(err)
			}
			if tagString(got.TagSet) != tagString(tc.tags) {
				t.Fatalf("got %s, want %s", tagString(got.TagSet), tagString(tc.tags))
			}
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("tags"), Key: aws.String("k")})
			if err != nil || aws.ToInt32(h.TagCount) != int32(len(tc.tags)) {
				t.Fatalf("tag count %d, %v; want %d", aws.ToInt32(h.TagCount), err, len(tc.tags))
			}
		})
	}

	if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil || len(got.TagSet) != 0 {
		t.Fatalf("after delete: %v %v", got.TagSet, err)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey", 404)

	resp, body := e.raw(t, alice(), http.MethodPut, "/tags/k?tagging", []byte("<Tagging><TagSet>"), nil)
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("MalformedXML")) {
		t.Fatalf("malformed: %d %s", resp.StatusCode, body)
	}
}

func TestTaggingHeaderOnPut(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "tags")
	for _, tc := range []struct {
		name, header, want, code string
	}{
		{"encoded", "a=1&b%20c=d%26e", "a=1&b c=d&e", ""},
		{"empty value", "a=", "a=", ""},
		{"eleven", "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11", "", "InvalidTag"},
		{"duplicate", "a=1&a=2", "", "InvalidTag"},
		{"long key", strings.Repeat("k", 129) + "=v", "", "InvalidTag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tags"), Key: aws.String(tc.name),
				Body: strings.NewReader("x"), Tagging: aws.String(tc.header)})
			if tc.code != "" {
				wantCode(t, err, tc.code, 400)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String(tc.name)})
			if err != nil || tagString(got.TagSet) != tc.want {
				t.Fatalf("got %s, %v; want %s", tagString(got.TagSet), err, tc.want)
			}
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tags"), Key: aws.String(tc.name)})
			if err != nil {
				t.Fatal(err)
			}
			g.Body.Close()
			if want := int32(strings.Count(tc.want, "=")); aws.ToInt32(g.TagCount) != want {
				t.Fatalf("x-amz-tagging-count %d, want %d", aws.ToInt32(g.TagCount), want)
			}
		})
	}
}

func TestVersionedTagging(t *testing.T) { forEachBackend(t, testVersionedTagging) }

func testVersionedTagging(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "tags")
	setVersioning(t, c, "tags", types.BucketVersioningStatusEnabled)
	v1 := mustPut(t, c, "tags", "k", []byte("1")).VersionId
	v2 := mustPut(t, c, "tags", "k", []byte("2")).VersionId

	put, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), VersionId: v1,
		Tagging: &types.Tagging{TagSet: tagList(map[string]string{"old": "yes"})}})
	if err != nil || aws.ToString(put.VersionId) != aws.ToString(v1) {
		t.Fatalf("put v1 tags: %v %v", put, err)
	}
	for _, tc := range []struct {
		vid  *string
		want string
	}{{v1, "old=yes"}, {v2, ""}, {nil, ""}} {
		got, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), VersionId: tc.vid})
		if err != nil || tagString(got.TagSet) != tc.want || aws.ToString(got.VersionId) == "" {
			t.Fatalf("version %s: %v %v; want %s", aws.ToString(tc.vid), got, err, tc.want)
		}
	}
	d, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchKey", 404)
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), VersionId: d.VersionId,
		Tagging: &types.Tagging{TagSet: tagList(map[string]string{"a": "b"})}})
	wantCode(t, err, "MethodNotAllowed", 405)
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k"), VersionId: aws.String("x")})
	wantCode(t, err, "InvalidArgument", 400)
}

func TestBucketTagging(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "btags")
	_, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("btags")})
	wantCode(t, err, "NoSuchTagSet", 404)

	for _, tc := range []struct {
		name string
		tags []types.Tag
		code string
	}{
		{"fifty", tagList(manyTags(50)), ""},
		{"two", tagList(map[string]string{"team": "kms", "env": "test"}), ""},
		{"fifty-one", tagList(manyTags(51)), "InvalidTag"},
		{"duplicate", []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("1")}}, "InvalidTag"},
		{"value too long", tagList(map[string]string{"k": strings.Repeat("v", 257)}), "InvalidTag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("btags"), Tagging: &types.Tagging{TagSet: tc.tags}})
			if tc.code != "" {
				wantCode(t, err, tc.code, 400)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("btags")})
			if err != nil || tagString(got.TagSet) != tagString(tc.tags) {
				t.Fatalf("got %s, %v", tagString(got.TagSet), err)
			}
		})
	}
	if _, err := c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: aws.String("btags")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("btags")})
	wantCode(t, err, "NoSuchTagSet", 404)
	_, err = e.client(bob()).PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("btags"), Tagging: &types.Tagging{TagSet: tagList(manyTags(1))}})
	wantCode(t, err, "AccessDenied", 403)
}
