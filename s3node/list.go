package s3node

import (
	"context"
	"strings"
	"unicode/utf8"
)

// ListObjectsOptions selects the current, non-deleted objects of a bucket.
type ListObjectsOptions struct {
	Prefix    string
	Delimiter string // "" for none; any length
	// After lists only entries (keys or common prefixes) greater than
	// After: S3's marker, start-after or continuation token. Keys that
	// would roll up into a common prefix that is a prefix of After are
	// skipped too, so NextMarker can always be passed back as After.
	After string
	// MaxKeys bounds keys plus common prefixes. 0 returns nothing (not
	// truncated); negative is EInvalid. The S3 layer applies its default
	// of 1000.
	MaxKeys int
}

// ListObjectsResult is a page of objects.
type ListObjectsResult struct {
	Objects        []ObjectVersion
	CommonPrefixes []string
	IsTruncated    bool
	NextMarker     string // the last entry returned, when IsTruncated
}

// ListVersionsOptions selects the versions and delete markers of a
// bucket, ordered by key, then newest first.
type ListVersionsOptions struct {
	Prefix, Delimiter string
	KeyMarker         string
	// VersionIDMarker, with KeyMarker, continues with the versions of
	// KeyMarker older than this one. Without it, listing continues after
	// every version of KeyMarker. An unknown one is EInvalid.
	VersionIDMarker string
	MaxKeys         int
}

// ListVersionsResult is a page of versions.
type ListVersionsResult struct {
	Versions            []ObjectVersion // delete markers have DeleteMarker set
	CommonPrefixes      []string
	IsTruncated         bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// ValidKey reports whether s may be an object key, prefix, delimiter or
// marker: valid UTF-8 of at most 1024 bytes. Stores return EInvalid for
// anything else; byte-order listing depends on it.
func ValidKey(s string) bool {
	return len(s) <= 1024 && utf8.ValidString(s)
}

// Successor returns the smallest valid UTF-8 string greater than every
// string that has prefix p, or "" if there is none (p is empty or made of
// U+10FFFF only). It increments p's last rune, carrying over U+10FFFF and
// jumping the surrogate range.
//
// UTF-8 byte order equals code point order, so no string with prefix p
// lies at or beyond the result, and no other string lies between them.
// Incrementing the last byte instead would give a smaller bound but not
// always valid UTF-8, which PostgreSQL refuses as a text parameter.
func Successor(p string) string {
	for p != "" {
		r, n := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-n]
		switch {
		case r == utf8.MaxRune:
			continue // carry
		case r == 0xD7FF:
			r = 0xE000
		default:
			r++
		}
		return p + string(r)
	}
	return ""
}

// Cursor is a position for a seek in key order.
type Cursor struct {
	Key string
	// Inclusive makes the seek start at Key itself rather than after it.
	Inclusive bool
	// Seq, when non-zero, starts with the entries of Key that follow the
	// one with this Seq in listing order (older versions in a version
	// listing, later uploads in an upload listing), then continues after
	// Key.
	Seq int64
}

// SeekFunc returns up to limit entries at or after from in listing order
// whose keys are below end ("" for no bound). It is the one indexed query
// a backend runs per step of Walk.
type SeekFunc[T any] func(ctx context.Context, from Cursor, end string, limit int) ([]T, error)

// WalkParams drive Walk.
type WalkParams struct {
	Prefix, Delimiter string
	Start             Cursor // where the caller's marker puts the walk
	Max               int    // entries (items plus common prefixes) to return
}

// Page is what Walk found.
type Page[T any] struct {
	Items          []T
	CommonPrefixes []string
	Truncated      bool
	// LastPrefix is the last entry returned when that entry was a common
	// prefix, else "".
	LastPrefix string
}

// Initial and largest number of rows fetched per seek when listing with a
// delimiter. A seek that ends inside a common prefix wastes at most the
// rows it read under it, so the batch starts small and grows only while
// rows are plain keys.
const (
	walkBatchMin = 4
	walkBatchMax = 1000
)

// Walk lists entries with prefix p.Prefix from p.Start on, rolling keys
// that contain p.Delimiter after the prefix up into common prefixes and
// seeking past each one rather than reading the keys under it. key
// returns an entry's key; after returns the exclusive cursor just past an
// entry.
func Walk[T any](ctx context.Context, p WalkParams, key func(T) string, after func(T) Cursor, seek SeekFunc[T]) (Page[T], error) {
	var page Page[T]
	if p.Max <= 0 {
		return page, nil
	}
	cur := p.Start
	if cur.Key < p.Prefix {
		cur = Cursor{Key: p.Prefix, Inclusive: true}
	}
	if cp := commonPrefix(cur.Key, p.Prefix, p.Delimiter); cp != "" {
		// Every key under cp rolls up into cp <= cur.Key: all before the
		// marker.
		next := Successor(cp)
		if next == "" {
			return page, nil
		}
		if next > cur.Key || (next == cur.Key && !cur.Inclusive) {
			cur = Cursor{Key: next, Inclusive: true}
		}
	}
	end := Successor(p.Prefix)
	type entry struct {
		item   T
		prefix string
	}
	var entries []entry
	need := p.Max + 1 // one more tells whether the page is truncated
	batch := walkBatchMin
	for len(entries) < need {
		limit := need - len(entries)
		if p.Delimiter != "" {
			limit = min(limit, batch)
		}
		rows, err := seek(ctx, cur, end, limit)
		if err != nil {
			return Page[T]{}, err
		}
		skipping := ""
		for _, r := range rows {
			k := key(r)
			if skipping != "" && strings.HasPrefix(k, skipping) {
				continue
			}
			skipping = ""
			if cp := commonPrefix(k, p.Prefix, p.Delimiter); cp != "" {
				entries = append(entries, entry{prefix: cp})
				skipping = cp
			} else {
				entries = append(entries, entry{item: r})
			}
			if len(entries) == need {
				break
			}
		}
		if len(entries) == need || len(rows) < limit {
			break
		}
		if skipping != "" {
			next := Successor(skipping)
			if next == "" {
				break
			}
			cur = Cursor{Key: next, Inclusive: true}
			batch = walkBatchMin
		} else {
			cur = after(rows[len(rows)-1])
			batch = min(2*batch, walkBatchMax)
		}
	}
	if len(entries) > p.Max {
		entries = entries[:p.Max]
		page.Truncated = true
	}
	for i, e := range entries {
		if e.prefix != "" {
			page.CommonPrefixes = append(page.CommonPrefixes, e.prefix)
			if i == len(entries)-1 {
				page.LastPrefix = e.prefix
			}
		} else {
			page.Items = append(page.Items, e.item)
		}
	}
	return page, nil
}

// commonPrefix returns the common prefix key rolls up into, or "".
func commonPrefix(key, prefix, delimiter string) string {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return ""
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return ""
	}
	return key[:len(prefix)+i+len(delimiter)]
}
