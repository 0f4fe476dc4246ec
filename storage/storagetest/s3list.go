package storagetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/s3node"
)

// randomKeys returns n distinct keys made of pieces that exercise byte
// order: '/', the two-byte delimiter "ab", multi-byte UTF-8 (including
// U+10FFFF, whose successor needs a carry), upper and lower case.
func randomKeys(rng *rand.Rand, n int) []string {
	pieces := []string{"a", "b", "ab", "/", "//", "B", "é", "日本", "\U0010FFFF", "z", "0", "-", ".", "a/b"}
	set := map[string]bool{}
	for len(set) < n {
		var b strings.Builder
		for k := 1 + rng.IntN(5); k > 0; k-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		set[b.String()] = true
	}
	keys := make([]string, 0, n)
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys) // byte order
	return keys
}

// rollup returns the common prefix key rolls up into, if any.
func rollup(key, prefix, delim string) (string, bool) {
	if delim == "" {
		return key, false
	}
	if i := strings.Index(key[len(prefix):], delim); i >= 0 {
		return key[:len(prefix)+i+len(delim)], true
	}
	return key, false
}

// bruteListObjects is the reference ListObjects over sorted live keys.
func bruteListObjects(keys []string, o s3node.ListObjectsOptions) (entries []string, truncated bool) {
	for _, k := range keys {
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		e, _ := rollup(k, o.Prefix, o.Delimiter)
		if e <= o.After || (len(entries) > 0 && entries[len(entries)-1] == e) {
			continue
		}
		entries = append(entries, e)
	}
	if len(entries) > o.MaxKeys {
		return entries[:o.MaxKeys], true
	}
	return entries, false
}

func listEntries(r s3node.ListObjectsResult) []string {
	var out []string
	for _, o := range r.Objects {
		out = append(out, o.Key)
	}
	out = append(out, r.CommonPrefixes...)
	slices.Sort(out)
	return out
}

var (
	listPrefixes   = []string{"", "a", "a/", "é", "日本", "\U0010FFFF", "zz"}
	listDelimiters = []string{"", "/", "ab", "日本", "\U0010FFFF"}
)

func testListProperty(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	newBucket(t, s, "b", s3node.Enabled)
	keys := randomKeys(rng, 250)
	var live []string
	for i, k := range keys {
		_, err := s.PutObject(ctx, obj("b", k, fmt.Sprint("blob", i)))
		must(t, err)
		switch rng.IntN(10) {
		case 0: // deleted: a marker is current
			_, err = s.DeleteObject(ctx, "b", k)
			must(t, err)
		case 1: // overwritten: listed once
			_, err = s.PutObject(ctx, obj("b", k, fmt.Sprint("blob", i, "b")))
			must(t, err)
			live = append(live, k)
		default:
			live = append(live, k)
		}
	}
	for _, prefix := range listPrefixes {
		for _, delim := range listDelimiters {
			for _, max := range []int{1, 7, 1000} {
				var paged []string
				o := s3node.ListObjectsOptions{Prefix: prefix, Delimiter: delim, MaxKeys: max}
				for range len(keys) + 2 {
					res, err := s.ListObjects(ctx, "b", o)
					must(t, err)
					want, trunc := bruteListObjects(live, o)
					if got := listEntries(res); !slices.Equal(got, want) || res.IsTruncated != trunc {
						t.Fatalf("ListObjects(%+v) = %+q truncated %v, want %+q truncated %v", o, got, res.IsTruncated, want, trunc)
					}
					for _, v := range res.Objects {
						if !v.IsLatest || v.DeleteMarker || v.Bucket != "b" {
							t.Fatalf("listed %+v", v)
						}
					}
					paged = append(paged, want...)
					if !res.IsTruncated {
						break
					}
					if res.NextMarker != want[len(want)-1] {
						t.Fatalf("NextMarker %q, want the last entry %q", res.NextMarker, want[len(want)-1])
					}
					o.After = res.NextMarker
				}
				all, _ := bruteListObjects(live, s3node.ListObjectsOptions{Prefix: prefix, Delimiter: delim, MaxKeys: len(keys)})
				if !slices.Equal(paged, all) {
					t.Fatalf("paging prefix %q delim %q max %d gave %+q, want %+q", prefix, delim, max, paged, all)
				}
			}
		}
	}
	// Arbitrary markers, not only those the store handed out.
	for range 200 {
		o := s3node.ListObjectsOptions{Prefix: listPrefixes[rng.IntN(len(listPrefixes))],
			Delimiter: listDelimiters[rng.IntN(len(listDelimiters))],
			MaxKeys:   1 + rng.IntN(20)}
		// A stored key, a piece of one, or two glued together.
		k := keys[rng.IntN(len(keys))]
		o.After = k[:rng.IntN(len(k)+1)] + keys[rng.IntN(len(keys))][:rng.IntN(2)]
		if !s3node.ValidKey(o.After) {
			continue
		}
		res, err := s.ListObjects(ctx, "b", o)
		must(t, err)
		want, trunc := bruteListObjects(live, o)
		if got := listEntries(res); !slices.Equal(got, want) || res.IsTruncated != trunc {
			t.Fatalf("ListObjects(%+v) = %+q truncated %v, want %+q truncated %v", o, got, res.IsTruncated, want, trunc)
		}
	}
}

