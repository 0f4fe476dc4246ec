package sealed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Limits of an encryption context. Contexts are small in practice (AWS
// allows a few hundred bytes of S3 context); the limits bound the work and
// memory an attacker-supplied context can cost and keep every sealed-key
// operation O(1) in practice.
const (
	// MaxContextPairs is the largest number of key/value pairs accepted.
	MaxContextPairs = 64
	// MaxContextBytes is the largest encoded context accepted, count and
	// length prefixes included.
	MaxContextBytes = 4096
)

// errContext is wrapped by every context encoding error. It is not
// exported: callers test for ErrMalformed on decoding and treat encoding
// errors as invalid input.
var errContext = errors.New("sealed: invalid encryption context")

// EncodeContext returns the canonical encoding of an encryption context:
//
//	uint32 BE pair count
//	for each pair, in byte order of key:
//	    uint32 BE len(key) ‖ key ‖ uint32 BE len(value) ‖ value
//
// Nil and empty maps encode the same (four zero bytes). Keys must not be
// empty; values may be. Keys and values are arbitrary bytes (no UTF-8
// requirement). EncodeContext fails if the context has more than
// MaxContextPairs pairs or encodes to more than MaxContextBytes bytes.
// Error messages never quote the context.
func EncodeContext(ctx map[string]string) ([]byte, error) {
	if len(ctx) > MaxContextPairs {
		return nil, fmt.Errorf("%w: %d pairs, at most %d allowed", errContext, len(ctx), MaxContextPairs)
	}
	size := 4
	for k, v := range ctx {
		if k == "" {
			return nil, fmt.Errorf("%w: empty key", errContext)
		}
		size += 8 + len(k) + len(v)
		if size > MaxContextBytes {
			return nil, fmt.Errorf("%w: encoded context longer than %d bytes", errContext, MaxContextBytes)
		}
	}
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint32(out, uint32(len(ctx)))
	for _, k := range slices.Sorted(maps.Keys(ctx)) {
		v := ctx[k]
		out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	return out, nil
}

// DecodeContext is the inverse of EncodeContext. It is strict: it accepts
// exactly the encodings EncodeContext produces (keys non-empty and in
// strictly increasing byte order, so no duplicates; no trailing bytes;
// within the limits), so DecodeContext(b) succeeding implies
// EncodeContext(DecodeContext(b)) == b. Errors wrap ErrMalformed. A
// zero-pair encoding decodes to an empty, non-nil map.
func DecodeContext(b []byte) (map[string]string, error) {
	n, err := walkContext(b, nil)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, n)
	_, _ = walkContext(b, func(k, v []byte) { m[string(k)] = string(v) })
	return m, nil
}

// validContext checks that b is a canonical context encoding without
// allocating.
func validContext(b []byte) error {
	_, err := walkContext(b, nil)
	return err
}

// walkContext parses a context encoding, calling fn (if not nil) for each
// pair, and returns the number of pairs. Every length is checked against
// the remaining input before use, so a hostile encoding cannot cause a
// large allocation or an out-of-range slice.
func walkContext(b []byte, fn func(k, v []byte)) (int, error) {
	bad := func(what string) (int, error) {
		return 0, fmt.Errorf("%w: encryption context: %s", ErrMalformed, what)
	}
	if len(b) > MaxContextBytes {
		return bad("too long")
	}
	if len(b) < 4 {
		return bad("truncated pair count")
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxContextPairs {
		return bad("too many pairs")
	}
	rest := b[4:]
	var prev []byte
	field := func() ([]byte, bool) {
		if len(rest) < 4 {
			return nil, false
		}
		l := binary.BigEndian.Uint32(rest)
		if uint64(l) > uint64(len(rest)-4) {
			return nil, false
		}
		f := rest[4 : 4+l]
		rest = rest[4+l:]
		return f, true
	}
	for i := uint32(0); i < n; i++ {
		k, ok := field()
		if !ok {
			return bad("truncated key")
		}
		if len(k) == 0 {
			return bad("empty key")
		}
		if i > 0 && string(prev) >= string(k) {
			return bad("keys not in strictly increasing byte order")
		}
		v, ok := field()
		if !ok {
			return bad("truncated value")
		}
		if fn != nil {
			fn(k, v)
		}
		prev = k
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return int(n), nil
}
