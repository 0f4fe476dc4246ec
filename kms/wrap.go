package kms

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
)

// UsageWrapKey is the Cryptographic Usage Mask bit of a key that wraps
// other keys (KMIP Wrap Key).
const UsageWrapKey int32 = 0x10

// Key wrapping modes: AES Key Wrap (RFC 3394, NIST SP 800-38F KW) and
// AES Key Wrap with Padding (RFC 5649, KWP). The values are the KMIP
// Block Cipher Mode names, which is how the KMIP layer records modes it
// does not run itself in a key's Cryptographic Parameters.
const (
	ModeKeyWrap    = "NISTKeyWrap"
	ModeKeyWrapPad = "AESKeyWrapPadding"
)

// WrappedKey is a key's material wrapped by ExportWrapped.
type WrappedKey struct {
	// Key is the exported key.
	Key Key
	// Value is its material wrapped.
	Value []byte
	// Mode is the wrapping mode used (ModeKeyWrap or ModeKeyWrapPad).
	Mode string
	// Size is the length of the material wrapped: what the wrapping
	// key's Usage Limits counted (see ReturnUsage).
	Size int
}

// ExportWrapped returns the material of key id (its value, for secret
// data) as ExportKey does (policy op export, an exportable material key
// in any state but Destroyed; audited as key.export), wrapped under the
// AES material key wrappingID with mode (ModeKeyWrap or ModeKeyWrapPad;
// "" takes the wrapping key's Cryptographic Parameters). The wrapping
// key needs the policy op encrypt, the Active state and, when it has a
// usage mask, the Wrap Key bit (EForbidden, cause ErrUsageMask); its
// Usage Limits count the bytes wrapped. KW wraps only multiples of 8
// bytes, at least 16 (EInvalid otherwise, checked once the material is
// exported). Audited as key.wrap on the wrapping key. The result is safe
// to return: only the wrapping key's holder can open it.
func (s *Service) ExportWrapped(ctx context.Context, id, wrappingID, mode string) (w WrappedKey, err error) {
	o := op{name: "key.wrap", keyID: wrappingID}
	defer func() { err = s.finish(ctx, o, err) }()
	wk, kek, err := s.materialFor(ctx, &o, OpEncrypt, wrappingID, UsageWrapKey, true)
	if err != nil {
		return WrappedKey{}, err
	}
	defer clear(kek)
	if mode == "" && wk.Attributes.Params != nil {
		mode = wk.Attributes.Params.Mode
	}
	if mode != ModeKeyWrap && mode != ModeKeyWrapPad {
		return WrappedKey{}, Errorf(EInvalid, "keys are wrapped in %s or %s mode, not %q", ModeKeyWrap, ModeKeyWrapPad, mode)
	}
	if wk.Attributes.Algorithm != AlgorithmAES {
		return WrappedKey{}, Errorf(EInvalid, "key %q is a %s key: keys are wrapped with AES keys", wrappingID, wk.Attributes.Algorithm)
	}
	if wrappingID == id {
		return WrappedKey{}, Errorf(EInvalid, "a key cannot wrap itself")
	}
	b, err := newBlock(AlgorithmAES, kek)
	if err != nil {
		return WrappedKey{}, Wrap(EInternal, err, "key material does not fit its algorithm")
	}
	k, material, err := s.ExportKey(ctx, id)
	if err != nil {
		return WrappedKey{}, err
	}
	defer clear(material)
	if u := wk.Attributes.UsageLimits; u != nil {
		if err := allowsUsage(wrappingID, u, usageAmount(u, len(material), false)); err != nil {
			return WrappedKey{}, err
		}
	}
	if mode == ModeKeyWrap {
		if len(material)%8 != 0 || len(material) < 16 {
			return WrappedKey{}, Errorf(EInvalid, "%s wraps multiples of 8 bytes, at least 16, not %d bytes (%s wraps any length)", ModeKeyWrap, len(material), ModeKeyWrapPad)
		}
		w.Value = keyWrap(b, kwIV, material)
	} else {
		w.Value = keyWrapPad(b, material)
	}
	if err := s.consumeUsage(ctx, &wk, len(material), false); err != nil {
		return WrappedKey{}, err
	}
	w.Key, w.Mode, w.Size = k, mode, len(material)
	return w, nil
}

// kwIV is the default initial value of RFC 3394 section 2.2.3.1.
var kwIV = [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

// keyWrap is the wrapping function W of RFC 3394 section 2.2.1 (NIST SP
// 800-38F KW-AE) with initial value iv: plain is n >= 2 64-bit blocks
// (n = 1 only from keyWrapPad, which handles it); the result is 8 bytes
// longer.
func keyWrap(b cipher.Block, iv [8]byte, plain []byte) []byte {
	n := len(plain) / 8
	out := make([]byte, 8+len(plain))
	copy(out[8:], plain)
	var buf [16]byte
	a := iv
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			r := out[8*i : 8*i+8]
			copy(buf[:8], a[:])
			copy(buf[8:], r)
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(buf[:8])^t)
			copy(r, buf[8:])
		}
	}
	copy(out[:8], a[:])
	clear(buf[:])
	return out
}

// keyWrapPad is AES Key Wrap with Padding (RFC 5649 section 4.1, NIST SP
// 800-38F KWP-AE): any length from 1 byte, zero-padded to 8-byte blocks
// after an initial value holding the length; one block is encrypted
// directly.
func keyWrapPad(b cipher.Block, plain []byte) []byte {
	iv := [8]byte{0xa6, 0x59, 0x59, 0xa6}
	binary.BigEndian.PutUint32(iv[4:], uint32(len(plain)))
	padded := make([]byte, (len(plain)+7)/8*8)
	copy(padded, plain)
	defer clear(padded)
	if len(padded) == 8 {
		out := make([]byte, 16)
		copy(out, iv[:])
		copy(out[8:], padded)
		b.Encrypt(out, out)
		return out
	}
	return keyWrap(b, iv, padded)
}
