package s3node

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSuccessor(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "b"},
		{"a/", "a0"},
		{"ab", "ac"},
		{"x\u007f", "x\u0080"},
		{"é", "ê"},
		{"\ud7ff", "\ue000"},
		{"a\U0010FFFF", "b"},
		{"\U0010FFFF\U0010FFFF", ""},
		{"日本", "日札"},
	}
	for _, tt := range tests {
		got := Successor(tt.in)
		if got != tt.want {
			t.Errorf("Successor(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" && (!utf8.ValidString(got) || got <= tt.in) {
			t.Errorf("Successor(%q) = %q is not a valid greater string", tt.in, got)
		}
	}
}

// bruteList is the reference: every key's entry, deduplicated, those
// greater than after, the first max.
func bruteList(keys []string, prefix, delim, after string, max int) (entries []string, truncated bool) {
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e := k
		if cp := commonPrefix(k, prefix, delim); cp != "" {
			e = cp
		}
		if e <= after || (len(entries) > 0 && entries[len(entries)-1] == e) {
			continue
		}
		entries = append(entries, e)
	}
	if len(entries) > max {
		return entries[:max], true
	}
	return entries, false
}

func TestWalkMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "/", "ab", "é", "日", "\U0010FFFF", "z"}
	set := map[string]bool{}
	for len(set) < 400 {
		var b strings.Builder
		for n := 1 + rng.IntN(6); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		set[b.String()] = true
	}
	var keys []string
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	queries := 0
	seek := func(_ context.Context, from Cursor, end string, limit int) ([]string, error) {
		queries++
		i := sort.SearchStrings(keys, from.Key)
		if i < len(keys) && keys[i] == from.Key && !from.Inclusive {
			i++
		}
		var out []string
		for ; i < len(keys) && len(out) < limit && (end == "" || keys[i] < end); i++ {
			out = append(out, keys[i])
		}
		return out, nil
	}
	id := func(s string) string { return s }
	after := func(s string) Cursor { return Cursor{Key: s} }
	for _, prefix := range []string{"", "a", "a/", "é", "\U0010FFFF"} {
		for _, delim := range []string{"", "/", "ab", "日\U0010FFFF", "é"} {
			for _, max := range []int{1, 3, 1000} {
				var got []string
				marker := ""
				for pages := 0; ; pages++ {
					p, err := Walk(context.Background(), WalkParams{Prefix: prefix, Delimiter: delim, Start: Cursor{Key: marker}, Max: max}, id, after, seek)
					if err != nil {
						t.Fatal(err)
					}
					want, wantTrunc := bruteList(keys, prefix, delim, marker, max)
					var page []string
					page = append(page, p.Items...)
					page = append(page, p.CommonPrefixes...)
					sort.Strings(page)
					if !slices.Equal(page, want) || p.Truncated != wantTrunc {
						t.Fatalf("prefix %q delim %q after %q max %d: got %q (trunc %v), want %q (trunc %v)",
							prefix, delim, marker, max, page, p.Truncated, want, wantTrunc)
					}
					got = append(got, page...)
					if !p.Truncated {
						break
					}
					marker = page[len(page)-1]
					if (p.LastPrefix != "") != slices.Contains(p.CommonPrefixes, marker) {
						t.Fatalf("LastPrefix %q, last entry %q", p.LastPrefix, marker)
					}
				}
				all, _ := bruteList(keys, prefix, delim, "", len(keys))
				if !slices.Equal(got, all) {
					t.Fatalf("prefix %q delim %q max %d: paged %q, want %q", prefix, delim, max, got, all)
				}
			}
		}
	}
	t.Logf("%d seeks", queries)
}

// Each common prefix costs one seek, whatever the number of keys under it.
func TestWalkSkipsCommonPrefixes(t *testing.T) {
	var keys []string
	for _, d := range []string{"a", "b", "c"} {
		for i := range 10000 {
			keys = append(keys, d+"/"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('0'+i/26%10))+string(rune('A'+i/260%26)))
		}
	}
	sort.Strings(keys)
	keys = slices.Compact(keys)
	rows := 0
	seek := func(_ context.Context, from Cursor, end string, limit int) ([]string, error) {
		i := sort.SearchStrings(keys, from.Key)
		if i < len(keys) && keys[i] == from.Key && !from.Inclusive {
			i++
		}
		j := min(len(keys), i+limit)
		rows += j - i
		return keys[i:j], nil
	}
	p, err := Walk(context.Background(), WalkParams{Delimiter: "/", Max: 1000},
		func(s string) string { return s }, func(s string) Cursor { return Cursor{Key: s} }, seek)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.CommonPrefixes, []string{"a/", "b/", "c/"}) || len(p.Items) != 0 {
		t.Fatalf("got %v %v", p.CommonPrefixes, p.Items)
	}
	if rows > 3*walkBatchMin {
		t.Fatalf("read %d rows for 3 common prefixes", rows)
	}
}
