package sigv4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Credentials looks up secret access keys. It is declared here, where it is
// consumed; the S3 node's user store implements it.
type Credentials interface {
	// SecretKey returns the secret access key of accessKeyID, or an error
	// wrapping ErrUnknownAccessKey if the key does not exist. The returned
	// slice must be a fresh copy: the caller overwrites it with zeros once
	// the signing key is derived. Any other error is returned unchanged by
	// Verify (the server maps it to InternalError).
	SecretKey(ctx context.Context, accessKeyID string) ([]byte, error)
}

// CredentialsFunc adapts a function to Credentials.
type CredentialsFunc func(ctx context.Context, accessKeyID string) ([]byte, error)

// SecretKey calls f.
func (f CredentialsFunc) SecretKey(ctx context.Context, accessKeyID string) ([]byte, error) {
	return f(ctx, accessKeyID)
}

var _ Credentials = CredentialsFunc(nil)

// Options configure verification.
type Options struct {
	// Region is the region this endpoint serves; a request scoped to any
	// other region is refused. Empty accepts any region.
	Region string
	// MaxSkew is the largest accepted difference between the request time
	// and the server clock (default 15 minutes, as AWS).
	MaxSkew time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// MaxChunkSize caps one aws-chunked chunk (default 16 MiB); it bounds
	// the memory used to verify a streaming body.
	MaxChunkSize int
}

// DefaultMaxSkew is AWS's clock skew limit.
const DefaultMaxSkew = 15 * time.Minute

// DefaultMaxChunkSize is the default cap on one aws-chunked chunk.
const DefaultMaxChunkSize = 16 << 20

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) maxSkew() time.Duration {
	if o.MaxSkew > 0 {
		return o.MaxSkew
	}
	return DefaultMaxSkew
}

func (o Options) maxChunk() int {
	if o.MaxChunkSize > 0 {
		return o.MaxChunkSize
	}
	return DefaultMaxChunkSize
}

// PayloadMode says how the request body is protected.
type PayloadMode int

const (
	// PayloadSHA256: x-amz-content-sha256 is the hex SHA-256 of the body.
	PayloadSHA256 PayloadMode = iota + 1
	// PayloadUnsigned: UNSIGNED-PAYLOAD; the body is not covered.
	PayloadUnsigned
	// PayloadStreamingSigned: STREAMING-AWS4-HMAC-SHA256-PAYLOAD.
	PayloadStreamingSigned
	// PayloadStreamingSignedTrailer: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.
	PayloadStreamingSignedTrailer
	// PayloadStreamingUnsignedTrailer: STREAMING-UNSIGNED-PAYLOAD-TRAILER.
	PayloadStreamingUnsignedTrailer
)