func testListArguments(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	_, err := s.PutObject(ctx, obj("b", "k", "blob"))
	must(t, err)
	res, err := s.ListObjects(ctx, "b", s3node.ListObjectsOptions{MaxKeys: 0})
	must(t, err)
	if len(res.Objects) != 0 || res.IsTruncated {
		t.Fatalf("MaxKeys 0: %+v", res)
	}
	_, err = s.ListObjects(ctx, "b", s3node.ListObjectsOptions{MaxKeys: -1})
	wantS3(t, err, s3node.EInvalid, "")
	_, err = s.ListObjects(ctx, "b", s3node.ListObjectsOptions{MaxKeys: 1, Prefix: "\xff"})
	wantS3(t, err, s3node.EInvalid, "")
	_, err = s.ListObjects(ctx, "nob", s3node.ListObjectsOptions{MaxKeys: 1})
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchBucket)
	_, err = s.ListVersions(ctx, "b", s3node.ListVersionsOptions{MaxKeys: 1, KeyMarker: "k", VersionIDMarker: "nope"})
	wantS3(t, err, s3node.EInvalid, "")
	_, err = s.ListVersions(ctx, "b", s3node.ListVersionsOptions{MaxKeys: 1, VersionIDMarker: "null"})
	wantS3(t, err, s3node.EInvalid, "")
}

type verEntry struct{ key, version string }

func testListVersionsProperty(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 5))
	newBucket(t, s, "b", s3node.Enabled)
	keys := randomKeys(rng, 60)
	// all[k] lists version ids of key k, newest first.
	all := map[string][]string{}
	for round := range 3 {
		for i, k := range keys {
			if rng.IntN(3) == 0 && round > 0 {
				continue
			}
			var id string
			if rng.IntN(5) == 0 {
				d, err := s.DeleteObject(ctx, "b", k)
				must(t, err)
				id = d.VersionID
			} else {
				r, err := s.PutObject(ctx, obj("b", k, fmt.Sprint("blob", round, "-", i)))
				must(t, err)
				id = r.VersionID
			}
			all[k] = append([]string{id}, all[k]...)
		}
	}
	brute := func(o s3node.ListVersionsOptions) (entries []verEntry, truncated bool) {
		pastMarker := o.VersionIDMarker == ""
		for _, k := range keys {
			if !strings.HasPrefix(k, o.Prefix) {
				continue
			}
			if e, ok := rollup(k, o.Prefix, o.Delimiter); ok {
				if e > o.KeyMarker && (len(entries) == 0 || entries[len(entries)-1].key != e) {
					entries = append(entries, verEntry{key: e})
				}
				continue
			}
			for _, v := range all[k] {
				switch {
				case k > o.KeyMarker:
					entries = append(entries, verEntry{k, v})
				case k == o.KeyMarker && pastMarker:
					entries = append(entries, verEntry{k, v})
				case k == o.KeyMarker && v == o.VersionIDMarker:
					pastMarker = true
				}
			}
		}
		if len(entries) > o.MaxKeys {
			return entries[:o.MaxKeys], true
		}
		return entries, false
	}
	for _, prefix := range listPrefixes[:4] {
		for _, delim := range listDelimiters[:3] {
			for _, max := range []int{1, 5, 1000} {
				o := s3node.ListVersionsOptions{Prefix: prefix, Delimiter: delim, MaxKeys: max}
				for range 1000 {
					res, err := s.ListVersions(ctx, "b", o)
					must(t, err)
					want, trunc := brute(o)
					var got []verEntry
					for _, v := range res.Versions {
						got = append(got, verEntry{v.Key, v.VersionID})
						if v.IsLatest != (all[v.Key][0] == v.VersionID) {
							t.Fatalf("IsLatest wrong on %+v", v)
						}
					}
					for _, cp := range res.CommonPrefixes {
						got = append(got, verEntry{key: cp})
					}
					slices.SortStableFunc(got, func(a, b verEntry) int { return strings.Compare(a.key, b.key) })
					if !slices.Equal(got, want) || res.IsTruncated != trunc {
						t.Fatalf("ListVersions(%+v) = %+q truncated %v, want %+q truncated %v", o, got, res.IsTruncated, want, trunc)
					}
					if !res.IsTruncated {
						break
					}
					last := want[len(want)-1]
					if res.NextKeyMarker != last.key || res.NextVersionIDMarker != last.version {
						t.Fatalf("next markers %q %q, want %q %q", res.NextKeyMarker, res.NextVersionIDMarker, last.key, last.version)
					}
					o.KeyMarker, o.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
				}
			}
		}
	}
}
