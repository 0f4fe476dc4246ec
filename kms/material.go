package kms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// Algorithm names of PurposeMaterial keys (KMIP Cryptographic Algorithm
// enumeration names, as in Attributes.Algorithm).
const (
	AlgorithmAES       = "AES"
	AlgorithmTripleDES = "TRIPLE_DES"
	// HMAC keys (MAC, MAC Verify): see hmacHash.
	AlgorithmHMACSHA1   = "HMAC_SHA1"
	AlgorithmHMACSHA224 = "HMAC_SHA224"
	AlgorithmHMACSHA256 = "HMAC_SHA256"
	AlgorithmHMACSHA384 = "HMAC_SHA384"
	AlgorithmHMACSHA512 = "HMAC_SHA512"
)

// materialSize returns the material length in bytes of a symmetric key
// of the algorithm and length in bits: AES 128/192/256, 3DES 192 (three
// 8-byte DES keys with their parity bits, as KMIP counts it; a 168-bit
// length is accepted as the same key), HMAC keys of 64 to 512 bits in
// steps of 64 (8 to 64 bytes: what a MaterialProtector wraps; shorter
// keys would be too weak).
func materialSize(a Attributes) (int, error) {
	switch {
	case a.Algorithm == AlgorithmAES && (a.Length == 128 || a.Length == 192 || a.Length == 256):
		return a.Length / 8, nil
	case a.Algorithm == AlgorithmTripleDES && (a.Length == 192 || a.Length == 168):
		return 24, nil
	case hmacHash(a.Algorithm) != nil && a.Length%64 == 0 && a.Length >= 64 && a.Length <= 512:
		return a.Length / 8, nil
	}
	return 0, Errorf(EInvalid, "unsupported symmetric key %s-%d (AES-128/192/256, 3DES-192 and HMAC-SHA* keys of 64 to 512 bits in steps of 64 are)", a.Algorithm, a.Length)
}

// setDESParity sets the low bit of every byte of a DES key so that each
// byte has odd parity.
func setDESParity(k []byte) {
	for i, b := range k {
		b &^= 1
		p := b ^ b>>4
		p ^= p >> 2
		p ^= p >> 1
		k[i] = b | (^p & 1)
	}
}

// wrapMaterial checks or generates the material of version 1 of a
// PurposeMaterial key and stores it: symmetric key material wrapped with
// the protector's MaterialProtector ability, secret data and opaque
// values (a.ObjectType) in an envelope (envelope.go). It returns the
// stored form and the hex SHA-256 of the material (KMIP Digest).
func (s *Service) wrapMaterial(ctx context.Context, id string, a Attributes, material []byte) (wrapped []byte, digest string, err error) {
	mp, ok := s.protector.(MaterialProtector)
	if !ok {
		return nil, "", Errorf(EInvalid, "the %s key protector cannot hold key material", s.protector.Kind())
	}
	switch a.ObjectType {
	case "", ObjectSymmetricKey:
	case ObjectSecretData, ObjectOpaque:
		if material == nil {
			return nil, "", Errorf(EInvalid, "a %s object needs its value", a.ObjectType)
		}
		w, err := s.sealEnvelope(ctx, mp, id, 1, a.ObjectType, material)
		if err != nil {
			return nil, "", err
		}
		return w, digestOf(material), nil
	default:
		return nil, "", Errorf(EInvalid, "unsupported object type %q", a.ObjectType)
	}
	n, err := materialSize(a)
	if err != nil {
		return nil, "", err
	}
	if material != nil {
		if len(material) != n {
			return nil, "", Errorf(EInvalid, "%s-%d key material must be %d bytes, got %d", a.Algorithm, a.Length, n, len(material))
		}
	} else {
		material = make([]byte, n)
		defer clear(material)
		if _, err := io.ReadFull(s.rand, material); err != nil {
			return nil, "", Wrap(EInternal, err, "random source failed")
		}
		if a.Algorithm == AlgorithmTripleDES {
			setDESParity(material)
		}
	}
	w, err := mp.WrapMaterial(ctx, material)
	if err != nil {
		return nil, "", protectorError(err)
	}
	return w, digestOf(material), nil
}

