package sse

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/s3kms/s3kms/s3node/s3err"
)

// Header names (SSE-SPEC §1.1, §4.1, §5.1).
const (
	HeaderSSE               = "X-Amz-Server-Side-Encryption"
	HeaderKMSKeyID          = "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"
	HeaderContext           = "X-Amz-Server-Side-Encryption-Context"
	HeaderBucketKeyEnabled  = "X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"
	HeaderCustomerAlgorithm = "X-Amz-Server-Side-Encryption-Customer-Algorithm"
	HeaderCustomerKey       = "X-Amz-Server-Side-Encryption-Customer-Key"
	HeaderCustomerKeyMD5    = "X-Amz-Server-Side-Encryption-Customer-Key-Md5"
)

// Prefixes for ParseCustomerKey: the destination (or read) trio and the
// copy-source trio of CopyObject and UploadPartCopy (SSE-SPEC §1.4).
const (
	CustomerPrefix   = "x-amz-server-side-encryption-customer-"
	CopySourcePrefix = "x-amz-copy-source-server-side-encryption-customer-"
)

// AlgorithmAES256 is the only SSE-C algorithm (and the SSE-S3 value).
const AlgorithmAES256 = "AES256"

// KeySize is the size of an SSE-C key in bytes.
const KeySize = 32

// Error messages (SSE-SPEC Appendix B).
const (
	msgIncompatible   = "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
	msgNeedAlgorithm  = "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
	msgNeedKey        = "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
	msgInvalidKey     = "The secret key was invalid for the specified algorithm."
	msgMD5Mismatch    = "The calculated MD5 hash of the key did not match the hash that was provided."
	msgNeedMD5        = "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
	msgInsecure       = "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
	msgUnsupportedSSE = "The encryption method specified is not supported"
	msgKMSRequired    = "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
	msgBadContext     = "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map"
	msgBadBucketKey   = "The header 'x-amz-server-side-encryption-bucket-key-enabled' shall be true or false"
)

// argName is the ArgumentName AWS puts on every SSE-C error, also for the
// copy-source trio (SSE-SPEC §1.3, §1.4).
const argName = "x-amz-server-side-encryption"

// argNull is the ArgumentValue AWS sends when it names no value.
const argNull = "null"

const redacted = "[redacted]"

// Key is an SSE-C key. It never prints its bytes: every fmt verb, slog
// and JSON show "[redacted]".
type Key [KeySize]byte

// String returns "[redacted]".
func (Key) String() string { return redacted }

// GoString returns "[redacted]".
func (Key) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the key out of slog output.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the key out of JSON, XML and other encoders.
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// CustomerKey is a validated SSE-C key: 32 bytes whose MD5 the client sent.
// It prints as "[redacted]"; call Wipe when done with it.
type CustomerKey struct {
	key Key
	md5 [md5.Size]byte
}

// Bytes returns the key bytes; the slice aliases the CustomerKey, so Wipe
// clears it too. Do not log or retain it.
func (k *CustomerKey) Bytes() []byte { return k.key[:] }

// KeyMD5 is the base64 of the binary MD5 of the key: what the
// x-amz-server-side-encryption-customer-key-MD5 response header echoes
// (SSE-SPEC §1.1, §2.1).
func (k *CustomerKey) KeyMD5() string { return base64.StdEncoding.EncodeToString(k.md5[:]) }

// Algorithm is always AES256.
func (k *CustomerKey) Algorithm() string { return AlgorithmAES256 }

// Wipe zeroes the key bytes.
func (k *CustomerKey) Wipe() {
	if k != nil {
		clear(k.key[:])
	}
}

// String returns "[redacted]".
func (CustomerKey) String() string { return redacted }

