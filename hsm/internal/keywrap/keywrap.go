// Package keywrap implements AES Key Wrap with Padding (KWP), RFC 5649,
// which is NIST SP 800-38F's KWP (with W/W⁻¹ of RFC 3394 as its core).
//
// Root key versions are stored wrapped with KWP under the master key,
// because that is what a PKCS#11 token does with CKM_AES_KEY_WRAP_PAD:
// the software protector (hsm/software) must produce and accept exactly
// the bytes the HSM does.
//
// Why hand-written: Go's standard library has no key wrap, and no small,
// well-kept Go library implements RFC 5649 (github.com/google/tink's kwp
// pulls in protobuf and the rest of Tink; the small key-wrap packages
// implement only RFC 3394 without padding). The algorithm is short; it is
// checked here against both RFC 5649 section 6 vectors, against vectors
// made by the OpenSSL command line for every key length from 1 to 64 bytes
// (testdata/gen_openssl_vectors.py), and by a fuzzer.
//
// Unwrap checks integrity (the 32-bit constant, the message length
// indicator and the zero padding) in constant time with crypto/subtle and
// returns a single error whatever failed, so a caller cannot learn which
// check failed or where.
package keywrap

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"math"
)

// ErrUnwrap is returned by Unwrap when the input is not a KWP wrapping of
// any key under the given KEK: corrupt, truncated, or another KEK.
var ErrUnwrap = errors.New("keywrap: integrity check failed")

// aivPrefix is the 32-bit constant of the Alternative Initial Value
// (RFC 5649 section 3): AIV = A65959A6 ‖ [MLI]_32.
var aivPrefix = [4]byte{0xa6, 0x59, 0x59, 0xa6}

// MaxKeySize bounds the key Wrap accepts and Unwrap returns. RFC 5649
// allows up to 2^32-1 bytes; keys are far smaller, and the bound keeps the
// 6·n block operations of a hostile input small.
const MaxKeySize = 1 << 16

// Wrap wraps key (1 to MaxKeySize bytes) under the KEK block, which must
// have a 16-byte block size (AES). The result is 8·(⌈len(key)/8⌉+1) bytes.
// Wrap is deterministic.
func Wrap(kek cipher.Block, key []byte) ([]byte, error) {
	if kek.BlockSize() != 16 {
		return nil, errors.New("keywrap: KEK must be a 128-bit block cipher")
	}
	if len(key) == 0 || len(key) > MaxKeySize || uint64(len(key)) > math.MaxUint32 {
		return nil, errors.New("keywrap: key length out of range")
	}
	n := (len(key) + 7) / 8 // number of 64-bit plaintext blocks after padding
	out := make([]byte, 8*(n+1))
	copy(out, aivPrefix[:])
	binary.BigEndian.PutUint32(out[4:8], uint32(len(key)))
	copy(out[8:], key) // the rest of out is the zero padding
	if n == 1 {
		// RFC 5649 section 4.1: a single padded block is encrypted
		// with AES in ECB mode together with the AIV.
		kek.Encrypt(out, out)
		return out, nil
	}
	// RFC 3394 section 2.2.1, index-based: A = out[0:8], R[i] = out[8i:8i+8].
	var buf [16]byte
	copy(buf[:8], out[:8])
	for j := 0; j <= 5; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[8:], out[8*i:8*i+8])
			kek.Encrypt(buf[:], buf[:])
			xorCounter(buf[:8], uint64(n*j+i))
			copy(out[8*i:8*i+8], buf[8:])
		}
	}
	copy(out[:8], buf[:8])
	clear(buf[:])
	return out, nil
}

// Unwrap unwraps a KWP ciphertext under the KEK block (16-byte block
// size). It returns ErrUnwrap, and no partial output, unless the integrity
// checks of RFC 5649 section 3 all pass.
func Unwrap(kek cipher.Block, wrapped []byte) ([]byte, error) {
	if kek.BlockSize() != 16 {
		return nil, errors.New("keywrap: KEK must be a 128-bit block cipher")
	}
	if len(wrapped)%8 != 0 || len(wrapped) < 16 || len(wrapped) > MaxKeySize+16 {
		return nil, ErrUnwrap
	}
	n := len(wrapped)/8 - 1
	out := make([]byte, len(wrapped))
	copy(out, wrapped)
	if n == 1 {
		kek.Decrypt(out, out)
	} else {
		// RFC 3394 section 2.2.2, index-based.
		var buf [16]byte
		copy(buf[:8], out[:8])
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				xorCounter(buf[:8], uint64(n*j+i))
				copy(buf[8:], out[8*i:8*i+8])
				kek.Decrypt(buf[:], buf[:])
				copy(out[8*i:8*i+8], buf[8:])
			}
		}
		copy(out[:8], buf[:8])
		clear(buf[:])
	}

	// Integrity checks, all evaluated, without data-dependent branches.
	ok := subtle.ConstantTimeCompare(out[:4], aivPrefix[:])
	mli := int64(binary.BigEndian.Uint32(out[4:8]))
	// 8(n-1) < MLI ≤ 8n
	ok &= ctLess(int64(8*(n-1)), mli) & ctLessOrEq(mli, int64(8*n))
	// The last 8n-MLI bytes (0 to 7 when MLI is in range) are zero. Look
	// at the last 8 bytes, each masked by whether it is padding.
	pad := int64(8*n) - mli
	var nonzero byte
	for k := int64(0); k < 8; k++ {
		inPad := byte(ctLess(k, pad)) // k < pad: byte len-1-k is padding
		nonzero |= out[len(out)-1-int(k)] & -inPad
	}
	ok &= subtle.ConstantTimeByteEq(nonzero, 0)
	if ok != 1 {
		clear(out)
		return nil, ErrUnwrap
	}
	key := make([]byte, mli)
	copy(key, out[8:])
	clear(out)
	return key, nil
}

// xorCounter XORs t, big-endian, into the 64-bit register a.
func xorCounter(a []byte, t uint64) {
	var tb [8]byte
	binary.BigEndian.PutUint64(tb[:], t)
	subtle.XORBytes(a, a, tb[:])
}

// ctLess returns 1 if x < y and 0 otherwise, in constant time, for
// |x|, |y| < 2^62 (the sign bit of x-y).
func ctLess(x, y int64) int {
	return int(uint64(x-y) >> 63)
}

// ctLessOrEq returns 1 if x ≤ y and 0 otherwise, for |x|, |y| < 2^62.
func ctLessOrEq(x, y int64) int {
	return 1 - ctLess(y, x)
}
