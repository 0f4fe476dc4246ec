package kms

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"fmt"
	"hash"
	"io"
)

// MaxCipherData bounds the data of one Encrypt, Decrypt or MAC call (a
// KMIP message is at most 1 MiB anyway).
const MaxCipherData = 1 << 20

// MaxRandomBytes bounds one RandomBytes call.
const MaxRandomBytes = 1 << 16

// CipherRequest is an EncryptData or DecryptData request besides the key
// and the data. Unset Params fields take the key's Attributes.Params.
type CipherRequest struct {
	Params CryptoParams
	// IV is the IV/Counter/Nonce: CBC and GCM. For EncryptData, nil lets
	// the server choose a random one (returned in CipherResult.IV).
	IV []byte
	// AAD is GCM's additional authenticated data.
	AAD []byte
	// Tag is the GCM authentication tag (DecryptData).
	Tag []byte
	// Continued marks a later part of a multi-part encryption whose
	// earlier parts already counted Counted bytes of data against the
	// key's Usage Limits: only the rest counts now (and with the unit
	// Object nothing: the operation was counted by its first part).
	Continued bool
	Counted   int
}

// CipherResult is the result of EncryptData.
type CipherResult struct {
	Data []byte
	// IV is the IV the server chose; nil when the request gave one or
	// the mode has none.
	IV []byte
	// Tag is the GCM authentication tag.
	Tag []byte
}