// GoString returns "[redacted]".
func (CustomerKey) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (CustomerKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the key out of slog output.
func (CustomerKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the key out of JSON, XML and other encoders.
func (CustomerKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// customerHeaders are the canonical names of one trio.
type customerHeaders struct {
	algorithm, key, keyMD5 string
}

func trio(prefix string) customerHeaders {
	return customerHeaders{
		algorithm: http.CanonicalHeaderKey(prefix + "algorithm"),
		key:       http.CanonicalHeaderKey(prefix + "key"),
		keyMD5:    http.CanonicalHeaderKey(prefix + "key-MD5"),
	}
}

// HasCustomerHeaders reports whether h carries any header of either SSE-C
// trio: the requests D3 (Secure) applies to (SSE-SPEC §1.6, §10 item 2).
func HasCustomerHeaders(h http.Header) bool {
	for _, p := range []string{CustomerPrefix, CopySourcePrefix} {
		t := trio(p)
		if h.Get(t.algorithm) != "" || h.Get(t.key) != "" || h.Get(t.keyMD5) != "" {
			return true
		}
	}
	return false
}

// ParseCustomerKey parses the SSE-C trio selected by prefix
// (CustomerPrefix or CopySourcePrefix) in the order of SSE-SPEC §1.2; see
// the package documentation. It returns (nil, nil) when none of the three
// headers is present. Errors are *s3err.Error and never contain the key.
func ParseCustomerKey(h http.Header, prefix string) (*CustomerKey, error) {
	t := trio(prefix)
	alg, keyB64, md5B64 := h.Get(t.algorithm), h.Get(t.key), h.Get(t.keyMD5)
	if alg == "" && keyB64 == "" && md5B64 == "" {
		return nil, nil
	}
	// W1: only the destination trio conflicts with the SSE header (§1.4).
	if t.algorithm == HeaderCustomerAlgorithm {
		if v, ok := h[HeaderSSE]; ok && len(v) > 0 {
			return nil, s3err.Argument(msgIncompatible, argName, v[0])
		}
	}
	if alg == "" { // W2
		return nil, s3err.Argument(msgNeedAlgorithm, argName, argNull)
	}
	if alg != AlgorithmAES256 { // W3, R5
		return nil, s3err.New(s3err.InvalidEncryptionAlgorithmError).With("ArgumentName", argName).With("ArgumentValue", alg)
	}
	if keyB64 == "" { // W4
		return nil, s3err.Msg(s3err.InvalidArgument, msgNeedKey)
	}
	// The decoded key is wiped whatever the outcome. Header sizes are
	// bounded by the HTTP server, so any length is decoded: AWS checks the
	// MD5 before the length (§1.2).
	buf := make([]byte, b64Strict.DecodedLen(len(keyB64)))
	defer clear(buf)
	n, err := b64Strict.Decode(buf, []byte(keyB64))
	if err != nil || strings.ContainsAny(keyB64, "\r\n") { // W5
		return nil, s3err.Argument(msgInvalidKey, argName, argNull)
	}
	sum := md5.Sum(buf[:n])
	if md5B64 != "" { // W7
		if !md5Matches(md5B64, &sum) {
			return nil, s3err.Argument(msgMD5Mismatch, argName, argNull)
		}
	}
	if n != KeySize { // W6
		e := s3err.Argument(msgInvalidKey, argName, argNull)
		e.Err = errKeySize
		return nil, e
	}
	if md5B64 == "" { // W8, D2
		return nil, s3err.Msg(s3err.InvalidArgument, msgNeedMD5)
	}
	k := &CustomerKey{md5: sum}
	copy(k.key[:], buf[:n])
	return k, nil
}

// errKeySize marks the W6 error: a key that decodes, with a matching MD5,
// to other than 32 bytes. Reads of SSE-C objects answer it with 403 (R3).
var errKeySize = errors.New("sse: customer key is not 32 bytes")

// WrongKeySize reports whether err is ParseCustomerKey's W6 error: a
// well-formed key of the wrong size (SSE-SPEC §1.3 R3 on reads).
func WrongKeySize(err error) bool { return errors.Is(err, errKeySize) }

// b64Strict is standard padded base64 that also rejects non-zero padding
// bits (RFC 4648 §3.5). The decoder skips CR and LF, which are rejected
// separately, so one key has exactly one accepted header value.
var b64Strict = base64.StdEncoding.Strict()

// md5Matches reports whether sent is the standard base64 of sum; the
// digests are compared in constant time.
func md5Matches(sent string, sum *[md5.Size]byte) bool {
	if base64.StdEncoding.DecodedLen(len(sent)) > md5.Size+2 {
		return false
	}
	var got [md5.Size + 2]byte
	m, err := b64Strict.Decode(got[:], []byte(sent))
	if err != nil || strings.ContainsAny(sent, "\r\n") || m != md5.Size {
		return false
	}
	return subtle.ConstantTimeCompare(got[:m], sum[:]) == 1
}
