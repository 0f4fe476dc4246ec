package s3api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

var listKeys = []string{
	"a", "a/1", "a/2", "a/b/1", "a/b/2", "a/c", "ab", "b/x", "b/y/z", "c", "c/", "d e/f", "é/1", "z",
}

// expectedListing computes what a full listing returns, naively.
func expectedListing(keys []string, prefix, delim, after string) (objs, prefixes []string) {
	seen := map[string]bool{}
	for _, k := range slices.Sorted(slices.Values(keys)) { // byte order
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if !seen[cp] && cp > after {
					seen[cp] = true
					prefixes = append(prefixes, cp)
				}
				continue
			}
		}
		if k > after {
			objs = append(objs, k)
		}
	}
	return objs, prefixes
}

func TestListObjects(t *testing.T) { forEachBackend(t, testListObjects) }

func testListObjects(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(alice())
	mustCreateBucket(t, c, "list")
	for _, k := range listKeys {
		mustPut(t, c, "list", k, []byte(k))
	}
	for _, tc := range []struct {
		prefix, delim, startAfter string
	}{
		{}, {delim: "/"}, {prefix: "a/"}, {prefix: "a/", delim: "/"}, {prefix: "a", delim: "/"},
		{prefix: "b/", delim: "/"}, {prefix: "zz"}, {delim: "/", startAfter: "a/b"}, {startAfter: "b"},
		{prefix: "a/", delim: "b"}, {delim: "/1"},
	} {
		wantObjs, wantPrefixes := expectedListing(listKeys, tc.prefix, tc.delim, tc.startAfter)
		for _, maxKeys := range []int32{1, 2, 3, 1000} {
			name := fmt.Sprintf("p=%q,d=%q,sa=%q,max=%d", tc.prefix, tc.delim, tc.startAfter, maxKeys)
			t.Run("v2 "+name, func(t *testing.T) {
				var objs, prefixes []string
				in := &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(maxKeys), FetchOwner: aws.Bool(true)}
				if tc.prefix != "" {
					in.Prefix = aws.String(tc.prefix)
				}
				if tc.delim != "" {
					in.Delimiter = aws.String(tc.delim)
				}
				if tc.startAfter != "" {
					in.StartAfter = aws.String(tc.startAfter)
				}
				for pages := 0; ; pages++ {
					if pages > 50 {
						t.Fatal("listing does not end")
					}
					out, err := c.ListObjectsV2(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					n := len(out.Contents) + len(out.CommonPrefixes)
					if int(aws.ToInt32(out.KeyCount)) != n || n > int(maxKeys) {
						t.Fatalf("KeyCount %d, entries %d, max %d", aws.ToInt32(out.KeyCount), n, maxKeys)
					}
					for _, o := range out.Contents {
						objs = append(objs, aws.ToString(o.Key))
						if o.Owner == nil || aws.ToString(o.Owner.ID) != "alice-canonical" {
							t.Fatalf("fetch-owner: owner %+v", o.Owner)
						}
						if aws.ToString(o.ETag) != quotedMD5([]byte(*o.Key)) || aws.ToInt64(o.Size) != int64(len(*o.Key)) {
							t.Fatalf("entry %s: ETag %s size %d", *o.Key, aws.ToString(o.ETag), aws.ToInt64(o.Size))
						}
					}
					for _, p := range out.CommonPrefixes {
						prefixes = append(prefixes, aws.ToString(p.Prefix))
					}
					if !aws.ToBool(out.IsTruncated) {
						break
					}
					if out.NextContinuationToken == nil {
						t.Fatal("truncated without NextContinuationToken")
					}
					in.ContinuationToken = out.NextContinuationToken
				}
				if !slices.Equal(objs, wantObjs) || !slices.Equal(prefixes, wantPrefixes) {
					t.Errorf("got %q %q, want %q %q", objs, prefixes, wantObjs, wantPrefixes)
				}
			})
			t.Run("v1 "+name, func(t *testing.T) {
				var objs, prefixes []string
				in := &s3.ListObjectsInput{Bucket: aws.String("list"), MaxKeys: aws.Int32(maxKeys)}
				if tc.prefix != "" {
					in.Prefix = aws.String(tc.prefix)
				}
				if tc.delim != "" {
					in.Delimiter = aws.String(tc.delim)
				}
				if tc.startAfter != "" {
					in.Marker = aws.String(tc.startAfter)
				}
				for pages := 0; ; pages++ {
					if pages > 50 {
						t.Fatal("listing does not end")
					}
					out, err := c.ListObjects(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					last := ""
					for _, o := range out.Contents {
						objs = append(objs, aws.ToString(o.Key))
						last = aws.ToString(o.Key)
						if o.Owner == nil {
							t.Fatal("v1 entries carry the owner")
						}
					}
					for _, p := range out.CommonPrefixes {
						prefixes = append(prefixes, aws.ToString(p.Prefix))
					}
					if !aws.ToBool(out.IsTruncated) {
						if out.NextMarker != nil {
							t.Fatal("NextMarker on the last page")
						}
						break
					}
					if tc.delim == "" {
						if out.NextMarker != nil {
							t.Fatal("NextMarker without a delimiter")
						}
						in.Marker = aws.String(last)
					} else {
						if out.NextMarker == nil {
							t.Fatal("no NextMarker with a delimiter")
						}
						in.Marker = out.NextMarker
					}
				}
				if !slices.Equal(objs, wantObjs) || !slices.Equal(prefixes, wantPrefixes) {
					t.Errorf("got %q %q, want %q %q", objs, prefixes, wantObjs, wantPrefixes)
				}
			})
		}
	}

	t.Run("encoding-type=url", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("d e/"),
			EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "d+e/f" || aws.ToString(out.Prefix) != "d+e/" {
			t.Fatalf("got %+v", out)
		}
		if dec, _ := url.QueryUnescape(aws.ToString(out.Contents[0].Key)); dec != "d e/f" {
			t.Fatalf("decoded %q", dec)
		}
	})
	t.Run("no owner unless asked", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Contents[0].Owner != nil {
			t.Fatal("owner without fetch-owner")
		}
	})
	t.Run("max-keys 0", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 {
			t.Fatalf("got %+v, %v", out, err)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		for _, q := range []string{"list-type=2&max-keys=-1", "list-type=2&max-keys=x", "list-type=2&continuation-token=!!", "list-type=2&encoding-type=xml", "list-type=3"} {
			resp, body := e.raw(t, alice(), http.MethodGet, "/list?"+q, nil, nil)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>InvalidArgument</Code>") {
				t.Errorf("%s: %d %s", q, resp.StatusCode, body)
			}
		}
	})
}
