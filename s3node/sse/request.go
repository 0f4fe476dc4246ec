package sse

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/s3kms/s3kms/s3node/s3err"
)

// Type is the server-side encryption a request asks for.
type Type int

// Encryption types.
const (
	None Type = iota // no encryption requested (the bucket default may apply)
	S3               // SSE-S3, x-amz-server-side-encryption: AES256
	KMS              // SSE-KMS, x-amz-server-side-encryption: aws:kms
	C                // SSE-C, the customer key trio
)

func (t Type) String() string {
	switch t {
	case None:
		return "none"
	case S3:
		return "SSE-S3"
	case KMS:
		return "SSE-KMS"
	case C:
		return "SSE-C"
	}
	return "invalid"
}

// SSE header values (SSE-SPEC §4.1).
const (
	ValueAES256 = "AES256"
	ValueKMS    = "aws:kms"
)

// Request is the encryption a PUT-like request asks for (SSE-SPEC §4.1,
// §5.1, §1.1).
type Request struct {
	Type Type
	// KMSKeyID is x-amz-server-side-encryption-aws-kms-key-id, only with
	// KMS; empty means the bucket or server default key (D6).
	KMSKeyID string
	// Context is the decoded x-amz-server-side-encryption-context, only
	// with KMS; nil when absent.
	Context map[string]string
	// BucketKeyEnabled is x-amz-server-side-encryption-bucket-key-enabled
	// (§4.6); BucketKeySet says whether the header was sent.
	BucketKeyEnabled, BucketKeySet bool
	// CustomerKey is the SSE-C key, only with C. Wipe it when done.
	CustomerKey *CustomerKey
}

// ParseRequest parses the encryption headers of a PUT-like request in the
// order of the package documentation. Errors are *s3err.Error.
func ParseRequest(h http.Header) (Request, error) {
	var req Request
	ck, err := ParseCustomerKey(h, CustomerPrefix)
	if err != nil {
		return Request{}, err
	}
	if ck != nil {
		// W1 in ParseCustomerKey guarantees no SSE header here.
		req.Type, req.CustomerKey = C, ck
	} else if v, ok := h[HeaderSSE]; ok && len(v) > 0 {
		switch v[0] {
		case ValueAES256:
			req.Type = S3
		case ValueKMS:
			req.Type = KMS
		default:
			return Request{}, s3err.Argument(msgUnsupportedSSE, argName, v[0])
		}
	}
	fail := func(err error) (Request, error) {
		ck.Wipe()
		return Request{}, err
	}
	if v, ok := h[HeaderKMSKeyID]; ok && len(v) > 0 {
		if req.Type != KMS {
			return fail(s3err.Argument(msgKMSRequired, strings.ToLower(HeaderKMSKeyID), v[0]))
		}
		req.KMSKeyID = v[0]
	}
	if v, ok := h[HeaderContext]; ok && len(v) > 0 {
		if req.Type != KMS {
			return fail(s3err.Argument(msgKMSRequired, strings.ToLower(HeaderContext), v[0]))
		}
		ctx, ok := parseContext(v[0])
		if !ok {
			return fail(s3err.Argument(msgBadContext, strings.ToLower(HeaderContext), v[0]))
		}
		req.Context = ctx
	}
	if v, ok := h[HeaderBucketKeyEnabled]; ok && len(v) > 0 {
		switch {
		case strings.EqualFold(v[0], "true"):
			req.BucketKeyEnabled = true
		case strings.EqualFold(v[0], "false"):
		default:
			return fail(s3err.Argument(msgBadBucketKey, strings.ToLower(HeaderBucketKeyEnabled), v[0]))
		}
		req.BucketKeySet = true
	}
	return req, nil
}

// parseContext decodes base64 of a UTF-8 JSON object whose values are all
// strings (SSE-SPEC §5.1).
func parseContext(v string) (map[string]string, bool) {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil || !utf8.Valid(raw) {
		return nil, false
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}
