package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"hash"
)

// Block cipher modes and padding methods of CryptoParams (KMIP
// enumeration names).
const (
	ModeECB      = "ECB"
	ModeCBC      = "CBC"
	ModeGCM      = "GCM"
	PaddingNone  = "None"
	PaddingPKCS5 = "PKCS5"
)

// Cryptographic Usage Mask bits (KMIP 1.4 section 9.1.3.3.1) that the
// symmetric operations check. A key whose mask is 0 (not set) allows
// every use.
const (
	UsageEncrypt     int32 = 0x04
	UsageDecrypt     int32 = 0x08
	UsageMACGenerate int32 = 0x80
	UsageMACVerify   int32 = 0x100
)

// GCM sizes. The tag is 12 to 16 bytes (NIST SP 800-38D section 5.2.1.2
// without the 4- and 8-byte tags it reserves for special uses). A
// server-chosen IV is 12 random bytes, the length GCM uses directly as
// its counter block prefix; a client's IV may be 1 to 128 bytes (GCM
// hashes any other length into the counter block).
const (
	gcmDefaultTag = 16
	gcmMinTag     = 12
	gcmNonce      = 12
	gcmMaxNonce   = 128
)

// ErrMissingIV is the cause (errors.Is) of the EInvalid error of a
// decryption in CBC or GCM mode without an IV/Counter/Nonce: protocols
// that have a reason of their own for it (KMIP) look for it.
var ErrMissingIV = errors.New("the mode needs an IV/Counter/Nonce")

// ErrUsageMask is the cause (errors.Is) of the EForbidden error of an
// operation the key's Cryptographic Usage Mask does not allow.
var ErrUsageMask = errors.New("the key's Cryptographic Usage Mask forbids the operation")

// ErrTagLength is the cause (errors.Is) of the EInvalid error of a GCM
// Tag Length outside 12 to 16 bytes.
var ErrTagLength = errors.New("unsupported GCM tag length")

// CryptoParams are KMIP Cryptographic Parameters: as a key attribute
// (Attributes.Params) they are the defaults of a request's own. Zero
// fields are unset.
type CryptoParams struct {
	// Mode is ModeECB, ModeCBC or ModeGCM.
	Mode string `json:"mode,omitempty"`
	// Padding is PaddingNone or PaddingPKCS5 (ECB and CBC; the default
	// is none).
	Padding string `json:"padding,omitempty"`
	// Algorithm, if set, must be the key's Attributes.Algorithm.
	Algorithm string `json:"algorithm,omitempty"`
	// TagLength is the GCM tag length in bytes (default 16).
	TagLength int `json:"tag_length,omitempty"`
	// RandomIV asks the server to choose the IV: a request then gives
	// none.
	RandomIV bool `json:"random_iv,omitempty"`
	// IVLength is the length in bytes of an IV the server chooses (GCM;
	// CBC IVs are one block). 0 means the default.
	IVLength int `json:"iv_length,omitempty"`
}

// withDefaults returns p with its unset fields taken from d.
func (p CryptoParams) withDefaults(d *CryptoParams) CryptoParams {
	if d == nil {
		return p
	}
	if p.Mode == "" {
		p.Mode = d.Mode
	}
	if p.Padding == "" {
		p.Padding = d.Padding
	}
	if p.Algorithm == "" {
		p.Algorithm = d.Algorithm
	}
	if p.TagLength == 0 {
		p.TagLength = d.TagLength
	}
	if p.IVLength == 0 {
		p.IVLength = d.IVLength
	}
	p.RandomIV = p.RandomIV || d.RandomIV
	return p
}

// newBlock returns the block cipher of a key's material.
func newBlock(algorithm string, material []byte) (cipher.Block, error) {
	switch algorithm {
	case AlgorithmAES:
		return aes.NewCipher(material)
	case AlgorithmTripleDES:
		return des.NewTripleDESCipher(material)
	}
	return nil, Errorf(EInvalid, "a %s key cannot encrypt or decrypt (AES and 3DES keys can)", algorithm)
}

// hmacHash returns the hash function of an HMAC algorithm, nil for any
// other algorithm.
func hmacHash(algorithm string) func() hash.Hash {
	switch algorithm {
	case AlgorithmHMACSHA1:
		return sha1.New
	case AlgorithmHMACSHA224:
		return sha256.New224
	case AlgorithmHMACSHA256:
		return sha256.New
	case AlgorithmHMACSHA384:
		return sha512.New384
	case AlgorithmHMACSHA512:
		return sha512.New
	}
	return nil
}

// computeMAC returns the HMAC of data under key.
func computeMAC(h func() hash.Hash, key, data []byte) []byte {
	m := hmac.New(h, key)
	m.Write(data)
	return m.Sum(nil)
}

// checkPadding validates a padding method for ECB and CBC.
func checkPadding(p string) error {
	if p != "" && p != PaddingNone && p != PaddingPKCS5 {
		return Errorf(EInvalid, "Padding Method %s is not supported (None and PKCS5 are)", p)
	}
	return nil
}

