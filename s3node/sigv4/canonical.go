package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	service         = "s3"
	terminator      = "aws4_request"
	iso8601Basic    = "20060102T150405Z"
	yyyymmdd        = "20060102"
	emptySHA256Hex  = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	maxPresignedTTL = 7 * 24 * time.Hour
)

// uriEncode applies the SigV4 URI encoding: every byte except the unreserved
// characters A-Z a-z 0-9 '-' '.' '_' '~' becomes %XX (upper-case hex). When
// keepSlash is true, '/' is left as is (object key paths).
func uriEncode(s string, keepSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		}
	}
	return b.String()
}

// canonicalURI returns the canonical path for S3: the request path with each
// segment decoded once and re-encoded with uriEncode. S3 neither normalises
// the path (no removal of "." or ".." or duplicate slashes) nor encodes it a
// second time. Working on the escaped path segment by segment keeps an
// encoded slash (%2F) inside a segment distinct from a real separator.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		segs[i] = uriEncode(s, false)
	}
	out := strings.Join(segs, "/")
	if !strings.HasPrefix(out, "/") {
		out = "/" + out
	}
	return out
}

// queryPair is one decoded query parameter.
type queryPair struct{ k, v string }

// parseQuery splits a raw query string into decoded pairs, keeping
// duplicates and order. '+' decodes to a space, as in form encoding; a
// parameter without '=' has an empty value. Undecodable escapes are kept
// literally so that the signature (not the parser) rejects them.
func parseQuery(raw string) []queryPair {
	var out []queryPair
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		out = append(out, queryPair{unescapeQuery(k), unescapeQuery(v)})
	}
	return out
}

func unescapeQuery(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// canonicalQuery encodes and sorts the pairs (by encoded key, then value),
// skipping the parameter named skip (X-Amz-Signature for presigned URLs).
func canonicalQuery(pairs []queryPair, skip string) string {
	enc := make([]queryPair, 0, len(pairs))
	for _, p := range pairs {
		if skip != "" && p.k == skip {
			continue
		}
		enc = append(enc, queryPair{uriEncode(p.k, false), uriEncode(p.v, false)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].k != enc[j].k {
			return enc[i].k < enc[j].k
		}
		return enc[i].v < enc[j].v
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// foldSpaces trims a header value and folds runs of spaces into one, as the
// SigV4 canonical header rules require.
func foldSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	prev := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if prev {
				continue
			}
			prev = true
		} else {
			prev = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// headerValues returns the values of a signed header as the client sent
// them. Go's server moves Host into r.Host and may leave Content-Length only
// in r.ContentLength, so both are reconstructed.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		h := r.Host
		if h == "" && r.URL != nil {
			h = r.URL.Host
		}
		return []string{h}, h != ""
	case "content-length":
		if v, ok := r.Header["Content-Length"]; ok {
			return v, true
		}
		if r.ContentLength >= 0 && (r.ContentLength > 0 || r.Body == nil || r.Body == http.NoBody) {
			return []string{strconv.FormatInt(r.ContentLength, 10)}, true
		}
		return nil, false
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}, true
		}
	}
	v, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok {
		// Non-canonical keys set directly in the map.
		for k, vv := range r.Header {
			if strings.EqualFold(k, name) {
				return vv, true
			}
		}
	}
	return v, ok
}

// canonicalHeaders builds the canonical header block for the signed header
// names (already lower-case and sorted). It fails if a signed header is
// absent from the request.
func canonicalHeaders(r *http.Request, signed []string) (string, bool) {
	var b strings.Builder
	for _, name := range signed {
		vals, ok := headerValues(r, name)
		if !ok {
			return "", false
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(foldSpaces(v))
		}
		b.WriteByte('\n')
	}
	return b.String(), true
}

func canonicalRequest(method, uri, query, headers string, signed []string, payload string) string {
	return strings.Join([]string{method, uri, query, headers, strings.Join(signed, ";"), payload}, "\n")
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func stringToSign(timestamp, scope, canonical string) string {
	return algorithm + "\n" + timestamp + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signingKey derives kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date),
// region), service), "aws4_request").
func signingKey(secret []byte, date, region, svc string) []byte {
	k := make([]byte, 0, 4+len(secret))
	k = append(k, "AWS4"...)
	k = append(k, secret...)
	kDate := hmacSHA256(k, date)
	clear(k)
	kRegion := hmacSHA256(kDate, region)
	kService := hmacSHA256(kRegion, svc)
	out := hmacSHA256(kService, terminator)
	clear(kDate)
	clear(kRegion)
	clear(kService)
	return out
}

// signatureMatches compares the computed signature with the hex string the
// client sent, in constant time.
func signatureMatches(computed []byte, provided string) bool {
	if len(provided) != 2*len(computed) {
		return false
	}
	want := make([]byte, len(computed))
	if _, err := hex.Decode(want, []byte(provided)); err != nil {
		return false
	}
	return hmac.Equal(computed, want)
}
