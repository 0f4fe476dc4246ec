package sealed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strconv"
)

// Use says what a sealed key is for. It selects the KDF label, so a key
// sealed for one use never opens as another.
type Use byte

// Uses. The values are stored in sealed blobs: never renumber them.
const (
	UseSSES3   Use = 1 // label "s3kms/v1/sse-s3": OEK of an SSE-S3 object
	UseSSEKMS  Use = 2 // label "s3kms/v1/sse-kms": OEK of an SSE-KMS object
	UseSSEC    Use = 3 // label "s3kms/v1/sse-c": OEK of an SSE-C object (root = customer key)
	UseEncrypt Use = 4 // label "s3kms/v1/encrypt": small payload of KMS Encrypt
)

// Label returns the SP 800-108 label of u, and false if u is not a
// defined use. Labels are ASCII and contain no zero byte, which keeps the
// KDF input unambiguous.
func (u Use) Label() (string, bool) {
	switch u {
	case UseSSES3:
		return "s3kms/v1/sse-s3", true
	case UseSSEKMS:
		return "s3kms/v1/sse-kms", true
	case UseSSEC:
		return "s3kms/v1/sse-c", true
	case UseEncrypt:
		return "s3kms/v1/encrypt", true
	}
	return "", false
}

// String returns a short name for logs ("sse-s3", …, or "use(N)").
func (u Use) String() string {
	if l, ok := u.Label(); ok {
		return l[len("s3kms/v1/"):]
	}
	return "use(" + strconv.Itoa(int(u)) + ")"
}

// PRF is HMAC-SHA256 keyed with a root key: one SP 800-108 counter-mode
// output block. kms.RootKey.PRF has this shape, so a method value
// root.PRF can be passed wherever a PRF is wanted.
type PRF func(input []byte) ([32]byte, error)

// kdfOutputBits is L, the length of the derived key in bits: one
// HMAC-SHA256 output, an AES-256 key.
const kdfOutputBits = 256

// KDFInput returns the input of the first and only PRF block of NIST SP
// 800-108r1 KDF in counter mode (section 4.1) with HMAC-SHA256 as PRF,
// a 32-bit counter (r = 32) placed before the fixed input, and L = 256:
//
//	[1]_32 ‖ Label ‖ 0x00 ‖ Context ‖ [256]_32   with   Context = salt ‖ encodedContext
//
// where [x]_32 is x as a 32-bit big-endian integer. Since L equals the
// PRF output length, n = 1 and K_OUT = PRF(K_IN, KDFInput(...)). The
// encoding is injective for our inputs: the label has no zero byte, the
// salt has a fixed length and the encoded context is self-delimiting.
func KDFInput(label string, salt []byte, encodedContext []byte) []byte {
	b := make([]byte, 0, 4+len(label)+1+len(salt)+len(encodedContext)+4)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, label...)
	b = append(b, 0x00)
	b = append(b, salt...)
	b = append(b, encodedContext...)
	b = binary.BigEndian.AppendUint32(b, kdfOutputBits)
	return b
}

// minPRFKey is the shortest HMAC key HMACPRF accepts: a 256-bit root
// (SoftHSM also requires generic-secret HMAC keys of at least 32 bytes).
const minPRFKey = 32

var errShortKey = errors.New("sealed: PRF key shorter than 32 bytes")

// HMACPRF returns a PRF computing HMAC-SHA256 under key. The software
// protector uses it for root keys, and the S3 node for SSE-C, where the
// customer key takes the place of the root key. The PRF refers to key
// without copying it, so the caller can wipe key when done with the PRF
// (and must not change it before). The PRF fails if key is shorter than
// 32 bytes. It is safe for concurrent use.
func HMACPRF(key []byte) PRF {
	return func(input []byte) ([32]byte, error) {
		var out [32]byte
		if len(key) < minPRFKey {
			return out, errShortKey
		}
		h := hmac.New(sha256.New, key)
		h.Write(input)
		h.Sum(out[:0])
		return out, nil
	}
}