// pad applies PKCS#5 (PKCS#7 for the block size) padding: 1 to bs bytes
// each holding the padding length.
func pad(data []byte, bs int) []byte {
	n := bs - len(data)%bs
	out := make([]byte, len(data)+n)
	copy(out, data)
	for i := len(data); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

// unpad strips PKCS#5 padding. It examines the last block in constant
// time, so that the time taken says nothing about where the padding went
// wrong.
func unpad(data []byte, bs int) ([]byte, error) {
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, Errorf(EDecrypt, "the padding is invalid")
	}
	n := int(data[len(data)-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, bs)
	for i := 1; i <= bs; i++ {
		in := subtle.ConstantTimeLessOrEq(i, n)
		eq := subtle.ConstantTimeByteEq(data[len(data)-i], byte(n))
		good &= eq | (in ^ 1)
	}
	if good != 1 {
		return nil, Errorf(EDecrypt, "the padding is invalid")
	}
	return data[:len(data)-n], nil
}

// ecb encrypts or decrypts whole blocks independently.
func ecb(b cipher.Block, dst, src []byte, encrypt bool) {
	bs := b.BlockSize()
	for i := 0; i < len(src); i += bs {
		if encrypt {
			b.Encrypt(dst[i:i+bs], src[i:i+bs])
		} else {
			b.Decrypt(dst[i:i+bs], src[i:i+bs])
		}
	}
}

// blockEncrypt encrypts data in ECB or CBC mode with iv (CBC).
func blockEncrypt(b cipher.Block, p CryptoParams, iv, data []byte) ([]byte, error) {
	bs := b.BlockSize()
	if p.Padding == PaddingPKCS5 {
		data = pad(data, bs)
	} else if len(data)%bs != 0 {
		return nil, Errorf(EInvalid, "without padding the data must be a multiple of %d bytes, got %d", bs, len(data))
	}
	out := make([]byte, len(data))
	if p.Mode == ModeECB {
		ecb(b, out, data, true)
	} else {
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, data)
	}
	return out, nil
}

// blockDecrypt decrypts data in ECB or CBC mode with iv (CBC).
func blockDecrypt(b cipher.Block, p CryptoParams, iv, data []byte) ([]byte, error) {
	bs := b.BlockSize()
	if len(data)%bs != 0 || (len(data) == 0 && p.Padding == PaddingPKCS5) {
		return nil, Errorf(EInvalid, "the data must be a non-empty multiple of %d bytes, got %d", bs, len(data))
	}
	out := make([]byte, len(data))
	if p.Mode == ModeECB {
		ecb(b, out, data, false)
	} else {
		cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
	}
	if p.Padding != PaddingPKCS5 {
		return out, nil
	}
	plain, err := unpad(out, bs)
	if err != nil {
		clear(out)
	}
	return plain, err
}

// checkTagLength validates a GCM tag length (0: the default).
func checkTagLength(n int) (int, error) {
	if n == 0 {
		return gcmDefaultTag, nil
	}
	if n < gcmMinTag || n > gcmDefaultTag {
		return 0, Wrap(EInvalid, ErrTagLength, "the GCM Tag Length must be 12 to 16 bytes")
	}
	return n, nil
}

// newGCM returns AES-GCM with a 16-byte tag for a nonce of len(iv).
func newGCM(b cipher.Block, iv []byte) (cipher.AEAD, error) {
	if b.BlockSize() != aes.BlockSize {
		return nil, Errorf(EInvalid, "GCM needs an AES key")
	}
	if len(iv) == 0 || len(iv) > gcmMaxNonce {
		return nil, Errorf(EInvalid, "the GCM IV must be 1 to %d bytes, got %d", gcmMaxNonce, len(iv))
	}
	return cipher.NewGCMWithNonceSize(b, len(iv))
}

// gcmSeal encrypts data and returns the ciphertext and the tag truncated
// to tagLen bytes (a shorter GCM tag is the leading bytes of the full
// one: SP 800-38D section 7.1 step 7).
func gcmSeal(b cipher.Block, iv, aad, data []byte, tagLen int) (ct, tag []byte, err error) {
	g, err := newGCM(b, iv)
	if err != nil {
		return nil, nil, err
	}
	out := g.Seal(nil, iv, data, aad)
	return out[:len(data)], out[len(data) : len(data)+tagLen], nil
}

// gcmOpen authenticates and decrypts ct with a tag of 12 to 16 bytes.
// crypto/cipher opens short tags only with 12-byte nonces, so a short tag
// is checked by hand: GCM's keystream does not depend on the data, so
// sealing the ciphertext yields the plaintext, and sealing that
// plaintext yields the full tag of the ciphertext, compared in constant
// time on tag's length. The plaintext is released only after the check.
func gcmOpen(b cipher.Block, iv, aad, ct, tag []byte) ([]byte, error) {
	g, err := newGCM(b, iv)
	if err != nil {
		return nil, err
	}
	if len(tag) == gcmDefaultTag {
		sealed := make([]byte, 0, len(ct)+len(tag))
		sealed = append(append(sealed, ct...), tag...)
		plain, err := g.Open(nil, iv, sealed, aad)
		if err != nil {
			return nil, Errorf(EDecrypt, "the authentication tag does not match")
		}
		return plain, nil
	}
	plain := g.Seal(nil, iv, ct, aad)[:len(ct)]
	full := g.Seal(nil, iv, plain, aad)[len(ct):]
	if subtle.ConstantTimeCompare(full[:len(tag)], tag) != 1 {
		clear(plain)
		return nil, Errorf(EDecrypt, "the authentication tag does not match")
	}
	return plain, nil
}
