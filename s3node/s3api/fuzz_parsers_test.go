package s3api

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// The header and query parsers of the S3 API, fuzzed one by one (the XML
// bodies go through the whole handler in FuzzXMLBodies). Properties: no
// panic; every error is an S3 error with a known code and a 4xx status;
// what is accepted is within the documented bounds and, where a canonical
// form exists, formats and parses back to the same value. Seed corpora are
// in testdata/fuzz/<target>.

// protocolError fails t unless err is an *s3err.Error of a known code
// with a 4xx status.
func protocolError(t *testing.T, what string, err error) {
	t.Helper()
	var e *s3err.Error
	if !errors.As(err, &e) || !s3err.Known(e.Code) || e.Status() < 400 || e.Status() >= 500 {
		t.Fatalf("%s: error %v (%T) is not an S3 client error", what, err, err)
	}
}

// FuzzParseRange: a Range header against an object of some size. An
// accepted range lies inside the object; InvalidRange only when no byte
// of it exists; the canonical form "bytes=a-b" parses to the same range.
func FuzzParseRange(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string, size int64) {
		size &= 1<<50 - 1 // object sizes are not negative
		start, length, ok, err := parseRange(v, size)
		switch {
		case err != nil:
			protocolError(t, "Range "+v, err)
			if ok {
				t.Fatalf("%q: ok with an error", v)
			}
			return
		case !ok:
			return // ignored, as AWS: the whole object
		}
		if start < 0 || length < 1 || start+length > size {
			t.Fatalf("Range %q of %d bytes: start %d length %d", v, size, start, length)
		}
		canon := fmt.Sprintf("bytes=%d-%d", start, start+length-1)
		s2, l2, ok2, err2 := parseRange(canon, size)
		if !ok2 || err2 != nil || s2 != start || l2 != length {
			t.Fatalf("%q -> %s -> %d,%d,%v,%v", v, canon, s2, l2, ok2, err2)
		}
	})
}

// FuzzParseCopySource: x-amz-copy-source. An accepted source names a
// bucket and a valid key; formatted back (key path-escaped, versionId
// query-escaped) it parses to the same source.
func FuzzParseCopySource(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		cs, err := parseCopySource(v)
		if err != nil {
			protocolError(t, "x-amz-copy-source "+v, err)
			return
		}
		if cs.bucket == "" || cs.key == "" || !s3node.ValidKey(cs.key) || strings.Contains(cs.bucket, "/") {
			t.Fatalf("%q: accepted %+v", v, cs)
		}
		canon := cs.bucket + "/" + url.PathEscape(cs.key)
		if cs.versionID != "" {
			canon += "?versionId=" + url.QueryEscape(cs.versionID)
		}
		if url.PathEscape(cs.bucket) != cs.bucket {
			return // a bucket name that would need escaping is refused later
		}
		cs2, err := parseCopySource(canon)
		if err != nil || cs2 != cs {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", v, cs, canon, cs2, err)
		}
	})
}

// FuzzParseCopySourceRange: x-amz-copy-source-range, "bytes=first-last".
func FuzzParseCopySourceRange(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		first, last, err := parseCopySourceRange(v)
		if err != nil {
			protocolError(t, "x-amz-copy-source-range "+v, err)
			return
		}
		if first < 0 || last < first {
			t.Fatalf("%q: %d-%d", v, first, last)
		}
		f2, l2, err := parseCopySourceRange(fmt.Sprintf("bytes=%d-%d", first, last))
		if err != nil || f2 != first || l2 != last {
			t.Fatalf("%q: round trip %d-%d, %v", v, f2, l2, err)
		}
	})
}

// FuzzParseListParams: the query of ListObjects (v1, v2, versions).
func FuzzParseListParams(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return // net/http answers 400 before any handler
		}
		p, err := parseListParams(q)
		if err != nil {
			protocolError(t, "list query "+rawQuery, err)
			return
		}
		if p.maxKeys < 0 || p.maxKeys > maxListKeys || !s3node.ValidKey(p.prefix) || !s3node.ValidKey(p.delimiter) {
			t.Fatalf("%q: accepted %+v", rawQuery, p)
		}
		if enc := p.encode(p.prefix); !utf8.ValidString(enc) {
			t.Fatalf("%q: encoded prefix %q", rawQuery, enc)
		}
	})
}

// FuzzParseTagging: the x-amz-tagging header (URL query encoded). An
// accepted tag set encodes back to a header that parses to the same set.
func FuzzParseTagging(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseTagging(v)
		if err != nil {
			protocolError(t, "x-amz-tagging "+v, err)
			return
		}
		if len(m) > maxObjectTags {
			t.Fatalf("%q: %d tags", v, len(m))
		}
		q := url.Values{}
		for k, val := range m {
			q.Set(k, val)
		}
		m2, err := parseTagging(q.Encode())
		if err != nil || !maps.Equal(m, m2) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", v, m, q.Encode(), m2, err)
		}
	})
}

// FuzzNames: bucket names, version ids and part numbers from paths and
// queries. Whatever is accepted meets the rules the stores rely on.
func FuzzNames(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if validBucketName(s) {
			if len(s) < 3 || len(s) > 63 || strings.ContainsAny(s, "/_ABCDEFGHIJKLMNOPQRSTUVWXYZ") || strings.Contains(s, "..") {
				t.Fatalf("bucket name %q accepted", s)
			}
		}
		if validVersionID(s) && s != s3node.NullVersionID && (len(s) != 32 || strings.Trim(s, "0123456789abcdef") != "") {
			t.Fatalf("version id %q accepted", s)
		}
		n, err := parsePartNumber(url.Values{"partNumber": {s}})
		if err != nil {
			protocolError(t, "partNumber "+s, err)
		} else if n < 1 || n > maxPartNumber {
			t.Fatalf("part number %q -> %d", s, n)
		}
	})
}