// Payload hash values of x-amz-content-sha256.
const (
	UnsignedPayload                 = "UNSIGNED-PAYLOAD"
	StreamingSignedPayload          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedPayloadTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Streaming reports whether the body is aws-chunked encoded.
func (m PayloadMode) Streaming() bool { return m >= PayloadStreamingSigned }

func (m PayloadMode) String() string {
	switch m {
	case PayloadSHA256:
		return "sha256"
	case PayloadUnsigned:
		return UnsignedPayload
	case PayloadStreamingSigned:
		return StreamingSignedPayload
	case PayloadStreamingSignedTrailer:
		return StreamingSignedPayloadTrailer
	case PayloadStreamingUnsignedTrailer:
		return StreamingUnsignedPayloadTrailer
	}
	return "PayloadMode(" + strconv.Itoa(int(m)) + ")"
}

// parsePayload classifies an x-amz-content-sha256 value.
func parsePayload(v string) (PayloadMode, *Error) {
	switch v {
	case UnsignedPayload:
		return PayloadUnsigned, nil
	case StreamingSignedPayload:
		return PayloadStreamingSigned, nil
	case StreamingSignedPayloadTrailer:
		return PayloadStreamingSignedTrailer, nil
	case StreamingUnsignedPayloadTrailer:
		return PayloadStreamingUnsignedTrailer, nil
	case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
		return 0, newErr("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented")
	}
	if isLowerHex64(v) {
		return PayloadSHA256, nil
	}
	return 0, errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
}

// Result describes a verified request.
type Result struct {
	AccessKeyID   string
	Region        string
	SigningTime   time.Time
	Presigned     bool
	Expires       time.Time // presigned only: when the URL stops being valid
	SignedHeaders []string
	Payload       PayloadMode
	// ContentSHA256 is the x-amz-content-sha256 value used in the
	// canonical request (hex digest or one of the payload constants).
	ContentSHA256 string
	// DecodedContentLength is x-amz-decoded-content-length for streaming
	// payloads (the object size), -1 otherwise.
	DecodedContentLength int64
	// Trailer is the declared x-amz-trailer header (lower case), if any.
	Trailer string

	signingKey []byte
	signature  string // seed signature for chunk signatures (lower-case hex)
	timestamp  string
	scope      string
	maxChunk   int
	trailers   http.Header
}

// Trailers returns the trailing headers of a streaming body once Body's
// reader has returned io.EOF (all checks passed), else nil. The checksum
// trailer has been verified against the decoded data.
func (r *Result) Trailers() http.Header { return r.trailers }

// Verify authenticates r with SigV4, from the Authorization header or from
// presigned query parameters. It reads no body: wrap r.Body with
// Result.Body to verify the payload. It returns ErrNoAuth when the request
// is unsigned, an *Error for every authentication failure, and lookup
// errors other than ErrUnknownAccessKey unchanged.
func Verify(ctx context.Context, r *http.Request, lookup Credentials, opts Options) (*Result, error) {
	query := parseQuery(r.URL.RawQuery)
	authz := r.Header.Get("Authorization")
	_, hasAlg := firstQuery(query, "X-Amz-Algorithm")
	_, hasCred := firstQuery(query, "X-Amz-Credential")
	_, hasV2 := firstQuery(query, "AWSAccessKeyId")
	_, hasV2Sig := firstQuery(query, "Signature")
	isQuery := hasAlg || hasCred
	switch {
	case authz != "" && (isQuery || hasV2):
		return nil, errInvalidArgument(errOnlyOneAuthMechanism)
	case authz == "" && hasV2 && hasV2Sig && !isQuery:
		return nil, newErr("InvalidRequest", http.StatusBadRequest, msgUnsupportedMechanism)
	case authz == "" && !isQuery:
		return nil, ErrNoAuth
	}
	var (
		f   authFields
		t   time.Time
		res = &Result{DecodedContentLength: -1, maxChunk: opts.maxChunk()}
	)
	now := opts.now()
	if authz != "" {
		var e *Error
		f, e = parseAuthorization(authz)
		if e != nil {
			return nil, e
		}
		if t, e = headerTime(r, f.SignedHeaders); e != nil {
			return nil, e
		}
		if d := f.Credential.Date; d != t.Format(yyyymmdd) {
			return nil, errHeaderMalformed(`Invalid credential date "` + d + `". This date is not the same as X-Amz-Date: "` + t.Format(yyyymmdd) + `".`)
		}
		if opts.Region != "" && f.Credential.Region != opts.Region {
			return nil, errHeaderMalformed("the region '"+f.Credential.Region+"' is wrong; expecting '"+opts.Region+"'").with("Region", opts.Region)
		}
		if d := now.Sub(t); d > opts.maxSkew() || -d > opts.maxSkew() {
			return nil, newErr("RequestTimeTooSkewed", http.StatusForbidden, msgRequestTimeTooSkewed).
				with("RequestTime", t.Format(iso8601Basic)).
				with("ServerTime", now.UTC().Format(time.RFC3339)).
				with("MaxAllowedSkewMilliseconds", strconv.FormatInt(opts.maxSkew().Milliseconds(), 10))
		}
		cs := r.Header.Get("X-Amz-Content-Sha256")
		if cs == "" {
			return nil, errInvalidRequest("Missing required header for this request: x-amz-content-sha256")
		}
		res.ContentSHA256 = cs
	} else {
		p, e := parsePresigned(query)
		if e != nil {
			return nil, e
		}
		f, t = p.authFields, p.Date
		if d := f.Credential.Date; d != t.Format(yyyymmdd) {
			return nil, errQuery(`Invalid credential date "` + d + `". This date is not the same as X-Amz-Date: "` + t.Format(yyyymmdd) + `".`)
		}
		if opts.Region != "" && f.Credential.Region != opts.Region {
			return nil, errQuery("Error parsing the X-Amz-Credential parameter; the region '"+f.Credential.Region+"' is wrong; expecting '"+opts.Region+"'").with("Region", opts.Region)
		}
		if t.Sub(now) > opts.maxSkew() {
			return nil, errAccessDenied("Request is not valid yet")
		}
		res.Presigned = true
		res.Expires = t.Add(p.Expires)
		if now.After(res.Expires) {
			return nil, errAccessDenied("Request has expired").
				with("X-Amz-Expires", strconv.FormatInt(int64(p.Expires/time.Second), 10)).
				with("Expires", res.Expires.UTC().Format(time.RFC3339)).
				with("ServerTime", now.UTC().Format(time.RFC3339))
		}
		// The payload hash of a presigned request is the
		// X-Amz-Content-Sha256 parameter, else a signed header, else
		// UNSIGNED-PAYLOAD.
		res.ContentSHA256 = UnsignedPayload
		if v, ok := firstQuery(query, "X-Amz-Content-Sha256"); ok {
			res.ContentSHA256 = v
		} else if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" {
			res.ContentSHA256 = v
		}
	}
	if _, ok := firstQuery(query, "X-Amz-Security-Token"); ok || r.Header.Get("X-Amz-Security-Token") != "" {
		return nil, newErr("InvalidToken", http.StatusBadRequest, "The provided token is malformed or otherwise invalid.")
	}
	if !contains(f.SignedHeaders, "host") {
		return nil, signedHeadersErr(res.Presigned, "host")
	}
	if unsigned := unsignedAmzHeaders(r, f.SignedHeaders); len(unsigned) > 0 {
		return nil, errAccessDenied("There were headers present in the request which were not signed").
			with("HeadersNotSigned", strings.Join(unsigned, ", "))
	}
	mode, e := parsePayload(res.ContentSHA256)
	if e != nil {
		return nil, e
	}
	res.Payload = mode
	if mode.Streaming() {
		if e := res.streamingHeaders(r); e != nil {
			return nil, e
		}
	}

	secret, err := lookup.SecretKey(ctx, f.Credential.AccessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownAccessKey) {
			return nil, &Error{Code: "InvalidAccessKeyId", Message: msgInvalidAccessKeyID, Status: http.StatusForbidden,
				Extra: map[string]string{"AWSAccessKeyId": f.Credential.AccessKeyID}}
		}
		return nil, fmt.Errorf("sigv4: credential lookup: %w", err)
	}
	key := signingKey(secret, f.Credential.Date, f.Credential.Region, service)
	clear(secret)

	skip := ""
	if res.Presigned {
		skip = "X-Amz-Signature"
	}
	headers, ok := canonicalHeaders(r, f.SignedHeaders)
	if !ok {
		clear(key)
		return nil, errSignature()
	}
	timestamp := t.UTC().Format(iso8601Basic)
	cr := canonicalRequest(r.Method, canonicalURI(r.URL), canonicalQuery(query, skip), headers, f.SignedHeaders, res.ContentSHA256)
	scope := f.Credential.scope()
	if !signatureMatches(hmacSHA256(key, stringToSign(timestamp, scope, cr)), f.Signature) {
		clear(key)
		return nil, errSignature()
	}

	res.AccessKeyID = f.Credential.AccessKeyID
	res.Region = f.Credential.Region
	res.SigningTime = t
	res.SignedHeaders = f.SignedHeaders
	if mode == PayloadStreamingSigned || mode == PayloadStreamingSignedTrailer {
		res.signingKey = key
		res.signature = strings.ToLower(f.Signature)
		res.timestamp = timestamp
		res.scope = scope
	} else {
		clear(key)
	}
	return res, nil
}

