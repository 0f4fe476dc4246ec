package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sizes and limits of the sealed format. See SPEC.md for the reasons.
const (
	// SaltSize is the size of the per-seal KDF salt: 256 random bits, so
	// that every Seal derives a fresh KEK.
	SaltSize = 32
	// NonceSize is the AES-GCM nonce size (the standard 96 bits).
	NonceSize = 12
	// TagSize is the AES-GCM tag size.
	TagSize = 16
	// MaxPlaintext is the largest payload Seal accepts (AWS KMS Encrypt
	// has the same limit). An OEK is 32 bytes.
	MaxPlaintext = 4096
	// MaxKeyIDLen is the longest key id (equal to kms.MaxKeyIDLen; it
	// must fit the one-byte length field).
	MaxKeyIDLen = 250
)

// formatV1 is the format version byte of every blob this package writes.
const formatV1 = 0x01

// fixedHeaderSize is the header size without the key id: version, use,
// key id length, key version, salt, nonce.
const fixedHeaderSize = 1 + 1 + 1 + 4 + SaltSize + NonceSize

var (
	// ErrMalformed is wrapped by every error of Parse and DecodeContext:
	// the input is not a well-formed sealed blob or context encoding.
	ErrMalformed = errors.New("sealed: malformed input")
	// ErrOpen is returned by Open when authentication fails: wrong root
	// key, wrong encryption context, or a tampered blob. It deliberately
	// does not say which.
	ErrOpen = errors.New("sealed: cannot open: wrong key or context, or tampered")
)

// Header of a sealed blob: everything before the ciphertext. All of it is
// authenticated (it is part of the GCM associated data).
type Header struct {
	Use        Use
	KeyID      string
	KeyVersion uint32
	Salt       [SaltSize]byte
	Nonce      [NonceSize]byte
}

// Sealed is a parsed sealed blob.
type Sealed struct {
	Header
	Ciphertext []byte // AES-256-GCM ciphertext ‖ 16-byte tag
}

// validKeyID reports whether id is 1..MaxKeyIDLen visible ASCII characters
// (0x21..0x7e). Every kms key id qualifies.
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// check validates a header and ciphertext length; the error wraps
// ErrMalformed.
func (s *Sealed) check() error {
	if _, ok := s.Use.Label(); !ok {
		return fmt.Errorf("%w: unknown use %d", ErrMalformed, s.Use)
	}
	if !validKeyID(s.KeyID) {
		return fmt.Errorf("%w: key id must be 1 to %d visible ASCII characters", ErrMalformed, MaxKeyIDLen)
	}
	if len(s.Ciphertext) < TagSize || len(s.Ciphertext) > MaxPlaintext+TagSize {
		return fmt.Errorf("%w: ciphertext length %d out of range", ErrMalformed, len(s.Ciphertext))
	}
	return nil
}

// Parse parses a sealed blob strictly: known format version and use, key
// id of 1..250 visible ASCII characters (0x21..0x7e), ciphertext of at
// least 16 (the tag) and at most MaxPlaintext+16 bytes. Errors wrap
// ErrMalformed. The result does not alias b. Parse(b) succeeding implies
// Parse(b).Marshal() == b.
func Parse(b []byte) (*Sealed, error) {
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	if b[0] != formatV1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrMalformed, b[0])
	}
	s := &Sealed{}
	s.Use = Use(b[1])
	idLen := int(b[2])
	if len(b) < fixedHeaderSize+idLen+TagSize {
		return nil, fmt.Errorf("%w: truncated", ErrMalformed)
	}
	p := b[3:]
	s.KeyID = string(p[:idLen])
	p = p[idLen:]
	s.KeyVersion = binary.BigEndian.Uint32(p)
	p = p[4:]
	p = p[copy(s.Salt[:], p):]
	p = p[copy(s.Nonce[:], p):]
	s.Ciphertext = append([]byte(nil), p...)
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// appendHeader appends the binary header of h to dst. KeyID must be at
// most 255 bytes.
func appendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, formatV1, byte(h.Use), byte(len(h.KeyID)))
	dst = append(dst, h.KeyID...)
	dst = binary.BigEndian.AppendUint32(dst, h.KeyVersion)
	dst = append(dst, h.Salt[:]...)
	dst = append(dst, h.Nonce[:]...)
	return dst
}

