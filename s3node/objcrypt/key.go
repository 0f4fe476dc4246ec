package objcrypt

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// KeySize is the size of an object encryption key (OEK) in bytes.
const KeySize = 32

// Format is the value of s3node.EncryptionInfo.Format for objects whose
// data this package wrote: DARE 2.0, AES-256-GCM, 64 KiB packages, part
// keys and ETags derived as in the package doc (version 1 of those
// labels). A reader must refuse any other value rather than guess.
const Format = "s3kms/v1/dare2-aes256gcm-64k"

// maxPart is the highest part number: 0 is a single-part object, 1..10000
// are multipart parts (S3's limit).
const maxPart = 10000

// Derivation labels (package doc, "Keys"). They differ from their ninth
// byte on, so no part-key input is an ETag input.
const (
	labelPartKey = "s3kms/v1/part-key"
	labelETag    = "s3kms/v1/etag"
)

const redacted = "[redacted]"

var errNoKey = errors.New("objcrypt: nil or wiped object key")

// ObjectKey is an object encryption key (OEK): 256 random bits per object
// version. It never prints its bytes: every fmt verb, slog and text/JSON
// encoders show "[redacted]". Keys cannot be compared with ==. An
// all-zero key (the zero value, or a key after Wipe) is refused by every
// function of this package. Call Wipe when done with it.
type ObjectKey struct {
	_ [0]func() // not comparable: no == on key material
	b [KeySize]byte
}

// NewObjectKey reads a fresh key from rand (crypto/rand.Reader in
// production).
func NewObjectKey(rand io.Reader) (*ObjectKey, error) {
	k := new(ObjectKey)
	if _, err := io.ReadFull(rand, k.b[:]); err != nil {
		return nil, fmt.Errorf("objcrypt: reading object key: %w", err)
	}
	if k.zero() {
		return nil, errors.New("objcrypt: random source returned an all-zero key")
	}
	return k, nil
}

// ObjectKeyFrom returns a key holding a copy of b, which must be KeySize
// bytes and not all zero. The caller may wipe b afterwards.
func ObjectKeyFrom(b []byte) (*ObjectKey, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("objcrypt: object key must be %d bytes, not %d", KeySize, len(b))
	}
	k := new(ObjectKey)
	copy(k.b[:], b)
	if k.zero() {
		return nil, errNoKey
	}
	return k, nil
}

// Wipe zeroes the key. A wiped key is refused by every function of this
// package. Wipe on nil does nothing.
func (k *ObjectKey) Wipe() {
	if k != nil {
		clear(k.b[:])
	}
}

// Bytes returns a copy of the key bytes, to be sealed (by the KMS client
// or SealCustomer). The caller wipes the copy when done. Do not log or
// retain it.
func (k *ObjectKey) Bytes() []byte {
	b := make([]byte, KeySize)
	copy(b, k.b[:])
	return b
}

// zero reports whether k is nil or all zero, in constant time.
func (k *ObjectKey) zero() bool {
	if k == nil {
		return true
	}
	var z [KeySize]byte
	return subtle.ConstantTimeCompare(k.b[:], z[:]) == 1
}

// String returns "[redacted]".
func (ObjectKey) String() string { return redacted }

// GoString returns "[redacted]".
func (ObjectKey) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (ObjectKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the key out of slog output.
func (ObjectKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the key out of JSON, XML and other encoders.
func (ObjectKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// checkPart validates a part number (0 for a single-part object, 1..10000
// for multipart parts).
func checkPart(part int) error {
	if part < 0 || part > maxPart {
		return fmt.Errorf("objcrypt: part number %d out of range 0..%d", part, maxPart)
	}
	return nil
}

// prf returns HMAC-SHA256(OEK, label ‖ [part]_32 ‖ extra). k must be
// usable and part in range (the callers check).
func (k *ObjectKey) prf(label string, part int, extra []byte) [sha256.Size]byte {
	var in [32]byte // labels are short: no allocation for the part key
	msg := append(in[:0], label...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(part))
	h := hmac.New(sha256.New, k.b[:])
	h.Write(msg)
	h.Write(extra)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// partKey returns the data key of part n:
// HMAC-SHA256(OEK, "s3kms/v1/part-key" ‖ [n]_32). The caller wipes it.
func partKey(k *ObjectKey, part int) ([KeySize]byte, error) {
	if k.zero() {
		return [KeySize]byte{}, errNoKey
	}
	if err := checkPart(part); err != nil {
		return [KeySize]byte{}, err
	}
	return k.prf(labelPartKey, part, nil), nil
}

// ETag returns the ETag of an SSE-C or SSE-KMS object (part = 0) or
// multipart part (part = 1..10000) whose plaintext has MD5 md5sum:
//
//	hex(HMAC-SHA256(OEK, "s3kms/v1/etag" ‖ [part]_32 ‖ md5sum)[:16])
//
// 32 lower-case hex digits, no quotes. It is stable for a given key, part
// and MD5, and reveals nothing about the MD5 to anyone without the key
// (SSE-SPEC D9). md5sum should be the 16-byte MD5 (any length is
// accepted: it is the last field, so the input stays unambiguous).
//
// ETag panics if k is nil or wiped or part is out of range: both are
// programming errors, caught by the callers' own validation first.
func ETag(k *ObjectKey, part int, md5sum []byte) string {
	if k.zero() {
		panic(errNoKey.Error())
	}
	if err := checkPart(part); err != nil {
		panic(err.Error())
	}
	sum := k.prf(labelETag, part, md5sum)
	return hex.EncodeToString(sum[:16])
}
