package kms

import (
	"context"
	"errors"
	"io"

	"github.com/s3kms/s3kms/kms/sealed"
)

// DataKeySize is the size of a data key (OEK): 256 bits.
const DataKeySize = 32

// DataKey is a data key in plaintext with its sealed form. Plaintext must
// be wiped by the caller after use (Wipe).
type DataKey struct {
	KeyID      string
	KeyVersion int
	Plaintext  []byte
	Sealed     []byte
}

// Wipe zeroes the plaintext.
func (d *DataKey) Wipe() { clear(d.Plaintext) }

// GenerateDataKey returns a fresh 256-bit data key sealed under the current
// version of key id, bound to the encryption context ec.
func (s *Service) GenerateDataKey(ctx context.Context, id string, ec map[string]string) (dk DataKey, err error) {
	o := op{name: "datakey.generate", keyID: id, context: ec}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpGenerate, id); err != nil {
		return DataKey{}, err
	}
	enc, err := encodeContext(ec)
	if err != nil {
		return DataKey{}, err
	}
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return DataKey{}, err
	}
	if err := usable(&k, true, s.now()); err != nil {
		return DataKey{}, err
	}
	o.version = k.CurrentVersion
	plain := make([]byte, DataKeySize)
	if _, err := io.ReadFull(s.rand, plain); err != nil {
		return DataKey{}, Wrap(EInternal, err, "random source failed")
	}
	blob, err := s.seal(ctx, &k, useFor(&k), enc, plain)
	if err != nil {
		clear(plain)
		return DataKey{}, err
	}
	return DataKey{KeyID: id, KeyVersion: k.CurrentVersion, Plaintext: plain, Sealed: blob}, nil
}

// Encrypt seals a small payload (at most sealed.MaxPlaintext bytes) under
// the current version of key id, bound to ec.
func (s *Service) Encrypt(ctx context.Context, id string, plaintext []byte, ec map[string]string) (blob []byte, version int, err error) {
	o := op{name: "encrypt", keyID: id, context: ec}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpEncrypt, id); err != nil {
		return nil, 0, err
	}
	if len(plaintext) > sealed.MaxPlaintext {
		return nil, 0, Errorf(ETooLarge, "plaintext larger than %d bytes", sealed.MaxPlaintext)
	}
	enc, err := encodeContext(ec)
	if err != nil {
		return nil, 0, err
	}
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if err := usable(&k, true, s.now()); err != nil {
		return nil, 0, err
	}
	o.version = k.CurrentVersion
	blob, err = s.seal(ctx, &k, sealed.UseEncrypt, enc, plaintext)
	return blob, k.CurrentVersion, err
}

// Decrypt opens a sealed data key or payload made by GenerateDataKey or
// Encrypt with the same encryption context.
func (s *Service) Decrypt(ctx context.Context, blob []byte, ec map[string]string) (dk DataKey, err error) {
	o := op{name: "decrypt", context: ec}
	defer func() { err = s.finish(ctx, o, err) }()
	sb, err := sealed.Parse(blob)
	if err != nil {
		return DataKey{}, Errorf(EDecrypt, "ciphertext is malformed")
	}
	o.keyID, o.version = sb.KeyID, int(sb.KeyVersion)
	if err := s.authorize(ctx, OpDecrypt, sb.KeyID); err != nil {
		return DataKey{}, err
	}
	plain, _, _, err := s.open(ctx, sb, ec)
	if err != nil {
		return DataKey{}, err
	}
	return DataKey{KeyID: sb.KeyID, KeyVersion: int(sb.KeyVersion), Plaintext: plain, Sealed: blob}, nil
}

// Rewrap re-seals a sealed data key or payload under the current version
// of its key without revealing it to the caller. A blob already under the
// current version is sealed again all the same (fresh salt and nonce).
func (s *Service) Rewrap(ctx context.Context, blob []byte, ec map[string]string) (out DataKey, err error) {
	o := op{name: "rewrap", context: ec}
	defer func() { err = s.finish(ctx, o, err) }()
	sb, err := sealed.Parse(blob)
	if err != nil {
		return DataKey{}, Errorf(EDecrypt, "ciphertext is malformed")
	}
	o.keyID = sb.KeyID
	if err := s.authorize(ctx, OpRewrap, sb.KeyID); err != nil {
		return DataKey{}, err
	}
	return s.rewrap(ctx, sb, ec, &o)
}

func (s *Service) rewrap(ctx context.Context, sb *sealed.Sealed, ec map[string]string, o *op) (DataKey, error) {
	plain, enc, k, err := s.open(ctx, sb, ec)
	if err != nil {
		return DataKey{}, err
	}
	defer clear(plain)
	if err := usable(&k, true, s.now()); err != nil {
		return DataKey{}, err
	}
	o.version = k.CurrentVersion
	nb, err := s.seal(ctx, &k, sb.Use, enc, plain)
	if err != nil {
		return DataKey{}, err
	}
	return DataKey{KeyID: k.ID, KeyVersion: k.CurrentVersion, Sealed: nb}, nil
}

// RewrapItem is one entry of a batch rewrap.
type RewrapItem struct {
	Sealed  []byte
	Context map[string]string
}

// RewrapResult is the outcome of one RewrapItem: Sealed and KeyVersion, or
// Err.
type RewrapResult struct {
	Sealed     []byte
	KeyVersion int
	Err        error
}

// MaxBatch bounds the items of one batch rewrap.
const MaxBatch = 1000

