package objcrypt

import (
	"errors"
	"fmt"
	"io"

	"github.com/minio/sio"
)

// NewReader returns a reader of the plaintext bytes [off, off+length) of
// part number part of the object whose key is k, stored in src as
// storedSize bytes written by NewWriter.
//
// It decrypts only the packages that overlap the range: one sequential
// sio decrypting reader over the stored bytes from package off/65536 on
// (an io.SectionReader on src, read one whole package per ReadAt), with
// the sequence number set to that package's index; the head of the
// first package is decrypted and discarded. When the range touches the
// last package, the reader also checks, before returning its last
// bytes, that this package carries the final flag, so a stream cut at a
// package boundary fails instead of reading short.
//
// Errors that mean the data does not authenticate (wrong key or part,
// tampering, src shorter than storedSize) wrap ErrAuth; they come from
// Read, except for a storedSize no stream can have, which NewReader
// reports. A range outside the plaintext is an error (not ErrAuth).
// length 0 gives an empty reader that reads nothing from src. Errors
// from src are wrapped as they are. After an error or io.EOF every
// Read returns the same. The reader is not safe for concurrent use.
func NewReader(src io.ReaderAt, storedSize int64, k *ObjectKey, part int, off, length int64) (io.Reader, error) {
	if src == nil {
		return nil, errors.New("objcrypt: nil source")
	}
	key, err := partKey(k, part)
	defer clear(key[:])
	if err != nil {
		return nil, err
	}
	plain, ok := decryptedSize(storedSize)
	if !ok {
		return nil, fmt.Errorf("%w: %d is not the stored size of any stream", ErrAuth, storedSize)
	}
	if off < 0 || length < 0 || off > plain || length > plain-off {
		return nil, fmt.Errorf("objcrypt: range of %d bytes at %d is outside the %d plaintext bytes", length, off, plain)
	}
	if length == 0 {
		return &reader{err: io.EOF}, nil
	}
	first := off / payloadSize
	last := (off + length - 1) / payloadSize
	start := first * packageSize
	end := min((last+1)*packageSize, storedSize)
	cfg := config(key[:])
	cfg.SequenceNumber = uint32(first) // first < 2^32: plain ≤ 2^48
	dec, err := sio.DecryptReader(io.NewSectionReader(src, start, end-start), cfg)
	if err != nil {
		return nil, fmt.Errorf("objcrypt: %w", err)
	}
	return &reader{
		dec:       dec,
		skip:      off - first*payloadSize,
		remaining: length,
		rest:      min(plain, (last+1)*payloadSize) - off - length,
		final:     end == storedSize,
	}, nil
}

// reader trims sio's decrypting reader to the range.
//
// About sio's buffers: its decrypting reader takes one package buffer
// (65568 bytes) from a sync.Pool and decrypts each package into it,
// except when a Read asks for 64 KiB or more, which it decrypts straight
// into the caller's slice. It clears the buffer and puts it back when
// it reaches the end of its input or fails on src, but not on an
// authentication failure nor when abandoned (the garbage collector then
// frees it, unwiped). To give the buffer back wiped, the reader drains
// sio to the end of the section once the range is delivered: that only
// copies out the rest of the last package, already decrypted.
type reader struct {
	dec       io.Reader
	skip      int64 // plaintext to discard before the range
	remaining int64 // bytes of the range not yet returned
	rest      int64 // plaintext after the range in the packages read
	final     bool  // the section ends with the stream's last package
	err       error // sticky: io.EOF or the first error
}

func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.skip > 0 {
		if _, err := io.CopyN(io.Discard, r.dec, r.skip); err != nil {
			return 0, r.fail(err)
		}
		r.skip = 0
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.dec.Read(p)
	r.remaining -= int64(n)
	if err != nil && (err != io.EOF || r.remaining > 0) {
		return n, r.fail(err)
	}
	if r.remaining > 0 {
		return n, nil
	}
	if err := r.drain(); err != nil {
		// Withhold the last bytes, so that even io.ReadFull, which
		// drops an error that comes with enough bytes, sees it.
		clear(p[:n])
		return 0, r.fail(err)
	}
	r.err = io.EOF
	return n, nil
}

// drain reads sio to the end of the section. When the section ends with
// the stream's last package, sio fails there unless that package carried
// the final flag; otherwise the section ends on a package boundary in
// mid-stream, where sio's complaint about the missing final flag is
// expected and ignored.
func (r *reader) drain() error {
	n, err := io.Copy(io.Discard, r.dec)
	if !r.final {
		return nil
	}
	if err != nil {
		return err
	}
	if n != r.rest {
		return fmt.Errorf("%w (stream length does not match its stored size)", ErrAuth)
	}
	return nil
}

// fail records the first error: sio.Error (and an early end of the
// stream) as ErrAuth, anything else (from src) wrapped as is.
func (r *reader) fail(err error) error {
	var se sio.Error
	switch {
	case errors.Is(err, ErrAuth):
		r.err = err
	case errors.As(err, &se):
		r.err = fmt.Errorf("%w (%v)", ErrAuth, err)
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		r.err = fmt.Errorf("%w (stream ends early)", ErrAuth)
	default:
		r.err = fmt.Errorf("objcrypt: reading stored data: %w", err)
	}
	return r.err
}