// EncryptData encrypts data with the current version of a PurposeMaterial
// AES or 3DES key: ECB or CBC (no padding or PKCS#5) or AES-GCM. It needs
// the policy op encrypt, an Active and enabled key and, when the key has a
// Cryptographic Usage Mask, its Encrypt bit (else EForbidden with cause
// ErrUsageMask). Root keys (bucket and named) are EInvalid: their material
// never leaves the protector. A CBC IV the request does not give is one
// random block, a GCM IV 12 random bytes (or Params.IVLength). Audited as
// cipher.encrypt, without the data.
func (s *Service) EncryptData(ctx context.Context, id string, req CipherRequest, data []byte) (res CipherResult, err error) {
	o := op{name: "cipher.encrypt", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if len(data) > MaxCipherData {
		return CipherResult{}, Errorf(ETooLarge, "data larger than %d bytes", MaxCipherData)
	}
	k, material, err := s.materialFor(ctx, &o, OpEncrypt, id, UsageEncrypt, true)
	if err != nil {
		return CipherResult{}, err
	}
	defer clear(material)
	p, b, err := cipherFor(&k, req.Params, material)
	if err != nil {
		return CipherResult{}, err
	}
	usage := protectedBytes(req, len(data))
	if k.Attributes.UsageLimits != nil {
		if err := allowsUsage(id, k.Attributes.UsageLimits, usageAmount(k.Attributes.UsageLimits, usage, req.Continued)); err != nil {
			return CipherResult{}, err
		}
	}
	iv := req.IV
	// Random IV in the request itself contradicts an IV; as a key default
	// it only says what to do when the request gives none.
	if iv != nil && req.Params.RandomIV {
		return CipherResult{}, Errorf(EInvalid, "Random IV is set: the request must not give an IV")
	}
	switch p.Mode {
	case ModeECB:
		if iv != nil {
			return CipherResult{}, Errorf(EInvalid, "ECB takes no IV")
		}
		res.Data, err = blockEncrypt(b, p, nil, data)
	case ModeCBC:
		if iv == nil {
			if res.IV, err = s.randomBytes(b.BlockSize()); err != nil {
				return CipherResult{}, err
			}
			iv = res.IV
		} else if len(iv) != b.BlockSize() {
			return CipherResult{}, Errorf(EInvalid, "the CBC IV must be %d bytes, got %d", b.BlockSize(), len(iv))
		}
		res.Data, err = blockEncrypt(b, p, iv, data)
	case ModeGCM:
		tagLen, terr := checkTagLength(p.TagLength)
		if terr != nil {
			return CipherResult{}, terr
		}
		if iv == nil {
			n := p.IVLength
			if n == 0 {
				n = gcmNonce
			}
			if n < gcmNonce || n > gcmMaxNonce {
				return CipherResult{}, Errorf(EInvalid, "a server-chosen GCM IV is %d to %d bytes, not %d", gcmNonce, gcmMaxNonce, n)
			}
			if res.IV, err = s.randomBytes(n); err != nil {
				return CipherResult{}, err
			}
			iv = res.IV
		}
		res.Data, res.Tag, err = gcmSeal(b, iv, req.AAD, data, tagLen)
	}
	if err != nil {
		return CipherResult{}, err
	}
	if err := s.consumeUsage(ctx, &k, usage, req.Continued); err != nil {
		return CipherResult{}, err
	}
	return res, nil
}

// protectedBytes is how many bytes of data an encryption of n bytes
// protects that earlier parts did not count.
func protectedBytes(req CipherRequest, n int) int {
	if !req.Continued {
		return n
	}
	return max(n-req.Counted, 0)
}

// DecryptData decrypts what EncryptData (or any implementation of the
// same modes) encrypted. It needs the policy op decrypt and the Decrypt
// usage bit; as KMIP allows, Deactivated and Compromised keys still
// decrypt (they process, never protect); Pre-Active and Destroyed ones do
// not. CBC and GCM need the IV (else EInvalid with cause ErrMissingIV); a
// GCM tag or a PKCS#5 padding that does not check is EDecrypt. Audited as
// cipher.decrypt. The caller wipes the result.
func (s *Service) DecryptData(ctx context.Context, id string, req CipherRequest, data []byte) (plain []byte, err error) {
	o := op{name: "cipher.decrypt", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if len(data) > MaxCipherData {
		return nil, Errorf(ETooLarge, "data larger than %d bytes", MaxCipherData)
	}
	k, material, err := s.materialFor(ctx, &o, OpDecrypt, id, UsageDecrypt, false)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	p, b, err := cipherFor(&k, req.Params, material)
	if err != nil {
		return nil, err
	}
	if p.Mode != ModeECB && req.IV == nil {
		return nil, Wrap(EInvalid, ErrMissingIV, "decryption in "+p.Mode+" mode needs the IV/Counter/Nonce")
	}
	switch p.Mode {
	case ModeECB:
		if req.IV != nil {
			return nil, Errorf(EInvalid, "ECB takes no IV")
		}
		return blockDecrypt(b, p, nil, data)
	case ModeCBC:
		if len(req.IV) != b.BlockSize() {
			return nil, Errorf(EInvalid, "the CBC IV must be %d bytes, got %d", b.BlockSize(), len(req.IV))
		}
		return blockDecrypt(b, p, req.IV, data)
	default: // ModeGCM
		if _, err := checkTagLength(p.TagLength); err != nil {
			return nil, err
		}
		if len(req.Tag) == 0 {
			return nil, Errorf(EInvalid, "GCM decryption needs the Authenticated Encryption Tag")
		}
		if _, err := checkTagLength(len(req.Tag)); err != nil {
			return nil, err
		}
		if p.TagLength != 0 && p.TagLength != len(req.Tag) {
			return nil, Errorf(EInvalid, "the tag is %d bytes but the Tag Length says %d", len(req.Tag), p.TagLength)
		}
		return gcmOpen(b, req.IV, req.AAD, data, req.Tag)
	}
}

// cipherFor resolves the request's parameters against the key's defaults
// and returns them with the key's block cipher.
func cipherFor(k *Key, req CryptoParams, material []byte) (CryptoParams, cipher.Block, error) {
	p := req.withDefaults(k.Attributes.Params)
	if p.Algorithm != "" && p.Algorithm != k.Attributes.Algorithm {
		return p, nil, Errorf(EInvalid, "the Cryptographic Algorithm %s is not the key's (%s)", p.Algorithm, k.Attributes.Algorithm)
	}
	switch p.Mode {
	case ModeECB, ModeCBC:
		if err := checkPadding(p.Padding); err != nil {
			return p, nil, err
		}
	case ModeGCM:
		if p.Padding != "" && p.Padding != PaddingNone {
			return p, nil, Errorf(EInvalid, "GCM takes no padding")
		}
	case "":
		return p, nil, Errorf(EInvalid, "no Block Cipher Mode: neither the request nor the key's Cryptographic Parameters give one")
	default:
		return p, nil, Errorf(EInvalid, "Block Cipher Mode %s is not supported (ECB, CBC and GCM are)", p.Mode)
	}
	b, err := newBlock(k.Attributes.Algorithm, material)
	if err != nil {
		if ErrorCode(err) == EInternal {
			err = Wrap(EInternal, err, "key material does not fit its algorithm")
		}
		return p, nil, err
	}
	return p, b, nil
}

// MAC returns the HMAC of data under a PurposeMaterial HMAC key, with the
// hash its Cryptographic Algorithm names (algorithm, if not empty, must
// be the same). It needs the policy op encrypt (a MAC protects data), an
// Active key and the MAC Generate usage bit. Audited as mac.generate.
func (s *Service) MAC(ctx context.Context, id, algorithm string, data []byte) (mac []byte, err error) {
	o := op{name: "mac.generate", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if len(data) > MaxCipherData {
		return nil, Errorf(ETooLarge, "data larger than %d bytes", MaxCipherData)
	}
	k, material, err := s.materialFor(ctx, &o, OpEncrypt, id, UsageMACGenerate, true)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	h, err := macHash(&k, algorithm)
	if err != nil {
		return nil, err
	}
	if u := k.Attributes.UsageLimits; u != nil {
		if err := allowsUsage(id, u, usageAmount(u, len(data), false)); err != nil {
			return nil, err
		}
	}
	mac = computeMAC(h, material, data)
	if err := s.consumeUsage(ctx, &k, len(data), false); err != nil {
		return nil, err
	}
	return mac, nil
}

// VerifyMAC reports whether mac is the HMAC of data under the key (a
// truncated MAC is not accepted). It needs the policy op decrypt
// (verifying processes protected data, as decryption does: Deactivated
// and Compromised keys still verify) and the MAC Verify usage bit.
// Audited as mac.verify; a MAC that does not match is not an error.
func (s *Service) VerifyMAC(ctx context.Context, id, algorithm string, data, mac []byte) (valid bool, err error) {
	o := op{name: "mac.verify", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if len(data) > MaxCipherData {
		return false, Errorf(ETooLarge, "data larger than %d bytes", MaxCipherData)
	}
	k, material, err := s.materialFor(ctx, &o, OpDecrypt, id, UsageMACVerify, false)
	if err != nil {
		return false, err
	}
	defer clear(material)
	h, err := macHash(&k, algorithm)
	if err != nil {
		return false, err
	}
	return hmac.Equal(computeMAC(h, material, data), mac), nil
}

func macHash(k *Key, algorithm string) (func() hash.Hash, error) {
	h := hmacHash(k.Attributes.Algorithm)
	if h == nil {
		return nil, Errorf(EInvalid, "key %q is a %s key, not an HMAC key", k.ID, k.Attributes.Algorithm)
	}
	if algorithm != "" && algorithm != k.Attributes.Algorithm {
		return nil, Errorf(EInvalid, "the Cryptographic Algorithm %s is not the key's (%s)", algorithm, k.Attributes.Algorithm)
	}
	return h, nil
}

// RandomBytes returns n (1 to MaxRandomBytes) bytes from the service's
// random source, for any identity the policy knows. Audited as
// rng.retrieve.
func (s *Service) RandomBytes(ctx context.Context, n int) (b []byte, err error) {
	o := op{name: "rng.retrieve"}
	defer func() { err = s.finish(ctx, o, err) }()
	id, ok := IdentityFrom(ctx)
	if !ok {
		return nil, Errorf(EUnauthorized, "no client identity")
	}
	if _, known := s.policy.Known(id); !known {
		return nil, Errorf(EUnauthorized, "client identity is not in the policy")
	}
	if n < 1 || n > MaxRandomBytes {
		return nil, Errorf(EInvalid, "the Data Length must be 1 to %d bytes", MaxRandomBytes)
	}
	return s.randomBytes(n)
}

func (s *Service) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, Wrap(EInternal, err, "random source failed")
	}
	return b, nil
}

// materialFor authorizes perm on key id, checks that the key is a
// PurposeMaterial key usable for usage (to protect new data when protect
// is set, else to process existing data; the Protect Stop and Process
// Start Dates included) and returns it with its current material, which
// the caller wipes.
func (s *Service) materialFor(ctx context.Context, o *op, perm Op, id string, usage int32, protect bool) (Key, []byte, error) {
	if err := s.authorizeKey(ctx, perm, id); err != nil {
		return Key{}, nil, err
	}
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return Key{}, nil, err
	}
	o.version = k.CurrentVersion
	switch {
	case k.Purpose != PurposeMaterial:
		return Key{}, nil, Errorf(EInvalid, "key %q is a root key: its material never leaves the protector, so it cannot encrypt, decrypt or MAC client data", id)
	case k.State == StateDestroyed:
		return Key{}, nil, Errorf(EDestroyed, "key %q is destroyed", id)
	case k.PendingDeletion():
		return Key{}, nil, Errorf(EDisabled, "key %q is pending deletion", id)
	case !k.Enabled:
		return Key{}, nil, Errorf(EDisabled, "key %q is disabled", id)
	case k.State == StatePreActive:
		return Key{}, nil, Errorf(EState, "key %q is not active yet", id)
	case protect && k.State != StateActive:
		return Key{}, nil, Errorf(EState, "key %q is %s and cannot protect new data", id, k.State)
	case protect && k.Attributes.ProtectStopDate != nil && !s.now().Before(*k.Attributes.ProtectStopDate):
		return Key{}, nil, Errorf(EState, "key %q is past its Protect Stop Date", id)
	case !protect && k.Attributes.ProcessStartDate != nil && s.now().Before(*k.Attributes.ProcessStartDate):
		return Key{}, nil, Errorf(EState, "key %q is before its Process Start Date", id)
	case k.Attributes.UsageMask != 0 && k.Attributes.UsageMask&usage == 0:
		return Key{}, nil, Wrap(EForbidden, ErrUsageMask, fmt.Sprintf("the Cryptographic Usage Mask of key %q does not allow %s", id, usageName(usage)))
	}
	m, err := s.material(ctx, &k)
	if err != nil {
		return Key{}, nil, err
	}
	return k, m, nil
}

func usageName(u int32) string {
	switch u {
	case UsageEncrypt:
		return "Encrypt"
	case UsageDecrypt:
		return "Decrypt"
	case UsageMACGenerate:
		return "MAC Generate"
	case UsageWrapKey:
		return "Wrap Key"
	}
	return "MAC Verify"
}