// RewrapBatch rewraps items independently; one failure does not stop the
// others. Each item is audited.
func (s *Service) RewrapBatch(ctx context.Context, items []RewrapItem) ([]RewrapResult, error) {
	if len(items) > MaxBatch {
		err := Errorf(ETooLarge, "at most %d items per batch", MaxBatch)
		s.RecordDenied(ctx, "rewrap.batch", "", err)
		return nil, err
	}
	out := make([]RewrapResult, len(items))
	for i, it := range items {
		dk, err := s.Rewrap(ctx, it.Sealed, it.Context)
		out[i] = RewrapResult{Sealed: dk.Sealed, KeyVersion: dk.KeyVersion, Err: err}
		if ErrorCode(err) == EUnavailable {
			// The store or audit log is down: the rest would fail too.
			for j := i + 1; j < len(items); j++ {
				out[j].Err = err
			}
			break
		}
	}
	return out, nil
}

// seal seals plaintext under the current version of k. A KMIP material
// key with Usage Limits counts the plaintext sealed (one object, with
// the unit Object) as KMIP Encrypt does; a seal it does not allow is
// refused (EForbidden, cause ErrUsageLimits).
func (s *Service) seal(ctx context.Context, k *Key, use sealed.Use, enc, plaintext []byte) ([]byte, error) {
	if u := k.Attributes.UsageLimits; u != nil {
		if err := allowsUsage(k.ID, u, usageAmount(u, len(plaintext), false)); err != nil {
			return nil, err
		}
	}
	root, release, err := s.root(ctx, k, k.CurrentVersion)
	if err != nil {
		return nil, err
	}
	defer release()
	blob, err := sealed.Seal(s.rand, root.PRF, use, k.ID, uint32(k.CurrentVersion), enc, plaintext)
	if err != nil {
		// A PRF failure (HSM unreachable) keeps its code.
		return nil, protectorError(err)
	}
	if err := s.consumeUsage(ctx, k, len(plaintext), false); err != nil {
		return nil, err
	}
	return blob, nil
}

// open checks that the key may decrypt and opens sb. It returns the
// plaintext, the encoded context and the key as read, so that Rewrap does
// not read it a second time.
func (s *Service) open(ctx context.Context, sb *sealed.Sealed, ec map[string]string) (plain, enc []byte, k Key, err error) {
	enc, err = encodeContext(ec)
	if err != nil {
		return nil, nil, Key{}, err
	}
	k, err = s.store.GetKey(ctx, sb.KeyID)
	if err != nil {
		if ErrorCode(err) == ENotFound {
			// A sealed blob naming an unknown key is as good as tampered.
			return nil, nil, Key{}, Errorf(EDecrypt, "ciphertext does not belong to any key")
		}
		return nil, nil, Key{}, err
	}
	if err := usable(&k, false, s.now()); err != nil {
		return nil, nil, Key{}, err
	}
	if sb.Use != useFor(&k) && sb.Use != sealed.UseEncrypt {
		return nil, nil, Key{}, Errorf(EDecrypt, "ciphertext was not made by this key")
	}
	if sb.KeyVersion == 0 || int(sb.KeyVersion) > k.CurrentVersion {
		return nil, nil, Key{}, Errorf(EDecrypt, "ciphertext names an unknown key version")
	}
	if err := s.checkVersion(ctx, &k, int(sb.KeyVersion)); err != nil {
		return nil, nil, Key{}, err
	}
	root, release, err := s.root(ctx, &k, int(sb.KeyVersion))
	if err != nil {
		return nil, nil, Key{}, err
	}
	defer release()
	plain, err = sb.Open(root.PRF, enc)
	if err != nil {
		if errors.Is(err, sealed.ErrOpen) {
			return nil, nil, Key{}, Errorf(EDecrypt, "ciphertext is not authentic for this key and context")
		}
		return nil, nil, Key{}, protectorError(err)
	}
	return plain, enc, k, nil
}

// root returns the opened root version of k, from the cache when it is
// there: a root in the protector, or the material of an AES
// PurposeMaterial key (materialroot.go). release must be called when the
// caller is done with it.
func (s *Service) root(ctx context.Context, k *Key, version int) (RootKey, func(), error) {
	id := k.ID
	if rk, release, ok := s.cache.get(id, version); ok {
		return rk, release, nil
	}
	if k.Purpose == PurposeMaterial {
		rk, err := s.openMaterialRoot(ctx, k, version)
		if err != nil {
			return nil, nil, err
		}
		rk, release := s.cache.put(id, version, rk)
		return rk, release, nil
	}
	v, err := s.store.GetVersion(ctx, id, version)
	if err != nil {
		if ErrorCode(err) == ENotFound {
			return nil, nil, Errorf(EDecrypt, "ciphertext names an unknown key version")
		}
		return nil, nil, err
	}
	if v.DestroyedAt != nil || len(v.Wrapped) == 0 {
		return nil, nil, Errorf(EDestroyed, "version %d of key %q is destroyed", version, id)
	}
	rk, err := s.openRoot(ctx, v.Wrapped)
	if err != nil {
		return nil, nil, protectorError(err)
	}
	rk, release := s.cache.put(id, version, rk)
	return rk, release, nil
}

func useFor(k *Key) sealed.Use {
	if k.Purpose == PurposeBucketRoot {
		return sealed.UseSSES3
	}
	return sealed.UseSSEKMS
}

func encodeContext(ec map[string]string) ([]byte, error) {
	enc, err := sealed.EncodeContext(ec)
	if err != nil {
		return nil, Errorf(EInvalid, "invalid encryption context: %v", err)
	}
	return enc, nil
}
