package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"io"
)

// Variable-length values (KMIP Secret Data and Opaque Objects) cannot go
// through MaterialProtector, which wraps multiples of 8 bytes up to
// MaxMaterialSize only. A version of such a key stores an envelope:
//
//	0x01 | n (1 byte) | wrapped DEK (n bytes) | nonce (12) | AES-256-GCM(DEK, nonce, value, aad)
//
// The DEK is a fresh random 32-byte key per value, wrapped by the
// MaterialProtector under the master key (RFC 5649: n = 40). Because each
// DEK encrypts exactly one value, the random 96-bit nonce can never
// repeat under a key. The associated data binds the ciphertext to its
// key id, version and object type, so a stored envelope moved to another
// key or version, or relabelled, does not open:
//
//	aad = "s3kms envelope v1" 0x00 | key id | 0x00 | version (4 bytes, big endian) | object type
//
// Master-key rotation rewraps the DEK only (rewrapEnvelope); the value's
// ciphertext is left as it is.

const (
	envelopeV1    = 0x01
	envelopeDEK   = 32
	envelopeNonce = 12
	// MaxValueSize bounds the value of a secret data or opaque object.
	MaxValueSize = 64 << 10
)

func envelopeAAD(keyID string, version int, objectType string) []byte {
	aad := make([]byte, 0, 32+len(keyID)+len(objectType))
	aad = append(aad, "s3kms envelope v1\x00"...)
	aad = append(aad, keyID...)
	aad = append(aad, 0)
	aad = binary.BigEndian.AppendUint32(aad, uint32(version))
	return append(aad, objectType...)
}

// sealEnvelope encrypts value (1 to MaxValueSize bytes) as version
// version of key keyID, of object type objectType.
func (s *Service) sealEnvelope(ctx context.Context, mp MaterialProtector, keyID string, version int, objectType string, value []byte) ([]byte, error) {
	if len(value) == 0 || len(value) > MaxValueSize {
		return nil, Errorf(EInvalid, "a %s value must be 1 to %d bytes, got %d", objectType, MaxValueSize, len(value))
	}
	dek := make([]byte, envelopeDEK)
	defer clear(dek)
	nonce := make([]byte, envelopeNonce)
	if _, err := io.ReadFull(s.rand, dek); err != nil {
		return nil, Wrap(EInternal, err, "random source failed")
	}
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, Wrap(EInternal, err, "random source failed")
	}
	wrapped, err := mp.WrapMaterial(ctx, dek)
	if err != nil {
		return nil, protectorError(err)
	}
	if len(wrapped) > 255 {
		return nil, Errorf(EInternal, "wrapped envelope key of %d bytes", len(wrapped))
	}
	aead, err := envelopeGCM(dek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(wrapped)+envelopeNonce+len(value)+aead.Overhead())
	out = append(out, envelopeV1, byte(len(wrapped)))
	out = append(out, wrapped...)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, value, envelopeAAD(keyID, version, objectType)), nil
}

// parseEnvelope splits an envelope into its wrapped DEK and the rest
// (nonce and ciphertext).
func parseEnvelope(blob []byte) (wrapped, rest []byte, err error) {
	if len(blob) < 2 || blob[0] != envelopeV1 {
		return nil, nil, Errorf(EDecrypt, "stored value is not a version 1 envelope")
	}
	n := int(blob[1])
	if len(blob) < 2+n+envelopeNonce+16 {
		return nil, nil, Errorf(EDecrypt, "stored envelope is truncated")
	}
	return blob[2 : 2+n], blob[2+n:], nil
}

// openEnvelope returns the value sealed by sealEnvelope; the caller
// wipes it.
func (s *Service) openEnvelope(ctx context.Context, mp MaterialProtector, keyID string, version int, objectType string, blob []byte) ([]byte, error) {
	wrapped, rest, err := parseEnvelope(blob)
	if err != nil {
		return nil, err
	}
	dek, err := mp.UnwrapMaterial(ctx, wrapped)
	if err != nil {
		return nil, protectorError(err)
	}
	defer clear(dek)
	if len(dek) != envelopeDEK {
		return nil, Errorf(EDecrypt, "stored envelope key has %d bytes", len(dek))
	}
	aead, err := envelopeGCM(dek)
	if err != nil {
		return nil, err
	}
	v, err := aead.Open(nil, rest[:envelopeNonce], rest[envelopeNonce:], envelopeAAD(keyID, version, objectType))
	if err != nil {
		return nil, Errorf(EDecrypt, "stored value of key %q version %d is not authentic", keyID, version)
	}
	return v, nil
}

// rewrapEnvelope rewraps an envelope's DEK under the current master key
// (master-key rotation). The value's ciphertext does not change: the
// associated data does not cover the wrapped DEK.
func rewrapEnvelope(ctx context.Context, mp MaterialProtector, blob []byte) ([]byte, error) {
	wrapped, rest, err := parseEnvelope(blob)
	if err != nil {
		return nil, err
	}
	dek, err := mp.UnwrapMaterial(ctx, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	nw, err := mp.WrapMaterial(ctx, dek)
	if err != nil {
		return nil, err
	}
	if len(nw) > 255 {
		return nil, Errorf(EInternal, "wrapped envelope key of %d bytes", len(nw))
	}
	out := make([]byte, 0, 2+len(nw)+len(rest))
	out = append(out, envelopeV1, byte(len(nw)))
	out = append(out, nw...)
	return append(out, rest...), nil
}

func envelopeGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, Wrap(EInternal, err, "envelope cipher")
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, Wrap(EInternal, err, "envelope cipher")
	}
	return aead, nil
}
