package kms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
)

// A KMIP-created or registered AES key (PurposeMaterial, Symmetric Key,
// algorithm AES) can serve where a root is used: as an SSE-KMS key id of
// the S3 node (GenerateDataKey, Decrypt, Rewrap, Encrypt). Its PRF is
// HMAC-SHA256(material, input), computed in Go: unlike a root, that
// material is not confined to the protector (it is generated or imported
// in Go, and handed to KMIP clients that Get it), so holding it in this
// process for the cache's TTL exposes nothing new. Data sealed under such
// a key is only as safe as every KMIP client that can Get it. Other
// material (3DES, HMAC keys, secret data, opaque objects) is refused. The
// key's KMIP usage constraints (Cryptographic Usage Mask, Protect Stop
// and Process Start Dates, Usage Limits) apply as to KMIP Encrypt and
// Decrypt: see usable and seal.

// materialRootable reports whether a PurposeMaterial key with attributes
// a may serve as a root.
func materialRootable(a Attributes) bool {
	return a.objectType() == ObjectSymmetricKey && a.Algorithm == AlgorithmAES
}

// objectType is a.ObjectType with the empty default spelled out.
func (a Attributes) objectType() string {
	if a.ObjectType == "" {
		return ObjectSymmetricKey
	}
	return a.ObjectType
}

// materialRoot is a RootKey over AES key material.
type materialRoot struct {
	key []byte
}

var _ RootKey = (*materialRoot)(nil)

// PRF returns HMAC-SHA256(material, input).
func (r *materialRoot) PRF(input []byte) ([32]byte, error) {
	var out [32]byte
	m := hmac.New(sha256.New, r.key)
	m.Write(input)
	m.Sum(out[:0])
	return out, nil
}

// Close wipes the material.
func (r *materialRoot) Close() error {
	clear(r.key)
	return nil
}

// openMaterialRoot opens version of material key k as a RootKey.
func (s *Service) openMaterialRoot(ctx context.Context, k *Key, version int) (RootKey, error) {
	if !materialRootable(k.Attributes) {
		return nil, Errorf(EInvalid, "key %q holds KMIP %s material, not an AES key: it cannot seal data", k.ID, k.Attributes.objectType())
	}
	kv := *k
	kv.CurrentVersion = version
	m, err := s.material(ctx, &kv)
	if err != nil {
		return nil, err
	}
	return &materialRoot{key: m}, nil
}