func signedHeadersErr(presigned bool, name string) *Error {
	if presigned {
		return errQuery("X-Amz-SignedHeaders must include the " + name + " header.")
	}
	return errHeaderMalformed("the SignedHeaders component must include the " + name + " header.")
}

// streamingHeaders reads x-amz-decoded-content-length and x-amz-trailer.
func (res *Result) streamingHeaders(r *http.Request) *Error {
	dl := r.Header.Get("X-Amz-Decoded-Content-Length")
	if dl == "" {
		return newErr("MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header.")
	}
	n, err := strconv.ParseInt(dl, 10, 64)
	if err != nil || n < 0 {
		return errInvalidArgument("x-amz-decoded-content-length is invalid.")
	}
	res.DecodedContentLength = n
	tr := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer")))
	if tr == "" {
		return nil
	}
	if res.Payload == PayloadStreamingSigned {
		return errInvalidRequest("x-amz-trailer is not allowed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD.")
	}
	if _, ok := checksumByHeader(tr); !ok {
		return errInvalidRequest("The value specified in the x-amz-trailer header is not supported")
	}
	res.Trailer = tr
	return nil
}

// headerTime returns the request time from x-amz-date (ISO 8601 basic) or
// Date (HTTP date); the header used must be signed.
func headerTime(r *http.Request, signed []string) (time.Time, *Error) {
	missing := errAccessDenied("AWS authentication requires a valid Date or x-amz-date header")
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(iso8601Basic, v)
		if err != nil || len(v) != len(iso8601Basic) {
			return time.Time{}, missing
		}
		if !contains(signed, "x-amz-date") {
			return time.Time{}, signedHeadersErr(false, "x-amz-date")
		}
		return t, nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, missing
		}
		if !contains(signed, "date") {
			return time.Time{}, signedHeadersErr(false, "date")
		}
		return t.UTC(), nil
	}
	return time.Time{}, missing
}