// Marshal returns the binary form of s. It does not validate: a Sealed
// from Parse or Seal always marshals to a blob Parse accepts. It panics if
// KeyID is longer than 255 bytes, which the format cannot represent.
func (s *Sealed) Marshal() []byte {
	if len(s.KeyID) > 255 {
		panic("sealed: key id too long to marshal")
	}
	b := make([]byte, 0, fixedHeaderSize+len(s.KeyID)+len(s.Ciphertext))
	b = appendHeader(b, &s.Header)
	return append(b, s.Ciphertext...)
}

// associatedData returns header ‖ encodedContext, the GCM associated data.
func associatedData(h *Header, encodedContext []byte) []byte {
	ad := make([]byte, 0, fixedHeaderSize+len(h.KeyID)+len(encodedContext))
	ad = appendHeader(ad, h)
	return append(ad, encodedContext...)
}

// newGCM returns AES-256-GCM under kek. The AES key schedule lives inside
// crypto/aes and cannot be wiped from Go; the caller wipes kek itself.
func newGCM(kek *[32]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal seals plaintext for use under the root behind prf, bound to
// keyID, keyVersion and encodedContext, which must be a canonical
// encoding from EncodeContext (an empty context is EncodeContext(nil),
// four zero bytes; a nil slice is refused, so that one context never has
// two encodings). It reads a fresh salt (32 bytes) and
// then a nonce (12 bytes) from rand (crypto/rand.Reader in production),
// derives KEK = prf(KDFInput(use.Label(), salt, encodedContext)), and
// returns header ‖ AES-256-GCM(KEK, nonce, plaintext, header ‖
// encodedContext). The KEK is wiped before Seal returns. An error from prf
// is returned wrapped.
func Seal(rand io.Reader, prf PRF, use Use, keyID string, keyVersion uint32, encodedContext, plaintext []byte) ([]byte, error) {
	label, ok := use.Label()
	if !ok {
		return nil, fmt.Errorf("sealed: unknown use %d", use)
	}
	if !validKeyID(keyID) {
		return nil, fmt.Errorf("sealed: key id must be 1 to %d visible ASCII characters", MaxKeyIDLen)
	}
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("sealed: plaintext longer than %d bytes", MaxPlaintext)
	}
	if err := validContext(encodedContext); err != nil {
		return nil, err
	}
	if prf == nil {
		return nil, errors.New("sealed: nil PRF")
	}
	h := Header{Use: use, KeyID: keyID, KeyVersion: keyVersion}
	if _, err := io.ReadFull(rand, h.Salt[:]); err != nil {
		return nil, fmt.Errorf("sealed: reading salt: %w", err)
	}
	if _, err := io.ReadFull(rand, h.Nonce[:]); err != nil {
		return nil, fmt.Errorf("sealed: reading nonce: %w", err)
	}
	kek, err := prf(KDFInput(label, h.Salt[:], encodedContext))
	defer clear(kek[:])
	if err != nil {
		return nil, fmt.Errorf("sealed: deriving KEK: %w", err)
	}
	aead, err := newGCM(&kek)
	if err != nil {
		return nil, err
	}
	ad := associatedData(&h, encodedContext)
	out := make([]byte, 0, len(ad)-len(encodedContext)+len(plaintext)+TagSize)
	out = append(out, ad[:len(ad)-len(encodedContext)]...)
	return aead.Seal(out, h.Nonce[:], plaintext, ad), nil
}

// Open authenticates and decrypts s with the root behind prf and the
// canonical encoded context it was sealed with. It returns ErrOpen if
// authentication fails (wrong root, wrong context, tampered blob), an
// error wrapping ErrMalformed if s or encodedContext is not well formed,
// and an error from prf wrapped as is. The KEK is wiped before Open
// returns; the caller owns (and should wipe) the plaintext.
func (s *Sealed) Open(prf PRF, encodedContext []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := validContext(encodedContext); err != nil {
		return nil, err
	}
	if prf == nil {
		return nil, errors.New("sealed: nil PRF")
	}
	label, _ := s.Use.Label()
	kek, err := prf(KDFInput(label, s.Salt[:], encodedContext))
	defer clear(kek[:])
	if err != nil {
		return nil, fmt.Errorf("sealed: deriving KEK: %w", err)
	}
	aead, err := newGCM(&kek)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, s.Nonce[:], s.Ciphertext, associatedData(&s.Header, encodedContext))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