// digestOf is the KMIP Digest value of material: its SHA-256, in hex.
// (The digest of a random key of 128 bits or more reveals nothing
// usable; that of a short secret data value could be guessed, as KMIP
// accepts.)
func digestOf(material []byte) string {
	d := sha256.Sum256(material)
	return hex.EncodeToString(d[:])
}

// ExportKey returns the current version's material of an exportable
// PurposeMaterial key in clear (KMIP Get). It needs the policy op
// "export" (not "read": a principal that may list keys must not get
// their material). KMIP lets clients Get keys in any state but
// Destroyed, so a Pre-Active, Deactivated or disabled key exports; a
// destroyed one is EDestroyed, a non-exportable one ENotExportable, a
// root key EInvalid. Audited as key.export. The caller wipes the result.
func (s *Service) ExportKey(ctx context.Context, id string) (k Key, material []byte, err error) {
	o := op{name: "key.export", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpExport, id); err != nil {
		return Key{}, nil, err
	}
	k, err = s.store.GetKey(ctx, id)
	if err != nil {
		return Key{}, nil, err
	}
	o.version = k.CurrentVersion
	switch {
	case k.State == StateDestroyed:
		return Key{}, nil, Errorf(EDestroyed, "key %q is destroyed", id)
	case k.Purpose != PurposeMaterial:
		return Key{}, nil, Errorf(ENotExportable, "key %q is a root key: its material never leaves the protector", id)
	case !k.Exportable:
		return Key{}, nil, Errorf(ENotExportable, "key %q is not exportable", id)
	}
	material, err = s.material(ctx, &k)
	if err != nil {
		return Key{}, nil, err
	}
	if k.Attributes.Fresh != nil && *k.Attributes.Fresh {
		// Served from now on: recorded before the material leaves, so
		// that Fresh never claims a served key unseen.
		if k, err = s.markServed(ctx, id); err != nil {
			clear(material)
			return Key{}, nil, err
		}
	}
	return k, material, nil
}

// markServed sets Fresh to false on key id (ExportKey's first export).
func (s *Service) markServed(ctx context.Context, id string) (Key, error) {
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if k.State == StateDestroyed {
			return nil, Errorf(EDestroyed, "key %q is destroyed", id)
		}
		served := false
		k.Attributes.Fresh = &served
		return nil, nil
	})
}

// material unwraps the current version of a PurposeMaterial key (the
// value of a secret data or opaque object).
func (s *Service) material(ctx context.Context, k *Key) ([]byte, error) {
	v, err := s.store.GetVersion(ctx, k.ID, k.CurrentVersion)
	if err != nil {
		return nil, err
	}
	if v.DestroyedAt != nil || len(v.Wrapped) == 0 {
		return nil, Errorf(EDestroyed, "version %d of key %q is destroyed", v.Version, k.ID)
	}
	mp, ok := s.protector.(MaterialProtector)
	if !ok {
		return nil, Errorf(EUnavailable, "the %s key protector cannot open key material", s.protector.Kind())
	}
	if k.Attributes.variableLength() {
		return s.openEnvelope(ctx, mp, k.ID, v.Version, k.Attributes.ObjectType, v.Wrapped)
	}
	m, err := mp.UnwrapMaterial(ctx, v.Wrapped)
	if err != nil {
		return nil, protectorError(err)
	}
	if want, err := materialSize(k.Attributes); err != nil || len(m) != want {
		clear(m)
		return nil, Errorf(EInternal, "key %q holds %d bytes of material, not a %s-%d key", k.ID, len(m), k.Attributes.Algorithm, k.Attributes.Length)
	}
	return m, nil
}