// unsignedAmzHeaders lists the x-amz-* headers present but not signed.
func unsignedAmzHeaders(r *http.Request, signed []string) []string {
	var out []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") && !contains(signed, lk) {
			out = append(out, lk)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func firstQuery(q []queryPair, name string) (string, bool) {
	for _, p := range q {
		if p.k == name {
			return p.v, true
		}
	}
	return "", false
}

// Body wraps the request body so that reading it verifies the payload:
//
//   - PayloadSHA256: the SHA-256 of the body is compared at EOF
//     (XAmzContentSHA256Mismatch);
//   - PayloadUnsigned: the body is returned as is;
//   - streaming modes: the aws-chunked encoding is decoded, chunk and
//     trailer signatures checked, the decoded length compared with
//     x-amz-decoded-content-length and the checksum trailer verified.
//
// The reader returns io.EOF only after every check passed; any other error
// means the body must be discarded (the caller must not store it). Errors
// are *Error values except for transport errors of the underlying body.
func (res *Result) Body(body io.ReadCloser) io.ReadCloser {
	if body == nil {
		body = http.NoBody
	}
	switch res.Payload {
	case PayloadSHA256:
		return newSHA256Reader(body, res.ContentSHA256)
	case PayloadStreamingSigned, PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer:
		return newChunkedReader(body, res)
	}
	return body
}
