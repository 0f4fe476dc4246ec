package objcrypt

import (
	"errors"
	"fmt"
	"io"

	"github.com/s3kms/s3kms/kms/sealed"
)

// CustomerKeyID is the key id written into the sealed OEK of an SSE-C
// object. The customer key has no id of its own, so the id only marks the
// blob as SSE-C; its key version is always 0.
const CustomerKeyID = "sse-c"

// ErrWrongKey is returned by OpenCustomer when the sealed key does not
// open: the customer key or the context is not the one it was sealed
// with, or the blob was altered. It does not say which.
var ErrWrongKey = errors.New("objcrypt: the customer key does not open the sealed object key")

// SealCustomer seals the OEK k of an SSE-C object under the customer key
// (32 bytes), bound to the encryption context ctx (at least bucket and
// object key), in the kms/sealed format with use SSE-C, key id
// CustomerKeyID and key version 0. rand is crypto/rand.Reader in
// production. The customer key is only read; the caller wipes it.
func SealCustomer(rand io.Reader, customerKey []byte, ctx map[string]string, k *ObjectKey) ([]byte, error) {
	if len(customerKey) != KeySize {
		return nil, fmt.Errorf("objcrypt: customer key must be %d bytes, not %d", KeySize, len(customerKey))
	}
	if k.zero() {
		return nil, errNoKey
	}
	enc, err := sealed.EncodeContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("objcrypt: %w", err)
	}
	oek := k.Bytes()
	defer clear(oek)
	blob, err := sealed.Seal(rand, sealed.HMACPRF(customerKey), sealed.UseSSEC, CustomerKeyID, 0, enc, oek)
	if err != nil {
		return nil, fmt.Errorf("objcrypt: sealing object key: %w", err)
	}
	return blob, nil
}

// OpenCustomer opens a sealed OEK written by SealCustomer with the
// customer key and the same context. It returns ErrWrongKey when the blob
// does not authenticate (wrong customer key or context, altered blob),
// and another error when customerKey is not 32 bytes, ctx cannot be
// encoded, or the blob is malformed (wrapping sealed.ErrMalformed) or is
// not an SSE-C blob of this package (other use, key id or version, or a
// payload that is not a key).
func OpenCustomer(customerKey []byte, sealedKey []byte, ctx map[string]string) (*ObjectKey, error) {
	if len(customerKey) != KeySize {
		return nil, fmt.Errorf("objcrypt: customer key must be %d bytes, not %d", KeySize, len(customerKey))
	}
	s, err := sealed.Parse(sealedKey)
	if err != nil {
		return nil, fmt.Errorf("objcrypt: sealed object key: %w", err)
	}
	if s.Use != sealed.UseSSEC || s.KeyID != CustomerKeyID || s.KeyVersion != 0 {
		return nil, fmt.Errorf("objcrypt: sealed object key is %s key %q version %d, not an SSE-C key", s.Use, s.KeyID, s.KeyVersion)
	}
	enc, err := sealed.EncodeContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("objcrypt: %w", err)
	}
	pt, err := s.Open(sealed.HMACPRF(customerKey), enc)
	defer clear(pt)
	switch {
	case errors.Is(err, sealed.ErrOpen):
		return nil, ErrWrongKey
	case err != nil:
		return nil, fmt.Errorf("objcrypt: opening sealed object key: %w", err)
	case len(pt) != KeySize:
		return nil, fmt.Errorf("objcrypt: sealed payload is %d bytes, not an object key", len(pt))
	}
	return ObjectKeyFrom(pt)
}
