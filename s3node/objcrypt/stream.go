package objcrypt

import (
	"errors"
	"fmt"
	"io"

	"github.com/minio/sio"
)

// DARE 2.0 sizes (package doc, "Data format"). sio defines the same
// values but does not export them.
const (
	payloadSize  = 1 << 16                                  // plaintext bytes per package, except the last
	overhead     = 16 + 16                                  // header + GCM tag per package
	packageSize  = payloadSize + overhead                   // stored bytes of a full package
	maxPlaintext = int64(1) << 48                           // sio's limit: 2^32 packages of 64 KiB
	maxStored    = maxPlaintext / payloadSize * packageSize // EncryptedSize(maxPlaintext)
)

// ErrAuth is wrapped by every error that means the stored data is not
// what NewWriter wrote with this key and part number: a wrong key or part
// number, modified or reordered bytes, a truncated or extended stream, or
// a stored size that no stream can have. It never says which.
var ErrAuth = errors.New("objcrypt: stored data does not authenticate (wrong key or part, tampered or truncated)")

// EncryptedSize returns the stored size of a part of plain plaintext
// bytes: 65568 bytes per full 64 KiB package, plus the remainder and 32
// bytes for a last partial package. EncryptedSize(0) is 0. It panics if
// plain is negative or above 2^48 (sio's limit), which no S3 part
// reaches.
func EncryptedSize(plain int64) int64 {
	if plain < 0 || plain > maxPlaintext {
		panic(fmt.Sprintf("objcrypt: EncryptedSize(%d) out of range", plain))
	}
	n := plain / payloadSize * packageSize
	if r := plain % payloadSize; r > 0 {
		n += r + overhead
	}
	return n
}

// decryptedSize inverts EncryptedSize; ok is false for a stored size no
// stream can have (a last package of 32 bytes or less).
func decryptedSize(stored int64) (int64, bool) {
	if stored < 0 || stored > maxStored {
		return 0, false
	}
	n := stored / packageSize * payloadSize
	if r := stored % packageSize; r > 0 {
		if r <= overhead {
			return 0, false
		}
		n += r - overhead
	}
	return n, true
}

// config returns the sio configuration for a part key: DARE 2.0 only and
// AES-256-GCM only. Both are pinned: sio's defaults would also accept
// DARE 1.0 when reading, and would pick ChaCha20-Poly1305 when writing on
// a CPU without AES instructions.
func config(key []byte) sio.Config {
	return sio.Config{
		MinVersion:   sio.Version20,
		MaxVersion:   sio.Version20,
		CipherSuites: []byte{sio.AES_256_GCM},
		Key:          key,
	}
}

// NewWriter returns a writer that encrypts what is written to it into dst
// as part number part (0 for a single-part object, 1..10000 for a
// multipart part) of the object whose key is k. Close writes the last
// package and must be called; it does not close dst. An empty stream
// stores nothing (0 bytes).
//
// The writer holds one 64 KiB package buffer (from sio's pool) and
// writes dst one package at a time (65568 bytes, the last one shorter);
// a Write of 64 KiB or more is sealed straight from the caller's slice.
// Write allocates nothing itself; sio allocates one 12-byte GCM nonce per
// package sealed (it escapes through the cipher.AEAD interface). After an error from dst every later
// Write and Close return that error, and the stream in dst is unusable.
// More than 2^48 bytes are refused.
func NewWriter(dst io.Writer, k *ObjectKey, part int) (io.WriteCloser, error) {
	return newWriter(dst, k, part, nil)
}

// newWriter is NewWriter with the random source of the stream nonce:
// nil (crypto/rand) in production, fixed bytes only for the test
// vectors.
func newWriter(dst io.Writer, k *ObjectKey, part int, rand io.Reader) (io.WriteCloser, error) {
	if dst == nil {
		return nil, errors.New("objcrypt: nil destination")
	}
	key, err := partKey(k, part)
	if err != nil {
		return nil, err
	}
	w := &writer{guard: guard{w: dst}}
	// sio copies the key into the AES key schedule and keeps no
	// reference to the slice, so the part key can be wiped at once.
	cfg := config(key[:])
	cfg.Rand = rand
	sw, err := sio.EncryptWriter(&w.guard, cfg)
	clear(key[:])
	if err != nil {
		return nil, fmt.Errorf("objcrypt: %w", err)
	}
	w.enc = sw
	return w, nil
}

// writer wraps sio's encrypting writer: it hides dst's Close from sio
// (which would call it), makes errors sticky, counts bytes against the
// DARE limit, and turns a Write after Close into an error (sio panics).
type writer struct {
	guard guard
	enc   io.WriteCloser
	n     int64
	err   error
}

// guard is what sio writes into: dst without its Close method. After a
// failure it discards, so that sio's Close can still release (and clear)
// its pooled buffer without writing more to dst.
type guard struct {
	w      io.Writer
	failed bool
}

func (g *guard) Write(p []byte) (int, error) {
	if g.failed {
		return len(p), nil
	}
	n, err := g.w.Write(p)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		g.failed = true
	}
	return n, err
}

var errClosed = errors.New("objcrypt: write to a closed writer")

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > maxPlaintext-w.n {
		w.fail(errors.New("objcrypt: part larger than 2^48 bytes"))
		return 0, w.err
	}
	n, err := w.enc.Write(p)
	w.n += int64(n)
	if err != nil {
		w.fail(fmt.Errorf("objcrypt: writing encrypted data: %w", err))
		return n, w.err
	}
	return n, nil
}

// fail records err and releases sio's buffer; the stream is abandoned.
func (w *writer) fail(err error) {
	w.err = err
	w.guard.failed = true
	_ = w.enc.Close() // writes only into the discarding guard
}

// Close seals and writes the last package. It does not close dst.
func (w *writer) Close() error {
	if w.err != nil {
		if w.err == errClosed {
			return nil
		}
		return w.err
	}
	if err := w.enc.Close(); err != nil {
		w.err = fmt.Errorf("objcrypt: writing encrypted data: %w", err)
		return w.err
	}
	w.err = errClosed
	return nil
}
